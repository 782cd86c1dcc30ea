"""Cloud and cloud shadow mask from Sen2Cor's Scene Classification Layer (L2A)."""
from __future__ import annotations

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination

from .common import CloudFreeAlgorithm
from .feedback import QgisFeedback


class SclMaskAlgorithm(CloudFreeAlgorithm):
    SCL_BAND = "SCL_BAND"

    OUTPUT_NAMES = {CloudFreeAlgorithm.OUTPUT: "cloud mask (SCL)"}

    def name(self) -> str:
        return "sclmask"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Cloud and shadow mask from SCL (L2A)")

    def help_text(self) -> str:
        return self.tr(
            "Derives the CloudFree cloud and shadow mask from the Scene Classification Layer (SCL) that "
            "Sen2Cor writes into Sentinel-2 L2A products; no model is run.\n\n"
            "Input: either a raster layer holding the SCL band, or an L2A product (.SAFE folder, .zip or "
            "MTD_MSIL2A.xml). Give exactly one of the two.\n\n"
            "SCL classes 8 and 9 (cloud medium/high probability) become thick cloud (1), 10 (thin cirrus) "
            "thin cloud (2), 3 (cloud shadows) shadow (3); 0 and 1 (no data, saturated) become no data (255); "
            "all other classes are clear (0).\n\n"
            "Reference: the SCL classes of Sen2Cor (ESA, Sentinel-2 Level-2A Algorithm Theoretical Basis "
            "Document and Sen2Cor Software User Manual); the output classes follow CloudSEN12 (Aybar et al. "
            "(2022), Scientific Data 9, 782).")

    PARAMETER_HELP = {
        CloudFreeAlgorithm.INPUT: "A raster layer holding the SCL band (values 0 to 11). Give this or an L2A product, "
                                  "not both.",
        CloudFreeAlgorithm.SAFE: "An L2A product instead of a layer: a .SAFE folder, its .zip, or the MTD_MSIL2A.xml "
                                 "inside the folder; its SCL is read. L1C products have no SCL.",
        SCL_BAND: "Which band of the raster layer holds the SCL (1 = the first).",
        CloudFreeAlgorithm.RESOLUTION: "The pixel size of the mask. A projected input is resampled to it (majority "
                                       "when coarser); a geographic input keeps its own grid.",
        CloudFreeAlgorithm.BUFFER: "Grows the cloud and shadow classes by this many pixels (at the processing "
                                   "resolution; 0: no buffer).",
        CloudFreeAlgorithm.OUTPUT: "The class raster: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no "
                                   "data.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_input_parameters(
            self.tr("SCL raster"),
            self.tr("Sentinel-2 L2A product (.SAFE folder path, .zip, or the MTD_MSIL2A.xml inside the folder)"))
        self.addParameter(QgsProcessingParameterNumber(
            self.SCL_BAND, self.tr("SCL band number of the raster"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1))
        self.add_resolution_parameter()
        self.add_buffer_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Cloud and shadow mask")))
        self.add_cover_outputs()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import scl_mask

        source = self.input_path(parameters, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        self.remember_destination(self.OUTPUT, output)
        result = scl_mask(source, output, self.resolution_m(parameters, context),
                          self.parameterAsInt(parameters, self.BUFFER, context),
                          self.parameterAsInt(parameters, self.SCL_BAND, context),
                          QgisFeedback(feedback))
        results = self.report_cover(result, feedback)
        results[self.OUTPUT] = str(result.mask_path)
        return results
