"""`make demo` installs only requirements-demo.txt: masking must run without what the full install adds."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
#: What requirements.txt adds to the demo's packages (imported names).
FULL_ONLY = ["torch", "torchvision", "segmentation_models_pytorch", "timm", "onnx", "dask", "distributed", "pytest"]


def test_the_demo_requirements_are_a_subset_without_the_heavy_packages():
    demo = [ln.split("#")[0].strip() for ln in (REPO / "requirements-demo.txt").read_text().splitlines()]
    names = {ln.split("<")[0].split(">")[0].split("=")[0].strip().lower() for ln in demo if ln}
    assert names == {"numpy", "affine", "rasterio", "onnxruntime", "tqdm"}
    assert "-r requirements-demo.txt" in (REPO / "requirements.txt").read_text()


def test_cloudmask_runs_with_only_the_demo_packages(tmp_path):
    blocker = tmp_path / "site" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocker.write_text(
        "import sys\n"
        f"BLOCKED = {FULL_ONLY!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not installed (demo install)')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker.parent), str(REPO / "build" / "plugins")]))
    out = tmp_path / "mask.tif"
    proc = subprocess.run([sys.executable, "-m", "cloudfree", "cloudmask", str(SAMPLE), "-o", str(out), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and out.with_suffix(".qml").is_file()
    assert '"cloud_percent"' in proc.stdout
