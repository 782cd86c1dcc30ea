"""Scores a reconstruction against a reference on the pixels that were filled."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core.api import MASK_SCHEMES
from .common import CloudFreeAlgorithm, layer_file

#: MASK_CLASSES options: the core's scheme names, in this order.
MASK_SCHEME_KEYS = list(MASK_SCHEMES)
#: Overall score in the core -> (output key, description).
OVERALL_KEYS = {"mae": ("MAE", "mean absolute error (reflectance)"),
                "rmse": ("RMSE", "root mean square error (reflectance)"),
                "psnr": ("PSNR", "peak signal-to-noise ratio (dB, peak 1.0)"),
                "ssim": ("SSIM", "structural similarity"),
                "sam_deg": ("SAM_DEG", "spectral angle (degrees)"),
                "pixels": ("PIXELS", "filled pixels scored")}


class EvaluateReconstructionAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Reconstruction", "reconstruction")
    RECONSTRUCTION = "RECONSTRUCTION"
    REFERENCE = "REFERENCE"
    MASK = "MASK"
    MASK_CLASSES = "MASK_CLASSES"
    BANDS = "BANDS"
    OUTPUT_TABLE = "OUTPUT_TABLE"

    STYLES = {}

    def name(self) -> str:
        return "evaluate_reconstruction"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Evaluate a reconstruction against a reference")

    def help_text(self) -> str:
        return self.tr(
            "Scores a reconstructed image (e.g. a gap-fill output) against the true image, on the pixels that "
            "were filled only: clear pixels are copied and would only dilute the error.\n\n"
            "Outputs, over all scored bands: MAE and RMSE in reflectance, PSNR (dB, peak 1.0), SSIM (7 x 7 "
            "windows, averaged over filled pixels), SAM (mean spectral angle in degrees) and the number of "
            "pixels scored. The per-band table goes to the log and, optionally, to a CSV or JSON file.\n\n"
            "Reference: SSIM, Wang et al. (2004), 'Image quality assessment: from error visibility to "
            "structural similarity', IEEE Transactions on Image Processing 13(4); SAM, Kruse et al. (1993), "
            "Remote Sensing of Environment 44; the CloudFree README ('Benchmarks').")

    PARAMETER_HELP = {
        RECONSTRUCTION: "The reconstructed raster, read as reflectance; on the reference's grid, with the same band "
                        "layout (band preset or mapping).",
        REFERENCE: "The true image, read as reflectance; on the reconstruction's grid, with the same band layout "
                   "(band preset or mapping).",
        MASK: "Which pixels were filled, coded as Mask classes says. It may be coarser than the images (same CRS).",
        MASK_CLASSES: "How the mask is coded: a CloudFree mask (1 thick, 2 thin cloud, 3 shadow are filled; 255 no "
                      "data), a gap-fill source raster (codes 1 and 2), or a binary mask (non-zero).",
        BANDS: "E.g. 'B02, B03, B04' to score some bands only; empty: all.",
        OUTPUT_TABLE: "Optional: the .csv or .json file that receives the per-band table.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(self.RECONSTRUCTION, self.tr("Reconstruction")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, self.tr("Reference (true image)")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.MASK, self.tr("Mask of the filled pixels")))
        self.addParameter(QgsProcessingParameterEnum(
            self.MASK_CLASSES, self.tr("Mask classes"),
            options=[self.tr(MASK_SCHEMES[k]) for k in MASK_SCHEME_KEYS], defaultValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Bands to score, e.g. B02, B03, B04 (empty: all)"), optional=True))
        self.add_band_parameters(self.tr("both rasters"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_TABLE, self.tr("Scores table"), fileFilter="CSV (*.csv);;JSON (*.json)",
            optional=True, createByDefault=False))
        for key, description in OVERALL_KEYS.values():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr("Overall {}").format(self.tr(description))))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import evaluate_reconstruction, format_recon_table, write_recon_scores

        files = {}
        for key, what in ((self.RECONSTRUCTION, "reconstruction"), (self.REFERENCE, "reference"), (self.MASK, "mask")):
            layer = self.parameterAsRasterLayer(parameters, key, context)
            if layer is None:
                raise QgsProcessingException(self.tr("Give the {} raster.").format(self.tr(what)))
            files[key] = layer_file(layer, self.tr(what))
        bands = [b for b in self.parameterAsString(parameters, self.BANDS, context).replace(";", ",").split(",")
                 if b.strip()]
        preset, mapping = self.band_choice(parameters, context)
        table = self.parameterAsFileOutput(parameters, self.OUTPUT_TABLE, context)
        if table and Path(table).suffix.lower() not in (".csv", ".json"):
            raise QgsProcessingException(self.tr("The scores table must be a .csv or .json file, not {}.")
                                         .format(Path(table).name))
        feedback.setProgress(0)
        scores = evaluate_reconstruction(
            files[self.RECONSTRUCTION], files[self.REFERENCE], files[self.MASK], bands or None,
            MASK_SCHEME_KEYS[self.parameterAsEnum(parameters, self.MASK_CLASSES, context)],
            preset, mapping)
        if table:
            self.write_table(write_recon_scores, scores, table)
        feedback.pushInfo(format_recon_table(scores, self.tr("{} against {}").format(
            Path(files[self.RECONSTRUCTION]).name, Path(files[self.REFERENCE]).name)))
        results = {key: (int if metric == "pixels" else float)(scores["overall"][metric])
                   for metric, (key, _) in OVERALL_KEYS.items()}
        results[self.OUTPUT_TABLE] = table or None
        feedback.setProgress(100)
        return results


__all__ = ["EvaluateReconstructionAlgorithm", "OVERALL_KEYS", "MASK_SCHEME_KEYS"]
