"""Clear real scenes for measuring false alarms: every pixel a mask calls cloud or shadow there is wrong.

The human-labelled sets (models/human_labelled.py) are all full of cloud and
shadow, so a model can score well on them while calling dark ground shadow
on a clear day, the commonest complaint about masks.  The three dates of
eo-learn's L1C stack that s2cloudless calls clear on every pixel (summer
farmland and forest, 101 x 100 px at 10 m, 13 bands, MIT) are such scenes;
eo-learn is a place held out from every training run (early stopping only).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Dict, List, Sequence, Tuple

import numpy as np

from cloudfree.core.masking.arrays import mask_array
from cloudfree.models.human_labelled import DATA

EOLEARN = DATA / "s2_l1c_timeseries_eolearn"
L1C_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
#: REFERENCE_SCENES frame -> index into timestamps.json (the data README)
FRAME_DATES = [2, 1, 4, 3, 0]


@dataclass(frozen=True)
class ClearScene:
    name: str
    reflectance: np.ndarray   # (bands, H, W), TOA reflectance
    bands: List[str]
    pixel_m: float


def eolearn_series() -> Tuple[np.ndarray, List[date], np.ndarray]:
    """eo-learn's five dates: reflectance (dates, 13 bands, H, W), their dates, and s2cloudless's clear pixels
    (dates, H, W), in the order of REFERENCE_SCENES (not of time)."""
    frames = np.load(EOLEARN / "REFERENCE_SCENES.npy")            # (5, H, W, 13)
    stamps = json.loads((EOLEARN / "timestamps.json").read_text())
    clm = np.load(EOLEARN / "CLM_S2C.npy")[..., 0]                 # by timestamp index
    days = [date.fromisoformat(stamps[t][:10]) for t in FRAME_DATES]
    return np.moveaxis(frames, -1, 1), days, np.stack([~clm[t] for t in FRAME_DATES])


def load_clear_scenes() -> List[ClearScene]:
    reflectance, days, clear = eolearn_series()
    return [ClearScene(f"eolearn {day.isoformat()}", reflectance[k].astype(np.float32), list(L1C_BANDS), 10.0)
            for k, day in enumerate(days) if clear[k].all()]


def false_alarms(models: Sequence[str], weights: Tuple[float, float],
                 scenes: Sequence[ClearScene]) -> Dict[str, float]:
    """Mean share (0-1) of clear pixels called cloud and called shadow, over the scenes and the models, with
    the decision weights (cloud, shadow) given, as masking runs by default (shadow-geometry check on)."""
    cloud, shadow = [], []
    thresholds = {"cloud_threshold": 1.0 / (1.0 + weights[0]), "shadow_threshold": 1.0 / (1.0 + weights[1])}
    for model in models:
        for scene in scenes:
            classes = mask_array(scene.reflectance, scene.bands, model=model, pixel_m=scene.pixel_m,
                                 **thresholds).classes
            cloud.append(float(np.isin(classes, (1, 2)).mean()))
            shadow.append(float((classes == 3).mean()))
    return {"cloud": float(np.mean(cloud)), "shadow": float(np.mean(shadow))}


__all__ = ["ClearScene", "eolearn_series", "load_clear_scenes", "false_alarms"]
