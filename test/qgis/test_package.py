"""`make package`: the zip a user installs with "Install from ZIP", installed into a fresh QGIS profile and run.

The zip is built by scripts/package.py, extracted the way QGIS's plugin installer
does (into <profile>/python/plugins/), and an algorithm is run from that copy by
the real qgis_process.bin (/usr/bin/qgis_process fails on Debian's 3.22). The
child sees neither QGIS_PLUGINPATH nor build/plugins, and Python's bytecode cache
is redirected to a temporary folder: the cached modules show which copy of the
plugin QGIS imported, so the development checkout cannot make the test pass.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[2]
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
QGIS_UNZIP = Path("/usr/share/qgis/python/pyplugin_installer/unzip.py")  # what "Install from ZIP" calls
TIMEOUT_S = 300


def load_package_script():
    spec = importlib.util.spec_from_file_location("cloudfree_package_script", REPO / "scripts" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_from_zip(zip_path: Path, plugins_dir: Path) -> None:
    """Extract as QGIS's installer does: pyplugin_installer.unzip.unzip(zip, home_plugin_path)."""
    if QGIS_UNZIP.is_file():
        spec = importlib.util.spec_from_file_location("qgis_pyplugin_unzip", QGIS_UNZIP)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.unzip(str(zip_path), str(plugins_dir))
    else:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(plugins_dir)


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "package.py"), "--output-dir", str(out_dir)],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = list(out_dir.iterdir())
    version = load_package_script().plugin_version(REPO)
    assert [z.name for z in zips] == [f"cloudfree-{version}.zip"]  # no leftover partial file
    assert str(zips[0]) in proc.stdout and "MB" in proc.stdout
    return zips[0]


def test_package_members(package_zip):
    bundled = load_package_script().bundled_models(REPO)
    assert bundled  # read from core/model/card.py
    with zipfile.ZipFile(package_zip) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert names == sorted(names) and len(names) == len(set(names))
    assert {n.split("/", 1)[0] for n in names} == {"cloudfree"}
    rel = {n.split("/", 1)[1] for n in names}
    for required in ["metadata.txt", "__init__.py", "plugin.py", "algorithms/provider.py", "algorithms/cloudmask.py",
                     "core/model/card.py", "resources/cloudfree.svg", "resources/mask_classes.qml",
                     "models/README.md", "models/cloudfree_inpaint_s2.onnx", "models/cloudfree_inpaint_s2.json"]:
        assert required in rel, required
    for model in bundled:
        assert {f"models/{model}.onnx", f"models/{model}.json"} <= rel, model
    assert f"cloudfree/models/{bundled[0]}.onnx" in names
    for name in rel:
        top = name.split("/", 1)[0]
        assert top not in {"test", "bench", "sample", "scripts", "out", "build", "dist", ".ci", ".venv"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc") and not name.startswith(".git"), name
        assert not (name.startswith("models/") and name.endswith(".py")), name
        assert name != "requirements-teachers.txt"


def qgis_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_installed_zip_runs_in_fresh_profile(tmp_path, package_zip):
    if not Path(QGIS_PROCESS).is_file():
        pytest.skip("qgis_process.bin is not installed (apt-get install qgis)")
    config, home, pycache = tmp_path / "config", tmp_path / "home", tmp_path / "pycache"
    home.mkdir()
    site = sysconfig.get_path("purelib", vars={"base": sys.prefix, "platbase": sys.prefix})
    # Nothing that points at the checkout: no QGIS_* (QGIS_PLUGINPATH, pytest-qgis's profile), a PYTHONPATH of
    # the venv's site-packages only (its cloudfree-dev.pth is not read from PYTHONPATH entries).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QGIS_") and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"), QGIS_CUSTOM_CONFIG_PATH=str(config),
               PYTHONPATH=site, PYTHONPYCACHEPREFIX=str(pycache), OMP_NUM_THREADS="1")

    # The fresh profile has no CloudFree until the zip is installed.
    listed = qgis_process(env, "plugins")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "cloudfree" not in listed.stdout.split(), listed.stdout

    plugins_dir = config / "profiles" / "default" / "python" / "plugins"  # qgis.utils.home_plugin_path
    install_from_zip(package_zip, plugins_dir)
    installed = plugins_dir / "cloudfree"
    assert (installed / "metadata.txt").is_file() and not (installed / "test").exists()

    enabled = qgis_process(env, "plugins", "enable", "cloudfree")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr

    out = tmp_path / "mask.tif"
    proc = qgis_process(env, "--json", "run", "cloudfree:cloudmask", "--",
                        f"INPUT={SAMPLE_L1C}", "RESOLUTION=1", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert Path(report["results"]["OUTPUT"]) == out and out.is_file()
    assert out.with_suffix(".qml").is_file()  # the style from the installed resources/
    assert any("cloudfree_s2" in line for line in report["log"]["info"])  # a bundled model from the zip ran

    # The code that ran was compiled from the installed copy, and none from the checkout.
    cached = pycache / installed.relative_to(installed.anchor)
    for module in ("plugin", "algorithms/provider", "algorithms/cloudmask", "core/api", "core/model/card"):
        assert list(cached.glob(f"{module}.*.pyc")), f"{module} was not imported from {installed}"
    checkout = pycache / REPO.relative_to(REPO.anchor)
    assert not [p for p in checkout.rglob("*.pyc") if ".venv" not in p.parts], "plugin code imported from the checkout"

    with rasterio.open(SAMPLE_L1C) as src, rasterio.open(out) as mask:
        assert mask.crs == src.crs
        assert mask.nodata == 255
        classes = mask.read(1)
    assert set(np.unique(classes).tolist()) <= {0, 1, 2, 3, 255}
    assert (classes != 255).any()
