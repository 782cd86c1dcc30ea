"""The PyQGIS snippets of README.md ("From the Python console and from scripts") run, on real data.

A snippet is a fenced ```python block right after an HTML comment
`<!-- snippet: NAME -->`. The README's example paths are replaced by real data
(PLACEHOLDERS below, documented in the README's table):

    /data/l1c.tif          sample/sen12mscr_cloudy_l1c.tif (real cloudy 13-band L1C, 256 x 256 px at 10 m)
    /data/S2A_MSIL2A.SAFE  the `safe_l2a_offset` session fixture (small real L2A product, baseline 05.09)
    /data/products         a folder with one copy of the `safe_l1c` session fixture (small real L1C product)
    /data/series           the eo-learn series of timeseries_fixture.build_series (s2_<date>.tif + _mask.tif)
    /tmp/cloudfree         a temporary output folder

The console snippets run in this test's QGIS application, in one namespace, as
in the Python console: `from qgis.core import *` and an `iface` whose
activeLayer() is a real raster layer of /data/l1c.tif. A snippet that uses
another's outputs or variables runs that one first (REQUIRES). The standalone
script runs in a subprocess with .venv/bin/python, QT_QPA_PLATFORM=offscreen
and QGIS_PLUGINPATH=build/plugins. The train snippet (one epoch of two steps)
takes about 30 s on two cores, so it runs too.
"""
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from batch_fixture import copies_of
from timeseries_fixture import build_series

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
PYTHON = REPO / ".venv" / "bin" / "python"
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\s*\n```python\n(?P<code>.*?)\n```", re.DOTALL)
#: The snippets, in README order: one per algorithm, the model, and the standalone script.
EXPECTED = ["cloudmask", "sclmask", "evaluate", "train", "gapfill", "composite", "reconstruct",
            "evaluate_reconstruction", "batch", "dependencies", "copymodels", "model", "standalone"]
#: Snippets whose files or variables another snippet uses.
REQUIRES = {"evaluate": ["sclmask"], "composite": ["gapfill"], "reconstruct": ["cloudmask"],
            "evaluate_reconstruction": ["gapfill"]}
TARGET_DATE = "2015-08-30"  # the clear date of the series that carries another date's real cloud mask

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


def readme_snippets() -> dict:
    return {m["name"]: m["code"] for m in SNIPPET.finditer(README.read_text(encoding="utf-8"))}


def substitute(code: str, paths: dict) -> str:
    for placeholder in sorted(paths, key=len, reverse=True):
        code = code.replace(placeholder, str(paths[placeholder]))
    assert "/data/" not in code and "/tmp/cloudfree" not in code, f"a path is not replaced in:\n{code}"
    return code


class Iface:
    """The part of QGIS's iface the snippets use."""

    def __init__(self, layer) -> None:
        self.layer = layer

    def activeLayer(self):  # noqa: N802 - QGIS API
        return self.layer


class Console:
    """One Python console session: snippets run in one namespace, each at most once."""

    def __init__(self, snippets: dict, paths: dict, layer) -> None:
        self.snippets, self.paths, self.out = snippets, paths, Path(paths["/tmp/cloudfree"])
        self.namespace = {"__name__": "__console__", "iface": Iface(layer)}
        exec("from qgis.core import *", self.namespace)  # noqa: S102 - as QGIS's console does
        self.printed = {}

    def run(self, name: str) -> dict:
        if name not in self.printed:
            for needed in REQUIRES.get(name, []):
                self.run(needed)
            code = compile(substitute(self.snippets[name], self.paths), f"README.md snippet {name}", "exec")
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(code, self.namespace)  # noqa: S102 - the README's own code
            self.printed[name] = buffer.getvalue()
        return self.namespace


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir) -> dict:
    series = build_series(tmp_path_factory.mktemp("readme_series") / "series")
    assert Path(series["images"][series["target"]]).name == f"s2_{TARGET_DATE}.tif"
    return series


@pytest.fixture(scope="module")
def paths(tmp_path_factory, safe_l2a_offset, safe_l1c, series) -> dict:
    """PLACEHOLDERS: the README's example paths -> real data."""
    root = tmp_path_factory.mktemp("readme")
    products = root / "products"
    copies_of(safe_l1c, products, dates=("20210908T042701",))
    out = root / "out"
    out.mkdir()
    return {"/data/l1c.tif": SAMPLE_L1C, "/data/S2A_MSIL2A.SAFE": safe_l2a_offset, "/data/products": products,
            "/data/series": series["folder"], "/tmp/cloudfree": out}


@pytest.fixture(scope="module")
def console(paths):
    """The session, with /data/l1c.tif as the active layer of the project (the project owns the layer)."""
    from qgis.core import QgsProject, QgsRasterLayer

    project = QgsProject.instance()
    layer = QgsRasterLayer(str(paths["/data/l1c.tif"]), "scene", "gdal")
    assert layer.isValid()
    project.addMapLayer(layer)
    try:
        yield Console(readme_snippets(), paths, layer)
    finally:
        project.removeMapLayer(layer.id())


def classes_of(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        classes = ds.read(1)
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 255}
    return classes


def test_the_readme_has_a_snippet_for_every_algorithm(cloudfree_provider):
    snippets = readme_snippets()
    assert list(snippets) == EXPECTED
    code = "\n".join(snippets.values())
    for algorithm in cloudfree_provider.algorithms():
        assert f'"{algorithm.id()}"' in code, f"no README snippet runs {algorithm.id()}"
    assert "iface." not in "".join(v for k, v in snippets.items() if k != "cloudmask")


def test_cloudmask_snippet_masks_the_active_layer(console):
    ns = console.run("cloudmask")
    mask, confidence = console.out / "mask.tif", console.out / "confidence.tif"
    assert Path(ns["result"]["OUTPUT"]) == mask
    classes = classes_of(mask)
    with rasterio.open(mask) as m, rasterio.open(SAMPLE_L1C) as src, rasterio.open(confidence) as c:
        assert m.crs == src.crs and (m.width, m.height) == (src.width // 2, src.height // 2)  # 20 m
        assert c.count == 4
    assert np.isin(classes, (1, 2)).any() and 0 < ns["result"]["CLOUD_PERCENT"] <= 100
    assert console.printed["cloudmask"].split()[0] == str(ns["result"]["CLOUD_PERCENT"])


def test_sclmask_snippet(console):
    ns = console.run("sclmask")
    classes = classes_of(console.out / "scl_mask.tif")
    assert (classes != 255).any() and 0 <= ns["result"]["SHADOW_PERCENT"] <= 100
    assert console.printed["sclmask"].startswith("Sen2Cor: ")


def test_evaluate_snippet_scores_the_unet_against_the_scl_mask(console):
    ns = console.run("evaluate")
    scores = ns["scores"]
    assert scores["PIXELS"] > 0 and Path(scores["OUTPUT_TABLE"]) == console.out / "scores.csv"
    table = (console.out / "scores.csv").read_text()
    assert "cloud" in table and "clear" in table
    for key in ("CLOUD_F1", "CLEAR_F1"):
        assert 0.0 <= scores[key] <= 1.0, key


def test_train_snippet_trains_a_model_that_then_masks(console):
    ns = console.run("train")
    model = Path(ns["trained"]["OUTPUT_MODEL"])
    assert model == console.out / "my_model.onnx" and model.with_suffix(".json").is_file()
    assert json.loads(model.with_suffix(".json").read_text())["bands"] == ["B02", "B03", "B04", "B08"]
    assert math.isfinite(ns["trained"]["VALIDATION_LOSS"])
    assert (classes_of(console.out / "my_model_mask.tif") != 255).any()


def test_gapfill_snippet_fills_the_target_date(console, series):
    ns = console.run("gapfill")
    assert ns["result"]["DATE"] == TARGET_DATE and ns["dates"] == ", ".join(series["dates"])
    cloud = series["cloud"]
    with rasterio.open(console.out / "filled.tif") as out:
        filled = out.read()
    np.testing.assert_array_equal(filled[:, ~cloud], series["truth"][:, ~cloud])  # clear pixels kept
    assert ns["result"]["FILLED_PERCENT"] == pytest.approx(100 * cloud.mean())


def test_composite_snippet(console, series):
    ns = console.run("composite")
    assert ns["result"]["EMPTY_PERCENT"] == 0
    with rasterio.open(console.out / "composite.tif") as c, rasterio.open(console.out / "composite_dates.tif") as d:
        assert c.count == 4 and c.dtypes[0] == "uint16"
        assert set(np.unique(d.read(1))) <= set(range(len(series["dates"])))


def test_reconstruct_snippet_keeps_clear_pixels(console):
    ns = console.run("reconstruct")
    classes = classes_of(console.out / "mask.tif")
    on_input = np.repeat(np.repeat(classes, 2, axis=0), 2, axis=1)  # the 20 m mask on the 10 m grid
    clear, masked = on_input == 0, np.isin(on_input, (1, 2, 3))
    with rasterio.open(SAMPLE_L1C) as src, rasterio.open(console.out / "reconstructed.tif") as out:
        image, filled = src.read(), out.read()
        assert (out.count, out.dtypes[0], out.transform) == (13, "uint16", src.transform)
    np.testing.assert_array_equal(filled[:, clear], image[:, clear])
    cloud = np.isin(on_input, (1, 2))  # shadows (3) are relit from their own values, clouds filled
    assert (filled[:, cloud] != image[:, cloud]).any(axis=0).mean() > 0.99
    assert ns["result"]["FILLED_PIXELS"] == int(cloud.sum()) and masked.sum() > cloud.sum()


def test_evaluate_reconstruction_snippet(console, series):
    ns = console.run("evaluate_reconstruction")
    scores = ns["scores"]
    assert scores["PIXELS"] == int(series["cloud"].sum())
    assert 0 < scores["MAE"] < 0.1 and 0 < scores["SSIM"] <= 1 and scores["PSNR"] > 20
    table = json.loads((console.out / "reconstruction_scores.json").read_text())
    assert list(table) == ["B02", "B03", "B04", "B08", "overall"]


def test_batch_snippet(console):
    ns = console.run("batch")
    result = ns["result"]
    assert (result["DONE"], result["FAILED"], result["SKIPPED"]) == (1, 0, 0)
    batch = console.out / "batch"
    assert Path(result["SUMMARY"]) == batch / "summary.csv"
    (mask,) = batch.glob("*_mask.tif")
    assert (classes_of(mask) != 255).any()


def test_dependencies_snippet(console):
    ns = console.run("dependencies")
    assert ns["result"]["OK"] == 1
    assert "onnxruntime" in ns["result"]["REPORT"] and "ready" in console.printed["dependencies"]


def test_copymodels_snippet(console):
    from qgis.core import QgsProcessingModelAlgorithm

    ns = console.run("copymodels")
    copies = [Path(p) for p in ns["result"]["COPIED"]]
    assert copies and all(p.parent == console.out / "my_models" and p.is_file() for p in copies)
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(copies[0])) and model.name().endswith("(my copy)")


def test_model_snippet(console):
    ns = console.run("model")
    mask, filled = console.out / "model_mask.tif", console.out / "model_reconstructed.tif"
    assert Path(ns["result"]["cloudmask:MASK"]) == mask
    assert np.isin(classes_of(mask), (1, 2, 3)).any()
    with rasterio.open(filled) as out:
        assert (out.count, out.width, out.height) == (13, 256, 256)


def test_standalone_script_runs_in_its_own_python(paths, tmp_path):
    out = tmp_path / "out"  # the script makes it
    script = tmp_path / "mask_and_fill.py"
    script.write_text(substitute(readme_snippets()["standalone"], {**paths, "/tmp/cloudfree": out}))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_PLUGINPATH=str(REPO / "build" / "plugins"), HOME=str(home),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CONFIG_HOME=str(home / ".config"))
    python = str(PYTHON) if PYTHON.is_file() else sys.executable
    proc = subprocess.run([python, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\d+\.\d % cloud; \d+ pixels filled into .*script_reconstructed\.tif", proc.stdout), proc.stdout
    assert np.isin(classes_of(out / "script_mask.tif"), (1, 2)).any()
    with rasterio.open(out / "script_reconstructed.tif") as filled:
        assert (filled.count, filled.width, filled.height) == (13, 256, 256)
