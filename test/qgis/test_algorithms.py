"""The CloudFree Processing algorithms run headless through processing.run, on real data."""
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cloudfree.core.masking.class_raster import decide_classes
from cloudfree.core.model.card import load_card

from cloudfree.core.masking.scl import SCL_TO_CLASS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
LAYTON_SCL = DATA / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"
RES_20M = 1  # index of "20 m" in the RESOLUTION enum

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


def run(algorithm: str, parameters: dict) -> dict:
    import processing
    return processing.run(f"cloudfree:{algorithm}", parameters)


def test_provider_lists_every_algorithm(cloudfree_provider):
    ids = sorted(a.id() for a in cloudfree_provider.algorithms())
    assert ids == ["cloudfree:Mask and reconstruct a scene",  # the graphical model of resources/models
                   "cloudfree:batch", "cloudfree:cloudmask", "cloudfree:composite", "cloudfree:copymodels",
                   "cloudfree:dependencies",
                   "cloudfree:evaluate", "cloudfree:evaluate_reconstruction", "cloudfree:gapfill",
                   "cloudfree:reconstruct", "cloudfree:sclmask", "cloudfree:train"]
    assert cloudfree_provider.name() == "CloudFree"
    assert not cloudfree_provider.icon().isNull()


def test_cloudmask_on_real_l1c_raster(tmp_path):
    from qgis.core import QgsPalettedRasterRenderer, QgsRasterLayer

    out, conf = tmp_path / "mask.tif", tmp_path / "confidence.tif"
    result = run("cloudmask", {"INPUT": str(SAMPLE_L1C), "RESOLUTION": RES_20M,
                               "OUTPUT": str(out), "CONFIDENCE": str(conf)})
    assert Path(result["OUTPUT"]) == out and Path(result["CONFIDENCE"]) == conf
    assert result["RUNTIME"]

    with rasterio.open(SAMPLE_L1C) as src, rasterio.open(out) as mask:
        assert mask.crs.to_epsg() == 32631
        assert (mask.transform.c, mask.transform.f) == pytest.approx((src.transform.c, src.transform.f), abs=1e-6)
        assert (mask.transform.a, -mask.transform.e) == pytest.approx((20.0, 20.0))
        assert (mask.width, mask.height) == (src.width // 2, src.height // 2)
        assert mask.nodata == 255
        classes = mask.read(1)
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 255}
    valid = classes != 255
    assert valid.any()
    cloud = 100.0 * np.isin(classes[valid], (1, 2)).sum() / valid.sum()
    shadow = 100.0 * (classes[valid] == 3).sum() / valid.sum()
    assert result["CLOUD_PERCENT"] == pytest.approx(cloud, abs=1e-6)
    assert result["SHADOW_PERCENT"] == pytest.approx(shadow, abs=1e-6)

    with rasterio.open(conf) as c:
        assert c.count == 4
        assert (c.width, c.height) == (classes.shape[1], classes.shape[0])
        probs = c.read()
    assert probs[:, valid].max() <= 100
    assert np.abs(probs[:, valid].sum(axis=0).astype(int) - 100).max() <= 2  # percentages of one pixel sum to 100
    # the mask is the decision on the confidences (cloud as one class, then thick vs thin), up to % rounding
    weights = load_card("cloudfree_s2").decision_weights  # the bundled model the sample gets, and its calibration
    assert (decide_classes(probs.astype(float), weights=weights)[valid] == classes[valid]).mean() > 0.98

    layer = QgsRasterLayer(str(out), "mask", "gdal")
    assert layer.isValid()
    assert isinstance(layer.renderer(), QgsPalettedRasterRenderer), "the sidecar .qml style was not applied"


def test_outputs_loaded_on_completion_get_the_class_styles(tmp_path):
    import processing
    from qgis.core import QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsProject

    out, conf = tmp_path / "mask.tif", tmp_path / "confidence.tif"
    project = QgsProject.instance()
    try:
        processing.runAndLoadResults("cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(out),
                                                              "CONFIDENCE": str(conf)})
        layers = {Path(layer.source()).name: layer for layer in project.mapLayers().values()}
        assert isinstance(layers["mask.tif"].renderer(), QgsPalettedRasterRenderer)
        assert isinstance(layers["confidence.tif"].renderer(), QgsMultiBandColorRenderer)
    finally:
        project.removeAllMapLayers()


def test_confidence_bands_are_not_colour_channels(tmp_path):
    from rasterio.enums import ColorInterp

    conf = tmp_path / "confidence.tif"
    run("cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(tmp_path / "mask.tif"), "CONFIDENCE": str(conf)})
    with rasterio.open(conf) as c:
        assert ColorInterp.alpha not in c.colorinterp


def test_cloudmask_wrong_band_mapping_fails_cleanly(tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as err:
        run("cloudmask", {"INPUT": str(SAMPLE_L1C), "BAND_MAPPING": "B02=1, B03=2", "OUTPUT": str(tmp_path / "m.tif")})
    assert "B04" in str(err.value) or "B08" in str(err.value)
    assert not list(tmp_path.glob("*.tif"))


def test_cloudmask_asks_for_the_band_order_of_an_unnamed_rgbn_raster(tmp_path):
    """Auto does not read R/G/B/NIR as B/G/R/NIR; the rgbn preset (added last, index 5) answers."""
    from qgis.core import QgsProcessingException

    with rasterio.open(SAMPLE_L1C) as src:
        profile, data = src.profile, src.read([4, 3, 2, 8])
    profile.update(count=4)
    rgbn = tmp_path / "rgbn.tif"
    with rasterio.open(rgbn, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(QgsProcessingException, match="do not confirm the usual order"):
        run("cloudmask", {"INPUT": str(rgbn), "OUTPUT": str(tmp_path / "m.tif")})
    assert not (tmp_path / "m.tif").exists()
    result = run("cloudmask", {"INPUT": str(rgbn), "BAND_PRESET": 5, "RESOLUTION": RES_20M,
                               "OUTPUT": str(tmp_path / "m.tif")})
    assert result["RUNTIME"] and (tmp_path / "m.tif").is_file()


def test_cloudmask_needs_exactly_one_input(tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="exactly one input"):
        run("cloudmask", {"OUTPUT": str(tmp_path / "m.tif")})
    with pytest.raises(QgsProcessingException, match="exactly one input"):
        run("cloudmask", {"INPUT": str(SAMPLE_L1C), "SAFE": str(SAMPLE_L1C), "OUTPUT": str(tmp_path / "m.tif")})
    assert not list(tmp_path.glob("*.tif"))


def test_sclmask_on_real_scl_keeps_grid_and_maps_classes(tmp_path, layton_scl):
    out = tmp_path / "scl_mask.tif"
    result = run("sclmask", {"INPUT": str(layton_scl), "OUTPUT": str(out)})
    with rasterio.open(layton_scl) as src, rasterio.open(out) as mask:
        assert mask.crs == src.crs
        assert mask.transform.almost_equals(src.transform, precision=1e-12)
        assert (mask.width, mask.height) == (src.width, src.height)
        scl, classes = src.read(1), mask.read(1)
    np.testing.assert_array_equal(classes, SCL_TO_CLASS[scl])
    valid = classes != 255
    assert result["CLOUD_PERCENT"] == pytest.approx(100.0 * np.isin(classes[valid], (1, 2)).mean(), abs=1e-6)
    assert result["SHADOW_PERCENT"] == pytest.approx(100.0 * (classes[valid] == 3).mean(), abs=1e-6)
    assert result["SHADOW_PERCENT"] > 0  # the Layton scene has real shadows


@pytest.fixture(scope="module")
def l1c_safe(tmp_path_factory) -> Path:
    import safe_fixture  # test/safe_fixture.py, on sys.path through test/conftest.py

    return safe_fixture.build_safe(tmp_path_factory.mktemp("safe"))


@pytest.mark.parametrize("entry", ["folder", "MTD_MSIL1C.xml"])
def test_cloudmask_on_safe_product(tmp_path, l1c_safe, entry):
    product = l1c_safe if entry == "folder" else l1c_safe / entry
    out = tmp_path / "safe_mask.tif"
    result = run("cloudmask", {"SAFE": str(product), "RESOLUTION": RES_20M, "OUTPUT": str(out)})
    with rasterio.open(out) as mask:
        assert mask.crs.to_epsg() == 32633
        assert (mask.transform.a, -mask.transform.e) == pytest.approx((20.0, 20.0))
        assert (mask.width, mask.height) == (768, 384)
        assert (mask.transform.c, mask.transform.f) == pytest.approx((330000.0, 5822040.0))
        classes = mask.read(1)
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 255}
    valid = classes != 255
    assert result["CLOUD_PERCENT"] == pytest.approx(100.0 * np.isin(classes[valid], (1, 2)).mean(), abs=1e-6)


def test_sclmask_refuses_l1c_product(tmp_path, l1c_safe):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="L2A products only"):
        run("sclmask", {"SAFE": str(l1c_safe), "OUTPUT": str(tmp_path / "m.tif")})
    assert not list(tmp_path.glob("*.tif"))


def test_cloudmask_thresholds_are_advanced_and_change_the_mask(tmp_path):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().createAlgorithmById("cloudfree:cloudmask")
    for key in ("CLOUD_THRESHOLD", "SHADOW_THRESHOLD", "SHADOW_GEOMETRY"):
        assert alg.parameterDefinition(key).flags() & QgsProcessingParameterDefinition.FlagAdvanced, key
    cover = {}
    for t in (0.15, 0.9):
        result = run("cloudmask", {"INPUT": str(SAMPLE_L1C), "RESOLUTION": RES_20M, "CLOUD_THRESHOLD": t,
                                   "OUTPUT": str(tmp_path / f"m{t}.tif")})
        cover[t] = result["CLOUD_PERCENT"]
    default = run("cloudmask", {"INPUT": str(SAMPLE_L1C), "RESOLUTION": RES_20M, "OUTPUT": str(tmp_path / "d.tif")})
    assert cover[0.15] >= default["CLOUD_PERCENT"] >= cover[0.9] and cover[0.15] > cover[0.9]


def test_cloudmask_dialog_starts_on_the_active_raster_and_a_product_still_wins(tmp_path, monkeypatch, l1c_safe):
    """The input is preselected from the active layer; a run that gives a .SAFE product is not broken by it."""
    import qgis.utils
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition, QgsProject, QgsRasterLayer

    layer = QgsRasterLayer(str(SAMPLE_L1C), "sample")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)

    class Iface:
        def activeLayer(self):  # noqa: N802 - QGIS API
            return layer

    monkeypatch.setattr(qgis.utils, "iface", Iface())
    try:
        alg = QgsApplication.processingRegistry().createAlgorithmById("cloudfree:cloudmask")
        assert alg.parameterDefinition("INPUT").defaultValue() == layer.id()
        for key in ("DEVICE", "BATCH_SIZE", "PATCH_SIZE", "OVERLAP"):
            assert alg.parameterDefinition(key).flags() & QgsProcessingParameterDefinition.FlagAdvanced, key
        assert alg.parameterDefinition("PATCH_SIZE").defaultValue() is None
        result = run("cloudmask", {"RESOLUTION": RES_20M, "PATCH_SIZE": 0, "OVERLAP": -1,
                                   "OUTPUT": str(tmp_path / "active.tif")})
        with rasterio.open(tmp_path / "active.tif") as mask, rasterio.open(SAMPLE_L1C) as src:
            assert mask.crs == src.crs and mask.width == src.width // 2
        assert result["CLOUD_PERCENT"] > 0
        product = run("cloudmask", {"SAFE": str(l1c_safe), "RESOLUTION": 2, "OUTPUT": str(tmp_path / "safe.tif")})
        with rasterio.open(tmp_path / "safe.tif") as mask:
            assert mask.crs.to_epsg() == 32633 and product["CLOUD_PERCENT"] is not None  # the product, not the layer (32631)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
