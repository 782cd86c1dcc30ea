"""Offset tiling: where patches go and how their overlaps are blended.

Patches overlap by `overlap` pixels and the last one on each axis is pulled
back to end at the image edge, so every patch lies fully inside the image and
no padding artefacts enter the prediction.  Overlaps are blended with a linear
ramp so the seams of a model that sees less context near a patch border fade
out; at the image edge the ramp is flat, since no neighbour can take over.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

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


def fit_patch_size(requested: int, width: int, height: int, multiple: int, overlap: Optional[int] = None) -> int:
    """The patch size to use: the requested one, shrunk to the image for small rasters.

    A model needs sides that are a multiple of `multiple` (32 for a 5-level U-Net),
    so a raster smaller than that cannot be masked at all.  Given the
    `overlap`, the size is also fitted to the raster: patches flush with the
    far edge recompute what the last stride overshoots, so the requested size
    can cost far more than the raster (1024 px in patches of 512 overlapping
    by 64: 3 x 3 patches, 2.25 times the pixels; patches of 544: 2 x 2, 1.13
    times).  The size computing the fewest pixels between half and 5/4 of the
    requested one is taken (the requested one on a tie), with at least the
    requested overlap: the network is fully convolutional, and only memory
    grows with it.
    """
    side = min(width, height)
    if side < multiple:
        raise InputError(
            f"The raster is {width} x {height} px at the processing resolution, smaller than the "
            f"{multiple} px the model needs; use a finer processing resolution or a larger raster.")
    if requested > side:
        return (side // multiple) * multiple
    if overlap is None:
        return requested

    def cost(patch: int) -> int:
        ov = min(overlap, patch // 2)
        return len(patch_starts(width, patch, ov)) * len(patch_starts(height, patch, ov)) * patch * patch

    low = max(multiple, (requested // 2) // multiple * multiple)
    candidates = [p for p in range(low, min(side, requested * 5 // 4) + 1, multiple) if p >= 2 * overlap]
    return min(candidates, key=lambda p: (cost(p), p != requested), default=requested)


class RowBlender:
    """Blends patch outputs one row of patches at a time into finished image rows.

    A rolling accumulator one patch high: outputs of the patches of row `i`
    are added with their blending weights, then `finish_row(i)` hands out the
    image rows no later patch touches.  Memory grows with the width, never
    the height: whole scenes stream through it (core/masking/engine.py) and
    in-memory arrays are blended by the same code (predict_blended).
    """

    def __init__(self, channels: int, height: int, width: int, patch: int, overlap: int) -> None:
        self.height, self.width, self.patch = height, width, patch
        self.ys = patch_starts(height, patch, overlap)
        edges = (False, True)  # (top, bottom, left, right): whether a patch touches that image edge
        self.weights = {(t, b, le, r): patch_weights(patch, overlap, t, b, le, r)
                        for t in edges for b in edges for le in edges for r in edges}
        self.acc = np.zeros((channels, patch, width), np.float32)
        self.wsum = np.zeros((patch, width), np.float32)

    def add(self, y: int, x: int, output: np.ndarray) -> None:
        """Add one patch's (channels, patch, patch) output at (y, x); y is the current patch row's start."""
        p = self.patch
        w = self.weights[(y == 0, y + p == self.height, x == 0, x + p == self.width)]
        self.acc[:, :, x:x + p] += output * w
        self.wsum[:, x:x + p] += w

    def finish_row(self, i: int) -> Tuple[np.ndarray, np.ndarray, int, int]:
        """(weighted sums, weight sums, first row, row count) of the rows patch row `i` completes."""
        y, p = self.ys[i], self.patch
        rows = p if i + 1 == len(self.ys) else self.ys[i + 1] - y
        out = self.acc[:, :rows].copy(), self.wsum[:rows].copy(), y, rows
        self.acc = np.roll(self.acc, -rows, axis=1)
        self.wsum = np.roll(self.wsum, -rows, axis=0)
        self.acc[:, p - rows:] = 0
        self.wsum[p - rows:] = 0
        return out


def predict_blended(predict: Callable[[np.ndarray], np.ndarray], data: np.ndarray, patch: int, overlap: int,
                    batch: int = 4, keep: Optional[Callable[[int, int], bool]] = None) -> np.ndarray:
    """(outputs, H, W) blended outputs of `predict` over overlapping patches of a (bands, H, W) array.

    The one in-memory tiled prediction: the array API, fold scoring, the
    benchmark and the inpainter's blocks; whole scenes stream through
    core/masking/engine.py, which blends with the same RowBlender.
    `keep(y, x)`: predict only the patches it accepts (the inpainter skips
    patches without a hole); pixels no kept patch covers come out 0.
    """
    _, h, w = data.shape
    ys, xs = patch_starts(h, patch, overlap), patch_starts(w, patch, overlap)
    jobs = [[(y, x) for x in xs if keep is None or keep(y, x)] for y in ys]
    if not any(jobs):
        return np.zeros((0, h, w), np.float32)
    blender: Optional[RowBlender] = None
    out: Optional[np.ndarray] = None
    for i, row in enumerate(jobs):
        for b in range(0, len(row), batch):
            chunk = row[b:b + batch]
            pred = predict(np.stack([data[:, y:y + patch, x:x + patch] for y, x in chunk]))
            if blender is None:
                blender = RowBlender(pred.shape[1], h, w, patch, overlap)
                out = np.zeros((pred.shape[1], h, w), np.float32)
            for (y, x), p in zip(chunk, pred):
                blender.add(y, x, p)
        if blender is not None:
            assert out is not None  # made with the blender
            acc, wsum, y, rows = blender.finish_row(i)
            out[:, y:y + rows] = acc / np.maximum(wsum, 1e-12)
    assert out is not None  # some row had a patch to predict
    return out
