"""Adapts QgsProcessingFeedback to the engine's Feedback interface."""
from __future__ import annotations

from typing import Optional

from qgis.core import QgsProcessingFeedback

from ..core.progress import Feedback


class QgisFeedback(Feedback):
    """Progress, cancellation and messages of the engine, sent to a Processing feedback."""

    def __init__(self, feedback: Optional[QgsProcessingFeedback]) -> None:
        self.feedback = feedback if feedback is not None else QgsProcessingFeedback()

    def set_progress(self, percent: float) -> None:
        self.feedback.setProgress(float(percent))

    def is_cancelled(self) -> bool:
        return bool(self.feedback.isCanceled())

    def info(self, message: str) -> None:
        self.feedback.pushInfo(str(message))
