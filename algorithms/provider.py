"""The CloudFree Processing provider."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .cloudmask import CloudMaskAlgorithm
from .composite import CompositeAlgorithm
from .evaluate import EvaluateAlgorithm
from .evaluate_reconstruction import EvaluateReconstructionAlgorithm
from .gapfill import GapfillAlgorithm
from .reconstruct import ReconstructAlgorithm
from .sclmask import SclMaskAlgorithm
from .train import TrainAlgorithm

ICON = Path(__file__).resolve().parent.parent / "resources" / "cloudfree.svg"


class CloudFreeProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "cloudfree"

    def name(self) -> str:
        return "CloudFree"

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return self.name()

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return str(ICON)

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        for algorithm in (CloudMaskAlgorithm(), SclMaskAlgorithm(), EvaluateAlgorithm(), TrainAlgorithm(),
                          GapfillAlgorithm(), CompositeAlgorithm(), ReconstructAlgorithm(),
                          EvaluateReconstructionAlgorithm()):
            self.addAlgorithm(algorithm)
