"""The bundled inpainting U-Net at array level: its card, its session, and filling holes of a block.

Kept apart from the file-level fronts (core.reconstruction.reconstruct for one image,
core.reconstruction.gapfill_rasters for its no-clear-date fallback) so that both fill holes
the same way.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .inpaint_input import INPUT_VERSION, THIN_INPUT_VERSION, input_builder, interpolate_holes, patch_statistics
from ..model.card import ModelCard, load_versioned_card
from ..progress import Feedback
from ..model.runtime import OnnxSession
from ..model.tiling import fit_patch_size, predict_blended

DEFAULT_RECONSTRUCTION_MODEL = "cloudfree_inpaint_s2"
MIN_CLEAR_SHARE = 0.1   # a patch with fewer clear pixels is normalised by the fallback statistics
Statistics = Tuple[np.ndarray, np.ndarray]   # per-band mean and std, each (1, bands, 1, 1)


def load_inpaint_card(model: Optional[str] = None) -> ModelCard:
    """A reconstruction model by bundled name or .onnx path (core.model.card.load_card, kind "inpaint"),
    refused when it was made for another version of the network input this module builds."""
    return load_versioned_card(model or DEFAULT_RECONSTRUCTION_MODEL, "inpaint", INPUT_VERSION,
                               "models/train_reconstruction.py")


def load_thin_card(model: str) -> ModelCard:
    """A trained thin-cloud remover by .onnx path (core.model.card.load_card, kind "thin"); none is bundled
    (the one trained did not beat leaving the veil on held-out places; models/README.md)."""
    return load_versioned_card(model, "thin", THIN_INPUT_VERSION, "models/train_reconstruction.py --task thin")


def open_inpaint_session(card: ModelCard, device: str = "auto") -> OnnxSession:
    """One session, opened once per run and shared by every block, on the providers masks use (GPU when there)."""
    return OnnxSession(card.onnx_path, device)


def block_statistics(refl: np.ndarray, hole: np.ndarray) -> Optional[Statistics]:
    """Mean and std of a block's clear pixels, or None when it has too few to trust."""
    if (~hole).sum() < 64:
        return None
    return patch_statistics(refl[None], hole[None])


def _predict(session: OnnxSession, card: ModelCard, cube: np.ndarray, hole: np.ndarray, fallback: Statistics,
             feedback: Feedback) -> np.ndarray:
    """Tiled, blended network prediction (reflectance) of the model's bands, on the patches that hold a hole.

    Each patch is normalised by its own clear pixels, as in training; a patch
    with too few clear pixels takes the `fallback` statistics (the scene's).
    The tiling and blending are the masks' (core.model.tiling.predict_blended).
    """
    _, h, w = cube.shape
    if not hole.any():
        return cube.copy()
    patch = fit_patch_size(card.patch_size, w, h, card.input_multiple)
    ov = min(card.overlap, patch // 2)

    build_input = input_builder(card.kind)

    def predict(batch: np.ndarray) -> np.ndarray:  # the hole rides along as the last channel
        out = []
        for stacked in batch:
            feedback.check()
            c, m = stacked[None, :-1], stacked[None, -1] > 0.5
            mean, std = patch_statistics(c, m) if (~m).mean() > MIN_CLEAR_SHARE else fallback
            out.append(session.run(build_input((c - mean) / std, m))[0] * std[0] + mean[0])
        return np.stack(out)

    stacked = np.concatenate([cube, hole[None].astype(np.float32)])
    return predict_blended(predict, stacked, patch, ov, batch=1,
                           keep=lambda y, x: bool(hole[y:y + patch, x:x + patch].any()))


def fill_holes(refl: np.ndarray, bands: Sequence[str], hole: np.ndarray, card: ModelCard,
               session: Optional[OnnxSession] = None,
               fallback: Optional[Statistics] = None, feedback: Optional[Feedback] = None) -> np.ndarray:
    """(bands, H, W) reflectance with the `hole` pixels filled: the network for the bands it
    knows, normalised-convolution interpolation for the others; other pixels unchanged.

    With a thin-cloud remover (card kind "thin") the `hole` pixels are the
    veiled ones, corrected rather than filled; the bands it does not know
    keep their observed values there (they are seen, not missing).

    `fallback`: statistics for patches with too few clear pixels (default:
    those of this block, which must then have some clear pixels).
    """
    feedback = feedback or Feedback()
    missing = [b for b in card.bands if b not in bands]
    if missing:
        raise InputError(f"The reconstruction model needs {', '.join(card.bands)}; the input has no "
                         f"{', '.join(missing)}.")
    index = [list(bands).index(b) for b in card.bands]
    fallback = fallback or block_statistics(refl[index], hole)
    if fallback is None:
        raise InputError("Too few clear pixels around the holes to reconstruct them from the image itself.")
    session = session or open_inpaint_session(card)
    pred = _predict(session, card, refl[index], hole, fallback, feedback)
    filled = refl.copy()
    for k, band in enumerate(index):
        filled[band][hole] = pred[k][hole]
    others = [i for i in range(refl.shape[0]) if i not in index]
    if others and card.kind != "thin":  # one interpolation for all of them: the clear-pixel weights are the same for every band
        guess = interpolate_holes(refl[others][None], hole[None])[0]
        filled[others] = np.where(hole, guess, refl[others])
    return filled


__all__ = ["load_inpaint_card", "load_thin_card", "open_inpaint_session", "block_statistics",
           "fill_holes", "DEFAULT_RECONSTRUCTION_MODEL"]
