"""Scores a CloudFree mask against a reference raster, per class."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core.api import REFERENCE_SCHEMES, SCHEME_LABELS
from .common import CloudFreeAlgorithm, layer_file

#: REFERENCE_CLASSES options: the core's scheme names, in this order.
SCHEME_KEYS = list(REFERENCE_SCHEMES)
#: Scored class group -> prefix of its output keys.
GROUP_KEYS = {"clear": "CLEAR", "cloud": "CLOUD", "thick cloud": "THICK_CLOUD", "thin cloud": "THIN_CLOUD",
              "shadow": "SHADOW"}
#: Score name in the core -> (suffix of the output key, description).
METRIC_KEYS = {"producers_accuracy": ("PRODUCERS_ACCURACY", "producer's accuracy"),
               "users_accuracy": ("USERS_ACCURACY", "user's accuracy"),
               "balanced_accuracy": ("BALANCED_ACCURACY", "balanced accuracy"),
               "f1": ("F1", "F1 score"),
               "iou": ("IOU", "intersection over union"),
               "reference_pixels": ("REFERENCE_PIXELS", "pixels of the class in the reference")}


def output_key(group: str, metric: str) -> str:
    """The output key of one score, e.g. ('shadow', 'balanced_accuracy') -> SHADOW_BALANCED_ACCURACY."""
    return f"{GROUP_KEYS[group]}_{METRIC_KEYS[metric][0]}"


class EvaluateAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Training and evaluation", "training")
    MASK = "MASK"
    REFERENCE = "REFERENCE"
    REFERENCE_CLASSES = "REFERENCE_CLASSES"
    REFERENCE_CODES = "REFERENCE_CODES"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    PIXELS = "PIXELS"

    STYLES = {}

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Evaluate a mask against a reference")

    def help_text(self) -> str:
        return self.tr(
            "Scores a CloudFree cloud and shadow mask against a reference raster (hand-drawn labels, an SCL, "
            "another tool's mask), class by class, at the resolution the reference was drawn at.\n\n"
            "Only the classes the reference can tell apart are scored: a binary cloud reference scores "
            "cloud, not shadow. Outputs, per class group (CLEAR, CLOUD, THICK_CLOUD, THIN_CLOUD, SHADOW): "
            "producer's accuracy (share of the reference class found), user's accuracy (share of the mask "
            "class that is right), balanced accuracy, F1, intersection over union and the number of reference "
            "pixels of the class; a class the reference cannot score gives no value (NULL). PIXELS is the number "
            "of pixels scored (valid in both). The table is written in the log and, optionally, to a CSV or "
            "JSON file.\n\n"
            "Reference: the classes follow CloudSEN12 (Aybar et al. (2022), Scientific Data 9, 782); producer's "
            "and user's accuracy as in Congalton and Green, 'Assessing the Accuracy of Remotely Sensed Data' "
            "(CRC Press); see also the CloudFree README.")

    PARAMETER_HELP = {
        MASK: "A CloudFree class raster (0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no data), as "
              "written by the masking algorithms. It is resampled (nearest) onto the reference's grid, so the scores "
              "are at the resolution the reference was drawn at; both need a CRS unless they share a grid.",
        REFERENCE: "The raster the mask is scored against: hand-drawn labels, an SCL, another tool's mask, coded as "
                   "Reference classes or Reference codes say. It needs a CRS unless it shares the mask's grid.",
        REFERENCE_CLASSES: "How the reference is coded: CloudFree / CloudSEN12 classes, binary cloud, binary shadow, "
                           "the Sen2Cor Scene Classification Layer (SCL) or ukis-csmask classes.",
        REFERENCE_CODES: "Reference value = class pairs, e.g. '0=0, 1=4, 2=3'; they override the reference classes. "
                         "Each reference value is mapped to 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 4 cloud "
                         "(thick or thin not said), 5 not cloud or 6 not shadow; unlisted values are not scored.",
        OUTPUT_TABLE: "Optional: the .csv or .json file that receives the table of scores per class (the format "
                      "follows the extension).",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.MASK, self.tr("CloudFree mask (0 clear, 1 thick, 2 thin, 3 shadow, 255 no data)")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, self.tr("Reference raster")))
        self.addParameter(QgsProcessingParameterEnum(
            self.REFERENCE_CLASSES, self.tr("Reference classes"),
            options=[self.tr(SCHEME_LABELS[k]) for k in SCHEME_KEYS], defaultValue=SCHEME_KEYS.index("cloudfree")))
        self.addParameter(QgsProcessingParameterString(
            self.REFERENCE_CODES, self.tr("Reference codes, e.g. 0=0, 1=4, 2=3 (value=class; overrides the "
                                          "reference classes)"), optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_TABLE, self.tr("Scores table"), fileFilter="CSV (*.csv);;JSON (*.json)",
            optional=True, createByDefault=False))
        for group, prefix in GROUP_KEYS.items():
            for suffix, description in METRIC_KEYS.values():
                self.addOutput(QgsProcessingOutputNumber(
                    f"{prefix}_{suffix}", self.tr("{}: {}").format(self.tr(group.capitalize()), self.tr(description))))
        self.addOutput(QgsProcessingOutputNumber(self.PIXELS, self.tr("Pixels scored")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import evaluate_rasters, format_table, write_scores

        mask_layer = self.parameterAsRasterLayer(parameters, self.MASK, context)
        reference_layer = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        if mask_layer is None or reference_layer is None:
            raise QgsProcessingException(self.tr("Give both a mask and a reference raster."))
        mask, reference = layer_file(mask_layer, self.tr("mask")), layer_file(reference_layer, self.tr("reference"))
        codes = self.parameterAsString(parameters, self.REFERENCE_CODES, context).strip()
        scheme = codes or SCHEME_KEYS[self.parameterAsEnum(parameters, self.REFERENCE_CLASSES, context)]
        table = self.parameterAsFileOutput(parameters, self.OUTPUT_TABLE, context)
        if table and Path(table).suffix.lower() not in (".csv", ".json"):
            raise QgsProcessingException(self.tr("The scores table must be a .csv or .json file, not {}.")
                                         .format(Path(table).name))
        feedback.setProgress(0)
        evaluation = evaluate_rasters([mask], [reference], scheme)
        scores = evaluation.scores()
        if feedback.isCanceled():
            return {}
        title = self.tr("{} against {} ({})").format(Path(mask).name, Path(reference).name,
                                                      codes or SCHEME_LABELS[scheme])
        feedback.pushInfo(format_table(scores, title))
        if not scores:
            feedback.reportError(self.tr("The reference codes name no class that can be scored."))
        results = {output_key(group, metric): None for group in GROUP_KEYS for metric in METRIC_KEYS}
        for group, values in scores.items():
            for metric in METRIC_KEYS:
                value = values[metric]
                results[output_key(group, metric)] = int(value) if metric == "reference_pixels" else float(value)
        pixels = next(iter(scores.values()))["pixels"] if scores else 0
        results[self.PIXELS] = int(pixels)
        if pixels == 0:
            feedback.reportError(self.tr("No pixel is valid in both the mask and the reference; check that they "
                                         "overlap and that the reference classes are right."))
        unscored = [g for g in GROUP_KEYS if g not in scores]
        if unscored:
            feedback.pushInfo(self.tr("Not scored (the reference does not tell them apart): {}.")
                              .format(", ".join(unscored)))
        if table:
            self.write_table(write_scores, scores, table)
            feedback.pushInfo(self.tr("Scores written to {}.").format(table))
        results[self.OUTPUT_TABLE] = table or None
        feedback.setProgress(100)
        return results


__all__ = ["EvaluateAlgorithm", "output_key", "SCHEME_KEYS"]
