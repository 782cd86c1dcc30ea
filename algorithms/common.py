"""Parts shared by the CloudFree algorithms.

The choice between a raster layer and a .SAFE product, the resolution
choice, turning engine errors into QgsProcessingException, and styling
the outputs that QGIS loads on completion.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingException,
                       QgsProcessingFeedback, QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingUtils)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import CloudFreeError

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
MASK_STYLE = RESOURCES / "mask_classes.qml"
CONFIDENCE_STYLE = RESOURCES / "confidence.qml"

#: Values of the RESOLUTION enum, in metres, in the order of its options.
RESOLUTIONS_M = [10, 20, 60]
DEFAULT_RESOLUTION_INDEX = 1
SAFE_FILTER = "Sentinel-2 products (*.zip *.SAFE MTD_MSIL1C.xml MTD_MSIL2A.xml);;All files (*)"

#: A layer opened through GDAL's SENTINEL2 driver: SENTINEL2_L1C:<path to MTD xml>:10m:EPSG_32633
_GDAL_SENTINEL2 = re.compile(r"^SENTINEL2_L[12][AC]:(.+?):\d+m:EPSG_\d+$", re.IGNORECASE)


def tr(text: str) -> str:
    return QCoreApplication.translate("CloudFree", text)


class CloudFreeAlgorithm(QgsProcessingAlgorithm):
    """Base class: group, translation, input choice, outputs and styling common to all."""

    INPUT = "INPUT"
    SAFE = "SAFE"
    RESOLUTION = "RESOLUTION"
    BUFFER = "BUFFER"
    OUTPUT = "OUTPUT"
    CLOUD_PERCENT = "CLOUD_PERCENT"
    SHADOW_PERCENT = "SHADOW_PERCENT"

    #: Output key -> QML style applied when QGIS loads that output.
    STYLES: Dict[str, Path] = {OUTPUT: MASK_STYLE}

    def __init__(self) -> None:
        super().__init__()
        self._destinations: Dict[str, str] = {}

    def tr(self, text: str) -> str:
        return tr(text)

    def group(self) -> str:
        return self.tr("Masking")

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "masking"

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    # Parameters ---------------------------------------------------------

    def add_input_parameters(self, input_description: str, safe_description: str) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, input_description, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.SAFE, safe_description, behavior=QgsProcessingParameterFile.File,
            optional=True, fileFilter=SAFE_FILTER))

    def add_resolution_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterEnum(
            self.RESOLUTION, self.tr("Processing resolution"), options=[f"{r} m" for r in RESOLUTIONS_M],
            defaultValue=DEFAULT_RESOLUTION_INDEX))

    def add_buffer_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterNumber(
            self.BUFFER, self.tr("Buffer around clouds and shadows (pixels)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))

    def add_cover_outputs(self) -> None:
        self.addOutput(QgsProcessingOutputNumber(self.CLOUD_PERCENT, self.tr("Cloud cover (% of valid pixels)")))
        self.addOutput(QgsProcessingOutputNumber(self.SHADOW_PERCENT, self.tr("Shadow cover (% of valid pixels)")))

    # Reading parameters -------------------------------------------------

    def input_path(self, parameters, context: QgsProcessingContext) -> str:
        """The path of the raster layer or the .SAFE product; exactly one must be given."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        safe = self.parameterAsFile(parameters, self.SAFE, context).strip()
        if (layer is None) == (not safe):
            raise QgsProcessingException(self.tr(
                "Give exactly one input: either a raster layer (Input raster) or a Sentinel-2 product "
                "(.SAFE folder, .zip or MTD_MSIL*.xml), not both and not neither."))
        if safe:
            return safe
        if layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                "The layer '{}' is served by the '{}' provider; CloudFree reads files through GDAL only. "
                "Save the layer as a GeoTIFF first, or give the file itself.").format(layer.name(), layer.providerType()))
        source = layer.source()
        match = _GDAL_SENTINEL2.match(source)
        if match:  # a product opened by GDAL's SENTINEL2 driver: hand the engine the MTD file
            return match.group(1)
        return source

    def resolution_m(self, parameters, context: QgsProcessingContext) -> int:
        return RESOLUTIONS_M[self.parameterAsEnum(parameters, self.RESOLUTION, context)]

    def remember_destination(self, key: str, path: str) -> None:
        """Record an output path so postProcessAlgorithm can style the layer QGIS loads."""
        if path:
            self._destinations[key] = path

    # Results ------------------------------------------------------------

    @staticmethod
    def report_cover(result, feedback: QgsProcessingFeedback) -> Dict[str, float]:
        feedback.pushInfo(f"Cloud cover: {result.cloud_percent:.2f} % of valid pixels; "
                          f"shadow cover: {result.shadow_percent:.2f} %.")
        feedback.pushInfo(f"Run time: {result.seconds:.1f} s.")
        return {CloudFreeAlgorithm.CLOUD_PERCENT: float(result.cloud_percent),
                CloudFreeAlgorithm.SHADOW_PERCENT: float(result.shadow_percent)}

    def postProcessAlgorithm(self, context: QgsProcessingContext, feedback: QgsProcessingFeedback):  # noqa: N802
        for key, path in self._destinations.items():
            style = self.STYLES.get(key)
            if style is None or not context.willLoadLayerOnCompletion(path):
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
    """Turn the engine's errors into QgsProcessingException with the engine's message."""
    try:
        yield
    except CloudFreeError as exc:
        raise QgsProcessingException(str(exc)) from exc


__all__ = ["CloudFreeAlgorithm", "engine_errors", "tr", "RESOLUTIONS_M"]
