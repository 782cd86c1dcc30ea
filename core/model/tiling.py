"""Offset tiling: where patches go and how their overlaps are blended.

Patches overlap by `overlap` pixels and the last one on each axis is pulled
back to end at the image edge, so every patch lies fully inside the image and
no padding artefacts enter the prediction.  Overlaps are blended with a linear
ramp so the seams of a model that sees less context near a patch border fade
out; at the image edge the ramp is flat, since no neighbour can take over.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np

from ..errors import InputError

#: The smallest weight, so every pixel keeps a positive total even at a ramp's foot.
MIN_WEIGHT = 1e-3


def patch_starts(length: int, patch: int, overlap: int) -> List[int]:
    """Start offsets along one axis: stride patch - overlap, last patch flush with the end."""
    if patch > length:
        raise InputError(f"A patch of {patch} px does not fit into {length} px.")
    if not 0 <= overlap < patch:
        raise InputError(f"The overlap ({overlap} px) must be at least 0 and less than the patch size ({patch} px).")
    stride = patch - overlap
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def ramp(patch: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D weights: rising over `overlap` px at inner borders, flat at image borders."""
    w = np.ones(patch, np.float32)
    if overlap > 0:
        r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            w[:overlap] = np.minimum(w[:overlap], r)
        if not at_end:
            w[-overlap:] = np.minimum(w[-overlap:], r[::-1])
    return np.maximum(w, MIN_WEIGHT)


def patch_weights(patch: int, overlap: int, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
    """2-D blending weights of one patch, given which image borders it touches."""
    return np.outer(ramp(patch, overlap, top, bottom), ramp(patch, overlap, left, right))


def fit_patch_size(requested: int, width: int, height: int, multiple: int) -> int:
    """The patch size to use: the requested one, shrunk to the image for small rasters.

    A model needs sides that are a multiple of `multiple` (32 for a 5-level U-Net),
    so a raster smaller than that cannot be masked at all.
    """
    side = min(width, height)
    if side < multiple:
        raise InputError(
            f"The raster is {width} x {height} px at the processing resolution, smaller than the "
            f"{multiple} px the model needs; use a finer processing resolution or a larger raster.")
    if requested <= side:
        return requested
    return (side // multiple) * multiple


def predict_blended(predict: Callable[[np.ndarray], np.ndarray], data: np.ndarray, patch: int, overlap: int,
                    batch: int = 4, keep: Optional[Callable[[int, int], bool]] = None) -> np.ndarray:
    """(outputs, H, W) blended outputs of `predict` over overlapping patches of a (bands, H, W) array.

    The one in-memory tiled prediction: the array API, fold scoring, the
    benchmark and the inpainter's blocks; whole scenes stream through
    core/masking/engine.py, which blends patch rows with the same weights.
    `keep(y, x)`: predict only the patches it accepts (the inpainter skips
    patches without a hole); pixels no kept patch covers come out 0.
    """
    _, h, w = data.shape
    jobs = [(y, x) for y in patch_starts(h, patch, overlap) for x in patch_starts(w, patch, overlap)
            if keep is None or keep(y, x)]
    if not jobs:
        return np.zeros((0, h, w), np.float32)
    acc: Optional[np.ndarray] = None
    wsum = np.zeros((h, w), np.float32)
    for i in range(0, len(jobs), batch):
        chunk = jobs[i:i + batch]
        out = predict(np.stack([data[:, y:y + patch, x:x + patch] for y, x in chunk]))
        if acc is None:
            acc = np.zeros((out.shape[1], h, w), np.float32)
        for (y, x), p in zip(chunk, out):
            wt = patch_weights(patch, overlap, y == 0, y + patch == h, x == 0, x + patch == w)
            acc[:, y:y + patch, x:x + patch] += p * wt
            wsum[y:y + patch, x:x + patch] += wt
    assert acc is not None  # jobs is not empty, so the loop ran at least once
    return acc / np.maximum(wsum, 1e-12)
