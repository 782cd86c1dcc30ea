"""cloudfree:gapfill, cloudfree:composite and cloudfree:evaluate_reconstruction through processing.run."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from timeseries_fixture import build_series

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir):
    return build_series(tmp_path_factory.mktemp("series"))


def run(algorithm: str, parameters: dict) -> dict:
    import processing
    return processing.run(f"cloudfree:{algorithm}", parameters)


def test_gapfill_fills_the_target_and_styles_what_it_loads(series, tmp_path):
    import processing
    from qgis.core import QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsProject

    out, source = tmp_path / "filled.tif", tmp_path / "source.tif"
    project = QgsProject.instance()
    try:
        result = processing.runAndLoadResults("cloudfree:gapfill", {
            "INPUTS": series["images"], "MASKS": series["masks"], "DATES": ", ".join(series["dates"]),
            "TARGET": 4, "OUTPUT": str(out), "SOURCE": str(source)})
        layers = {Path(layer.source()).name: layer for layer in project.mapLayers().values()}
        rgb = layers["filled.tif"].renderer()
        assert isinstance(rgb, QgsMultiBandColorRenderer)
        assert (rgb.redBand(), rgb.greenBand(), rgb.blueBand()) == (3, 2, 1)
        assert rgb.redContrastEnhancement().maximumValue() == pytest.approx(3000)
        assert isinstance(layers["source.tif"].renderer(), QgsPalettedRasterRenderer)
    finally:
        project.removeAllMapLayers()
    assert result["DATE"] == "2015-08-30"
    assert result["FILLED_PERCENT"] == pytest.approx(100 * series["cloud"].mean())
    assert result["FALLBACK_PERCENT"] == 0
    cloud = series["cloud"]
    with rasterio.open(out) as ds, rasterio.open(series["images"][3]) as src, rasterio.open(source) as codes:
        np.testing.assert_array_equal(ds.read()[:, ~cloud], src.read()[:, ~cloud])
        np.testing.assert_array_equal(codes.read(1), cloud.astype(np.uint8))


def test_gapfill_errors_reach_the_user_and_leave_no_file(series, tmp_path, tmp_path_factory):
    from qgis.core import QgsProcessingException

    undated, folder = [], tmp_path_factory.mktemp("undated")
    for i, image in enumerate(series["images"]):  # the fixture's names carry their dates: hide them
        undated.append(str(folder / f"date_{chr(97 + i)}.tif"))
        shutil.copyfile(image, undated[-1])
    with pytest.raises(QgsProcessingException, match="name states no date"):
        run("gapfill", {"INPUTS": undated, "MASKS": series["masks"], "TARGET_DATE": "2015-08-30",
                        "OUTPUT": str(tmp_path / "f.tif"), "SOURCE": str(tmp_path / "s.tif")})
    with pytest.raises(QgsProcessingException, match="one cloud mask per date"):
        run("gapfill", {"INPUTS": series["images"], "MASKS": series["masks"][:2], "DATES": ",".join(series["dates"]),
                        "OUTPUT": str(tmp_path / "f.tif"), "SOURCE": str(tmp_path / "s.tif")})
    assert list(tmp_path.iterdir()) == []


def test_composite_takes_clear_pixels_only(series, tmp_path):
    out, source = tmp_path / "c.tif", tmp_path / "c_dates.tif"
    result = run("composite", {"INPUTS": series["images"], "MASKS": series["masks"],
                               "DATES": ",".join(series["dates"]), "OUTPUT": str(out), "SOURCE": str(source)})
    assert result["CENTRE_DATE"] == "2015-08-10" and result["EMPTY_PERCENT"] == 0
    clear = np.stack([rasterio.open(m).read(1) == 0 for m in series["masks"]])
    stack = np.stack([rasterio.open(p).read() for p in series["images"]])
    index = rasterio.open(source).read(1)
    rows, cols = np.indices(index.shape)
    assert clear[index, rows, cols].all()
    np.testing.assert_array_equal(rasterio.open(out).read(), np.moveaxis(stack[index, :, rows, cols], -1, 0))


def test_evaluate_reconstruction_outputs_overall_scores_and_a_table(series, tmp_path):
    import json

    with rasterio.open(series["images"][3]) as ds:
        profile, data = ds.profile, ds.read()
    shifted = tmp_path / "plus50.tif"
    with rasterio.open(shifted, "w", **profile) as ds:
        ds.write(data + np.uint16(50))
    table = tmp_path / "scores.json"
    result = run("evaluate_reconstruction", {"RECONSTRUCTION": str(shifted), "REFERENCE": series["images"][3],
                                             "MASK": series["masks"][3], "BANDS": "B04, B08",
                                             "OUTPUT_TABLE": str(table)})
    assert result["MAE"] == pytest.approx(0.005, abs=1e-6) and result["RMSE"] == pytest.approx(0.005, abs=1e-6)
    assert result["PSNR"] == pytest.approx(46.0206, abs=1e-3) and 0.9 < result["SSIM"] <= 1.0
    assert result["PIXELS"] == 3909 and result["SAM_DEG"] > 0
    assert list(json.loads(table.read_text())) == ["B04", "B08", "overall"]
