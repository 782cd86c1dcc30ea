"""Thin cloud taken off a pixel's own values: the veil model, inverted with the help of the clear surroundings.

Under thin cloud the ground is still seen, attenuated and brightened by a
veil: I = S (1 - a) + a c, with c the veil's reflectance spectrum (bluish:
thin cloud and haze scatter more at short wavelengths) and a its opacity.
Filling such a pixel from its surroundings throws away what it shows.  Here
a is estimated per pixel by least squares over the bands, taking the
normalised-convolution interpolation of the clear neighbours as the rough
surface S (I - S = a (c - S)); a is then smoothed over a few pixels (a veil
is smooth where the ground is not) and the model inverted on the pixel's own
values: S = (I - a c) / (1 - a).  The texture under the veil is the pixel's,
only the veil is modelled.

The veil spectrum is the one statement of it in CloudFree: the synthetic
clouds the masks train on (core.training.synthetic) use the same one.
Real veils vary (haze, cirrus); the brightness factor takes the middle of
the range the synthetic veils are drawn from.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .box_filter import box_mean
from .inpaint_input import interpolate_holes

#: Reflectance of an opaque thin-cloud veil per band, from B02 to B12.
VEIL_BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
VEIL_SPECTRUM = np.array([0.42, 0.38, 0.36, 0.35, 0.34, 0.34, 0.33, 0.33, 0.24, 0.16], np.float32)
VEIL_BRIGHTNESS = 1.05     # the middle of the synthetic veils' 0.8-1.3
SMOOTH_PX = 4              # the opacity is averaged over (2 x 4 + 1) px boxes within the thin cloud
MAX_OPACITY = 0.6          # above it the mask would call the cloud thick
MIN_BANDS = 3


def remove_veil(refl: np.ndarray, bands: Sequence[str], thin: np.ndarray, *, brightness: float = VEIL_BRIGHTNESS,
                smooth_px: int = SMOOTH_PX) -> np.ndarray:
    """(bands, H, W) reflectance with the veil taken off the `thin` pixels; other pixels and bands without a
    veil reflectance (B01, B09, B10) unchanged.  Needs some clear pixels around the thin cloud."""
    out = np.array(refl, dtype=np.float64, copy=True)
    index = [i for i, b in enumerate(bands) if b in VEIL_BANDS]
    if len(index) < MIN_BANDS or not thin.any():
        return out
    c = (brightness * VEIL_SPECTRUM[[VEIL_BANDS.index(bands[i]) for i in index]])[:, None, None].astype(np.float64)
    seen = out[index]
    surface = interpolate_holes(seen[None], thin[None])[0]
    d = c - surface
    opacity = ((seen - surface) * d).sum(axis=0) / np.maximum((d * d).sum(axis=0), 1e-9)
    opacity = np.where(thin, np.clip(opacity, 0.0, MAX_OPACITY), 0.0)
    if smooth_px > 0:
        weight = box_mean(thin[None, None].astype(np.float64), smooth_px)[0, 0]
        opacity = np.where(thin, box_mean(opacity[None, None], smooth_px)[0, 0] / np.maximum(weight, 1e-9), 0.0)
    corrected = (seen - opacity * c) / (1.0 - opacity)
    out[index] = np.where(thin[None], corrected, seen)
    return out


__all__ = ["remove_veil", "VEIL_BANDS", "VEIL_SPECTRUM"]
