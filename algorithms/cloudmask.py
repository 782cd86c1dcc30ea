"""Cloud and cloud shadow mask with a U-Net model (ONNX Runtime)."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessingOutputString, QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination)

from ..core.api import DEFAULT_MASK_RESOLUTION_M
from .common import CONFIDENCE_STYLE, MASK_STYLE, CloudFreeAlgorithm
from .feedback import QgisFeedback

#: BAND_PRESET options after "Auto": the core's preset keys, in this order.
DEVICES = ["auto", "cpu", "cuda"]


class CloudMaskAlgorithm(CloudFreeAlgorithm):
    MODEL = "MODEL"
    DEVICE = "DEVICE"
    BATCH_SIZE = "BATCH_SIZE"
    PATCH_SIZE = "PATCH_SIZE"
    OVERLAP = "OVERLAP"
    CONFIDENCE = "CONFIDENCE"
    SHADOW_GEOMETRY = "SHADOW_GEOMETRY"
    CLOUD_THRESHOLD = "CLOUD_THRESHOLD"
    SHADOW_THRESHOLD = "SHADOW_THRESHOLD"
    DN_SCALE = "DN_SCALE"
    DN_OFFSET = "DN_OFFSET"
    RUNTIME = "RUNTIME"

    STYLES = {CloudFreeAlgorithm.OUTPUT: MASK_STYLE, CONFIDENCE: CONFIDENCE_STYLE}
    OUTPUT_NAMES = {CloudFreeAlgorithm.OUTPUT: "cloud mask", CONFIDENCE: "confidence"}
    LOAD_WITH = {CONFIDENCE: CloudFreeAlgorithm.OUTPUT}

    def name(self) -> str:
        return "cloudmask"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Cloud and shadow mask (U-Net)")

    def help_text(self) -> str:
        return self.tr(
            "Masks clouds and cloud shadows in Sentinel-2 imagery with a U-Net model run by ONNX Runtime.\n\n"
            "Input: either a raster layer with Sentinel-2 bands or a Sentinel-2 product (.SAFE folder, .zip or "
            "its MTD_MSIL1C.xml / MTD_MSIL2A.xml); give exactly one of the two.\n\n"
            "Output classes: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no data, styled and "
            "loaded into the CloudFree group with the cloud and shadow cover in the log.\n\n"
            "Reference: the classes follow CloudSEN12 (Aybar et al. (2022), 'CloudSEN12, a global dataset for "
            "semantic understanding of cloud and cloud shadow in Sentinel-2', Scientific Data 9, 782); the "
            "bundled models and their scores are described in the CloudFree README and models/README.md.")

    PARAMETER_HELP = {
        CloudFreeAlgorithm.RESOLUTION: "The pixel size of the mask on the input's grid: 10 m (the default) gives "
                                       "the best masks, shadows especially; 20 m is 4x faster.",
        MODEL: "An .onnx file with its JSON model card beside it. Empty picks the best bundled U-Net for the bands "
               "the input has: cloudfree_s2 (B02 B03 B04 B08 B11 B12, for .SAFE products and full exports), "
               "cloudfree_bgrn (blue, green, red, NIR) or cloudfree_rgb (true colour); the log says which ran.",
        DEVICE: "auto: the fastest execution provider this onnxruntime build has (CUDA, else CPU); cpu; cuda.",
        BATCH_SIZE: "Patches per inference call; more is faster on a GPU and needs more memory.",
        PATCH_SIZE: "The tile the model sees, in pixels; empty: the model card's.",
        OVERLAP: "Pixels by which tiles overlap and are blended; empty: the model card's.",
        SHADOW_GEOMETRY: "A shadow must lie where a cloud casts it, away from the sun at a cloud height of 0.2 to "
                         "12 km; shadow where no cloud can cast it (a dark lake or forest far from any cloud) "
                         "becomes clear. The sun angles come from a product's metadata; for a raster layer the "
                         "direction is estimated from the scene's own cloud-to-shadow offset, and the check is "
                         "skipped (the log says so) when there is none. On by default.",
        CLOUD_THRESHOLD: "A pixel is cloud where its cloud probability exceeds this; lower finds more (thin haze), "
                         "higher less. Empty: the model card's calibrated value, chosen on held-out human labels "
                         "and stated in the log (about 0.28 for cloudfree_s2).",
        SHADOW_THRESHOLD: "Where a pixel is not cloud, it is shadow where P(shadow) / (P(shadow) + P(clear)) exceeds "
                          "this; lower finds more (faint shadow). Empty: the model card's calibrated value (about "
                          "0.06 for cloudfree_s2, whose shadow probabilities run low).",
        DN_SCALE: "Raster layers only: reflectance = (value + offset) / scale. Empty: 10000 for integer rasters "
                  "(Sentinel-2 DN), 1 for float rasters (reflectance); products carry their own scaling.",
        DN_OFFSET: "Raster layers only: added to the values before the scale, e.g. -1000 for exports of processing "
                   "baseline 04.00 or later.",
        CloudFreeAlgorithm.OUTPUT: "The class raster (Cloud Optimized GeoTIFF): 0 clear, 1 thick cloud, 2 thin "
                                   "cloud, 3 cloud shadow, 255 no data.",
        CONFIDENCE: "Optional: the probability (0-100 %) of each class, one band per class, shown as thick cloud "
                    "red, thin cloud green and shadow blue.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_input_parameters(
            self.tr("Input raster (Sentinel-2 bands)"),
            self.tr("Sentinel-2 product (.SAFE folder path, .zip, or the MTD_MSIL1C.xml / MTD_MSIL2A.xml "
                    "inside the folder)"))
        self.add_band_parameters(self.tr("the input raster"))
        self.add_resolution_parameter(DEFAULT_MASK_RESOLUTION_M)
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model (.onnx with its model card; empty: best bundled model for the input bands)"),
            behavior=QgsProcessingParameterFile.File, extension="onnx", optional=True))
        # How the model runs, not what it finds: the Advanced section. Patch size and overlap left empty mean
        # the model card's (0 and -1, their old markers, still mean that in saved models and scripts).
        runtime = [
            QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=DEVICES, defaultValue=0),
            QgsProcessingParameterNumber(self.BATCH_SIZE, self.tr("Batch size (patches per inference call)"),
                                         type=QgsProcessingParameterNumber.Integer, defaultValue=4, minValue=1),
            QgsProcessingParameterNumber(self.PATCH_SIZE, self.tr("Patch size in pixels (empty: the model card's)"),
                                         type=QgsProcessingParameterNumber.Integer, minValue=0, optional=True),
            QgsProcessingParameterNumber(self.OVERLAP, self.tr("Patch overlap in pixels (empty: the model card's)"),
                                         type=QgsProcessingParameterNumber.Integer, minValue=-1, optional=True)]
        self.add_advanced(*runtime)
        self.add_buffer_parameter()
        # optional: graphical models and scripts saved before this parameter existed stay valid (default on)
        self.add_advanced(QgsProcessingParameterBoolean(
            self.SHADOW_GEOMETRY, self.tr("Check shadows against cloud geometry (shadow no cloud can cast "
                                          "becomes clear)"), defaultValue=True, optional=True))
        self.add_advanced(*[QgsProcessingParameterNumber(
            key, self.tr("{} threshold: probability at which it wins, lower finds more (empty: the model "
                         "card's calibrated value)").format(what),
            type=QgsProcessingParameterNumber.Double, minValue=0.01, maxValue=0.99, optional=True)
            for key, what in ((self.CLOUD_THRESHOLD, "Cloud"), (self.SHADOW_THRESHOLD, "Shadow"))])
        scaling = [
            QgsProcessingParameterNumber(
                self.DN_SCALE, self.tr("DN scale: raster values are divided by it to give reflectance (empty: 10000 "
                                       "for integer rasters, 1 for float)"),
                type=QgsProcessingParameterNumber.Double, minValue=1e-6, optional=True),
            QgsProcessingParameterNumber(
                self.DN_OFFSET, self.tr("DN offset: added to raster values first (e.g. -1000 for exports of "
                                        "processing baseline 04.00 or later)"),
                type=QgsProcessingParameterNumber.Double, defaultValue=0.0, optional=True)]
        self.add_advanced(*scaling)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Cloud and shadow mask")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.CONFIDENCE, self.tr("Class confidence (%)"), optional=True, createByDefault=False))
        self.add_cover_outputs()
        self.addOutput(QgsProcessingOutputString(self.RUNTIME, self.tr("Inference runtime used")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import cloud_mask  # deferred: loads ONNX Runtime only when the algorithm runs

        source = self.input_path(parameters, context)
        preset, mapping = self.band_choice(parameters, context)
        model = self.parameterAsFile(parameters, self.MODEL, context).strip()
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, self.CONFIDENCE, context) or None
        patch = self.optional_number(parameters, self.PATCH_SIZE, context)
        overlap = self.optional_number(parameters, self.OVERLAP, context)
        resolution = self.resolution_m(parameters, context)
        buffer_px = self.parameterAsInt(parameters, self.BUFFER, context)
        geometry = self.parameterAsBool(parameters, self.SHADOW_GEOMETRY, context)
        thresholds = [self.optional_number(parameters, k, context) for k in (self.CLOUD_THRESHOLD, self.SHADOW_THRESHOLD)]
        self.remember_options([
            f"{resolution} m" if resolution != DEFAULT_MASK_RESOLUTION_M else "",
            Path(model).stem if model else "", f"buffer {buffer_px}" if buffer_px else "",
            f"cloud {thresholds[0]:g}" if thresholds[0] is not None else "",
            f"shadow {thresholds[1]:g}" if thresholds[1] is not None else "",
            "" if geometry else "no shadow geometry"])
        self.remember_destination(self.OUTPUT, output)
        self.remember_destination(self.CONFIDENCE, confidence)
        result = cloud_mask(
            source, output, confidence, model=model or None, resolution_m=resolution,
            band_preset=preset, band_mapping=mapping, dn_scale=self.optional_number(parameters, self.DN_SCALE, context),
            dn_offset=self.optional_number(parameters, self.DN_OFFSET, context) or 0.0,
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            patch_size=int(patch) if patch else None,
            overlap=int(overlap) if overlap is not None and overlap >= 0 else None,
            buffer_px=buffer_px, feedback=QgisFeedback(feedback), shadow_geometry=geometry,
            cloud_threshold=thresholds[0], shadow_threshold=thresholds[1])
        results = self.report_cover(result, feedback)
        feedback.pushInfo(f"Model {result.model} on {result.runtime}, patches {result.patch_size} px "
                          f"with {result.overlap} px overlap.")
        results.update({self.OUTPUT: str(result.mask_path),
                        self.CONFIDENCE: str(result.confidence_path) if result.confidence_path else None,
                        self.RUNTIME: result.runtime})
        return results
