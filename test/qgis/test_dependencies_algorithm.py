"""cloudfree:dependencies through processing.run, and the plugin loading without a package it needs.

The missing-package cases run QGIS in a fresh process in which a
sitecustomize.py makes the package unimportable (as if it were not
installed), load the plugin through classFactory as QGIS does, and run the
algorithms there.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
pytestmark = pytest.mark.usefixtures("cloudfree_provider")

BLOCKER = '''
import os, sys
_BLOCKED = {n for n in os.environ.get("CLOUDFREE_TEST_BLOCK", "").split(",") if n}

class _Block:
    """Makes the listed packages look uninstalled: find_spec and import both fail."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Block())
'''

SCRIPT = '''
import json, os, sys
from pathlib import Path
from qgis.core import QgsApplication, QgsProcessingException
profile, sample = sys.argv[1], sys.argv[2]
app = QgsApplication([], False, profile)
app.initQgis()
sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
from processing.core.Processing import Processing
Processing.initialize()
import processing
log = []
QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: log.append([tag, message]))
import cloudfree
plugin = cloudfree.classFactory(None)
plugin.initProcessing()
out = {"provider": type(plugin.provider).__name__, "ids": sorted(a.id() for a in plugin.provider.algorithms()),
       "warnings": [m for tag, m in log if tag == "CloudFree"], "path0": sys.path[0]}
try:
    processing.run("cloudfree:cloudmask", {"INPUT": sample, "RESOLUTION": 1, "OUTPUT": os.path.join(profile, "m.tif")})
    out["cloudmask"] = "ran"
except QgsProcessingException as exc:
    out["cloudmask"] = str(exc)
out["mask_written"] = os.path.exists(os.path.join(profile, "m.tif"))
result = processing.run("cloudfree:dependencies", {"INSTALL": False})
out["ok"], out["report"] = result["OK"], result["REPORT"]
plugin.unload()
print("RESULT" + json.dumps(out))
'''


def run_qgis_without(blocked: str, tmp_path: Path) -> dict:
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCKER)
    (tmp_path / "run.py").write_text(SCRIPT)
    profile = tmp_path / "profile"
    env = dict(os.environ, CLOUDFREE_TEST_BLOCK=blocked, PYTHONPATH=str(tmp_path / "block"),
               QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(profile), str(SAMPLE_L1C)],
                          capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT"):])
    # classFactory put the profile's install folder first on the Python path.
    assert out["path0"] == str(profile / "python" / "cloudfree_deps")
    return out


def run(parameters: dict) -> dict:
    import processing
    return processing.run("cloudfree:dependencies", parameters)


def test_check_only_reports_the_versions_found():
    import numpy
    import onnxruntime
    import rasterio

    result = run({"INSTALL": False})
    assert result["OK"] == 1
    report = result["REPORT"]
    assert f"[ok] onnxruntime: {onnxruntime.__version__}" in report
    assert f"[ok] rasterio: {rasterio.__version__}" in report
    assert f"[ok] numpy: {numpy.__version__}" in report
    assert "Everything CloudFree's algorithms need is present." in report


def test_install_with_nothing_missing_installs_nothing():
    result = run({"INSTALL": True})
    assert result["OK"] == 1
    assert result["REPORT"].endswith("Nothing to install.")


def test_gpu_asked_on_the_cpu_build_is_not_ok_and_says_what_to_install():
    result = run({"GPU": True})
    assert result["OK"] == 0
    assert "[wrong build] onnxruntime" in result["REPORT"] and '"onnxruntime-gpu>=1.17"' in result["REPORT"]


def test_plugin_loads_without_onnxruntime_and_says_what_to_do(tmp_path):
    out = run_qgis_without("onnxruntime", tmp_path)
    assert out["provider"] == "CloudFreeProvider" and "cloudfree:cloudmask" in out["ids"]
    assert len(out["warnings"]) == 1
    warning = out["warnings"][0]
    assert "onnxruntime (missing, needs >=1.17)" in warning and "Check and install dependencies" in warning
    assert '"onnxruntime>=1.17"' in warning  # the fix command, in the log
    assert "onnxruntime" in out["cloudmask"] and "cloudfree:dependencies" in out["cloudmask"]
    assert not out["mask_written"]
    assert out["ok"] == 0 and "[missing] onnxruntime" in out["report"]


def test_plugin_loads_without_rasterio_and_the_mask_fails_clearly(tmp_path):
    out = run_qgis_without("rasterio", tmp_path)
    # No algorithm module imports rasterio at load: the whole provider is there.
    assert out["provider"] == "CloudFreeProvider"
    assert {"cloudfree:dependencies", "cloudfree:cloudmask", "cloudfree:gapfill", "cloudfree:train",
            "cloudfree:evaluate_reconstruction"} <= set(out["ids"])
    warning = out["warnings"][0]
    assert "rasterio (missing, needs >=1.3)" in warning and "cloudfree:dependencies" in warning
    assert "rasterio" in out["cloudmask"] and "cloudfree:dependencies" in out["cloudmask"]
    assert "No module named" in out["cloudmask"]
    assert out["ok"] == 0 and "[missing] rasterio" in out["report"]


def test_message_bar_names_cloudfree_once_and_the_warning_goes_after_an_install(monkeypatch):
    """The title is 'CloudFree', the text does not repeat it; a re-check with nothing missing removes it."""
    from qgis.gui import QgsMessageBar

    import cloudfree.plugin as plugin_module
    from cloudfree.dependencies import check as deps

    bar = QgsMessageBar()

    class Iface:
        def messageBar(self):  # noqa: N802 - QGIS API
            return bar

    real = deps.check_dependencies(imports=False)
    onnx = next(s for s in real if s.name == "onnxruntime")
    broken = [s if s is not onnx else type(s)(**{**onnx.__dict__, "state": "missing", "version": None})
              for s in real]
    monkeypatch.setattr(deps, "missing", lambda statuses: [s for s in statuses if s.state == "missing"])
    monkeypatch.setattr(deps, "check_dependencies", lambda imports=False: broken)
    plugin = plugin_module.CloudFreePlugin(Iface())
    plugin._check()
    item = bar.currentItem()
    assert item is not None and item.title() == "CloudFree"
    assert not item.text().startswith("CloudFree") and "onnxruntime" in item.text()
    monkeypatch.setattr(deps, "check_dependencies", lambda imports=False: real)
    plugin.recheck()
    assert bar.currentItem() is None and plugin.warning == ""


def test_an_install_that_leaves_a_needed_package_missing_fails(monkeypatch, tmp_path):
    """OK=0 inside a result dict is easy to miss: the run itself fails and names the package."""
    import processing
    from qgis.core import QgsProcessingException

    from cloudfree.dependencies import check as deps
    from cloudfree.dependencies import install as inst

    real = deps.check_dependencies(imports=False)
    onnx = next(s for s in real if s.name == "onnxruntime")
    broken = [s if s is not onnx else type(s)(**{**onnx.__dict__, "state": "missing", "version": None})
              for s in real]
    monkeypatch.setattr(deps, "check_dependencies", lambda **kwargs: broken)
    monkeypatch.setattr(deps, "activate", lambda target: None)

    class Nothing:
        def summary(self):
            return "installed: onnxruntime (but it does not import)"

    monkeypatch.setattr(inst, "install", lambda *a, **k: Nothing())
    with pytest.raises(QgsProcessingException, match="but onnxruntime still cannot be imported"):
        processing.run("cloudfree:dependencies", {"INSTALL": True})
