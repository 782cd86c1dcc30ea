"""Calibrating the class decision of a mask model on held-out human labels.

A network's softmax is not a calibrated probability: trained on synthetic
and teacher labels, it is over-sure of "clear" against shadow and thin
cloud.  The decision (core/class_raster.decide_classes) therefore scales the
cloud and shadow probabilities by two weights before comparing them with
clear.  They are chosen here by a grid search over labelled scenes the model
did not train on (its leave-one-dataset-out predictions), and stored in the
model card.  The objective is the mean over sets and classes of balanced
accuracy and F1 together: balanced accuracy alone rewards recall of a rare
class so much that it would call every dark forest and lake shadow (user's
accuracy 0.34 on the ukis patch), which F1 does not forgive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from ..masking.class_raster import decide_classes
from .synthetic import IGNORE

#: Candidate weights: log-spaced from 1/4 to 16 (three per doubling), with 1 (no calibration) among them.
WEIGHT_GRID = tuple(float(v) for v in np.round(np.logspace(-2, 4, 19, base=2.0), 3))


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


def _ba_f1(pred: np.ndarray, ref: np.ndarray) -> float:
    ba = _ba(pred, ref)
    tp = float((pred & ref).sum())
    denominator = float(pred.sum() + ref.sum())
    return 0.5 * (ba + (2 * tp / denominator if denominator else 0.0)) if np.isfinite(ba) else float("nan")


def balanced_accuracies(samples: Sequence[CalibrationSample], weights: Tuple[float, float]) -> List[float]:
    """Cloud and shadow balanced accuracy per dataset (where its labels have that class), pooled over scenes."""
    return _per_set_class(samples, weights, _ba)


def decision_scores(samples: Sequence[CalibrationSample], weights: Tuple[float, float]) -> List[float]:
    """What calibration maximises: (balanced accuracy + F1) / 2 per dataset and class."""
    return _per_set_class(samples, weights, _ba_f1)


def _per_set_class(samples, weights, score) -> List[float]:
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
            value = score(np.isin(pred, classes), np.isin(ref, classes))
            if np.isfinite(value):
                scores.append(value)
    return scores


def calibrate(samples: Sequence[CalibrationSample]) -> Tuple[float, float]:
    """The (cloud, shadow) weights with the best mean decision score; (1, 1) without samples or on ties."""
    if not samples:
        return 1.0, 1.0
    best, best_score = (1.0, 1.0), float(np.mean(decision_scores(samples, (1.0, 1.0)) or [0.0]))
    for c in WEIGHT_GRID:
        for s in WEIGHT_GRID:
            score = float(np.mean(decision_scores(samples, (c, s)) or [0.0]))
            if score > best_score + 1e-6:
                best, best_score = (c, s), score
    return best
