"""Smoke test of the plugin as QGIS loads it: the real qgis_process executable, in a fresh profile.

/usr/bin/qgis_process is a wrapper that fails on Debian's 3.22 ('--noversioncheck'
not known), so the test calls qgis_process.bin.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cloudfree.core.masking.scl import SCL_TO_CLASS

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "build" / "plugins"
LAYTON_SCL = REPO.parent / "shared" / "data" / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
TIMEOUT_S = 300


@pytest.fixture
def qgis_process_env(tmp_path) -> dict:
    if not Path(QGIS_PROCESS).is_file():
        pytest.skip("qgis_process.bin is not installed (apt-get install qgis)")
    if not (PLUGINS / "cloudfree" / "metadata.txt").is_file():
        pytest.fail(f"{PLUGINS / 'cloudfree'} must link to the repository root (the plugin folder).")
    home = tmp_path / "home"  # a fresh QGIS profile, so enabling the plugin touches no real one
    home.mkdir()
    site = sysconfig.get_path("purelib", vars={"base": sys.prefix, "platbase": sys.prefix})
    env = {k: v for k, v in os.environ.items()  # pytest-qgis points these at <rootdir>/.qgis-settings
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CONFIG_HOME=str(home / ".config"),
               QGIS_PLUGINPATH=str(PLUGINS),
               PYTHONPATH=os.pathsep.join([site, str(PLUGINS)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return env


def qgis_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_qgis_process_runs_sclmask(tmp_path, qgis_process_env):
    enabled = qgis_process(qgis_process_env, "plugins", "enable", "cloudfree")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr

    out = tmp_path / "m.tif"
    proc = qgis_process(qgis_process_env, "--json", "run", "cloudfree:sclmask", "--",
                        f"INPUT={LAYTON_SCL}", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    assert Path(results["OUTPUT"]) == out and out.is_file()
    assert out.with_suffix(".qml").is_file()

    with rasterio.open(LAYTON_SCL) as src, rasterio.open(out) as mask:
        assert mask.crs == src.crs and (mask.width, mask.height) == (src.width, src.height)
        scl, classes = src.read(1), mask.read(1)
    np.testing.assert_array_equal(classes, SCL_TO_CLASS[scl])
    valid = classes != 255
    assert results["CLOUD_PERCENT"] == pytest.approx(100.0 * np.isin(classes[valid], (1, 2)).mean(), abs=1e-6)
    assert results["SHADOW_PERCENT"] == pytest.approx(100.0 * (classes[valid] == 3).mean(), abs=1e-6)
