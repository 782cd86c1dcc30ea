"""Per-class agreement of a mask with a reference, as CloudSEN12 reports it.

Balanced overall accuracy of a class is the mean of its producer's accuracy
(recall of the class) and its specificity (recall of everything else), which
does not reward a method for the class being rare.  Scores are computed from
counts so that many scenes can be pooled before dividing.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def scores_from_counts(tp: float, fp: float, fn: float, tn: float) -> Dict[str, float]:
    """Producer's and user's accuracy, balanced overall accuracy, F1 and IoU of one class."""
    nan = float("nan")
    pa = tp / (tp + fn) if tp + fn else nan
    ua = tp / (tp + fp) if tp + fp else nan
    spec = tn / (tn + fp) if tn + fp else nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else nan
    iou = tp / (tp + fp + fn) if tp + fp + fn else nan
    return {"producers_accuracy": pa, "users_accuracy": ua, "balanced_accuracy": (pa + spec) / 2,
            "f1": f1, "iou": iou, "reference_pixels": int(tp + fn), "pixels": int(tp + fp + fn + tn)}


def binary_counts(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """[tp, fp, fn, tn] of two boolean rasters."""
    pred, ref = pred.astype(bool).ravel(), ref.astype(bool).ravel()
    return np.array([np.sum(pred & ref), np.sum(pred & ~ref), np.sum(~pred & ref), np.sum(~pred & ~ref)],
                    np.int64)
