"""Fills the clouds and shadows of one date from the other dates of a time series."""
from __future__ import annotations

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from .common import scene_name
from .feedback import QgisFeedback
from .series import SeriesAlgorithm


class GapfillAlgorithm(SeriesAlgorithm):
    TARGET = "TARGET"
    TARGET_DATE = "TARGET_DATE"
    FILLED_PERCENT = "FILLED_PERCENT"
    FALLBACK_PERCENT = "FALLBACK_PERCENT"
    DATE = "DATE"

    OUTPUT_NAMES = {SeriesAlgorithm.OUTPUT: "gap-filled (true colour)", SeriesAlgorithm.SOURCE: "gap-fill source"}

    def name(self) -> str:
        return "gapfill"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Gap-fill a date from other dates")

    def help_text(self) -> str:
        return self.tr(
            "Reconstructs the cloudy and shadowed pixels of one date (the target) from the other dates of the "
            "same area.\n\n"
            "Each other date is fitted onto the target locally (gain and offset per band in a moving window, "
            "on pixels clear on both) to follow crop growth and illumination, and the fitted dates are averaged "
            "with weights falling with their time distance. Clear pixels are copied unchanged.\n\n"
            "Outputs: the reconstruction of the target and the source of each pixel (original, filled from other "
            "dates, or from the image itself where no date is clear).\n\n"
            "Reference: the CloudFree README (reconstruction from a time series, and its scores under "
            "'Benchmarks').")

    PARAMETER_HELP = {
        TARGET: "The date to fill, by its position among the dates (1 = first); a date given in 'Or the date to "
                "fill' wins.",
        TARGET_DATE: "The date to fill, YYYY-MM-DD; wins over the position.",
        SeriesAlgorithm.OUTPUT: "The reconstruction, with the target's bands, grid, data type and scale, styled in true "
                                "colour.",
        SeriesAlgorithm.SOURCE: "The source of each pixel: 0 original, 1 filled from other dates, 2 no clear date "
                                "(filled from the image itself: treat as less reliable), 255 no data; its band 2 "
                                "counts the dates that filled each pixel (the evidence behind it).",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_series_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            self.TARGET, self.tr("Date to fill: its position among the dates (1 = first)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1))
        self.addParameter(QgsProcessingParameterString(
            self.TARGET_DATE, self.tr("Or the date to fill, YYYY-MM-DD (overrides the position)"), optional=True))
        self.add_raster_outputs(self.tr("Reconstructed image"), self.tr("Source of each pixel"))
        self.addOutput(QgsProcessingOutputNumber(self.FILLED_PERCENT,
                                                 self.tr("Filled pixels (% of the target's valid pixels)")))
        self.addOutput(QgsProcessingOutputNumber(self.FALLBACK_PERCENT,
                                                 self.tr("Pixels no other date saw (% of valid pixels)")))
        self.addOutput(QgsProcessingOutputString(self.DATE, self.tr("Date of the target")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import FALLBACK, NO_DATA, SOURCE_NAMES, gapfill_rasters

        args = self.series_arguments(parameters, context)
        target_date = self.parameterAsString(parameters, self.TARGET_DATE, context).strip()
        target = target_date or self.parameterAsInt(parameters, self.TARGET, context) - 1
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        source = self.parameterAsOutputLayer(parameters, self.SOURCE, context)
        self.remember_destination(self.OUTPUT, output)
        self.remember_destination(self.SOURCE, source)
        result = gapfill_rasters(args.pop("inputs"), output, target, source_output=source,
                                 feedback=QgisFeedback(feedback), **args)
        self.style_outputs(result.output, result.source_output)
        target_layer = self.parameterAsLayerList(parameters, self.INPUTS, context)[result.target]
        self.remember_scene(scene_name(layer=target_layer))
        valid = sum(n for k, n in result.counts.items() if k != SOURCE_NAMES[NO_DATA])
        fallback = 100.0 * result.counts[SOURCE_NAMES[FALLBACK]] / valid if valid else 0.0
        feedback.pushInfo(self.tr("Target {}: {:.2f} % of valid pixels filled ({:.2f} % seen by no other date); "
                                  "{:.1f} s.").format(result.target_date, result.filled_percent, fallback,
                                                      result.seconds))
        return {self.OUTPUT: str(result.output), self.SOURCE: str(result.source_output),
                self.FILLED_PERCENT: float(result.filled_percent), self.FALLBACK_PERCENT: float(fallback),
                self.DATE: result.target_date}


__all__ = ["GapfillAlgorithm"]
