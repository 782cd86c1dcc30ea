"""Per-class agreement of a mask with a reference, as CloudSEN12 reports it.

Balanced overall accuracy of a class is the mean of its producer's accuracy
(recall of the class) and its specificity (recall of everything else), which
does not reward a method for the class being rare.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def binary_scores(pred: np.ndarray, ref: np.ndarray) -> Dict[str, float]:
    """Producer's and user's accuracy, balanced overall accuracy, F1 and IoU of one class."""
    pred, ref = pred.astype(bool).ravel(), ref.astype(bool).ravel()
    tp = float(np.sum(pred & ref))
    fp = float(np.sum(pred & ~ref))
    fn = float(np.sum(~pred & ref))
    tn = float(np.sum(~pred & ~ref))
    pa = tp / (tp + fn) if tp + fn else float("nan")
    ua = tp / (tp + fp) if tp + fp else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
    return {"producers_accuracy": pa, "users_accuracy": ua, "balanced_accuracy": (pa + spec) / 2,
            "f1": f1, "iou": iou, "reference_pixels": int(tp + fn)}
