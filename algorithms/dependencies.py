"""Check, and on request install, the Python packages CloudFree needs.

Imports nothing heavy: this algorithm must work precisely when onnxruntime or
rasterio is missing, and the provider imports it at plugin load.
"""
from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (QgsApplication, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean, QgsProcessingParameterFile)

from ..dependencies import check as deps
from ..dependencies import install as inst
from ..core.errors import CloudFreeError
from .common import CloudFreeAlgorithm
from .feedback import QgisFeedback


def install_folder() -> Path:
    """Where installs go: the folder the plugin put on sys.path, else the current profile's."""
    return deps.active_deps_dir() or deps.deps_dir(Path(QgsApplication.qgisSettingsDirPath()) / "python")


class DependenciesAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Setup", "setup")
    INSTALL = "INSTALL"
    GPU = "GPU"
    WHEEL_FOLDER = "WHEEL_FOLDER"
    TRAINING = "TRAINING"
    REPORT = "REPORT"
    OK = "OK"

    STYLES: dict = {}

    def name(self) -> str:
        return "dependencies"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Check and install dependencies")

    def help_text(self) -> str:
        return self.tr(
            "Checks the Python packages CloudFree needs in QGIS's own Python and, if asked, installs the missing "
            "ones.\n\n"
            "Needed: onnxruntime >= 1.17 (or onnxruntime-gpu) for the cloud mask models, rasterio >= 1.3 and "
            "affine < 3 for reading and writing rasters, and numpy >= 1.21, < 2, which is QGIS's own. "
            "Optional: torch and segmentation-models-pytorch, for training and the PyTorch engine. For each "
            "package the report gives the version found, whether it is fine, missing or the wrong version, "
            "what it is for and the command that fixes it.\n\n"
            "numpy and GDAL belong to QGIS and are never installed, upgraded or replaced: pip runs without "
            "dependencies, CloudFree adds the ones this Python lacks itself (never numpy or GDAL), deletes any "
            "numpy or GDAL copy that still lands in the install folder, and checks in a fresh Python that the new "
            "packages import and that numpy's and GDAL's versions are unchanged; if not, it removes what it "
            "installed.\n\n"
            "Outputs: Report, the text above for every package; OK, 1 when everything the algorithms need "
            "(plus the GPU build and the training packages when those boxes are ticked) is present, else 0.\n\n"
            "Reference: the CloudFree README, section 'QGIS' (Dependencies).")

    PARAMETER_HELP = {
        INSTALL: "Unticked (the default), the algorithm only checks. Ticked, it installs what is missing into the "
                 "folder cloudfree_deps inside your QGIS profile's python folder, which CloudFree puts on the Python "
                 "path when it loads; nothing is installed into QGIS's own Python. Restart QGIS afterwards if a "
                 "package was already loaded.",
        GPU: "Install onnxruntime-gpu (NVIDIA CUDA) instead of onnxruntime; it needs an NVIDIA driver and the CUDA and "
             "cuDNN versions that onnxruntime-gpu release was built for. The cloud mask log says which execution "
             "provider ran and why CUDA was not used when it was not.",
        WHEEL_FOLDER: "Optional, for computers without internet: a folder of wheel files to install from, without the "
                      "package index. Fill it elsewhere with 'python -m pip download -d <folder> \"onnxruntime>=1.17\" "
                      "\"rasterio>=1.3\" \"affine<3\" \"numpy<2\"' for the same system and Python version (without "
                      "the affine pin, rasterio brings affine 3, which QGIS's Python cannot use).",
        TRAINING: "Also install torch and segmentation-models-pytorch (large downloads).",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterBoolean(
            self.INSTALL, self.tr("Install what is missing (unticked: only check)"), defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            self.GPU, self.tr("GPU: onnxruntime-gpu (NVIDIA CUDA) instead of onnxruntime"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFile(
            self.WHEEL_FOLDER, self.tr("Folder of wheels, for an install without internet (optional)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.TRAINING, self.tr("Also torch and segmentation-models-pytorch (training, PyTorch engine)"),
            defaultValue=False))
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Report")))
        self.addOutput(QgsProcessingOutputNumber(self.OK, self.tr("OK (1: everything needed is present)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        install = self.parameterAsBool(parameters, self.INSTALL, context)
        gpu = self.parameterAsBool(parameters, self.GPU, context)
        training = self.parameterAsBool(parameters, self.TRAINING, context)
        wheels = self.parameterAsFile(parameters, self.WHEEL_FOLDER, context).strip()
        target = install_folder()
        levels = (deps.REQUIRED, deps.OPTIONAL) if training else (deps.REQUIRED,)

        statuses = deps.check_dependencies(gpu=gpu or None, target=target)
        report = [deps.describe(statuses)]
        feedback.pushInfo(report[0])
        wanted = inst.requirements_to_install(statuses, gpu=gpu, training=training)
        if install and wanted:
            loaded = [s.dependency.import_name for s in statuses
                      if s.dependency.import_name in sys.modules and not s.ok]
            feedback.pushInfo(self.tr("Installing {} into {} ...").format(", ".join(wanted), target))
            try:
                result = inst.install(wanted, target, wheel_dir=wheels or None, feedback=QgisFeedback(feedback))
            except CloudFreeError as exc:
                raise QgsProcessingException(str(exc)) from exc
            deps.activate(target)
            report.append(result.summary())
            statuses = deps.check_dependencies(gpu=gpu or None, target=target)
            after = deps.describe(statuses)
            report.append(self.tr("After the install:") + "\n" + after)
            feedback.pushInfo(report[-2])
            feedback.pushInfo(report[-1])
            if loaded:
                report.append(self.tr("{} was already loaded in this QGIS session: restart QGIS to use the "
                                      "installed version.").format(", ".join(loaded)))
                feedback.reportError(report[-1])
        elif install:
            report.append(self.tr("Nothing to install."))
            feedback.pushInfo(report[-1])
        elif wanted:
            feedback.pushInfo(self.tr("Run again with 'Install' ticked to install: {}.").format(", ".join(wanted)))
        bad = deps.missing(statuses, levels)
        if install and bad:  # an install that leaves a needed package missing has failed: say so, not OK=0
            raise QgsProcessingException(self.tr(
                "The install finished but {} still cannot be imported in QGIS's Python:\n{}").format(
                    ", ".join(s.name for s in bad), "\n".join(report)))
        return {self.REPORT: "\n".join(report), self.OK: 0 if bad else 1}
