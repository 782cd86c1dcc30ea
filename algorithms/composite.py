"""Best-pixel composite of a time series: per pixel one clear observation."""
from __future__ import annotations

from qgis.core import QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterString

from .common import scene_name
from .feedback import QgisFeedback
from .series import SeriesAlgorithm


class CompositeAlgorithm(SeriesAlgorithm):
    CENTRE = "CENTRE"
    CENTRE_DATE = "CENTRE_DATE"
    EMPTY_PERCENT = "EMPTY_PERCENT"

    OUTPUT_NAMES = {SeriesAlgorithm.OUTPUT: "composite (true colour)",
                    SeriesAlgorithm.SOURCE: "composite date of each pixel"}

    def name(self) -> str:
        return "composite"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Best-pixel composite")

    def help_text(self) -> str:
        return self.tr(
            "Builds one cloud-free image from several dates: each pixel is the clear observation nearest in time "
            "to the middle of the period (or to the date given as centre), ties going to the earlier date. A real "
            "observation is copied, not a median, so the bands of a pixel belong together.\n\n"
            "Dates, cloud masks, dates list, bands and resolution are given as in the gap-fill algorithm.\n\n"
            "Outputs: the composite, styled in true colour, and the date each pixel comes from; also the share of "
            "pixels clear on no date and the centre date.\n\n"
            "Reference: best-available-pixel compositing, White et al. (2014), 'Pixel-based image compositing "
            "for large-area dense time series applications and science', Canadian Journal of Remote Sensing "
            "40(3); see also the CloudFree README.")

    PARAMETER_HELP = {
        CENTRE: "The date, YYYY-MM-DD, whose nearest clear observation each pixel takes. Empty: the middle of the "
                "period.",
        SeriesAlgorithm.OUTPUT: "The composite, with the first date's bands, grid, data type and scale, styled in true "
                                "colour.",
        SeriesAlgorithm.SOURCE: "The position of the date each pixel comes from (0 = first), labelled with its date; "
                                "255 where no date is clear (no data in the composite).",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_series_parameters()
        self.addParameter(QgsProcessingParameterString(
            self.CENTRE, self.tr("Prefer the clear date nearest to, YYYY-MM-DD (empty: the middle of the period)"),
            optional=True))
        self.add_raster_outputs(self.tr("Composite"), self.tr("Date of each pixel"))
        self.addOutput(QgsProcessingOutputNumber(self.EMPTY_PERCENT,
                                                 self.tr("Pixels clear on no date (% of all pixels)")))
        self.addOutput(QgsProcessingOutputString(self.CENTRE_DATE, self.tr("Centre date")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import composite_rasters

        args = self.series_arguments(parameters, context)
        centre = self.parameterAsString(parameters, self.CENTRE, context).strip() or None
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        source = self.parameterAsOutputLayer(parameters, self.SOURCE, context)
        self.remember_destination(self.OUTPUT, output)
        self.remember_destination(self.SOURCE, source)
        result = composite_rasters(args.pop("inputs"), args.pop("masks"), output, source_output=source,
                                   centre=centre, feedback=QgisFeedback(feedback), **args)
        self.style_outputs(result.output, result.source_output)
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        self.remember_scene(self.tr("{} (+{} dates)").format(scene_name(layer=layers[0]), len(layers) - 1))
        feedback.pushInfo(self.tr("Pixels by date: {}; {:.1f} s.").format(
            ", ".join(f"{k}: {v}" for k, v in result.counts.items()), result.seconds))
        return {self.OUTPUT: str(result.output), self.SOURCE: str(result.source_output),
                self.EMPTY_PERCENT: float(result.empty_percent), self.CENTRE_DATE: result.centre}


__all__ = ["CompositeAlgorithm"]
