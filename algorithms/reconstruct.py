"""Fills the clouds and shadows of a single image with the inpainting U-Net."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingOutputString,
                       QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingUtils)

from .common import CloudFreeAlgorithm, layer_file, scene_name
from .feedback import QgisFeedback

#: MASK_CLASSES options -> the CloudFree classes filled, in the order of the options.
MASK_CLASS_CHOICES = [("Clouds and shadows (classes 1, 2, 3)", (1, 2, 3)),
                      ("Clouds only (classes 1, 2)", (1, 2)),
                      ("Shadows only (class 3)", (3,))]


class ReconstructAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Reconstruction", "reconstruction")
    MASK = "MASK"
    MASK_CLASSES = "MASK_CLASSES"
    MAX_MASKED = "MAX_MASKED"
    RELIGHT = "RELIGHT"
    METHOD = "METHOD"
    THIN_CLOUD = "THIN_CLOUD"
    SOURCE = "SOURCE"
    FILLED_PIXELS = "FILLED_PIXELS"
    MODEL = "MODEL"

    STYLES: Dict[str, Path] = {}
    _input_look = None  # (renderer, band count) of an input layer on the map, for drawing the result alike
    OUTPUT_NAMES = {CloudFreeAlgorithm.OUTPUT: "reconstructed (true colour)", SOURCE: "reconstruction source"}
    LOAD_WITH = {SOURCE: CloudFreeAlgorithm.OUTPUT}

    def name(self) -> str:
        return "reconstruct"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Reconstruct a single image (U-Net inpainting)")

    def help_text(self) -> str:
        return self.tr(
            "Fills the cloudy and shadowed pixels of one Sentinel-2 image from the image itself, with the bundled "
            "inpainting U-Net (cloudfree_inpaint_s2), when no other date of the area is at hand (with other "
            "dates, 'Gap-fill a date from other dates' uses real observations instead). Whole scenes are "
            "processed in strips, so memory stays bounded.\n\n"
            "Model: a U-Net that sees the image with the masked pixels replaced by a smooth interpolation from "
            "their clear neighbours, and the mask itself, and adds a learned correction to that first guess; "
            "trained on clear real scenes with real and synthetic cloud-shaped holes, with a loss on the masked "
            "pixels only. Each 256 px patch is normalised by its own clear pixels. What it paints is a plausible, "
            "smooth estimate from the surroundings, not the surface hidden under the cloud: large holes get "
            "little detail. Clear pixels are copied unchanged, bit for bit.\n\n"
            "Outputs: the reconstructed image, optionally the source of each pixel, the number of filled pixels "
            "and the name of the model that filled them.\n\n"
            "Reference: U-Net, Ronneberger et al. (2015), MICCAI; the inpainting model, its training and its "
            "scores are described in models/README.md and the CloudFree README ('Benchmarks').")

    PARAMETER_HELP = {
        CloudFreeAlgorithm.INPUT: "A multi-band raster with Sentinel-2 bands, reflectance x 10000 as in L1C/L2A "
                                  "products (integer rasters are divided by 10000, float rasters read as reflectance). "
                                  "It must hold B02, B03, B04, B05, B06, B07, B08, B8A, B11 and B12, the bands the "
                                  "network fills; other bands (B01, B09, B10) are filled by a smooth interpolation "
                                  "from the clear neighbours. A Sentinel-2 product layer (.SAFE, opened from its MTD "
                                  "file) is read whole, every band at 20 m, in its own DN and offsets.",
        MASK: "A CloudFree class raster of the input (0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no "
              "data), e.g. from the masking algorithms, in the input's CRS; a coarser mask is resampled (nearest) onto "
              "the input's grid.",
        CloudFreeAlgorithm.BAND_MAPPING: "Band name = band number, e.g. 'B01=1, B02=2, ..., B12=13'; overrides the "
                                         "preset.",
        MASK_CLASSES: "Clouds and shadows (classes 1, 2, 3), clouds only (1, 2) or shadows only (3).",
        CloudFreeAlgorithm.BUFFER: "Grows the area to fill by this many pixels, to catch the hazy edges masks miss "
                                   "(0: no buffer).",
        MAX_MASKED: "A scene with a larger share of masked (cloud) pixels is refused with the figures, because one "
                    "image cannot show what lies under nearly all of itself; above 50 % the log warns that most of "
                    "the result is invented. Gap-fill such scenes from other dates instead, or raise the limit to run "
                    "anyway. Default 90 %.",
        RELIGHT: "On by default. Under a cloud shadow the ground is still seen, lit by the sky only; its pixels keep "
                 "their own values, brightened band by band by the ratio of sunlit to shadowed reflectance around "
                 "them, so fields, lakes and forests keep their texture. Off: shadows are filled like clouds.",
        METHOD: "The inpainting U-Net (the default), or interpolation from the clear neighbours alone (normalised "
                "convolution, the network's own starting point; no ONNX Runtime).",
        CloudFreeAlgorithm.OUTPUT: "The reconstruction, with the input's bands, CRS, grid and data type, drawn like "
                                   "the input layer when that layer is on the map (so before and after compare), else "
                                   "in true colour.",
        THIN_CLOUD: "Thin cloud (class 2) still shows the ground through a veil. Filled (the default): replaced like "
                    "thick cloud. Corrected: its pixels keep their own values with the veil taken off by the "
                    "veil model fitted to their clear surroundings, after thick cloud is filled and shadows relit; they "
                    "count as seen, not invented.",
        SOURCE: "Optional: band 1, the source of each pixel (0 kept, 1 filled, 2 shadow relit, 3 thin cloud "
                "corrected), styled with a palette; "
                "band 2, how far the pixel is from the nearest one seen as it is, in pixels, 64 meaning at least 64: "
                "the confidence of a filled pixel falls with it.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT, self.tr("Input raster (Sentinel-2 bands, incl. B02-B08, B8A, B11, B12)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.MASK, self.tr("Cloud mask of the input (CloudFree class raster)")))
        self.add_band_parameters(self.tr("the input raster"), "B02=1, B03=2, B04=3, ...")
        self.addParameter(QgsProcessingParameterEnum(
            self.MASK_CLASSES, self.tr("Pixels to fill"),
            options=[self.tr(label) for label, _ in MASK_CLASS_CHOICES], defaultValue=0))
        self.add_buffer_parameter()
        self.add_advanced(
            QgsProcessingParameterNumber(
                self.MAX_MASKED, self.tr("Largest masked share (%): above it the run is refused, one image would "
                                         "invent nearly all of the scene"), type=QgsProcessingParameterNumber.Double,
                defaultValue=90.0, minValue=0.0, maxValue=100.0, optional=True),
            QgsProcessingParameterBoolean(
                self.RELIGHT, self.tr("Relight shadows (keep their own values, brightened) instead of filling them"),
                defaultValue=True, optional=True),
            QgsProcessingParameterEnum(
                self.METHOD, self.tr("Fill method"), options=[self.tr("Inpainting network (U-Net)"),
                                                              self.tr("Interpolation from the clear neighbours")],
                defaultValue=0, optional=True),
            QgsProcessingParameterEnum(
                self.THIN_CLOUD, self.tr("Thin cloud"),
                options=[self.tr("Filled like thick cloud"), self.tr("Corrected: the veil taken off its own values")],
                defaultValue=0, optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Reconstructed image")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.SOURCE, self.tr("Source of each pixel (0 kept, 1 filled, 2 shadow relit, 3 thin cloud corrected)"),
            optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber(self.FILLED_PIXELS, self.tr("Filled pixels")))
        self.addOutput(QgsProcessingOutputString(self.MODEL, self.tr("Reconstruction model used")))

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        """On the main thread, before the run: the renderer of an input layer on the map, to draw the result alike
        (so before and after compare at a glance); a file given by path keeps the written true-colour style."""
        self._input_look = None
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        project = context.project()
        if layer is not None and project is not None and project.mapLayer(layer.id()) is not None \
                and layer.renderer() is not None:
            self._input_look = (layer.renderer().clone(), layer.bandCount())
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import THIN_MODES, reconstruct  # deferred: loads ONNX Runtime only when the algorithm runs

        files = {}
        for key, what in ((self.INPUT, "input"), (self.MASK, "cloud mask")):
            layer = self.parameterAsRasterLayer(parameters, key, context)
            if layer is None:
                raise QgsProcessingException(self.tr("Give the {} raster.").format(self.tr(what)))
            files[key] = layer_file(layer, self.tr(what))
            if key == self.INPUT:
                self.remember_scene(scene_name(layer=layer))
        preset, mapping = self.band_choice(parameters, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        source = self.parameterAsOutputLayer(parameters, self.SOURCE, context) or None
        self.remember_destination(self.OUTPUT, output)
        self.remember_destination(self.SOURCE, source)
        limit = self.optional_number(parameters, self.MAX_MASKED, context)
        result = reconstruct(
            files[self.INPUT], files[self.MASK], output, source,
            band_preset=preset, band_mapping=mapping,
            mask_classes=MASK_CLASS_CHOICES[self.parameterAsEnum(parameters, self.MASK_CLASSES, context)][1],
            buffer_px=self.parameterAsInt(parameters, self.BUFFER, context), feedback=QgisFeedback(feedback),
            relight=self.parameterAsBool(parameters, self.RELIGHT, context),
            method=("network", "interpolation")[self.parameterAsEnum(parameters, self.METHOD, context)],
            thin_cloud=THIN_MODES[self.parameterAsEnum(parameters, self.THIN_CLOUD, context)],
            **({} if limit is None else {"max_masked_percent": limit}))
        styles = {self.OUTPUT: result.output_path.with_suffix(".qml")}
        if result.source_path:
            styles[self.SOURCE] = result.source_path.with_suffix(".qml")
        self.STYLES = {k: v for k, v in styles.items() if v.is_file()}  # written beside the outputs, per run
        feedback.pushInfo(self.tr("{} pixels filled by {} in {:.1f} s.").format(
            result.filled_pixels, result.model, result.seconds))
        return {self.OUTPUT: str(result.output_path),
                self.SOURCE: str(result.source_path) if result.source_path else None,
                self.FILLED_PIXELS: int(result.filled_pixels), self.MODEL: result.model}


    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API
        super().postProcessAlgorithm(context, feedback)
        look = self._input_look
        path = self._destinations.get(self.OUTPUT)
        if look is None or not path or not context.willLoadLayerOnCompletion(path):
            return {}
        layer = QgsProcessingUtils.mapLayerFromString(path, context)
        renderer, bands = look
        if layer is not None and layer.bandCount() == bands:
            layer.setRenderer(renderer.clone())
            layer.triggerRepaint()
            feedback.pushInfo(self.tr("The reconstruction is drawn like its input layer, for comparison."))
        return {}


__all__ = ["ReconstructAlgorithm", "MASK_CLASS_CHOICES"]
