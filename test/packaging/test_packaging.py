"""`pip install .` gives the engine and the `cloudfree` command, models and styles included, without QGIS."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import rasterio

from conftest import SAMPLE

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_a_working_engine_and_command(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(REPO)], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("cloudfree-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}  # before the development tree on the path
    where = subprocess.run([sys.executable, "-c", "import cloudfree.core.api, cloudfree.core.model.card as m; "
                            "print(cloudfree.core.api.__file__); print(m.MODELS_DIR)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    api_file, models_dir = where.stdout.split()
    assert api_file.startswith(str(target)) and models_dir.startswith(str(target))
    assert sorted(p.name for p in Path(models_dir).glob("cloudfree_*.onnx"))[:1] == ["cloudfree_bgrn.onnx"]
    out = tmp_path / "mask.tif"
    run = subprocess.run([str(target / "bin" / "cloudfree"), "cloudmask", str(SAMPLE), "-o", str(out),
                          "--resolution", "20"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    with rasterio.open(out) as mask:
        assert mask.count == 1 and mask.crs is not None
    assert out.with_suffix(".qml").is_file()  # the style came with the package
