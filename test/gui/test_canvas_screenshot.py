"""The plugin in the real QGIS desktop: cloudmask on the bundled sample, the styled mask on the map canvas.

Starts the `qgis` executable under Xvfb in a fresh profile with the plugin enabled and has it run
run_in_qgis.py (--code): the sample raster loaded, cloudfree:cloudmask run through
processing.runAndLoadResults, the canvas zoomed to the raster and saved as a PNG. The test then
samples screenshot pixels where the mask raster holds each class and checks their colours
against resources/mask_classes.qml: thick cloud, thin cloud and shadow in their colours, clear
transparent (the image shows through, in none of the cloud colours).
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGINS = REPO / "build" / "plugins"
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
MASK_QML = REPO / "resources" / "mask_classes.qml"
SCRIPT = HERE / "run_in_qgis.py"
QGIS = shutil.which("qgis")
XVFB_RUN = shutil.which("xvfb-run")
WATCHDOG_S = 90  # inside QGIS; the desktop starts in 5-30 s
TIMEOUT_S = 150
SAMPLES_PER_CLASS = 300
MIN_AGREEMENT = 0.90
#: An RGB distance (0-441) within which a screenshot pixel counts as a class colour.
COLOUR_TOLERANCE = 40

pytestmark = pytest.mark.gui


def palette() -> dict:
    """value -> ((r, g, b), alpha, label) from the mask style."""
    out = {}
    for e in ET.parse(MASK_QML).getroot().iter("paletteEntry"):
        rgb = e.get("color").lstrip("#")
        out[int(e.get("value"))] = (tuple(int(rgb[i:i + 2], 16) for i in (0, 2, 4)), int(e.get("alpha", 255)),
                                    e.get("label"))
    return out


@pytest.fixture(scope="module")
def desktop_run(tmp_path_factory) -> dict:
    """Runs QGIS once: result.json from run_in_qgis.py, plus what QGIS printed and how long it took."""
    if QGIS is None:
        pytest.skip("the QGIS desktop (qgis executable) is not installed: apt-get install qgis")
    if XVFB_RUN is None:
        pytest.skip("xvfb-run is not installed: apt-get install xvfb")
    if not (PLUGINS / "cloudfree" / "metadata.txt").is_file():
        pytest.fail(f"{PLUGINS / 'cloudfree'} must link to the repository root (the plugin folder).")
    tmp = tmp_path_factory.mktemp("qgis_desktop")
    home, profiles, out = tmp / "home", tmp / "profiles", tmp / "out"
    for d in (home, out, profiles / "profiles" / "default" / "QGIS"):
        d.mkdir(parents=True)
    # a fresh profile with the plugin enabled, so no real profile is touched
    (profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini").write_text(
        "[PythonPlugins]\ncloudfree=true\nprocessing=true\n")
    image = tmp / SAMPLE_L1C.name  # a copy: QGIS writes statistics beside the raster it shows
    shutil.copyfile(SAMPLE_L1C, image)

    site = sysconfig.get_path("purelib", vars={"base": sys.prefix, "platbase": sys.prefix})
    env = {k: v for k, v in os.environ.items()  # pytest-qgis points these at <rootdir>/.qgis-settings
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH")}
    env.update(QT_QPA_PLATFORM="xcb", QT_XCB_GL_INTEGRATION="none", HOME=str(home),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CONFIG_HOME=str(home / ".config"),
               QGIS_PLUGINPATH=str(PLUGINS),
               PYTHONPATH=os.pathsep.join([site, str(PLUGINS)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
               CLOUDFREE_GUI_INPUT=str(image), CLOUDFREE_GUI_OUT=str(out),
               CLOUDFREE_GUI_WATCHDOG_MS=str(WATCHDOG_S * 1000))
    command = [XVFB_RUN, "-a", "-s", "-screen 0 1280x1024x24", QGIS, "--profiles-path", str(profiles),
               "--nologo", "--noversioncheck", "--code", str(SCRIPT)]
    start = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    seconds = time.monotonic() - start
    printed = (proc.stdout + proc.stderr)[-4000:]
    result_file = out / "result.json"
    assert result_file.is_file(), f"QGIS exited {proc.returncode} after {seconds:.0f} s without a result:\n{printed}"
    result = json.loads(result_file.read_text())
    assert not result["errors"], "\n".join(result["errors"]) + "\n" + printed
    assert proc.returncode == 0, f"QGIS exited {proc.returncode}:\n{printed}"
    result.update(seconds=seconds, printed=printed)
    return result


def test_outputs_in_the_desktop_are_named_grouped_styled_and_logged(desktop_run):
    assert desktop_run["provider"]
    assert desktop_run["mask_layer_name"] == "sen12mscr_cloudy_l1c cloud mask (20 m)"
    assert desktop_run["mask_group"] == "CloudFree"
    assert desktop_run["mask_renderer"] == "paletted"
    assert desktop_run["layer_tree"] == [{"name": "CloudFree", "children": ["sen12mscr_cloudy_l1c cloud mask (20 m)"]},
                                         "sen12mscr_cloudy_l1c"]
    results = desktop_run["results"]
    assert any(line.startswith(f"Cloud cover: {results['CLOUD_PERCENT']:.2f} % of valid pixels; "
                               f"shadow cover: {results['SHADOW_PERCENT']:.2f} %") for line in desktop_run["log"])
    # the mask is drawn over the image
    assert desktop_run["canvas"]["layers"] == ["sen12mscr_cloudy_l1c cloud mask (20 m)", "sen12mscr_cloudy_l1c"]


def test_canvas_screenshot_shows_the_mask_classes_in_their_colours(desktop_run):
    from qgis.PyQt.QtGui import QColor, QImage

    canvas = desktop_run["canvas"]
    assert canvas["rotation"] == 0 and canvas["crs"] == "EPSG:32631"
    image = QImage(canvas["png"])
    assert not image.isNull()
    ratio = canvas["device_pixel_ratio"]
    assert (image.width(), image.height()) == (round(canvas["width"] * ratio), round(canvas["height"] * ratio))
    xmin, ymin, xmax, ymax = canvas["extent"]
    per_px = canvas["map_units_per_pixel"] / ratio

    with rasterio.open(desktop_run["mask_path"]) as src:
        classes, transform = src.read(1), src.transform
    # pixel centres whose 3 x 3 neighbourhood is one class: no resampling edge in the screenshot
    padded = np.pad(classes, 1, mode="edge")
    uniform = np.ones(classes.shape, bool)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            uniform &= padded[dr:dr + classes.shape[0], dc:dc + classes.shape[1]] == classes

    colours = palette()
    cloud_colours = {v: np.array(rgb) for v, (rgb, alpha, _) in colours.items() if alpha > 0}
    assert colours[0][1] == 0 and set(cloud_colours) == {1, 2, 3}  # clear is transparent in the style
    rng = np.random.default_rng(0)
    rates, misses = {}, {}
    for value in colours:
        rows, cols = np.nonzero(uniform & (classes == value))
        if len(rows) < 10:
            continue
        pick = rng.choice(len(rows), size=min(SAMPLES_PER_CLASS, len(rows)), replace=False)
        agree = 0
        for r, c in zip(rows[pick], cols[pick]):
            x, y = transform * (c + 0.5, r + 0.5)
            px, py = int((x - xmin) / per_px), int((ymax - y) / per_px)
            colour = QColor(image.pixel(px, py))
            rgb = np.array([colour.red(), colour.green(), colour.blue()])
            distances = {v: float(np.linalg.norm(rgb - ref)) for v, ref in cloud_colours.items()}
            if value in cloud_colours:  # opaque: the class colour, and nearer to it than to the others
                ok = min(distances, key=distances.get) == value and distances[value] <= COLOUR_TOLERANCE
            else:  # transparent: the image below, in none of the cloud colours
                ok = min(distances.values()) > COLOUR_TOLERANCE
            agree += ok
            if not ok:
                misses.setdefault(value, []).append(((px, py), tuple(rgb)))
        rates[value] = agree / len(pick)
    print(f"screenshot class agreement: { {colours[v][2]: round(r, 3) for v, r in rates.items()} }; "
          f"QGIS ran {desktop_run['seconds']:.1f} s")

    assert 0 in rates and len(rates) >= 2, f"the sample's mask should hold clear and cloud pixels: {rates}"
    assert all(rate >= MIN_AGREEMENT for rate in rates.values()), (rates, {v: m[:5] for v, m in misses.items()})


def test_the_cloudmask_dialog_preselects_the_active_layer_and_keeps_advanced_collapsed(desktop_run):
    from qgis.PyQt.QtGui import QImage

    dialog = desktop_run["dialog"]
    assert dialog["input"] == dialog["image_id"]  # the active raster layer is the input, nothing to pick
    assert dialog["advanced_groups"] == 1 and dialog["advanced_collapsed"] == [True]
    assert desktop_run["advanced_visible_inputs"] == [0]  # collapsed: none of its fields is shown
    shot = QImage(dialog["png"])
    assert not shot.isNull() and (shot.width(), shot.height()) == (dialog["width"], dialog["height"])
    pixels = np.frombuffer(shot.convertToFormat(QImage.Format_RGB32).constBits().asstring(shot.sizeInBytes()),
                           np.uint8).reshape(shot.height(), shot.width(), 4)
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20  # a drawn dialog, not a blank window
