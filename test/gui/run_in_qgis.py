"""Runs inside the QGIS desktop (qgis --code this_file): cloudmask on a raster, then a canvas screenshot.

test_canvas_screenshot.py starts QGIS with this script and these environment variables:

    CLOUDFREE_GUI_INPUT  the raster to mask (a copy of the bundled sample)
    CLOUDFREE_GUI_OUT    folder for the outputs: mask.tif, canvas.png and result.json

The script loads the raster, runs cloudfree:cloudmask through processing.runAndLoadResults
(the plugin's provider, its output naming, grouping and styling), zooms the canvas to the
raster, waits for the render, saves the canvas and writes result.json: the canvas extent and
size (to map coordinates onto screenshot pixels), the mask layer's name and group, the layer
tree and the algorithm's log. Then it quits QGIS; a watchdog ends it if anything hangs.
"""
import json
import os
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingFeedback, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface

INPUT = Path(os.environ["CLOUDFREE_GUI_INPUT"])
OUT = Path(os.environ["CLOUDFREE_GUI_OUT"])
WATCHDOG_MS = int(os.environ.get("CLOUDFREE_GUI_WATCHDOG_MS", "120000"))
RESULT = OUT / "result.json"

state = {"log": [], "errors": []}


class Log(QgsProcessingFeedback):
    def pushInfo(self, info):  # noqa: N802 - QGIS API
        state["log"].append(info)
        super().pushInfo(info)

    def reportError(self, error, fatalError=False):  # noqa: N802,N803 - QGIS API
        state["errors"].append(error)
        super().reportError(error, fatalError)


def write_result() -> None:
    RESULT.write_text(json.dumps(state, indent=1))


def quit_qgis(code: int = 0) -> None:
    write_result()
    QgsProject.instance().setDirty(False)  # no "save the project?" question
    QgsApplication.exit(code)


def watchdog() -> None:
    state["errors"].append(f"watchdog: QGIS still running after {WATCHDOG_MS} ms")
    write_result()
    os._exit(3)


def tree(node) -> list:
    return [{"name": c.name(), "children": tree(c)} if c.nodeType() == c.NodeGroup else c.name()
            for c in node.children()]


def run() -> None:
    try:
        import processing

        project = QgsProject.instance()
        image = QgsRasterLayer(str(INPUT), INPUT.stem, "gdal")
        if not image.isValid():
            raise RuntimeError(f"QGIS cannot open {INPUT}")
        project.setCrs(image.crs())
        project.addMapLayer(image)
        state["provider"] = QgsApplication.processingRegistry().providerById("cloudfree") is not None

        mask_path = OUT / "mask.tif"
        results = processing.runAndLoadResults(
            "cloudfree:cloudmask", {"INPUT": image, "RESOLUTION": 1, "OUTPUT": str(mask_path)}, feedback=Log())
        state["results"] = {k: v if isinstance(v, (int, float, str, type(None))) else str(v)
                            for k, v in results.items()}
        masks = [layer for layer in project.mapLayers().values()
                 if Path(layer.source()).resolve() == mask_path.resolve()]
        if len(masks) != 1:
            raise RuntimeError(f"the mask was not loaded into the project: {tree(project.layerTreeRoot())}")
        mask = masks[0]
        node = project.layerTreeRoot().findLayer(mask.id())
        state.update(mask_path=str(mask_path), mask_layer_name=mask.name(), mask_group=node.parent().name(),
                     mask_renderer=mask.renderer().type(), layer_tree=tree(project.layerTreeRoot()))

        canvas = iface.mapCanvas()
        canvas.mapCanvasRefreshed.connect(rendered)
        canvas.setExtent(image.extent())
        canvas.refresh()
    except Exception:  # noqa: BLE001 - reported to the test through result.json
        state["errors"].append(traceback.format_exc())
        quit_qgis(2)


def rendered() -> None:
    """Once a render started after the zoom has finished: save the canvas, describe its transform, quit.

    The first finished render may have begun before the zoom and the loaded outputs, so it only
    asks for another; the second is the one saved.
    """
    canvas = iface.mapCanvas()
    state["renders"] = state.get("renders", 0) + 1
    if state["renders"] < 2 or canvas.isDrawing():
        canvas.refresh()
        return
    try:
        canvas.mapCanvasRefreshed.disconnect(rendered)
        canvas.waitWhileRendering()
        QgsApplication.processEvents()
        png = OUT / "canvas.png"
        canvas.saveAsImage(str(png))
        settings = canvas.mapSettings()
        extent = settings.visibleExtent()
        state["canvas"] = {
            "png": str(png), "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
            "width": settings.outputSize().width(), "height": settings.outputSize().height(),
            "map_units_per_pixel": settings.mapUnitsPerPixel(), "rotation": settings.rotation(),
            "device_pixel_ratio": settings.devicePixelRatio(), "crs": settings.destinationCrs().authid(),
            "layers": [layer.name() for layer in settings.layers()]}
        open_dialog()
        quit_qgis(0)
    except Exception:  # noqa: BLE001 - reported to the test through result.json
        state["errors"].append(traceback.format_exc())
        quit_qgis(2)


def open_dialog() -> None:
    """The cloudmask dialog as a user opens it with the image active: a screenshot and what it preselects."""
    import processing
    from qgis.gui import QgsCollapsibleGroupBox

    image = [layer for layer in QgsProject.instance().mapLayers().values() if layer.name() == INPUT.stem][0]
    iface.setActiveLayer(image)
    dialog = processing.createAlgorithmDialog("cloudfree:cloudmask")
    dialog.show()
    for _ in range(10):
        QgsApplication.processEvents()
    png = OUT / "dialog.png"
    dialog.grab().save(str(png))
    from qgis.PyQt import sip
    from qgis.PyQt.QtWidgets import QGroupBox, QWidget
    # the panel's "Advanced Parameters" box comes to Python as a QGroupBox; it is a QgsCollapsibleGroupBox
    groups = [sip.cast(g, QgsCollapsibleGroupBox) for g in dialog.findChildren(QGroupBox)
              if "advanced" in g.title().lower()]
    fields = ("QgsSpinBox", "QgsDoubleSpinBox", "QComboBox", "QLineEdit", "QCheckBox", "QgsFileWidget")
    state["advanced_visible_inputs"] = [sum(w.isVisible() for w in g.findChildren(QWidget) if type(w).__name__ in fields)
                                        for g in groups]
    value = dialog.mainWidget().wrappers["INPUT"].parameterValue()
    state["dialog"] = {"png": str(png), "advanced_groups": len(groups),
                       "advanced_collapsed": [g.isCollapsed() for g in groups],
                       "input": value.id() if hasattr(value, "id") else str(value), "image_id": image.id(),
                       "width": dialog.width(), "height": dialog.height()}
    dialog.close()


QTimer.singleShot(WATCHDOG_MS, watchdog)
QTimer.singleShot(0, run)  # once the event loop runs: the main window is up and the plugins are loaded
