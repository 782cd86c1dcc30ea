"""Cloud shadows relit, not invented.

Under a cloud shadow the ground is still seen, only lit by the sky's diffuse
light instead of the sun: its reflectance is a per-band fraction of what it
would be in sunlight (more of the blue survives than of the red or NIR).  So
the shadow pixels keep their own values and are scaled back, band by band,
by that fraction measured at the shadow's own edge: each shadow (a connected
patch of shadow pixels) gets the ratio of the mean reflectance just outside
its edge to the mean just inside it.  Ground on the two sides of an edge a
few pixels apart is mostly the same ground, which is why the edge measures
the light and not the land cover (a window mean over the surroundings mixes
in whatever else lies around, and missed by 20 % in the NIR on a real
scene).  EDGE_GAP pixels at the edge itself are skipped: a real shadow's
border is half-lit (penumbra) and a mask's border is uncertain.  A shadow
whose edge has too few pixels on either side takes the ratio of the whole
strip's shadows.  Fields, lakes and forests keep their own texture; only
their brightness is restored.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

EDGE_GAP = 1         # px skipped on each side of a shadow's edge (penumbra, mask uncertainty)
EDGE_WIDTH = 3       # px of the band measured on each side beyond the gap
MIN_PIXELS = 12      # fewer edge pixels than this on a side: use the strip's ratio for that shadow
MAX_RATIO = 12.0     # a "shadow" darker than 1/12 of its edge is not lit by the sky: leave it at that
CONTEXT = EDGE_GAP + EDGE_WIDTH + 1  # rows of context a strip needs around a shadow


def relight_shadows(reflectance: np.ndarray, shadow: np.ndarray, sunlit: np.ndarray) -> np.ndarray:
    """(bands, H, W) reflectance with each shadow patch scaled by its edge's sunlit / shadowed ratio."""
    out = reflectance.astype(np.float32, copy=True)
    if not shadow.any():
        return out
    labels, n = ndimage.label(shadow)
    near, far = EDGE_GAP, EDGE_GAP + EDGE_WIDTH
    lit_near = ndimage.binary_dilation(~shadow, iterations=near) if near else ~shadow
    inner = shadow & ndimage.binary_dilation(~shadow, iterations=far) & ~lit_near
    shade_near = ndimage.binary_dilation(shadow, iterations=near) if near else shadow
    outer = sunlit & ndimage.binary_dilation(shadow, iterations=far) & ~shade_near
    outer_labels = ndimage.grey_dilation(labels, size=2 * far + 1) * outer  # each outer pixel: a shadow next to it
    n_in = np.bincount(labels[inner], minlength=n + 1)
    n_out = np.bincount(outer_labels[outer], minlength=n + 1)
    measured = (n_in >= MIN_PIXELS) & (n_out >= MIN_PIXELS)
    for b in range(reflectance.shape[0]):
        band = reflectance[b].astype(np.float64)
        s_in = np.bincount(labels[inner], weights=band[inner], minlength=n + 1)
        s_out = np.bincount(outer_labels[outer], weights=band[outer], minlength=n + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (s_out / np.maximum(n_out, 1)) / (s_in / np.maximum(n_in, 1))
        overall = _ratio(s_out[measured].sum(), n_out[measured].sum(), s_in[measured].sum(), n_in[measured].sum())
        if not measured.any():  # no shadow has a measurable edge: compare the strip's sunlit and shadow means
            overall = _ratio(band[sunlit].sum(), sunlit.sum(), band[shadow].sum(), shadow.sum())
        ratio = np.where(measured & np.isfinite(ratio), np.clip(ratio, 1.0, MAX_RATIO), overall)
        out[b][shadow] = (band[shadow] * ratio[labels[shadow]]).astype(np.float32)
    return out


def _ratio(sum_out: float, n_out: float, sum_in: float, n_in: float) -> float:
    """Mean outside over mean inside, clipped; 1 (leave as is) when it cannot be measured."""
    if n_out == 0 or n_in == 0 or sum_in <= 0:
        return 1.0
    return float(np.clip((sum_out / n_out) / (sum_in / n_in), 1.0, MAX_RATIO))
