"""Physically plausible synthetic clouds and shadows composited on clear real scenes.

Human cloud labels are scarce, but clear real imagery is not: compositing
clouds whose optical thickness is spatially coherent (fractal, as real
convective fields are), whose brightness follows the band-dependent
reflectance of water and ice clouds, and whose shadows are cast along the
sun direction from a cloud height gives exact per-pixel labels for thick
cloud, thin cloud and shadow over real surfaces.

The band order of every array here is `TRAIN_BANDS`; reflectance is DN/10000.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..reconstruction.thin_cloud import VEIL_BANDS, VEIL_SPECTRUM

#: The bands CloudFree models are trained from (10 m and 20 m bands, common to L1C and L2A).
TRAIN_BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]

# Top-of-cloud reflectance of a thick water cloud: flat and bright from blue to
# NIR, lower in SWIR where water and ice absorb (more at 2.2 um than 1.6 um).
_THICK_SPECTRUM = np.array([0.62, 0.60, 0.60, 0.60, 0.61, 0.62, 0.62, 0.62, 0.42, 0.26], np.float32)
# Thin cloud and haze scatter more at short wavelengths: the veil the remover inverts (one statement of it).
_THIN_SPECTRUM = VEIL_SPECTRUM
assert VEIL_BANDS == TRAIN_BANDS
# Fraction of the clear-sky irradiance left in a cloud shadow (diffuse sky light,
# which is bluer than the direct beam).
_SHADOW_DIFFUSE = np.array([0.42, 0.33, 0.28, 0.26, 0.24, 0.22, 0.21, 0.21, 0.17, 0.16], np.float32)

THICK_ALPHA = 0.55   # opacity above which the surface is no longer seen: thick cloud
THIN_ALPHA = 0.10    # opacity above which a pixel is thin cloud
FAINT_ALPHA = 0.04   # between FAINT and THIN: ambiguous, not used for training
SHADOW_DEPTH = 0.30  # a pixel darkened by at least this fraction of the direct beam is shadow
IGNORE = 255


def fractal_field(shape: Tuple[int, int], rng: np.random.Generator, beta: float = 3.2) -> np.ndarray:
    """Gaussian random field with a 1/f^beta power spectrum, scaled to [0, 1]."""
    h, w = shape
    fy = np.fft.fftfreq(h, d=1.0)[:, None]  # d=1.0 is numpy's default; the stubs lack it
    fx = np.fft.rfftfreq(w, d=1.0)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amplitude = f ** (-beta / 2)
    amplitude[0, 0] = 0.0
    phase = rng.standard_normal((h, fx.shape[1])) + 1j * rng.standard_normal((h, fx.shape[1]))
    field = np.fft.irfft2(amplitude * phase, s=(h, w)).astype(np.float32)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def opacity_from_field(field: np.ndarray, cover: float, max_alpha: float, softness: float) -> np.ndarray:
    """Cloud opacity: the field above its (1 - cover) quantile, ramped to max_alpha."""
    threshold = float(np.quantile(field, 1.0 - cover))
    tau = np.clip((field - threshold) / max(softness, 1e-3), 0.0, None)
    return (max_alpha * (1.0 - np.exp(-tau))).astype(np.float32)


def shift_image(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a 2-D array by (dy, dx) pixels, filling with zeros."""
    out = np.zeros_like(a)
    h, w = a.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if ys.stop > ys.start and xs.stop > xs.start:
        out[yd, xd] = a[ys, xs]
    return out


def thin_opacity(shape: Tuple[int, int], cover: float, rng: np.random.Generator) -> np.ndarray:
    """A thin-cloud opacity field: smoother than thick cloud (steeper spectrum), at most 0.15-0.5 opaque."""
    field = fractal_field(shape, rng, beta=float(rng.uniform(3.0, 4.0)))
    return opacity_from_field(field, cover, max_alpha=float(rng.uniform(0.15, 0.5)),
                              softness=float(rng.uniform(0.1, 0.4)))


def thin_veil(image: np.ndarray, opacity: np.ndarray, rng: np.random.Generator,
              spectrum_jitter: Optional[np.ndarray] = None) -> np.ndarray:
    """`image` (TRAIN_BANDS, H, W) seen through a thin-cloud veil: I = S (1 - a) + c a.

    c is the bluish thin-cloud reflectance (_THIN_SPECTRUM), scaled by a
    random brightness and a per-band jitter; a the opacity.  The surface is
    still seen, attenuated, which is what a thin-cloud remover undoes.
    """
    jitter = spectrum_jitter if spectrum_jitter is not None else \
        rng.uniform(0.93, 1.07, size=len(TRAIN_BANDS)).astype(np.float32)
    veil = (_THIN_SPECTRUM * rng.uniform(0.8, 1.3) * jitter)[:, None, None]
    return image * (1.0 - opacity[None]) + veil * opacity[None]


@dataclass
class CloudScene:
    """The parameters one synthetic cloud field was drawn with (for the record)."""

    cover: float
    thin_cover: float
    cloud_height_m: float
    sun_zenith_deg: float
    sun_azimuth_deg: float
    brightness: float


def draw_scene(rng: np.random.Generator) -> CloudScene:
    return CloudScene(
        cover=float(rng.choice([0.0, rng.uniform(0.03, 0.25), rng.uniform(0.25, 0.7)], p=[0.15, 0.5, 0.35])),
        thin_cover=float(rng.choice([0.0, rng.uniform(0.05, 0.5)], p=[0.5, 0.5])),
        cloud_height_m=float(rng.uniform(400.0, 4000.0)),
        sun_zenith_deg=float(rng.uniform(20.0, 65.0)),
        sun_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        brightness=float(rng.uniform(0.7, 1.35)))


def composite_clouds(surface: np.ndarray, pixel_m: float, rng: np.random.Generator,
                     base_label: Optional[np.ndarray] = None,
                     scene: Optional[CloudScene] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Put synthetic thick cloud, thin cloud and cast shadows on a clear scene.

    `surface` is (10, H, W) reflectance in TRAIN_BANDS order; `base_label`
    (H, W) holds labels the real scene already has (real clouds found by a
    teacher, or IGNORE), which synthetic labels overwrite only where they are
    more certain.  Returns the cloudy image and its labels (0-3, IGNORE).
    """
    scene = scene or draw_scene(rng)
    _, h, w = surface.shape
    thick = np.zeros((h, w), np.float32)
    if scene.cover > 0:
        field = fractal_field((h, w), rng, beta=float(rng.uniform(2.6, 3.6)))
        thick = opacity_from_field(field, scene.cover, max_alpha=float(rng.uniform(0.9, 1.0)),
                                   softness=float(rng.uniform(0.02, 0.12)))
    thin = thin_opacity((h, w), scene.thin_cover, rng) if scene.thin_cover > 0 else np.zeros((h, w), np.float32)

    # Shadow: the cloud's opacity moved away from the sun by height * tan(zenith).
    offset_px = scene.cloud_height_m * np.tan(np.radians(scene.sun_zenith_deg)) / pixel_m
    az = np.radians(scene.sun_azimuth_deg)  # clockwise from north (up)
    dy, dx = int(round(offset_px * np.cos(az))), int(round(-offset_px * np.sin(az)))
    shade = np.clip(shift_image(thick, dy, dx) + 0.6 * shift_image(thin, dy, dx), 0.0, 1.0)

    diffuse = np.clip(_SHADOW_DIFFUSE * rng.uniform(0.7, 1.3), 0.05, 0.8)[:, None, None]
    lit = 1.0 - shade[None] * (1.0 - diffuse)
    image = surface * lit

    spectrum_jitter = rng.uniform(0.93, 1.07, size=len(TRAIN_BANDS)).astype(np.float32)
    thick_refl = (_THICK_SPECTRUM * scene.brightness * spectrum_jitter)[:, None, None]
    texture = 1.0 + 0.15 * (fractal_field((h, w), rng, beta=2.0)[None] - 0.5)
    image = image * (1.0 - thick[None]) + thick_refl * texture * thick[None]
    image = thin_veil(image, thin, rng, spectrum_jitter)

    alpha = 1.0 - (1.0 - thick) * (1.0 - thin)
    label = np.zeros((h, w), np.uint8) if base_label is None else base_label.copy()
    label[(alpha >= FAINT_ALPHA) & (label == 0)] = IGNORE
    shadow = (shade * (1.0 - float(diffuse.mean())) >= SHADOW_DEPTH) & (alpha < FAINT_ALPHA)
    faint_shadow = (shade >= 0.1) & ~shadow & (alpha < FAINT_ALPHA)
    label[faint_shadow & (label == 0)] = IGNORE
    label[shadow] = 3
    label[alpha >= THIN_ALPHA] = 2
    label[thick >= THICK_ALPHA] = 1
    return image.astype(np.float32), label
