"""Progress and cancellation, without depending on QGIS or tqdm.

The algorithms adapt QgsProcessingFeedback to this; the command line adapts tqdm.
"""
from __future__ import annotations

import logging
import sys

from .errors import Cancelled

log = logging.getLogger("cloudfree")


class Feedback:
    """Default feedback: logs messages, never cancels."""

    def set_progress(self, percent: float) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

    def info(self, message: str) -> None:
        log.info(message)

    def check(self) -> None:
        """Raise Cancelled when the user asked to stop; called once per batch."""
        if self.is_cancelled():
            raise Cancelled("Cancelled by the user; no output was written.")


class TqdmFeedback(Feedback):
    """A progress bar on stderr for the command line."""

    def __init__(self, description: str) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=100, desc=description, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]")

    def set_progress(self, percent: float) -> None:
        self.bar.n = min(100.0, percent)
        self.bar.refresh()

    def info(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
