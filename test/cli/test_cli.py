"""The command line as a user runs it: a subprocess, exit codes, files on disk."""
import json
import subprocess
import sys

import rasterio

from conftest import SAMPLE


def _run(*args):
    return subprocess.run([sys.executable, "-m", "cloudfree", *args], capture_output=True, text=True, timeout=300)


def test_cloudmask_command_writes_the_mask(tmp_path):
    out = tmp_path / "m.tif"
    proc = _run("cloudmask", str(SAMPLE), "-o", str(out), "--buffer", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    with rasterio.open(out) as m:
        classes = m.read(1)
    assert report["cloud_percent"] == round(100 * ((classes == 1) | (classes == 2)).mean(), 3)
    assert report["model"] == "cloudfree_s2" and "CPUExecutionProvider" in report["runtime"]


def test_bad_input_gives_a_message_and_exit_2(tmp_path):
    proc = _run("cloudmask", str(SAMPLE), "-o", str(tmp_path / "m.tif"), "--band-mapping", "B02=1")
    assert proc.returncode == 2
    assert "cloudfree: error:" in proc.stderr and "B03" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
