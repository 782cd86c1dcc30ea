"""Multi-date gap-filling of one target date from the other dates of a stack.

Another date's pixel is not the target's pixel: crops grow, fields are cut.
So each other date is first mapped onto the target by a local linear
correction (gain and offset per band, fitted in a moving window on the pixels
clear on both dates, as a guided filter does), and the corrected dates are
then averaged with weights falling with the square of their time distance.
The baselines the benchmark compares it with (nearest clear date, linear
interpolation in time, mean fill) live here too, so that all are fed the same
arrays.  Arrays: stack (dates, bands, H, W) reflectance, clear (dates, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .box_filter import box_mean

ORIGINAL, FROM_OTHER_DATES, FALLBACK, NO_DATA = 0, 1, 2, 255
SOURCE_NAMES = {ORIGINAL: "original (clear)", FROM_OTHER_DATES: "filled from other dates",
                FALLBACK: "no clear date: single-image fill", NO_DATA: "no data"}
MIN_SUPPORT = 0.2   # share of a window that must be clear on both dates for a local fit


def _check(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int) -> np.ndarray:
    if stack.ndim != 4 or clear.shape != (stack.shape[0],) + stack.shape[2:]:
        raise InputError(f"Stack {stack.shape} and clear masks {clear.shape} do not match: "
                         "expected (dates, bands, H, W) and (dates, H, W).")
    if len(days) != stack.shape[0] or len(set(days)) != len(days):
        raise InputError("Give one distinct date per layer of the stack.")
    if not 0 <= target < stack.shape[0]:
        raise InputError(f"Target date index {target} is outside the {stack.shape[0]} dates.")
    return np.asarray(days, np.float64)


@dataclass(frozen=True)
class SceneFits:
    """Fits over a whole scene, for filling it piece by piece (strips) as if whole.

    What gapfill takes over the whole array, the scene-wide fit of each date
    onto the target (where a window has too little clear support) and the
    target's mean (the fallback), cannot be taken over a piece; the caller
    sums them over the scene and passes them in.  Arrays are (dates, bands)
    except `usable` (dates,: at least 2 pixels clear on both) and
    `target_mean` (bands,).
    """

    usable: np.ndarray
    gains: np.ndarray
    source_means: np.ndarray
    target_means: np.ndarray
    target_mean: np.ndarray

    def band(self, b: int) -> "SceneFits":
        """The fits of band b alone, for a stack of that one band."""
        return SceneFits(self.usable, self.gains[:, b:b + 1], self.source_means[:, b:b + 1],
                         self.target_means[:, b:b + 1], self.target_mean[b:b + 1])


def local_correction(source: np.ndarray, target: np.ndarray, common: np.ndarray, radius: int,
                     overall_fit: Optional[Tuple[float, float, float]] = None) -> np.ndarray:
    """`source` (H, W) mapped onto `target` by a windowed linear fit on the `common` pixels.

    `overall_fit` (gain, source mean, target mean) replaces the fit over the
    array where a window lacks support (see SceneFits).
    """
    w = common.astype(np.float64)
    n = box_mean(w, radius)
    s, t = np.where(common, source, 0.0), np.where(common, target, 0.0)
    safe_n = np.maximum(n, 1e-9)
    ms, mt = box_mean(s, radius) / safe_n, box_mean(t, radius) / safe_n
    vs = box_mean(s * s, radius) / safe_n - ms * ms
    cov = box_mean(s * t, radius) / safe_n - ms * mt
    gain = np.clip(cov / (vs + 1e-4), 0.0, 3.0)   # regularised: flat windows fall back to an offset
    local = mt + gain * (source - ms)
    if overall_fit is not None:
        gain_all, ms_all, mt_all = overall_fit
        overall = mt_all + gain_all * (source - ms_all)
    elif common.sum() >= 2:                           # scene-wide fit where a window has too little support
        g = np.cov(source[common], target[common], bias=True)
        gain_all = float(np.clip(g[0, 1] / (g[0, 0] + 1e-4), 0.0, 3.0))
        overall = target[common].mean() + gain_all * (source - source[common].mean())
    else:
        overall = source
    return np.where(n >= MIN_SUPPORT, local, overall)


def mean_fill(stack: np.ndarray, clear: np.ndarray, target: int) -> np.ndarray:
    """Each masked pixel gets the band mean of the target's clear pixels."""
    image, ok = stack[target].astype(np.float64), clear[target]
    if not ok.any():
        raise InputError("The target date has no clear pixel; mean fill needs some.")
    means = image[:, ok].mean(axis=1)
    return np.where(ok[None], image, means[:, None, None])


def nearest_date(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int) -> np.ndarray:
    """Each masked pixel from the closest date on which it is clear (mean fill where none is)."""
    d = _check(stack, clear, days, target)
    out = mean_fill(stack, clear, target)
    best = np.full(clear.shape[1:], np.inf)
    for i in np.argsort(np.abs(d - d[target])):
        take = clear[i] & ~clear[target] & (abs(d[i] - d[target]) < best) & (i != target)
        out[:, take] = stack[i][:, take]
        best[take] = abs(d[i] - d[target])
    return out


def linear_in_time(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int) -> np.ndarray:
    """Linear interpolation between the nearest clear dates before and after, per pixel."""
    d = _check(stack, clear, days, target)
    out = nearest_date(stack, clear, days, target)   # one-sided pixels keep the nearest date
    h, w = clear.shape[1:]
    before_t, after_t = np.full((h, w), -np.inf), np.full((h, w), np.inf)
    before_v = np.zeros((stack.shape[1], h, w))
    after_v = np.zeros_like(before_v)
    for i in range(len(d)):
        if i == target:
            continue
        if d[i] < d[target]:
            take = clear[i] & (d[i] > before_t)
            before_t[take], before_v[:, take] = d[i], stack[i][:, take]
        else:
            take = clear[i] & (d[i] < after_t)
            after_t[take], after_v[:, take] = d[i], stack[i][:, take]
    both = np.isfinite(before_t) & np.isfinite(after_t) & ~clear[target]
    frac = np.where(both, (d[target] - before_t) / np.where(both, after_t - before_t, 1.0), 0.0)
    out[:, both] = (before_v + frac * (after_v - before_v))[:, both]
    return out


def donors(clear: np.ndarray, target: int, scene: Optional[SceneFits] = None) -> List[int]:
    """The dates that can fill the target: clear somewhere, and fitted onto it (clear on at least two common
    pixels, or usable in the scene-wide fits)."""
    out = []
    for i in range(clear.shape[0]):
        if i == target or not clear[i].any():
            continue
        if (np.count_nonzero(clear[i] & clear[target]) < 2) if scene is None else not scene.usable[i]:
            continue
        out.append(i)
    return out


def contributing_dates(clear: np.ndarray, target: int, scene: Optional[SceneFits] = None) -> np.ndarray:
    """(H, W) uint8: how many dates filled each masked pixel of the target (0 where it is clear or none could):
    the evidence behind a gap-filled value."""
    count = np.zeros(clear.shape[1:], np.uint8)
    for i in donors(clear, target, scene):
        count += clear[i] & ~clear[target]
    return count


def corrected_donors(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int, radius: int = 7,
                     scene: Optional[SceneFits] = None) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """Each donor date mapped onto the target: (date index, its weight (H, W), its corrected bands (bands, H, W)).

    The weight is 1 / (1 + day gap)^2 where the donor is clear and the target
    is not, 0 elsewhere.  gapfill averages the donors with it; the learned
    multi-date fill (core.reconstruction.multidate_input) also reads them one
    by one.
    """
    d = _check(stack, clear, days, target)
    image, ok = stack[target], clear[target]
    for i in donors(clear, target, scene):
        common = clear[i] & ok
        w_i = np.where(clear[i] & ~ok, 1.0 / (1.0 + abs(d[i] - d[target])) ** 2, 0.0)
        corrected = np.empty(image.shape, np.float64)
        for b in range(image.shape[0]):
            fit = None if scene is None else (scene.gains[i, b], scene.source_means[i, b], scene.target_means[i, b])
            corrected[b] = local_correction(stack[i, b].astype(np.float64), image[b].astype(np.float64),
                                            common, radius, fit)
        yield i, w_i, corrected


def gapfill(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int,
            radius: int = 7, scene: Optional[SceneFits] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The target date with its masked pixels filled; and a per-pixel source code (SOURCE_NAMES).

    Clear target pixels are returned unchanged, bit for bit.  With `scene`,
    the stack is a piece of a larger scene whose scene-wide fits are given.
    """
    _check(stack, clear, days, target)
    image, ok = stack[target], clear[target]
    if scene is None and not ok.any():
        raise InputError("The target date has no clear pixel to fit the seasonal correction on; "
                         "choose another target date.")
    total = np.zeros(image.shape, np.float64)
    weight = np.zeros(image.shape[1:], np.float64)
    for _, w_i, corrected in corrected_donors(stack, clear, days, target, radius, scene):
        total += w_i * corrected
        weight += w_i
    if scene is None:
        filled = mean_fill(stack, clear, target)
    else:
        filled = np.where(ok[None], image, scene.target_mean[:, None, None]).astype(np.float64)
    have = weight > 0
    filled[:, have] = total[:, have] / weight[have]
    source = np.where(ok, ORIGINAL, np.where(have, FROM_OTHER_DATES, FALLBACK)).astype(np.uint8)
    out = np.where(ok[None], image, filled.astype(image.dtype))
    return out, source
