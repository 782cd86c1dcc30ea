"""The local executor: a batch's scenes one after the other in this process.

The next scene is opened, and its first rows read, while one is masked.
Executors share one interface (core.batch.runner.Executor): the products,
the indexes to process, the output folder, the options, the overall and
per-scene progress; they return the summary rows keyed by index.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..errors import CloudFreeError
from ..progress import Feedback, SubFeedback
from .jobs import BUSY, CANCELLED, FAILED, BatchOptions, SceneBusy, failed_row, process_scene, scene_name


def run_here(products: List[Path], todo: List[int], out: Path, options: BatchOptions, feedback: Feedback,
              scene_feedback: Optional[Callable[[str], Feedback]]) -> Dict[int, Dict]:
    """Scenes one after the other; the next scene is opened, and its first rows read, while one is masked."""
    rows: Dict[int, Dict] = {}
    ahead = None
    try:
        for k, i in enumerate(todo):
            current, ahead = ahead, None
            if feedback.is_cancelled():
                rows.update({j: failed_row(products[j], CANCELLED, "cancelled before it started") for j in todo[k:]})
                break
            if k + 1 < len(todo):
                ahead = _open_ahead(products[todo[k + 1]], options)
            name = scene_name(products[i])
            feedback.info(f"[{k + 1}/{len(todo)}] {name}")
            part = SubFeedback(feedback, 100.0 * k / len(todo), 100.0 * (k + 1) / len(todo))
            per_scene = scene_feedback(name) if scene_feedback else None
            try:
                rows[i] = process_scene(products[i], out, options, _Both(part, per_scene) if per_scene else part,
                                        opened=current)
            except SceneBusy as exc:
                rows[i] = failed_row(products[i], BUSY, str(exc))
                feedback.info(str(exc))
            except Exception as exc:  # one scene's failure, whatever it is, is reported and the batch goes on
                if feedback.is_cancelled():
                    rows.update({j: failed_row(products[j], CANCELLED, str(exc)) for j in todo[k:]})
                    break
                text = str(exc) if isinstance(exc, CloudFreeError) else f"{type(exc).__name__}: {exc}"
                rows[i] = failed_row(products[i], FAILED, text)
                feedback.info(f"{name} failed: {text}")
            finally:
                if per_scene is not None and hasattr(per_scene, "close"):
                    per_scene.close()
    finally:
        if ahead is not None:
            ahead.close()
    return rows


def _open_ahead(product: Path, options: BatchOptions):
    """The next product opened with its reading started, or None (its error then comes when it is processed)."""
    from ..masking.scene_mask import open_scene
    try:
        return open_scene(product, model=options.model, resolution_m=options.resolution_m)
    except (CloudFreeError, OSError):
        return None


class _Both(Feedback):
    """Progress to the overall and the per-scene reporter; cancel from the overall one."""

    def __init__(self, overall: Feedback, scene: Feedback) -> None:
        self.overall, self.scene = overall, scene

    def set_progress(self, percent: float) -> None:
        self.overall.set_progress(percent)
        self.scene.set_progress(percent)

    def is_cancelled(self) -> bool:
        return self.overall.is_cancelled()

    def info(self, message: str) -> None:
        self.overall.info(message)
