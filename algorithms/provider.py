"""The CloudFree Processing provider."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .cloudmask import CloudMaskAlgorithm
from .evaluate import EvaluateAlgorithm
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
        for algorithm in (CloudMaskAlgorithm(), SclMaskAlgorithm(), EvaluateAlgorithm(), TrainAlgorithm()):
            self.addAlgorithm(algorithm)
