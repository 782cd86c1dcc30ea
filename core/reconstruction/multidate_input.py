"""What the learned multi-date fill sees, one band at a time: the gain/offset gap-fill and its evidence.

The network is a correction of gapfill (core.reconstruction.gapfill), not a
replacement: its first channel is gapfill's result and its output is added
to it, so an untrained network is gapfill exactly.  The other channels are
the evidence gapfill averages away: the target's own interpolation from its
clear neighbours, the nearest and second-nearest dates clear at each pixel
(each mapped onto the target by the local gain/offset fit) with their day
gaps, and how many dates were clear there.

One band at a time, with weights shared by every band: the stacks on hand
that have several dates carry different band sets (4, 9, 10 and 13 bands),
and a per-band network can learn from all of them.  Shared by inference
(core.reconstruction.learned_fill) and training (core.training.multidate).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .gapfill import SceneFits, corrected_donors, gapfill
from .inpaint_input import interpolate_holes

MULTIDATE_INPUT_VERSION = 1
CHANNELS = ("gapfill", "hole", "interpolation", "nearest", "nearest_seen", "nearest_gap",
            "second", "second_seen", "second_gap", "dates_seen")
REFLECTANCE_CHANNELS = (0, 2, 3, 6)   # normalised per band by the target's clear pixels
GAP_SCALE_DAYS = 30.0
DATES_SCALE = 4.0


def multidate_features(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int,
                       radius: int = 7, scene: Optional[SceneFits] = None
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (bands, CHANNELS, H, W) float32 in reflectance, gapfill's result (bands, H, W), its source codes).

    The reflectance channels are left unnormalised: the caller normalises
    each patch by its own clear pixels (normalise_features), as the
    single-image network does.  `scene`: as for gapfill, when the stack is a
    strip of a larger scene.
    """
    base, source = gapfill(stack, clear, days, target, radius, scene)
    image, hole = stack[target].astype(np.float64), ~clear[target]
    bands, h, w = image.shape
    feats = np.zeros((bands, len(CHANNELS), h, w), np.float32)
    feats[:, 0] = base
    feats[:, 1] = hole
    feats[:, 2] = interpolate_holes(image[None], hole[None])[0]
    gap_of = {i: abs(float(days[i]) - float(days[target])) for i in range(len(days))}
    found = np.zeros((2, h, w), bool)
    ordered = sorted(corrected_donors(stack, clear, days, target, radius, scene), key=lambda item: gap_of[item[0]])
    for i, _, corrected in ordered:
        seen = clear[i] & hole
        first, second = seen & ~found[0], seen & found[0] & ~found[1]
        for take, (value_c, seen_c, gap_c) in ((first, (3, 4, 5)), (second, (6, 7, 8))):
            feats[:, value_c][:, take] = corrected[:, take]
            feats[:, seen_c][:, take] = 1.0
            feats[:, gap_c][:, take] = gap_of[i] / GAP_SCALE_DAYS
        found[0] |= first
        found[1] |= second
        feats[:, 9] += seen / DATES_SCALE
    for value_c, seen_c in ((3, 4), (6, 7)):   # no such date: the gap-fill stands in
        feats[:, value_c] = np.where(feats[:, seen_c] > 0, feats[:, value_c], feats[:, 0])
    return feats, base, source


def clear_statistics(feats: np.ndarray, hole: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and std (+0.01) per band (bands, 1, 1) of the target's clear pixels (all pixels when none is clear)."""
    clear = ~hole
    values = feats[:, 0][:, clear] if clear.any() else feats[:, 0].reshape(feats.shape[0], -1)
    return (values.mean(axis=1)[:, None, None].astype(np.float32),
            (values.std(axis=1)[:, None, None] + 0.01).astype(np.float32))


def normalise_features(feats: np.ndarray, hole: np.ndarray, fallback: Tuple[np.ndarray, np.ndarray] | None = None
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised features, mean (bands, 1, 1), std (bands, 1, 1)) of one patch (bands, CHANNELS, h, w).

    Each band by its clear_statistics in the patch, or `fallback` when the
    patch has too few clear pixels (fewer than 64).
    """
    if (~hole).sum() >= 64 or fallback is None:
        mean, std = clear_statistics(feats, hole)
    else:
        mean, std = fallback
    out = feats.copy()
    for c in REFLECTANCE_CHANNELS:
        out[:, c] = (feats[:, c] - mean) / std
    return out.astype(np.float32), mean.astype(np.float32), std.astype(np.float32)
