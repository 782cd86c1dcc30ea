"""What the inpainting network sees: per-patch normalisation, an interpolated first guess and the hole mask.

Shared by inference (inpainter) and training (core.training.inpainting), so
that both build the network's input the same way; INPUT_VERSION names this
layout in the model card.
"""
from __future__ import annotations

import numpy as np

from .box_filter import box_mean

INPUT_VERSION = 2
#: The thin-cloud remover's input: the veiled pixels as they are (they still show the surface), then the mask.
THIN_INPUT_VERSION = 1


def patch_statistics(reflectance: np.ndarray, hole: np.ndarray):
    """Per patch and band, mean and std of the clear pixels: (n, bands, 1, 1) each.

    Normalising every patch by its own clear pixels makes the network
    independent of a scene's brightness and season: predicting 0 is a mean
    fill, and what it learns is the structure it adds to that.
    """
    keep = (~hole)[:, None].astype(np.float32)
    count = np.maximum(keep.sum(axis=(2, 3), keepdims=True), 1.0)
    mean = (reflectance * keep).sum(axis=(2, 3), keepdims=True) / count
    var = (((reflectance - mean) ** 2) * keep).sum(axis=(2, 3), keepdims=True) / count
    return mean.astype(np.float32), (np.sqrt(var) + 0.01).astype(np.float32)


def interpolate_holes(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(n, bands, h, w) values with the (n, h, w) holes filled from their clear neighbours.

    Normalised convolution at doubling radii: each hole pixel takes the mean
    of the clear pixels in the smallest box that holds some.  A smooth,
    honest first guess that the network then only has to correct.
    """
    known = (~hole)[:, None].astype(np.float64)
    zeroed = np.where(hole[:, None], 0.0, values.astype(np.float64))
    out = values.astype(np.float64).copy()
    todo = np.broadcast_to(hole[:, None], out.shape).copy()
    radius, size = 2, max(hole.shape[-2:])
    while todo.any() and radius < 4 * size:
        num, den = box_mean(zeroed, radius), box_mean(known, radius)
        ready = todo & (den > 1e-6)
        out[ready] = (num / np.maximum(den, 1e-12))[ready]
        todo &= ~ready
        radius *= 2
    if todo.any():  # a patch without any clear pixel: its band means (0 after normalisation)
        fill = (zeroed.sum(axis=(2, 3)) / np.maximum(known.sum(axis=(2, 3)), 1.0))[:, :, None, None]
        out = np.where(todo, fill, out)
    return out


def network_input(normalised: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The interpolated first guess in the hole, clear pixels as they are, and the mask as a last channel."""
    x = interpolate_holes(normalised, hole).astype(np.float32)
    return np.concatenate([x, hole[:, None].astype(np.float32)], axis=1)


def thin_input(normalised: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """Every pixel as it is, the veiled ones included, and the thin-cloud mask as a last channel."""
    return np.concatenate([normalised.astype(np.float32), thin[:, None].astype(np.float32)], axis=1)


def input_builder(kind: str):
    """The network-input function of a model kind: 'inpaint' fills holes, 'thin' removes a veil."""
    return thin_input if kind == "thin" else network_input
