"""The CloudFree Processing provider."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsMessageLog, QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .batch import BatchAlgorithm
from .cloudmask import CloudMaskAlgorithm
from .composite import CompositeAlgorithm
from .copy_models import CopyModelsAlgorithm
from .dependencies import DependenciesAlgorithm
from .evaluate import EvaluateAlgorithm
from .evaluate_reconstruction import EvaluateReconstructionAlgorithm
from .gapfill import GapfillAlgorithm
from .reconstruct import ReconstructAlgorithm
from .sclmask import SclMaskAlgorithm
from .train import TrainAlgorithm

ICON = Path(__file__).resolve().parent.parent / "resources" / "cloudfree.svg"
#: Graphical models (.model3) shipped with the plugin, listed by the provider beside its algorithms.
MODELS = Path(__file__).resolve().parent.parent / "resources" / "models"


def load_models(folder: Path = MODELS):
    """The graphical models of `folder`; a file QGIS cannot read is logged and skipped."""
    models = []
    for path in sorted(folder.glob("*.model3")):
        model = QgsProcessingModelAlgorithm()
        if model.fromFile(str(path)):
            models.append(model)
        else:
            QgsMessageLog.logMessage(f"CloudFree could not read the model {path}.", "CloudFree")
    return models


class CloudFreeProvider(QgsProcessingProvider):
    """The CloudFree algorithms and the graphical models of resources/models.

    A model's child algorithms (cloudfree:cloudmask, ...) are looked up in the
    registry when the model is read, and this provider is not in the registry
    yet when it first loads its algorithms; so it loads them again once it has
    been added, which gives the models their child algorithms and outputs.
    """

    def load(self) -> bool:
        QgsApplication.processingRegistry().providerAdded.connect(self._added)
        return super().load()

    def unload(self) -> None:
        try:
            QgsApplication.processingRegistry().providerAdded.disconnect(self._added)
        except TypeError:  # not connected
            pass
        super().unload()

    def _added(self, provider_id: str) -> None:
        if provider_id == self.id():
            self.refreshAlgorithms()

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
                          EvaluateReconstructionAlgorithm(), BatchAlgorithm(), DependenciesAlgorithm(),
                          CopyModelsAlgorithm()):
            self.addAlgorithm(algorithm)
        for model in load_models():
            self.addAlgorithm(model)
