"""Parameters shared by the algorithms that take a time series (gap-fill, composite)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core.api import split_dates
from .common import CloudFreeAlgorithm, layer_file



class SeriesAlgorithm(CloudFreeAlgorithm):
    """Inputs, masks, dates, bands, resolution, buffer and the two raster outputs of a series run."""
    GROUP = ("Reconstruction", "reconstruction")

    INPUTS = "INPUTS"
    MASKS = "MASKS"
    DATES = "DATES"
    SOURCE = "SOURCE"

    STYLES: Dict[str, Path] = {}

    PARAMETER_HELP = {
        INPUTS: "Raster layers on one grid (same CRS, extent and pixel size: resample and clip them first otherwise), "
                "or Sentinel-2 products opened in QGIS.",
        MASKS: "One CloudFree class raster per date, in the same order (0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, "
               "255 no data), e.g. from the masking algorithms; they may be coarser than the images. Empty: each date "
               "is masked with the bundled U-Net first.",
        DATES: "Products carry their dates; a plain raster's date is read from its file name when the name states one "
               "(T33UUU_20170216T102101_B02.jp2, S2A_MSIL2A_20200615T184921_....tif, s2_2015-07-11.tif); otherwise "
               "give the dates, YYYY-MM-DD in the order of the layers.",
        CloudFreeAlgorithm.RESOLUTION: "The native grid of the rasters (the default; 20 m for products), or 10, 20 or "
                                       "60 m.",
        CloudFreeAlgorithm.BUFFER: "Grows the clouds and shadows of every mask by this many pixels (0: no buffer).",
    }

    def add_series_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Dates of one area (raster layers on one grid, or Sentinel-2 product layers)"),
            layerType=QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.MASKS, self.tr("Cloud masks, one per date in the same order (CloudFree class rasters; empty: "
                                "computed with the bundled model)"),
            layerType=QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.DATES, self.tr("Dates of the inputs in the same order, YYYY-MM-DD separated by commas (empty: "
                                "products carry theirs, rasters named like S2A_MSIL2A_20200615T... or "
                                "x_2020-06-15.tif state theirs)"), optional=True))
        self.add_band_parameters(self.tr("the input rasters"))
        self.add_resolution_parameter(None, own_grid=self.tr("Native grid of the rasters (20 m for products)"))
        self.add_buffer_parameter()

    def add_raster_outputs(self, output_description: str, source_description: str) -> None:
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, output_description))
        self.addParameter(QgsProcessingParameterRasterDestination(self.SOURCE, source_description))

    def series_arguments(self, parameters, context) -> Dict[str, Any]:
        """The engine's keyword arguments for inputs, masks, dates, bands, resolution and buffer."""
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        if len(layers) < 2:
            raise QgsProcessingException(self.tr("Give at least two dates of the same area."))
        inputs = [layer_file(layer, self.tr("input")) for layer in layers]
        mask_layers = self.parameterAsLayerList(parameters, self.MASKS, context)
        masks: Optional[List[str]] = [layer_file(m, self.tr("mask")) for m in mask_layers] or None
        if masks is not None and len(masks) != len(inputs):
            raise QgsProcessingException(self.tr(
                "Give one cloud mask per date, in the same order ({} dates, {} masks), or none to compute them.")
                .format(len(inputs), len(masks)))
        preset, mapping = self.band_choice(parameters, context)
        return dict(masks=masks, dates=split_dates(self.parameterAsString(parameters, self.DATES, context)),
                    band_preset=preset, band_mapping=mapping,
                    resolution_m=self.resolution_m(parameters, context),
                    buffer_px=self.parameterAsInt(parameters, self.BUFFER, context), inputs=inputs)

    def style_outputs(self, output: Path, source: Path) -> None:
        """Have postProcessAlgorithm apply the styles written beside the outputs (generated per run)."""
        styles = {self.OUTPUT: output.with_suffix(".qml"), self.SOURCE: source.with_suffix(".qml")}
        self.STYLES = {k: v for k, v in styles.items() if v.is_file()}
