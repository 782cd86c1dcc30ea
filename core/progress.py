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

    def __init__(self, description: str, position: int = 0, leave: bool = True) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=100, desc=description, unit="%", position=position, leave=leave,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]")

    def set_progress(self, percent: float) -> None:
        self.bar.n = min(100.0, percent)
        self.bar.refresh()

    def info(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


class SubFeedback(Feedback):
    """One step of a longer run: maps the step's 0-100 % onto [start, end] of the parent's bar."""

    def __init__(self, parent: Feedback, start: float, end: float) -> None:
        self.parent, self.start, self.end = parent, float(start), float(end)

    def set_progress(self, percent: float) -> None:
        self.parent.set_progress(self.start + (self.end - self.start) * min(100.0, max(0.0, percent)) / 100.0)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()

    def info(self, message: str) -> None:
        self.parent.info(message)
