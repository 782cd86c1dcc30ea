"""Filling the holes of a whole raster with the inpainting U-Net, strip by strip.

The raster is read in full-width strips with a halo of half a network patch
above and below, so every filled pixel sees the context it would see in the
whole image and memory depends on the width, never on the height (a 20 m
tile of 5490 px with 13 bands fits the default 1024 MB in strips of about
250 rows).  Patches with too few clear pixels of their own are normalised by
statistics sampled over the whole raster first (`sample_statistics`), so a
strip that is all cloud is filled like the whole image would be.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
from rasterio.windows import Window

from ..io.dn import DnCodec
from ..errors import InputError
from ..io.grid import Grid
from .inpaint_input import interpolate_holes
from ..model.card import ModelCard
from .inpainter import Statistics, fill_holes
from ..progress import Feedback
from .relight import CONTEXT, relight_shadows

#: (window) -> stored values (bands, h, w) of the raster in that window.
RawReader = Callable[[Window], np.ndarray]
#: (window) -> boolean holes (h, w) in that window.
HoleReader = Callable[[Window], np.ndarray]
#: (stored values with holes filled, holes, valid, output window) -> None.
StripSink = Callable[..., None]  # (stored values, codes or holes, valid, window[, distance])
MIN_ROWS = 64
EVIDENCE_CAP = 64  # pixels: the distance to real evidence is exact below it and 'at least' at it
SAMPLE_ROWS, SAMPLES = 64, 16


def rows_per_strip(grid: Grid, bands: int, model_bands: int, halo: int, max_memory_mb: float) -> int:
    """Strip height within the memory limit: stored values, reflectance, filled copy and the
    interpolation temporaries per band, the network's input and blend per model band."""
    bytes_per_pixel = bands * 18 + model_bands * 12 + 64
    rows = int(max_memory_mb * 2 ** 20 // (grid.width * bytes_per_pixel)) - 2 * halo
    if rows < MIN_ROWS:
        need = (MIN_ROWS + 2 * halo) * grid.width * bytes_per_pixel / 2 ** 20
        raise InputError(f"The raster is {grid.width} px wide; a strip of {MIN_ROWS} rows with its context needs "
                         f"{need:.0f} MB, more than the memory limit of {max_memory_mb:.0f} MB: raise the limit "
                         "or clip the raster.")
    return min(rows, grid.height)


def sample_statistics(read_raw: RawReader, read_hole: HoleReader, grid: Grid, codec: DnCodec,
                      index: Sequence[int]) -> Statistics:
    """Mean and std of the model bands over the clear pixels of up to 16 strips spread over the raster."""
    if grid.height <= SAMPLES * SAMPLE_ROWS:
        tops = [0]
        rows = grid.height
    else:
        tops = np.linspace(0, grid.height - SAMPLE_ROWS, SAMPLES).astype(int).tolist()
        rows = SAMPLE_ROWS
    n, s, ss = 0, np.zeros(len(index)), np.zeros(len(index))
    for top in tops:
        win = Window(0, top, grid.width, rows)
        raw = read_raw(win)
        ok = codec.valid(raw) & ~read_hole(win)
        refl = codec.decode(raw)[list(index)][:, ok].astype(np.float64)
        n += int(ok.sum())
        s += refl.sum(axis=1)
        ss += (refl * refl).sum(axis=1)
    if n < 64:
        raise InputError("Too few clear pixels in the image to reconstruct it from itself: the mask covers "
                         "(almost) all of it. Use gap-filling from other dates instead.")
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0.0)) + 0.01
    return (mean.reshape(1, -1, 1, 1).astype(np.float32), std.reshape(1, -1, 1, 1).astype(np.float32))


def evidence_distance(evidence: np.ndarray, cap: int) -> np.ndarray:
    """Pixels (uint16) from each pixel to the nearest pixel seen as it is (`evidence`), at most `cap`.

    How much of a filled pixel is guesswork: next to the clear ground it
    continues, or far inside a cloud.  Computed on a strip with `cap` rows of
    halo, so a value below the cap is exact and the cap means "at least".
    """
    if evidence.all():
        return np.zeros(evidence.shape, np.uint16)
    if not evidence.any():
        return np.full(evidence.shape, cap, np.uint16)
    from scipy.ndimage import distance_transform_edt  # deferred: only a reconstruction's source output needs it
    return np.minimum(np.rint(distance_transform_edt(~evidence)), cap).astype(np.uint16)


@dataclass(frozen=True)
class ThinPass:
    """Thin-cloud pixels to correct instead of filling: `correct(reflectance, thin)` gives the strip with the
    veil taken off its `thin` pixels (core.reconstruction.thin_cloud, or a trained remover), which needs
    `halo` rows of context."""

    read: HoleReader
    correct: Callable[[np.ndarray, np.ndarray], np.ndarray]
    halo: int


THIN_CORRECTED = 3  # the code of a corrected thin-cloud pixel (0 kept, 1 filled, 2 relit)


def fill_in_strips(read_raw: RawReader, read_hole: HoleReader, sink: StripSink, grid: Grid, codec: DnCodec,
                   bands: Sequence[str], card: ModelCard, session, max_memory_mb: float = 1024.0,
                   feedback: Feedback | None = None, read_shadow: Optional[HoleReader] = None,
                   with_distance: bool = False, thin: Optional[ThinPass] = None) -> int:
    """Fill the holes of every strip and hand each strip's stored values to `sink`; return the filled count.

    Pixels outside the holes, and holes on no-data pixels, keep their stored values.
    `read_shadow`: shadow pixels to relight (core.reconstruction.relight) instead of filling;
    `thin`: thin-cloud pixels to correct (the veil removed) after the holes are filled and
    the shadows relit, so the remover sees a scene without thick cloud around them;
    with either, `sink` gets a code per pixel (0 kept, 1 filled, 2 relit, 3 thin corrected) as its holes.
    `session` None fills by normalised-convolution interpolation alone (no network).
    `with_distance`: `sink` also gets, as a fifth argument, each strip's distance from every
    pixel to the nearest pixel seen as it is, in pixels, capped at EVIDENCE_CAP (evidence_distance).
    """
    feedback = feedback or Feedback()
    index = [list(bands).index(b) for b in card.bands]
    # the network's fallback statistics: one read of the scene, not needed by interpolation alone
    stats = sample_statistics(read_raw, read_hole, grid, codec, index) if session is not None else None
    halo = max(card.patch_size // 2, CONTEXT if read_shadow is not None else 0,
               EVIDENCE_CAP if with_distance else 0, thin.halo if thin is not None else 0)
    rows = rows_per_strip(grid, len(bands), len(index), halo, max_memory_mb)
    strips = list(grid.strips_with_halo(rows, halo))
    filled_count = 0
    for k, (read_win, out_win, off) in enumerate(strips):
        feedback.check()
        raw = read_raw(read_win)
        valid = codec.valid(raw)
        hole = read_hole(read_win) & valid
        sel = slice(off, off + int(out_win.height))
        dn = raw[:, sel].copy()
        hole_out = hole[sel]
        veiled = thin.read(read_win) & valid & ~hole if thin is not None else np.zeros_like(hole)
        refl = codec.decode(raw)  # the strip as it will be written: filled, relit, corrected in turn
        if hole_out.any() or (veiled[sel].any() and hole.any()):
            if session is None:  # interpolation only: every band from its clear neighbours, no network
                refl = interpolate_holes(refl[None], hole[None])[0]
            else:
                refl = fill_holes(refl, bands, hole, card, session, stats, feedback)
            dn[:, hole_out] = codec.encode(refl[:, sel][:, hole_out])
            filled_count += int(hole_out.sum())
        codes = hole_out.astype(np.uint8)
        if read_shadow is not None:
            shadow = read_shadow(read_win) & valid & ~hole & ~veiled
            if shadow[sel].any():
                relit = relight_shadows(codec.decode(raw), shadow, valid & ~hole & ~shadow & ~veiled)
                refl = np.where(shadow[None], relit, refl)
                shadow_out = shadow[sel]
                dn[:, shadow_out] = codec.encode(relit[:, sel][:, shadow_out])
                codes[shadow_out] = 2
        if thin is not None and veiled[sel].any():
            corrected = thin.correct(refl, veiled)
            veiled_out = veiled[sel]
            dn[:, veiled_out] = codec.encode(corrected[:, sel][:, veiled_out])
            codes[veiled_out] = THIN_CORRECTED
        extra: Tuple[np.ndarray, ...] = ()
        if with_distance:  # seen pixels, relit shadows and corrected thin cloud included: only filled ones are guessed
            extra = (evidence_distance(valid & ~hole, EVIDENCE_CAP)[sel],)
        sink(dn, codes if read_shadow is not None or thin is not None else hole_out, valid[sel], out_win, *extra)
        feedback.set_progress(100.0 * (k + 1) / len(strips))
    return filled_count


__all__ = ["fill_in_strips", "sample_statistics", "rows_per_strip", "ThinPass", "THIN_CORRECTED"]
