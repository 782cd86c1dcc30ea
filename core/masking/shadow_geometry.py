"""Cloud-shadow geometry: a shadow must lie where some cloud casts it.

A network sees a dark lake or a dark spruce forest and a cloud shadow
through the same few bands, and calls both shadow.  Geometry tells them
apart: a cloud at height h casts its shadow h * tan(sun zenith) away from
itself, opposite the sun's azimuth.  Sweeping every cloud pixel along that
direction over Fmask's range of cloud heights (200 m to 12 km) gives the
zone where shadow can be; shadow the model found outside it is dark ground
and becomes clear.  Pixels whose casting cloud could lie outside the image
or under no-data keep their shadow, since the cloud that casts it is not
seen.

Where the sun angles are unknown (a raster layer without metadata) the
direction is estimated from the scene itself: the displacement at which the
cloud mask best overlaps the model's shadow (an FFT cross-correlation).
When clouds and shadows show no such displacement the classes are left as
the model gave them; nothing is guessed.

The zone is computed on a coarse grid (about 60 m) so that a whole tile
costs a few array operations per doubling of the sweep, not one per pixel
of distance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..io.safe import SunAngles
from .morphology import dilate

CLOUD_HEIGHT_M = (200.0, 12000.0)   # Fmask's search range of cloud base heights
WORK_PIXEL_M = 60.0                  # the coarse grid the zone is computed on
MAX_ESTIMATE_SIDE = 768              # the direction estimate runs on at most this many coarse pixels a side
MIN_SUPPORT = 0.15                   # the estimate's peak overlap as a share of the shadow pixels
MIN_SHADOW_CELLS = 100               # fewer coarse shadow pixels than this give no reliable direction
UNKNOWN_ZENITH_REACH = 3.0           # without a zenith: reach = this many times the estimated offset
SHADOW, NODATA = 3, 255


@dataclass(frozen=True)
class GeometryInput:
    """What the check needs to know of a scene: its pixel size in metres and, when known, the sun."""

    pixel_m: float
    sun: Optional[SunAngles] = None


@dataclass
class GeometryReport:
    direction: str                   # "sun angles", "estimated from the scene", or why the step was skipped
    azimuth_deg: Optional[float]     # the shadow's direction of travel is azimuth + 180
    reach_m: Optional[float]
    removed: int = 0                 # shadow pixels outside the zone, made clear

    def describe(self) -> str:
        if self.azimuth_deg is None:
            return f"shadow geometry skipped: {self.direction}"
        assert self.reach_m is not None  # coarse_zone sets azimuth and reach together
        return (f"shadow geometry ({self.direction}: sun azimuth {self.azimuth_deg:.0f} deg, shadows up to "
                f"{self.reach_m / 1000:.1f} km from their cloud): {self.removed} shadow pixels with no cloud "
                f"to cast them made clear")


def shadow_step(azimuth_deg: float) -> Tuple[float, float]:
    """(rows, cols) per unit of distance that a shadow lies from its cloud, north up."""
    az = math.radians(azimuth_deg)
    return math.cos(az), -math.sin(az)


def shift(mask: np.ndarray, dy: int, dx: int, fill: bool) -> np.ndarray:
    """`mask` moved by (dy, dx); the uncovered edge gets `fill`."""
    h, w = mask.shape
    out = np.full_like(mask, fill)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = mask[max(0, -dy):h + min(0, -dy),
                                                                     max(0, -dx):w + min(0, -dx)]
    return out


def cast_zone(source: np.ndarray, step: Tuple[float, float], near_px: float, far_px: float) -> np.ndarray:
    """Union of `source` moved by t * step for t in [near_px, far_px]; what enters from outside counts.

    Doubling: after each OR the swept length doubles, so the cost grows with
    log(far - near), not with the distance.  Rounding errors stay below a
    pixel per doubling; the caller dilates the zone by one pixel.
    """
    sy, sx = step
    zone = shift(source, int(round(near_px * sy)), int(round(near_px * sx)), True)
    length = int(math.ceil(far_px - near_px))
    covered = 1
    while covered <= length:
        k = min(covered, length + 1 - covered)
        zone = zone | shift(zone, int(round(k * sy)), int(round(k * sx)), True)
        covered += k
    return zone


def block_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """Coarse mask: a coarse pixel is set when any of its factor x factor fine pixels is."""
    if factor == 1:
        return mask.copy()
    h, w = mask.shape
    ch, cw = -(-h // factor), -(-w // factor)
    padded = np.zeros((ch * factor, cw * factor), bool)
    padded[:h, :w] = mask
    return padded.reshape(ch, factor, cw, factor).any(axis=(1, 3))


def estimate_azimuth(cloud: np.ndarray, shadow: np.ndarray, pixel_m: float) -> Tuple[Optional[float], float, str]:
    """Sun azimuth (deg) and the typical cloud-to-shadow distance (m) from where clouds best meet shadows.

    Returns (None, 0, why) when the overlap at the best displacement is under
    MIN_SUPPORT of the shadow pixels: then the scene shows no casting geometry.
    """
    n_shadow = int(shadow.sum())
    if n_shadow < MIN_SHADOW_CELLS or not cloud.any():
        return None, 0.0, (f"too little cloud or shadow to find the sun's direction ({n_shadow} shadow cells "
                           f"of {WORK_PIXEL_M:g} m, needs {MIN_SHADOW_CELLS}); give a .SAFE product for its sun "
                           "angles")
    factor = max(1, int(math.ceil(max(cloud.shape) / MAX_ESTIMATE_SIDE)))
    c = block_any(cloud, factor).astype(np.float32)
    s = block_any(shadow, factor).astype(np.float32)
    h, w = c.shape
    fh, fw = 2 * h, 2 * w
    corr = np.fft.irfft2(np.conj(np.fft.rfft2(c, (fh, fw))) * np.fft.rfft2(s, (fh, fw)), (fh, fw))
    dy = np.fft.fftfreq(fh, 1.0 / fh)[:, None]
    dx = np.fft.fftfreq(fw, 1.0 / fw)[None, :]
    dist = np.hypot(dy, dx)
    far = CLOUD_HEIGHT_M[1] * math.tan(math.radians(75.0)) / (pixel_m * factor)
    corr[(dist < 2) | (dist > far)] = 0
    peak = np.unravel_index(int(np.argmax(corr)), corr.shape)
    support = float(corr[peak]) / float(s.sum())
    if support < MIN_SUPPORT:
        return None, 0.0, (f"clouds and shadows show no common offset (best overlap {100 * support:.0f} % of the "
                           f"shadow, needs {100 * MIN_SUPPORT:.0f} %)")
    py, px = float(dy[peak[0], 0]), float(dx[0, peak[1]])
    # step = (cos az, -sin az) points from cloud to shadow
    azimuth = math.degrees(math.atan2(-px, py)) % 360.0
    return azimuth, math.hypot(py, px) * pixel_m * factor, "estimated from the scene"


def work_factor(pixel_m: float) -> int:
    """Fine pixels per coarse pixel side."""
    return max(1, int(round(WORK_PIXEL_M / pixel_m)))


def coarse_masks(classes: np.ndarray, factor: int,
                 nodata: int = NODATA) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cloud, unknown, shadow) on the coarse grid; `classes` rows must start on a coarse row."""
    return (block_any((classes == 1) | (classes == 2), factor), block_any(classes == nodata, factor),
            block_any(classes == SHADOW, factor))


def coarse_zone(cloud_c: np.ndarray, unknown_c: np.ndarray, shadow_c: np.ndarray, coarse_m: float,
                sun: Optional[SunAngles]) -> Tuple[Optional[np.ndarray], GeometryReport]:
    """Coarse bool zone where shadow may lie (None: no geometry, keep every shadow)."""
    azimuth: Optional[float]
    if sun is not None and all(math.isfinite(v) for v in (sun.zenith_deg, sun.azimuth_deg)) \
            and 0.0 <= sun.zenith_deg < 89.0:
        azimuth, how = sun.azimuth_deg, "sun angles"
        reach = CLOUD_HEIGHT_M[1] * math.tan(math.radians(sun.zenith_deg))
        near = CLOUD_HEIGHT_M[0] * math.tan(math.radians(sun.zenith_deg))
    else:
        azimuth, offset, how = estimate_azimuth(cloud_c, shadow_c, coarse_m)
        if azimuth is None:
            return None, GeometryReport(how, None, None)
        reach, near = max(UNKNOWN_ZENITH_REACH * offset, 3000.0), 0.0
    source = cloud_c | unknown_c
    zone = cast_zone(source, shadow_step(azimuth), near / coarse_m, reach / coarse_m)
    return dilate(zone | source, 1), GeometryReport(how, azimuth, reach)


def apply_zone(classes: np.ndarray, zone_c: np.ndarray, factor: int, row0: int) -> Tuple[np.ndarray, int]:
    """`classes` (rows from fine row `row0`) with shadow outside the zone made clear, and how many changed."""
    h, w = classes.shape
    first = row0 // factor
    rows = zone_c[first:(row0 + h - 1) // factor + 1]
    fine = np.repeat(np.repeat(rows, factor, axis=0), factor, axis=1)
    fine = fine[row0 - first * factor:row0 - first * factor + h, :w]
    drop = (classes == SHADOW) & ~fine
    if not drop.any():
        return classes, 0
    out = classes.copy()
    out[drop] = 0
    return out, int(drop.sum())


def confirm_shadows(classes: np.ndarray, pixel_m: float, sun: Optional[SunAngles] = None,
                    nodata: int = NODATA) -> Tuple[np.ndarray, GeometryReport]:
    """Classes with every shadow pixel that no cloud can cast made clear."""
    factor = work_factor(pixel_m)
    zone, report = coarse_zone(*coarse_masks(classes, factor, nodata), pixel_m * factor, sun)
    if zone is None:
        return classes, report
    out, report.removed = apply_zone(classes, zone, factor, 0)
    return out, report


@dataclass
class ShadowZone:
    """The coarse zone of one class raster, applied strip by strip while the raster is finished."""

    zone: Optional[np.ndarray]
    factor: int
    report: GeometryReport

    def apply(self, classes: np.ndarray, row0: int) -> Tuple[np.ndarray, int]:
        if self.zone is None:
            return classes, 0
        return apply_zone(classes, self.zone, self.factor, row0)


def raster_zone(read_rows, height: int, pixel_m: float, sun: Optional[SunAngles], strip_rows: int = 1024,
                nodata: int = NODATA) -> ShadowZone:
    """The zone of a class raster read in strips (`read_rows(top, rows)` -> uint8 classes)."""
    factor = work_factor(pixel_m)
    rows = max(factor, strip_rows - strip_rows % factor)
    parts = [coarse_masks(read_rows(y, min(rows, height - y)), factor, nodata) for y in range(0, height, rows)]
    cloud_c, unknown_c, shadow_c = (np.concatenate([p[i] for p in parts]) for i in range(3))
    zone, report = coarse_zone(cloud_c, unknown_c, shadow_c, pixel_m * factor, sun)
    return ShadowZone(zone, factor, report)
