"""QGIS plugin entry: registers the CloudFree Processing provider.

Loading must not fail because a package CloudFree needs is missing: the user
could then not even reach the algorithm that installs it.  So no algorithm
module imports onnxruntime, rasterio or torch at load (they are imported
when an algorithm runs; test_dependencies_algorithm loads the plugin with
onnxruntime or rasterio blocked), and a missing package is named on the message bar and
in the log, with the way to install it.
"""
from __future__ import annotations

from typing import Sequence

from qgis.core import Qgis, QgsApplication, QgsMessageLog

from .dependencies import check as deps

LOG_TAG = "CloudFree"


def dependency_warning(statuses: Sequence[deps.DependencyStatus]) -> str:
    """The warning shown at load, or "" when nothing the algorithms need is missing."""
    parts = []
    for s in deps.missing(statuses):
        found = f" {s.version}" if s.version else ""
        needs = f", needs {s.dependency.specifier}" if s.dependency.specifier else ""
        parts.append(f"{s.name} ({s.state}{found}{needs})")
    if not parts:
        return ""
    return (f"CloudFree: missing or unusable Python packages: {', '.join(parts)}. "
            f"Run {deps.ALGORITHM_PATH} ({deps.ALGORITHM_ID}) to install them, then restart QGIS.")


class CloudFreePlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.warning = ""
        self._checked = False
        self._message = None  # the message bar item that names missing packages, while it shows

    def initProcessing(self):  # noqa: N802 - QGIS API
        if self.provider is not None:
            return
        from .algorithms.provider import CloudFreeProvider
        self.provider = CloudFreeProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)
        self._check()

    def initGui(self):  # noqa: N802 - QGIS API
        self.initProcessing()

    def _check(self) -> None:
        """Warn once, on the log and the message bar, about what is missing."""
        if self._checked:
            return
        self._checked = True
        note = deps.activation_warning()
        if note:
            QgsMessageLog.logMessage(note, LOG_TAG, Qgis.Warning)
        try:
            # Metadata and find_spec only: loading QGIS must never run third-party code.
            statuses = deps.check_dependencies(imports=False)
        except Exception as exc:  # noqa: BLE001 - a broken check must not stop the plugin
            QgsMessageLog.logMessage(f"CloudFree could not check its dependencies: {exc}", LOG_TAG, Qgis.Warning)
            return
        self.warning = dependency_warning(statuses)
        if not self.warning:
            return
        details = "\n".join(s.detail + (f"\n  fix: {s.fix}" if s.fix else "") for s in deps.missing(statuses))
        QgsMessageLog.logMessage(self.warning + ("\n" + details if details else ""), LOG_TAG, Qgis.Warning)
        if self.iface is not None:
            self._push_to_message_bar(self.warning)

    def _push_to_message_bar(self, text: str) -> None:
        from qgis.PyQt.QtWidgets import QPushButton
        bar = self.iface.messageBar()
        prefix = "CloudFree: "  # the message bar shows its own title: say it once
        widget = bar.createMessage("CloudFree", text[len(prefix):] if text.startswith(prefix) else text)
        button = QPushButton(widget)
        button.setText("Check and install dependencies")
        button.clicked.connect(self.open_dependencies_dialog)
        widget.layout().addWidget(button)
        self._message = bar.pushWidget(widget, Qgis.Warning) or widget

    def open_dependencies_dialog(self) -> None:
        import processing
        processing.execAlgorithmDialog(deps.ALGORITHM_ID, {})
        self.recheck()

    def recheck(self) -> None:
        """After an install: drop the warning once nothing is missing, instead of keeping it until a restart."""
        import importlib
        importlib.invalidate_caches()  # packages installed in this session become visible to find_spec
        try:
            self.warning = dependency_warning(deps.check_dependencies(imports=False))
        except Exception as exc:  # noqa: BLE001 - a broken check must not break the dialog's return
            QgsMessageLog.logMessage(f"CloudFree could not check its dependencies: {exc}", LOG_TAG, Qgis.Warning)
            return
        if not self.warning and self._message is not None and self.iface is not None:
            self.iface.messageBar().popWidget(self._message)
            self._message = None
            QgsMessageLog.logMessage("CloudFree: every package it needs is now installed.", LOG_TAG, Qgis.Info)

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
