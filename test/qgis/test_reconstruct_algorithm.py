"""cloudfree:reconstruct through processing.run, on a real L1C raster with a block of cloud.

Nothing here depends on the exact values the network paints, only on what is kept and what is filled.
"""
from pathlib import Path

import numpy as np
import pytest
import rasterio

from single_image_fixture import build_block_mask, build_l1c_raster

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


@pytest.fixture(scope="module")
def scene(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("reconstruct_qgis")
    image = build_l1c_raster(folder / "t33uuu_l1c.tif")
    mask, hole = build_block_mask(folder / "mask.tif", image)
    return image, mask, hole


def test_reconstruct_fills_the_block_and_styles_what_it_loads(scene, tmp_path):
    import processing
    from qgis.core import QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsProject

    image, mask, hole = scene
    out, source = tmp_path / "filled.tif", tmp_path / "source.tif"
    project = QgsProject.instance()
    try:
        result = processing.runAndLoadResults("cloudfree:reconstruct", {
            "INPUT": str(image), "MASK": str(mask), "OUTPUT": str(out), "SOURCE": str(source)})
        layers = {Path(layer.source()).name: layer for layer in project.mapLayers().values()}
        rgb = layers["filled.tif"].renderer()
        assert isinstance(rgb, QgsMultiBandColorRenderer)
        assert (rgb.redBand(), rgb.greenBand(), rgb.blueBand()) == (4, 3, 2)  # B04 B03 B02 of the L1C order
        assert rgb.redContrastEnhancement().maximumValue() == pytest.approx(3000)  # the written .qml's stretch
        assert isinstance(layers["source.tif"].renderer(), QgsPalettedRasterRenderer)
    finally:
        project.removeAllMapLayers()
    assert result["FILLED_PIXELS"] == int(hole.sum()) == 32 * 40
    assert result["MODEL"] == "cloudfree_inpaint_s2"
    assert Path(result["OUTPUT"]) == out and Path(result["SOURCE"]) == source
    with rasterio.open(image) as a, rasterio.open(out) as b, rasterio.open(source) as s:
        truth, filled, codes = a.read(), b.read(), s.read(1)
        assert (b.crs, b.transform, b.shape, b.count, b.dtypes) == (a.crs, a.transform, a.shape, a.count, a.dtypes)
    np.testing.assert_array_equal(filled[:, ~hole], truth[:, ~hole])
    assert (filled[:, hole] != truth[:, hole]).any(axis=0).mean() > 0.9
    np.testing.assert_array_equal(codes, hole.astype(np.uint8))


def test_an_input_layer_on_the_map_styles_the_result_alike(scene, tmp_path):
    import processing
    from qgis.core import QgsContrastEnhancement, QgsMultiBandColorRenderer, QgsProject, QgsRasterLayer

    image, mask, _ = scene
    project = QgsProject.instance()
    try:
        layer = QgsRasterLayer(str(image), "my input")
        false_colour = QgsMultiBandColorRenderer(layer.dataProvider(), 8, 4, 3)  # NIR, red, green
        for band, setter in ((8, false_colour.setRedContrastEnhancement), (4, false_colour.setGreenContrastEnhancement),
                             (3, false_colour.setBlueContrastEnhancement)):
            ce = QgsContrastEnhancement(layer.dataProvider().dataType(band))
            ce.setMinimumValue(100.0)
            ce.setMaximumValue(4321.0)
            ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
            setter(ce)
        layer.setRenderer(false_colour)
        project.addMapLayer(layer)
        processing.runAndLoadResults("cloudfree:reconstruct", {
            "INPUT": layer, "MASK": str(mask), "OUTPUT": str(tmp_path / "alike.tif")})
        loaded = [lyr for lyr in project.mapLayers().values() if Path(lyr.source()).name == "alike.tif"][0]
        rgb = loaded.renderer()
        assert isinstance(rgb, QgsMultiBandColorRenderer)
        assert (rgb.redBand(), rgb.greenBand(), rgb.blueBand()) == (8, 4, 3)
        assert rgb.redContrastEnhancement().maximumValue() == pytest.approx(4321.0)
        assert rgb.blueContrastEnhancement().minimumValue() == pytest.approx(100.0)
    finally:
        project.removeAllMapLayers()


def test_mask_classes_and_optional_source(scene, tmp_path):
    import processing

    from qgis.core import QgsProcessingException

    image, mask, _ = scene
    out = tmp_path / "shadows.tif"
    with pytest.raises(QgsProcessingException, match="names no pixel"):  # the block is class 1, not a shadow
        processing.run("cloudfree:reconstruct", {"INPUT": str(image), "MASK": str(mask), "MASK_CLASSES": 2,
                                                 "OUTPUT": str(out)})
    assert list(tmp_path.iterdir()) == []
    result = processing.run("cloudfree:reconstruct", {"INPUT": str(image), "MASK": str(mask), "MASK_CLASSES": 1,
                                                      "BUFFER": 1, "OUTPUT": str(out)})
    assert result["FILLED_PIXELS"] > 32 * 40 and not result["SOURCE"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shadows.qml", "shadows.tif"]


def test_errors_reach_the_user_and_leave_no_file(scene, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    image, mask, _ = scene
    with pytest.raises(QgsProcessingException, match="needs B02"):
        processing.run("cloudfree:reconstruct", {"INPUT": str(image), "MASK": str(mask),
                                                 "BAND_MAPPING": "B02=2, B03=3, B04=4",
                                                 "OUTPUT": str(tmp_path / "f.tif"), "SOURCE": str(tmp_path / "s.tif")})
    assert list(tmp_path.iterdir()) == []


def test_the_interpolation_method_from_the_dialog(scene, tmp_path):
    import processing

    image, mask, hole = scene
    result = processing.run("cloudfree:reconstruct", {"INPUT": str(image), "MASK": str(mask), "METHOD": 1,
                                                      "OUTPUT": str(tmp_path / "interp.tif")})
    assert result["MODEL"].startswith("interpolation") and result["FILLED_PIXELS"] == int(hole.sum())
    with rasterio.open(image) as a, rasterio.open(result["OUTPUT"]) as b:
        truth, filled = a.read(), b.read()
    np.testing.assert_array_equal(filled[:, ~hole], truth[:, ~hole])
    assert (filled[:, hole] != truth[:, hole]).any(axis=0).mean() > 0.9
