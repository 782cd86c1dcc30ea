"""Buffering (dilation) of cloud and shadow classes, in pure numpy.

Analysts buffer masks because cloud edges and thin haze around them escape
detection.  A disk is approximated by alternating 3x3 square and cross steps
(an octagon), which costs O(radius) array operations instead of O(radius^2).
"""
from __future__ import annotations

import numpy as np

#: Dilation order: a pixel claimed by an earlier class keeps it.
BUFFER_PRIORITY = (1, 2, 3)


def _step(mask: np.ndarray, diagonal: bool) -> np.ndarray:
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    if diagonal:
        out[1:, 1:] |= mask[:-1, :-1]
        out[1:, :-1] |= mask[:-1, 1:]
        out[:-1, 1:] |= mask[1:, :-1]
        out[:-1, :-1] |= mask[1:, 1:]
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean mask by `radius` pixels (octagonal disk)."""
    for i in range(radius):
        mask = _step(mask, diagonal=bool(i % 2))
    return mask


def buffer_classes(classes: np.ndarray, radius: int) -> np.ndarray:
    """Grow thick cloud, thin cloud and shadow into clear pixels only.

    Dilation uses the original class masks, so a window with `radius` rows of
    context above and below gives exactly the result of the whole image.
    """
    if radius <= 0:
        return classes
    out = classes.copy()
    for cls in BUFFER_PRIORITY:
        grown = dilate(classes == cls, radius)
        out[(out == 0) & grown] = cls
    return out
