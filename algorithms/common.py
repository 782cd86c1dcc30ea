"""Parts shared by the CloudFree algorithms.

The choice between a raster layer and a .SAFE product, the resolution
choice, turning engine errors into QgsProcessingException, and naming,
styling and grouping the outputs that QGIS loads on completion.
"""
from __future__ import annotations

import functools
import html
import re
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from qgis.core import (QgsMapLayerType, QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingException,
                       QgsProcessingFeedback, QgsProcessingLayerPostProcessorInterface, QgsProcessingOutputNumber,
                       QgsProcessingParameterDefinition, QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingUtils, QgsProject)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import CloudFreeError
from ..core.api import PRESET_LABELS

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
MASK_STYLE = RESOURCES / "mask_classes.qml"
CONFIDENCE_STYLE = RESOURCES / "confidence.qml"

#: Values of the RESOLUTION enum, in metres, in the order of its options.
#: RESOLUTION means the same in every algorithm: these indexes, then "the input's own grid" where offered.
RESOLUTIONS_M = [10, 20, 60]
#: BAND_PRESET: 0 is Auto, then these (new presets go last: saved models keep their index).
PRESET_KEYS = ["s2_l1c", "s2_l2a", "bgrn", "rgb", "rgbn"]
AUTO_BANDS = "Auto (band names; else the band count, if the pixels confirm the order)"
SAFE_FILTER = "Sentinel-2 products (*.zip *.SAFE MTD_MSIL1C.xml MTD_MSIL2A.xml);;All files (*)"

#: A layer opened through GDAL's SENTINEL2 driver: SENTINEL2_L1C:<path to MTD xml>:10m:EPSG_32633
_GDAL_SENTINEL2 = re.compile(r"^SENTINEL2_L[12][AC]:(.+?):\d+m:EPSG_\d+$", re.IGNORECASE)

#: The layer-tree group that outputs loaded on completion are put in.
RESULTS_GROUP = "CloudFree"
#: Custom properties of the layer-tree nodes: which run loaded a layer, and its place among that run's outputs.
_RUN_PROPERTY = "cloudfree/run"
_RANK_PROPERTY = "cloudfree/rank"


def tr(text: str) -> str:
    return QCoreApplication.translate("CloudFree", text)


def active_raster_layer_id() -> Optional[str]:
    """The id of the map's active layer when it is a raster (desktop QGIS only), else None."""
    try:
        from qgis.utils import iface
    except ImportError:
        return None
    layer = iface.activeLayer() if iface is not None else None
    if layer is not None and layer.type() == QgsMapLayerType.RasterLayer:
        return layer.id()
    return None


def scene_name(path: str = "", layer=None) -> str:
    """The name the outputs of one input carry: a Sentinel-2 product's name, else the layer's, else the file stem.

    A product is named without .SAFE / .zip, also when given by its MTD_MSIL*.xml or opened as a
    layer through GDAL's SENTINEL2 driver; any other layer by the name it has in the project.
    """
    if layer is not None:
        match = _GDAL_SENTINEL2.match(layer.source())
        if match:
            path = match.group(1)
        elif layer.name():
            return layer.name()
        else:
            path = layer.source().split("|")[0]
    p = Path(path)
    if p.suffix.lower() == ".xml" and p.name.upper().startswith("MTD_MSI"):
        p = p.parent
    name = p.name
    if p.is_dir() or name.lower().endswith((".zip", ".safe")):
        for ext in (".zip", ".safe"):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
        return name
    return p.stem


def output_layer_name(scene: str, kind: str, options: Sequence[str] = ()) -> str:
    """'<scene> <kind>', e.g. 'S2A_MSIL1C_20210908T100021_N0301_R122_T33UUU_20210908T121102 cloud mask', with the
    options that differ from the defaults in brackets, so that two runs with other settings can be told apart."""
    name = f"{scene} {kind}".strip()
    return f"{name} ({', '.join(options)})" if options else name


#: Post-processors handed to QGIS; QGIS owns them, this keeps the last few alive on the Python side too.
_POST_PROCESSORS: List[QgsProcessingLayerPostProcessorInterface] = []


class ResultsGroupPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Moves an output that QGIS has loaded into the project into the CloudFree group of the layer tree.

    The group is made where the layer landed (top of the tree, or inside Processing's results group
    when one is set). Outputs of one run keep the algorithm's order (the mask above its confidence);
    a later run's outputs go above the earlier ones.
    """

    def __init__(self, group: str, run: str, rank: int, project: Optional[QgsProject] = None) -> None:
        super().__init__()
        self.group, self.run, self.rank, self.project = group, run, rank, project

    @classmethod
    def create(cls, group: str, run: str, rank: int, project: Optional[QgsProject] = None):
        processor = cls(group, run, rank, project)
        _POST_PROCESSORS.append(processor)
        del _POST_PROCESSORS[:-32]
        return processor

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        project = self.project or context.project() or QgsProject.instance()
        root = project.layerTreeRoot()
        node = root.findLayer(layer.id())
        if node is None:  # not in this project's layer tree (e.g. no project, or loaded elsewhere)
            return
        parent = node.parent()
        group = root.findGroup(self.group)
        if group is None:
            group = parent.insertGroup(parent.children().index(node), self.group)
        children = group.children()
        index = len(children)
        for i, child in enumerate(children):
            if child is node:
                continue
            same_run = child.customProperty(_RUN_PROPERTY) == self.run
            if not same_run or int(child.customProperty(_RANK_PROPERTY, 0)) > self.rank:
                index = i
                break
        moved = node.clone()
        moved.setCustomProperty(_RUN_PROPERTY, self.run)
        moved.setCustomProperty(_RANK_PROPERTY, self.rank)
        group.insertChildNode(index, moved)  # the layer stays in the tree, so the project keeps it
        parent.removeChildNode(node)


def layer_file(layer, what: str) -> str:
    """The file behind a raster layer that GDAL serves; the MTD file for a Sentinel-2 product layer."""
    if layer.providerType() != "gdal":
        raise QgsProcessingException(tr(
            "The {} layer '{}' is served by the '{}' provider; CloudFree reads files through GDAL only. "
            "Save the layer as a GeoTIFF first, or give the file itself.").format(what, layer.name(),
                                                                                  layer.providerType()))
    source = layer.source()
    match = _GDAL_SENTINEL2.match(source)
    return match.group(1) if match else source


class CloudFreeAlgorithm(QgsProcessingAlgorithm):
    """Base class: group, translation, input choice, outputs and styling common to all."""

    def __init_subclass__(cls, **kwargs) -> None:
        """Every algorithm's run goes through engine_errors: the template's one error path.

        An engine error reaches the user as its message (a QgsProcessingException),
        a missing package as what is missing and how to install it (algorithms
        import the engine when they run, not at plugin load, so that the plugin
        loads without onnxruntime or rasterio), anything else as one line,
        never a traceback.  Algorithms only turn parameters into the engine
        call and its results.
        """
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("initAlgorithm")
        if init is not None:
            @functools.wraps(init)
            def with_help(self, config=None):
                init(self, config)
                self.apply_parameter_help()

            cls.initAlgorithm = with_help
        run = cls.__dict__.get("processAlgorithm")
        if run is None:
            return

        @functools.wraps(run)
        def guarded(self, parameters, context, feedback):
            with engine_errors():
                return run(self, parameters, context, feedback)

        cls.processAlgorithm = guarded

    INPUT = "INPUT"
    SAFE = "SAFE"
    BAND_PRESET = "BAND_PRESET"
    BAND_MAPPING = "BAND_MAPPING"
    RESOLUTION = "RESOLUTION"
    BUFFER = "BUFFER"
    OUTPUT = "OUTPUT"
    CLOUD_PERCENT = "CLOUD_PERCENT"
    SHADOW_PERCENT = "SHADOW_PERCENT"

    #: Output key -> QML style applied when QGIS loads that output.
    STYLES: Dict[str, Path] = {OUTPUT: MASK_STYLE}
    #: Output key -> what the output is, appended to the scene name to name the layer QGIS loads;
    #: the order is the order of the layers in the CloudFree group.
    OUTPUT_NAMES: Dict[str, str] = {OUTPUT: "cloud mask"}

    def __init__(self) -> None:
        super().__init__()
        self._destinations: Dict[str, str] = {}
        self._scene = ""
        self._options: List[str] = []

    def tr(self, text: str) -> str:
        return tr(text)

    def help_text(self) -> str:
        """What the algorithm does, how and its reference, as plain text; each algorithm writes its own.

        The parameters are not described here but in PARAMETER_HELP, one
        entry each, which the help page lists after this text.
        """
        return ""

    #: Parameter name -> what it does and what to give, for the help page and the parameter's tooltip
    #: (QgsProcessingParameterDefinition.setHelp).  The parameters every algorithm shares are described
    #: here; each algorithm adds (or overrides) its own, merged along the class hierarchy.
    PARAMETER_HELP: Dict[str, str] = {
        INPUT: "A raster layer with Sentinel-2 bands (reflectance x 10000 as in L1C/L2A products, or reflectance "
               "as floats). Give this or a Sentinel-2 product, not both.",
        SAFE: "A Sentinel-2 product instead of a layer: a .SAFE folder, its .zip, or the MTD_MSIL1C.xml / "
              "MTD_MSIL2A.xml inside the folder (L1C or L2A, any processing baseline).",
        BAND_PRESET: "Which band is which in the raster. Auto reads the band names (descriptions such as B02 or "
                     "Blue, or an RGB colour interpretation); without names it takes 13 bands as L1C and 12 as "
                     "L2A, and 4 or 3 bands as B/G/R/NIR or R/G/B only when the pixels confirm that order; "
                     "otherwise it asks for a preset or a mapping and says what it saw.",
        BAND_MAPPING: "Band name = band number, e.g. 'B02=1, B03=2, B04=3, B08=4'; overrides the preset.",
        RESOLUTION: "The pixel size the work is done at, in metres; the output is on the input's grid at that "
                    "pixel size.",
        BUFFER: "Grows the cloud and shadow classes by this many pixels, to catch the hazy edges masks miss "
                "(0: no buffer).",
    }

    @classmethod
    def parameter_help(cls) -> Dict[str, str]:
        merged: Dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            merged.update(getattr(klass, "__dict__", {}).get("PARAMETER_HELP", {}))
        return merged

    def apply_parameter_help(self) -> None:
        """Each parameter's help, shown as its tooltip in the dialog and the modeler."""
        texts = self.parameter_help()
        for parameter in self.parameterDefinitions():
            text = texts.get(parameter.name())
            if text:
                parameter.setHelp(self.tr(text))

    def plain_help(self) -> str:
        """The help page as plain text: help_text, then one line per parameter in the dialog's order."""
        lines = [f"{p.description()}: {p.help()}" for p in self.parameterDefinitions() if p.help()]
        return self.help_text() + ("\n\n" + self.tr("Parameters") + "\n" + "\n".join(lines) if lines else "")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        """QGIS shows help as HTML: '<scene>' or '<folder>' would be taken for tags and vanish, so escape."""
        return html.escape(self.plain_help(), quote=False)

    #: The toolbox group: (display name, id); algorithms of another group set their own.
    GROUP = ("Masking", "masking")

    def group(self) -> str:
        return self.tr(self.GROUP[0])

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return self.GROUP[1]

    def icon(self):
        """The CloudFree icon in the toolbox, the modeler and the dialogs, instead of the generic one."""
        from qgis.PyQt.QtGui import QIcon
        return QIcon(str(RESOURCES / "cloudfree.svg"))

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return str(RESOURCES / "cloudfree.svg")

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    # Parameters ---------------------------------------------------------

    def add_input_parameters(self, input_description: str, safe_description: str) -> None:
        # The dialog opens on the active raster layer, as QGIS's own raster algorithms do (the parameter is
        # optional because a .SAFE product may be given instead, and optional ones start empty otherwise).
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, input_description, optional=True,
                                                            defaultValue=active_raster_layer_id()))
        self.addParameter(QgsProcessingParameterFile(
            self.SAFE, safe_description, behavior=QgsProcessingParameterFile.File,
            optional=True, fileFilter=SAFE_FILTER))

    def add_resolution_parameter(self, default_m: Optional[int] = 20, own_grid: Optional[str] = None) -> None:
        """RESOLUTION: 10, 20, 60 m, then `own_grid` (the inputs' own grid) where the algorithm offers it."""
        options = [f"{r} m" for r in RESOLUTIONS_M] + ([own_grid] if own_grid else [])
        self.addParameter(QgsProcessingParameterEnum(
            self.RESOLUTION, self.tr("Processing resolution"), options=options,
            defaultValue=RESOLUTIONS_M.index(default_m) if default_m else len(RESOLUTIONS_M)))

    def add_band_parameters(self, of_what: str, example: str = "B02=1, B03=2, B04=3, B08=4") -> None:
        """BAND_PRESET and BAND_MAPPING, the same options in every algorithm that reads bands from a raster."""
        self.addParameter(QgsProcessingParameterEnum(
            self.BAND_PRESET, self.tr("Band preset of {}").format(of_what),
            options=[self.tr(AUTO_BANDS)] + [PRESET_LABELS[k] for k in PRESET_KEYS], defaultValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.BAND_MAPPING, self.tr("Band mapping, e.g. {} (overrides the preset)").format(example),
            optional=True))

    def band_choice(self, parameters, context: QgsProcessingContext) -> Tuple[Optional[str], Optional[str]]:
        """(preset key or None for Auto, mapping text or None) as the engine takes them."""
        preset = self.parameterAsEnum(parameters, self.BAND_PRESET, context)
        mapping = self.parameterAsString(parameters, self.BAND_MAPPING, context).strip()
        return (PRESET_KEYS[preset - 1] if preset > 0 else None), (mapping or None)

    def add_advanced(self, *parameters) -> None:
        """Parameters of how a run goes rather than what it finds: in the dialog's collapsed Advanced section."""
        for parameter in parameters:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)

    def add_buffer_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterNumber(
            self.BUFFER, self.tr("Buffer around clouds and shadows (pixels)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))

    def add_cover_outputs(self) -> None:
        self.addOutput(QgsProcessingOutputNumber(self.CLOUD_PERCENT, self.tr("Cloud cover (% of valid pixels)")))
        self.addOutput(QgsProcessingOutputNumber(self.SHADOW_PERCENT, self.tr("Shadow cover (% of valid pixels)")))

    # Reading parameters -------------------------------------------------

    def input_path(self, parameters, context: QgsProcessingContext) -> str:
        """The path of the raster layer or the .SAFE product; exactly one must be given.

        Also remembers the input's name (product or layer) to name the outputs by.
        """
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        safe = self.parameterAsFile(parameters, self.SAFE, context).strip()
        preselected = self.parameterDefinition(self.INPUT).defaultValue()
        if safe and layer is not None and preselected and parameters.get(self.INPUT, preselected) == preselected:
            layer = None  # the active layer was only the dialog's preselection: the product given wins
        if (layer is None) == (not safe):
            raise QgsProcessingException(self.tr(
                "Give exactly one input: either a raster layer (Input raster) or a Sentinel-2 product "
                "(.SAFE folder, .zip or MTD_MSIL*.xml), not both and not neither."))
        if safe:
            self.remember_scene(scene_name(safe))
            return safe
        self.remember_scene(scene_name(layer=layer))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                "The layer '{}' is served by the '{}' provider; CloudFree reads files through GDAL only. "
                "Save the layer as a GeoTIFF first, or give the file itself.").format(layer.name(), layer.providerType()))
        source = layer.source()
        match = _GDAL_SENTINEL2.match(source)
        if match:  # a product opened by GDAL's SENTINEL2 driver: hand the engine the MTD file
            return match.group(1)
        return source

    def optional_number(self, parameters, key: str, context: QgsProcessingContext) -> Optional[float]:
        """An optional number parameter's value, None when left empty (it means 'the default')."""
        value = parameters.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return self.parameterAsDouble(parameters, key, context)

    def resolution_m(self, parameters, context: QgsProcessingContext) -> Optional[int]:
        """The chosen resolution in metres; None for the inputs' own grid."""
        index = self.parameterAsEnum(parameters, self.RESOLUTION, context)
        return RESOLUTIONS_M[index] if index < len(RESOLUTIONS_M) else None

    def write_table(self, write, scores, table: str) -> None:
        """A scores table written by the engine's `write(scores, table)`; a file that cannot be written, said so."""
        try:
            write(scores, table)
        except OSError as exc:
            raise QgsProcessingException(self.tr("Cannot write the scores table {}: {}").format(table, exc)) from exc

    def remember_destination(self, key: str, path: str) -> None:
        """Record an output path so postProcessAlgorithm can name, style and group the layer QGIS loads."""
        if path:
            self._destinations[key] = path

    def remember_scene(self, name: str) -> None:
        """The input's name (see scene_name) that the loaded outputs are named by."""
        self._scene = name or ""

    def remember_options(self, options: Sequence[str]) -> None:
        """Settings that differ from the defaults, added to the loaded outputs' names."""
        self._options = [o for o in options if o]

    # Results ------------------------------------------------------------

    @staticmethod
    def report_cover(result, feedback: QgsProcessingFeedback) -> Dict[str, float]:
        feedback.pushInfo(f"Cloud cover: {result.cloud_percent:.2f} % of valid pixels; "
                          f"shadow cover: {result.shadow_percent:.2f} %.")
        feedback.pushInfo(f"Run time: {result.seconds:.1f} s.")
        return {CloudFreeAlgorithm.CLOUD_PERCENT: float(result.cloud_percent),
                CloudFreeAlgorithm.SHADOW_PERCENT: float(result.shadow_percent)}

    #: Optional output -> the main output it is loaded with.  In the QGIS 3.22 dialog, a path typed into an
    #: optional output that starts as "[Skip output]" leaves its "Open output file" box unticked and greyed out,
    #: so a confidence raster the user asked for would be written and never shown; it is loaded like its main
    #: output instead (and not at all when the main output is not loaded, as in scripts).
    LOAD_WITH: Dict[str, str] = {}

    def _load_followers(self, context: QgsProcessingContext) -> None:
        for key, main in self.LOAD_WITH.items():
            path, main_path = self._destinations.get(key), self._destinations.get(main)
            if not path or not main_path or context.willLoadLayerOnCompletion(path) \
                    or not context.willLoadLayerOnCompletion(main_path):
                continue
            main_details = context.layerToLoadOnCompletionDetails(main_path)
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                Path(path).stem, main_details.project, key))

    def postProcessAlgorithm(self, context: QgsProcessingContext, feedback: QgsProcessingFeedback):  # noqa: N802
        """Outputs that QGIS loads on completion: named '<scene> <kind>', styled, put in the CloudFree group."""
        self._load_followers(context)
        run = uuid.uuid4().hex  # tells this run's layers from earlier ones in the group
        ranks = {key: i for i, key in enumerate(self.OUTPUT_NAMES)}
        for key, path in self._destinations.items():
            if not context.willLoadLayerOnCompletion(path):
                continue
            details = context.layerToLoadOnCompletionDetails(path)
            kind = self.OUTPUT_NAMES.get(key)
            if kind:
                details.name = output_layer_name(self._scene, self.tr(kind), self._options)
                details.forceName = True  # not the file name, whatever Processing's "prefer file name" says
            details.setPostProcessor(ResultsGroupPostProcessor.create(
                RESULTS_GROUP, run, ranks.get(key, len(ranks)), details.project))
            feedback.pushInfo(self.tr("Loading '{}' into the group {}.").format(details.name, RESULTS_GROUP))
            style = self.STYLES.get(key)
            if style is None:
                continue
            layer = QgsProcessingUtils.mapLayerFromString(path, context)
            if layer is None:
                continue
            _message, ok = layer.loadNamedStyle(str(style))
            if not ok:
                feedback.reportError(self.tr("Could not apply the style {}.").format(style.name))
            layer.triggerRepaint()
        return {}


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turn the engine's errors into QgsProcessingException with the engine's message.

    A package that is missing or broken (an ImportError, or the engine's error
    caused by one) also gets what is missing and a pointer to cloudfree:dependencies.
    """
    from ..dependencies.check import explain_import_error  # standard library only
    from ..core.errors import describe_error
    try:
        yield
    except CloudFreeError as exc:  # options named as this dialog's fields, not as command-line flags
        if isinstance(exc.__cause__, ImportError):
            raise QgsProcessingException(f"{exc.render('qgis')}\n{explain_import_error(exc.__cause__)}") from exc
        raise QgsProcessingException(exc.render("qgis")) from exc
    except ImportError as exc:
        raise QgsProcessingException(explain_import_error(exc)) from exc
    except QgsProcessingException:
        raise
    except Exception as exc:  # noqa: BLE001 - a library's error reaches the user as one message
        raise QgsProcessingException(describe_error(exc, "qgis")) from exc


__all__ = ["CloudFreeAlgorithm", "engine_errors", "tr", "RESOLUTIONS_M"]
