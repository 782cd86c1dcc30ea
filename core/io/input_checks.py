"""Checking that an input's values can be reflectance before a pixel is computed.

A model fed DN it cannot interpret still answers: a scale of 0 or NaN, a
wrong offset or a broken band gives an all-clear or all-cloud mask with
every sign of success.  So the scaling is checked for sense when it is
given, and a sample of the scene is read and checked against the physical
range of top-of-atmosphere and surface reflectance before the run starts.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np
from rasterio.windows import Window

from ..errors import InputError, option

#: Reflectance outside this range is not physical (bright cloud and snow reach about 1.6 in SWIR/visible).
PLAUSIBLE_MIN, PLAUSIBLE_MAX = -0.2, 2.0
#: The share of sampled valid pixels allowed outside it (a few saturated or broken pixels are normal).
MAX_IMPLAUSIBLE_SHARE = 0.02
SAMPLE_SIDE = 64


def check_scaling(dn_scale: Optional[float], dn_offset: float) -> None:
    """A user-given DN scale must be a positive finite number and the offset finite."""
    if dn_scale is not None and not (isinstance(dn_scale, (int, float)) and math.isfinite(dn_scale) and dn_scale > 0):
        raise InputError(f"The DN scale must be a positive number (reflectance = (value + offset) / scale), not "
                         f"{dn_scale}; use 10000 for Sentinel-2 DN, 1 for reflectance already in 0-1.")
    if not (isinstance(dn_offset, (int, float)) and math.isfinite(dn_offset)):
        raise InputError(f"The DN offset must be a finite number (for example -1000 for processing baseline "
                         f"04.00+ DN), not {dn_offset}.")


def sample_windows(width: int, height: int, side: int = SAMPLE_SIDE) -> List[Window]:
    """Up to nine small windows spread over the grid (centre, corners, edges)."""
    side_x, side_y = min(side, width), min(side, height)
    xs = sorted({0, (width - side_x) // 2, width - side_x})
    ys = sorted({0, (height - side_y) // 2, height - side_y})
    return [Window(x, y, side_x, side_y) for y in ys for x in xs]


def check_reflectance(source, name: str, bands: Sequence[str]) -> None:
    """Read a sample of a band source and refuse values that cannot be reflectance, naming the likely cause."""
    grid = source.grid
    values = []
    for window in sample_windows(grid.width, grid.height):
        data, valid = source.read(window)
        if valid.any():
            values.append(data[:, valid])
    if not values:
        return  # nothing valid in the sample: the run will report what it finds
    problem = reflectance_problem(np.concatenate(values, axis=1), bands, "the sampled pixels")
    if problem:
        raise InputError(f"{name} does not hold reflectance: {problem}.")


def reflectance_problem(v: np.ndarray, bands: Sequence[str], what: str) -> Optional[str]:
    """Why (bands, pixels) values cannot be reflectance, naming the likely cause; None when they can."""
    bad = (v < PLAUSIBLE_MIN) | (v > PLAUSIBLE_MAX) | ~np.isfinite(v)
    share = bad.any(axis=0).mean() if v.size else 0.0
    if share <= MAX_IMPLAUSIBLE_SHARE:
        return None
    worst = int(np.argmax(bad.mean(axis=1)))
    median = float(np.nanmedian(v[worst]))
    if median > PLAUSIBLE_MAX:
        cause = (f"the values look like DN that were not scaled: give the scale (e.g. {option('dn_scale', '10000')}) "
                 "or check the product's QUANTIFICATION_VALUE")
    elif median < PLAUSIBLE_MIN:
        cause = (f"the values are negative: check the DN offset ({option('dn_offset', '-1000')}) or the product's "
                 "ADD_OFFSET metadata")
    else:
        cause = "part of the data is broken or not reflectance: check the file and its scaling"
    return (f"{100 * share:.0f} % of {what} lie outside {PLAUSIBLE_MIN} to {PLAUSIBLE_MAX} (band {bands[worst]}, "
            f"median {median:.3g}); {cause}")
