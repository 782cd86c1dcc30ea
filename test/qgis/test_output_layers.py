"""Outputs loaded on completion: named after the scene and the product, in the CloudFree group, styled.

Runs cloudfree:cloudmask through processing.runAndLoadResults into QgsProject.instance(),
the path the Processing dialog takes: postProcessAlgorithm names and styles the layers,
Processing loads them and the post-processor moves them into the group.
"""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
MASK_QML = REPO / "resources" / "mask_classes.qml"
CONFIDENCE_QML = REPO / "resources" / "confidence.qml"
SCENE = "sen12mscr_cloudy_l1c"

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


def qml_palette(path: Path) -> dict:
    """value -> (#rrggbb, alpha, label) of a paletted QML style."""
    entries = ET.parse(path).getroot().iter("paletteEntry")
    return {int(e.get("value")): (e.get("color").lower(), int(e.get("alpha", 255)), e.get("label")) for e in entries}


def qml_bands(path: Path) -> tuple:
    """(red, green, blue) bands of a multiband colour QML style."""
    renderer = ET.parse(path).getroot().find(".//rasterrenderer")
    return tuple(int(renderer.get(f"{c}Band")) for c in ("red", "green", "blue"))


@pytest.fixture
def project():
    from qgis.core import QgsProject

    project = QgsProject.instance()
    project.clear()
    yield project
    project.clear()


def run_and_load(tmp_path: Path, project, stem: str = "mask"):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            self.lines.append(info)
            super().pushInfo(info)

    context, feedback = QgsProcessingContext(), Log()
    context.setProject(project)
    out, conf = tmp_path / f"{stem}.tif", tmp_path / f"{stem}_confidence.tif"
    results = processing.runAndLoadResults(
        "cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(out), "CONFIDENCE": str(conf)},
        feedback=feedback, context=context)
    return results, out, conf, feedback.lines


def test_cloudmask_outputs_are_named_grouped_and_styled(tmp_path, project):
    from qgis.core import QgsLayerTreeLayer, QgsMultiBandColorRenderer, QgsPalettedRasterRenderer

    results, out, conf, log = run_and_load(tmp_path, project)

    root = project.layerTreeRoot()
    group = root.findGroup("CloudFree")
    assert group is not None and group.parent() == root
    assert [child.name() for child in group.children()] == [f"{SCENE} cloud mask", f"{SCENE} confidence"]
    assert all(isinstance(child, QgsLayerTreeLayer) for child in group.children())
    assert len(root.findLayers()) == 2 and len(project.mapLayers()) == 2  # nothing left outside the group

    mask = project.mapLayersByName(f"{SCENE} cloud mask")[0]
    confidence = project.mapLayersByName(f"{SCENE} confidence")[0]
    assert Path(mask.source()) == out == Path(results["OUTPUT"])
    assert Path(confidence.source()) == conf == Path(results["CONFIDENCE"])

    renderer = mask.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert renderer.band() == 1
    styled = {c.value: (c.color.name().lower(), c.color.alpha(), c.label) for c in renderer.classes()}
    assert styled == qml_palette(MASK_QML)
    assert styled[0][1] == 0 and all(styled[v][1] == 255 for v in (1, 2, 3))  # clear shows the image below

    # the confidence shows every class at once: thick cloud red, thin cloud green, shadow blue, each over 0-100 %
    renderer = confidence.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == qml_bands(CONFIDENCE_QML) == (2, 3, 4)
    for enhancement in (renderer.redContrastEnhancement(), renderer.greenContrastEnhancement(),
                        renderer.blueContrastEnhancement()):
        assert (enhancement.minimumValue(), enhancement.maximumValue()) == (0, 100)

    # the log says what was loaded where, and the cover
    text = "\n".join(log)
    assert f"'{SCENE} cloud mask'" in text and "CloudFree" in text
    assert f"Cloud cover: {results['CLOUD_PERCENT']:.2f} %" in text
    assert f"shadow cover: {results['SHADOW_PERCENT']:.2f} %" in text


def test_a_second_run_reuses_the_group_and_goes_on_top(tmp_path, project):
    run_and_load(tmp_path, project, "first")
    _, second, _, _ = run_and_load(tmp_path, project, "second")

    root = project.layerTreeRoot()
    assert [g.name() for g in root.children()] == ["CloudFree"]
    layers = [child.layer() for child in root.findGroup("CloudFree").children()]
    assert [Path(layer.source()).name for layer in layers] == [
        "second.tif", "second_confidence.tif", "first.tif", "first_confidence.tif"]
    assert Path(layers[0].source()) == second


def test_plain_run_loads_nothing(tmp_path, project):
    import processing

    processing.run("cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(tmp_path / "m.tif")})
    assert not project.mapLayers() and not project.layerTreeRoot().children()


@pytest.mark.parametrize("path, layer_name, expected", [
    ("/d/S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102.SAFE", None,
     "S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102"),
    ("/d/S2B_MSIL2A_20200615T180919_N0214_R084_T12TVL_20200615T222006.SAFE/MTD_MSIL2A.xml", None,
     "S2B_MSIL2A_20200615T180919_N0214_R084_T12TVL_20200615T222006"),
    ("/d/S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102.SAFE.zip", None,
     "S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102"),
    ("/d/S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102.zip", None,
     "S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102"),
    ("/d/scene.tif", None, "scene"),
    ("/d/scene.tif", "My scene", "My scene"),
])
def test_scene_names(path, layer_name, expected):
    from cloudfree.algorithms.common import output_layer_name, scene_name

    class Layer:
        def source(self):
            return path

        def name(self):
            return layer_name

    got = scene_name(path) if layer_name is None else scene_name(layer=Layer())
    assert got == expected
    assert output_layer_name(expected, "cloud mask") == f"{expected} cloud mask"


def test_product_layer_is_named_by_its_product():
    from cloudfree.algorithms.common import scene_name

    class Layer:
        def source(self):
            return "SENTINEL2_L1C:/d/S2A_MSIL1C_X_T33UUU_Y.SAFE/MTD_MSIL1C.xml:10m:EPSG_32633"

        def name(self):
            return "MTD_MSIL1C 10m"

    assert scene_name(layer=Layer()) == "S2A_MSIL1C_X_T33UUU_Y"


def test_reconstruction_outputs_are_named_after_their_input(tmp_path, project, data_dir):
    import processing
    from qgis.core import QgsMultiBandColorRenderer
    from single_image_fixture import build_block_mask, build_l1c_raster  # test/, on sys.path via conftest

    image = build_l1c_raster(tmp_path / "t33uuu_l1c.tif")
    mask, _ = build_block_mask(tmp_path / "mask.tif", image)
    processing.runAndLoadResults("cloudfree:reconstruct", {
        "INPUT": str(image), "MASK": str(mask), "OUTPUT": str(tmp_path / "filled.tif"),
        "SOURCE": str(tmp_path / "source.tif")})
    group = project.layerTreeRoot().findGroup("CloudFree")
    assert [child.name() for child in group.children()] == [
        "t33uuu_l1c reconstructed (true colour)", "t33uuu_l1c reconstruction source"]
    assert isinstance(group.children()[0].layer().renderer(), QgsMultiBandColorRenderer)


def test_gapfill_outputs_are_named_after_the_target_date(tmp_path, project, data_dir):
    import processing
    from timeseries_fixture import build_series

    series = build_series(tmp_path / "series")
    processing.runAndLoadResults("cloudfree:gapfill", {
        "INPUTS": series["images"], "MASKS": series["masks"], "DATES": ", ".join(series["dates"]),
        "TARGET": 4, "OUTPUT": str(tmp_path / "filled.tif"), "SOURCE": str(tmp_path / "source.tif")})
    target = Path(series["images"][3]).stem
    group = project.layerTreeRoot().findGroup("CloudFree")
    assert [child.name() for child in group.children()] == [f"{target} gap-filled (true colour)",
                                                            f"{target} gap-fill source"]


def test_composite_and_scl_mask_names(tmp_path, project, layton_scl):
    import processing
    from timeseries_fixture import build_series

    series = build_series(tmp_path / "series")
    processing.runAndLoadResults("cloudfree:composite", {
        "INPUTS": series["images"], "MASKS": series["masks"], "DATES": ", ".join(series["dates"]),
        "OUTPUT": str(tmp_path / "composite.tif"), "SOURCE": str(tmp_path / "dates.tif")})
    processing.runAndLoadResults("cloudfree:sclmask", {"INPUT": str(layton_scl), "OUTPUT": str(tmp_path / "scl.tif")})
    first, more = Path(series["images"][0]).stem, len(series["images"]) - 1
    group = project.layerTreeRoot().findGroup("CloudFree")
    assert [child.name() for child in group.children()] == [
        f"{layton_scl.stem} cloud mask (SCL)",
        f"{first} (+{more} dates) composite (true colour)", f"{first} (+{more} dates) composite date of each pixel"]


def test_the_group_goes_inside_processings_results_group(tmp_path, project):
    from processing.core.ProcessingConfig import ProcessingConfig

    before = ProcessingConfig.getSetting(ProcessingConfig.RESULTS_GROUP_NAME)
    ProcessingConfig.setSettingValue(ProcessingConfig.RESULTS_GROUP_NAME, "Results")
    try:
        run_and_load(tmp_path, project)
    finally:
        ProcessingConfig.setSettingValue(ProcessingConfig.RESULTS_GROUP_NAME, before)
    results = project.layerTreeRoot().findGroup("Results")
    assert [c.name() for c in project.layerTreeRoot().children()] == ["Results"]
    assert [c.name() for c in results.children()] == ["CloudFree"]
    assert [c.name() for c in results.children()[0].children()] == [f"{SCENE} cloud mask", f"{SCENE} confidence"]


def test_runs_with_other_settings_load_under_names_that_tell_them_apart(tmp_path, project):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    context = QgsProcessingContext()
    context.setProject(project)
    for i, extra in enumerate(({}, {"RESOLUTION": 1, "BUFFER": 2, "CLOUD_THRESHOLD": 0.3})):
        processing.runAndLoadResults("cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(tmp_path / f"m{i}.tif"),
                                                            **extra}, feedback=QgsProcessingFeedback(), context=context)
    names = sorted(layer.name() for layer in project.mapLayers().values())
    assert names == [f"{SCENE} cloud mask", f"{SCENE} cloud mask (20 m, buffer 2, cloud 0.3)"]


def test_a_typed_confidence_path_is_loaded_with_the_mask(tmp_path, project):
    """The dialog's state when a path is typed into the confidence field: the mask is set to open after
    running, the confidence is a plain path with its "Open output file" box greyed out (QGIS 3.22).
    It is loaded, named and grouped like the mask; without the mask loaded (a script), neither is."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProcessingOutputLayerDefinition

    out, conf = tmp_path / "typed.tif", tmp_path / "typed_confidence.tif"
    mask_definition = QgsProcessingOutputLayerDefinition(str(out), project)  # "Open output file" ticked
    context = QgsProcessingContext()
    context.setProject(project)
    processing.run("cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": mask_definition,
                                           "CONFIDENCE": str(conf)}, feedback=QgsProcessingFeedback(), context=context)
    loading = context.layersToLoadOnCompletion()
    assert set(map(Path, loading)) == {out, conf}
    assert loading[str(conf)].name == f"{SCENE} confidence" and loading[str(conf)].project is project

    script = QgsProcessingContext()
    processing.run("cloudfree:cloudmask", {"INPUT": str(SAMPLE_L1C), "OUTPUT": str(tmp_path / "script.tif"),
                                           "CONFIDENCE": str(tmp_path / "script_confidence.tif")},
                   feedback=QgsProcessingFeedback(), context=script)
    assert script.layersToLoadOnCompletion() == {}
