"""The README's offline recipe, run as written with the package index blocked, then installed into QGIS's Python.

A local folder of stand-in wheels plays the package index: the real names
and version lines that matter (rasterio pulls in affine, whose 3.x breaks
Debian's QGIS; onnxruntime pulls in numpy, whose 2.x would not match QGIS's
GDAL). The recipe's `pip download` runs with `--no-index` against it, and the
installer then installs from the folder it filled into a fresh target for
Debian's QGIS Python (/usr/bin/python3, which has numpy and GDAL and none of
CloudFree's packages). Without the recipe's pins the same steps stop on affine.
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cloudfree.dependencies import install as inst
from wheel_helpers import build_wheel, fresh_python

REPO = Path(__file__).resolve().parents[2]
QGIS_PYTHON = "/usr/bin/python3"


def readme_recipe() -> list:
    """The requirement strings of the README's `python -m pip download -d <folder> ...` command."""
    text = " ".join((REPO / "README.md").read_text().split())
    match = re.search(r"`python -m pip download -d <folder> ([^`]+)`", text)
    assert match, "the README no longer gives the offline recipe"
    return shlex.split(match.group(1))


def qgis_python_ready() -> bool:
    probe = subprocess.run([QGIS_PYTHON, "-c", "import numpy, osgeo.gdal; import pip"], capture_output=True)
    missing = subprocess.run([QGIS_PYTHON, "-c", "import rasterio"], capture_output=True)
    return probe.returncode == 0 and missing.returncode != 0


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Stand-ins of the packages the recipe reaches, with the versions that decide whether it works."""
    root = tmp_path_factory.mktemp("index")
    folder, projects = root / "simple", root / "projects"
    build_wheel(projects, folder, "onnxruntime", "1.20.0", ["numpy>=1.21"])
    build_wheel(projects, folder, "rasterio", "1.4.0", ["affine", "click>=4.0"])
    for version in ("2.4.0", "3.0.0"):
        build_wheel(projects, folder, "affine", version)
    build_wheel(projects, folder, "click", "8.1.0")
    for version in ("1.26.0", "2.1.0"):
        build_wheel(projects, folder, "numpy", version)
    return folder


def download(requirements: list, index: Path, folder: Path) -> list:
    """`pip download -d folder <requirements>` with no index but the local folder and no pip.conf."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    proc = subprocess.run([QGIS_PYTHON, "-m", "pip", "download", "-q", "-d", str(folder), "--no-index",
                           "--find-links", str(index), *requirements], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return sorted(p.name for p in folder.glob("*.whl"))


@pytest.mark.skipif(not Path(QGIS_PYTHON).is_file() or not qgis_python_ready(),
                    reason="needs Debian's QGIS Python (numpy, GDAL and pip, without rasterio)")
def test_the_readme_recipe_fills_a_folder_the_installer_can_use_offline(tmp_path, index):
    recipe = readme_recipe()
    assert {r.split("<")[0].split(">")[0] for r in recipe} >= {"onnxruntime", "rasterio", "affine"}
    wheels = download(recipe, index, tmp_path / "wheels")
    assert "affine-2.4.0-py3-none-any.whl" in wheels and "affine-3.0.0-py3-none-any.whl" not in wheels

    target = tmp_path / "profile" / "python" / "cloudfree_deps"
    result = inst.install(["onnxruntime>=1.17", "rasterio>=1.3"], target, python=QGIS_PYTHON,
                          wheel_dir=tmp_path / "wheels")
    assert sorted(result.installed) == ["affine 2.4.0", "click 8.1.0", "onnxruntime 1.20.0", "rasterio 1.4.0"]
    assert not list(target.glob("numpy*"))  # QGIS's numpy stays the one in use
    seen = fresh_python("import json, affine, rasterio, onnxruntime; print(json.dumps(affine.VALUE))", target)
    assert seen == "4"


@pytest.mark.skipif(not Path(QGIS_PYTHON).is_file() or not qgis_python_ready(),
                    reason="needs Debian's QGIS Python (numpy, GDAL and pip, without rasterio)")
def test_without_the_pins_the_folder_holds_affine_3_and_the_install_stops_on_it(tmp_path, index):
    wheels = download(["onnxruntime", "rasterio"], index, tmp_path / "wheels")
    assert "affine-3.0.0-py3-none-any.whl" in wheels
    target = tmp_path / "deps"
    with pytest.raises(inst.DependencyInstallError, match=r"affine<3"):
        inst.install(["onnxruntime>=1.17", "rasterio>=1.3"], target, python=QGIS_PYTHON, wheel_dir=tmp_path / "wheels")
    assert not target.exists()
