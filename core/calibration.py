"""Calibrating the class decision of a mask model on held-out human labels.

A network's softmax is not a calibrated probability: trained on synthetic
and teacher labels, it is over-sure of "clear" against shadow and thin
cloud.  The decision (core/class_raster.decide_classes) therefore scales the
cloud and shadow probabilities by two weights before comparing them with
clear.  They are chosen here by a grid search that maximises the mean
balanced accuracy over labelled scenes the model did not train on (its
leave-one-dataset-out predictions), and stored in the model card.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from .class_raster import decide_classes
from .synthetic import IGNORE

#: Candidate weights: log-spaced from 1/4 to 4, with 1 (no calibration) among them.
WEIGHT_GRID = tuple(float(v) for v in np.round(np.logspace(-2, 2, 13, base=2.0), 3))


@dataclass
class CalibrationSample:
    """One labelled scene's predicted probabilities (4, H, W) and its labels (H, W, 0-3 or IGNORE)."""

    dataset: str
    probs: np.ndarray
    labels: np.ndarray


def _ba(pred: np.ndarray, ref: np.ndarray) -> float:
    pos = ref.sum()
    neg = ref.size - pos
    if pos == 0 or neg == 0:
        return float("nan")
    return 0.5 * (float((pred & ref).sum()) / pos + float((~pred & ~ref).sum()) / neg)


def balanced_accuracies(samples: Sequence[CalibrationSample], weights: Tuple[float, float]) -> List[float]:
    """Cloud and shadow balanced accuracy per dataset (where its labels have that class), pooled over scenes."""
    by_set: dict = {}
    for s in samples:
        keep = s.labels != IGNORE
        pred = decide_classes(s.probs, weights=weights)[keep]
        ref = s.labels[keep]
        pooled = by_set.setdefault(s.dataset, ([], []))
        pooled[0].append(pred)
        pooled[1].append(ref)
    scores = []
    for preds, refs in by_set.values():
        pred, ref = np.concatenate(preds), np.concatenate(refs)
        for classes in ((1, 2), (3,)):
            value = _ba(np.isin(pred, classes), np.isin(ref, classes))
            if np.isfinite(value):
                scores.append(value)
    return scores


def calibrate(samples: Sequence[CalibrationSample]) -> Tuple[float, float]:
    """The (cloud, shadow) weights with the best mean balanced accuracy; (1, 1) without samples or on ties."""
    if not samples:
        return 1.0, 1.0
    best, best_score = (1.0, 1.0), float(np.mean(balanced_accuracies(samples, (1.0, 1.0)) or [0.0]))
    for c in WEIGHT_GRID:
        for s in WEIGHT_GRID:
            score = float(np.mean(balanced_accuracies(samples, (c, s)) or [0.0]))
            if score > best_score + 1e-6:
                best, best_score = (c, s), score
    return best
