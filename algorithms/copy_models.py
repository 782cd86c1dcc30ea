"""Copy the shipped graphical models into the user's own models, where the modeler can open and edit them.

The models shipped in resources/models are listed by the CloudFree provider,
which QGIS treats as read-only; a copy in the user's models folder appears
under Models in the toolbox and opens in the graphical modeler.  A copy never
replaces a file already there: it takes the next free name.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from qgis.core import (QgsApplication, QgsProcessingException, QgsProcessingModelAlgorithm,
                       QgsProcessingOutputMultipleLayers, QgsProcessingParameterFile)

from .common import CloudFreeAlgorithm

SHIPPED = Path(__file__).resolve().parent.parent / "resources" / "models"
COPY_SUFFIX = " (my copy)"


def user_models_folder() -> str:
    """Processing's folder for the user's models (its first models folder), '' when Processing is not loaded."""
    try:
        from processing.modeler.ModelerUtils import ModelerUtils
    except ImportError:
        return ""
    return ModelerUtils.modelsFolders()[0]


def free_path(folder: Path, stem: str) -> Path:
    """<stem>.model3 in `folder`, or <stem>_2.model3, _3, ... : the first name no file has."""
    path, n = folder / f"{stem}.model3", 2
    while path.exists():
        path, n = folder / f"{stem}_{n}.model3", n + 1
    return path


class CopyModelsAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Setup", "setup")
    FOLDER = "FOLDER"
    COPIED = "COPIED"

    def name(self) -> str:
        return "copymodels"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Copy the CloudFree graphical models to my models")

    def help_text(self) -> str:
        return self.tr(
            "Copies the graphical models that ship with CloudFree (such as 'Mask and reconstruct a scene') into "
            "your own models folder. The shipped ones cannot be edited; the copies appear under Models in the "
            "Processing toolbox, named '... (my copy)', and open in the graphical modeler (right-click > Edit "
            "Model...) to change their inputs, add the band mapping or chain other algorithms.\n\n"
            "Output: the paths of the copies.\n\n"
            "Reference: QGIS User Manual, 'The graphical modeler' (Processing).")

    PARAMETER_HELP = {
        FOLDER: "Where the copies go; by default Processing's folder for your models. A copy never replaces a file: if "
                "the name is taken, it gets the next free one (_2, _3, ...).",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.FOLDER, self.tr("Models folder (where the copies go)"), behavior=QgsProcessingParameterFile.Folder,
            defaultValue=user_models_folder() or None))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.COPIED, self.tr("Copied models")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        folder = Path(self.parameterAsFile(parameters, self.FOLDER, context).strip() or user_models_folder())
        if not str(folder) or str(folder) == ".":
            raise QgsProcessingException(self.tr("Give the models folder to copy the models into."))
        folder.mkdir(parents=True, exist_ok=True)
        copied: List[str] = []
        for shipped in sorted(SHIPPED.glob("*.model3")):
            model = QgsProcessingModelAlgorithm()
            if not model.fromFile(str(shipped)):
                raise QgsProcessingException(self.tr("Cannot read the shipped model {}.").format(shipped.name))
            model.setName(model.name() + COPY_SUFFIX)
            target = free_path(folder, shipped.stem + "_my_copy")
            if not model.toFile(str(target)):
                raise QgsProcessingException(self.tr("Cannot write {}; check that the folder is writable.")
                                             .format(target))
            copied.append(str(target))
            feedback.pushInfo(self.tr("Copied '{}' to {}.").format(model.name(), target))
        provider = QgsApplication.processingRegistry().providerById("model")
        if provider is not None:  # the toolbox lists the copies at once
            provider.refreshAlgorithms()
        return {self.COPIED: copied}


__all__ = ["CopyModelsAlgorithm", "free_path", "user_models_folder"]
