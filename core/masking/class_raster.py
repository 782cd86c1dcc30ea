"""Finishing a class raster: buffer, count, and publish it with its style.

Shared by the model-based mask and the SCL mask so that both give the same
classes, the same buffer and the same cover figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InputError
from ..io.grid import Grid, with_halo
from ..model.card import MASK_CLASSES, NODATA_CLASS
from .morphology import buffer_classes
from ..io.outputs import MASK_STYLE, OutputSet, StripWriter
from .shadow_geometry import GeometryInput, GeometryReport, raster_zone

STRIP_ROWS = 1024
#: Undecided classes up to this many pixels (one byte each) stay in memory: 10980 x 10980 (a whole tile at
#: 10 m) is 121 MB.  Larger rasters go to a temporary file, one more write of every pixel.
SCRATCH_IN_MEMORY_PIXELS = 256 * 1024 * 1024
CLASS_DESCRIPTION = "CloudFree classes: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no data"


@dataclass(frozen=True)
class CoverStats:
    """Pixel counts of the final mask; percentages are of valid (not no-data) pixels."""

    counts: dict
    valid: int
    geometry: Optional[GeometryReport] = None  # what the shadow-geometry check did, when it ran

    def percent(self, *classes: int) -> float:
        return 100.0 * sum(self.counts.get(c, 0) for c in classes) / self.valid if self.valid else 0.0

    @property
    def cloud_percent(self) -> float:
        return self.percent(1, 2)

    @property
    def shadow_percent(self) -> float:
        return self.percent(3)


class CoverFigures:
    """Cover percentages for any result that carries `stats`."""

    stats: CoverStats

    @property
    def cloud_percent(self) -> float:
        return self.stats.cloud_percent

    @property
    def shadow_percent(self) -> float:
        return self.stats.shadow_percent


class ClassScratch:
    """The class raster between inference and finishing (shadow check, buffer, COG).

    The finishing pass reads it whole, strip by strip with halo rows, and
    only then can the COG be made (its overviews need the complete raster).
    Keeping it in memory saves a write and a read of every pixel, so a mask
    writes its pixels twice (the finished strips, then the COG); a raster
    over SCRATCH_IN_MEMORY_PIXELS goes to a temporary file instead.
    """

    def __init__(self, outputs: OutputSet, final: Path, grid: Grid,
                 in_memory_pixels: Optional[int] = None) -> None:
        self.grid = grid
        self.store: Union[np.ndarray, StripWriter]
        #: where the finished strips go; made now, before any pixel is computed, so that an output folder
        #: that cannot be made or filled fails the run at once
        self.finished: Optional[StripWriter] = None
        budget = SCRATCH_IN_MEMORY_PIXELS if in_memory_pixels is None else in_memory_pixels
        if grid.width * grid.height <= budget:
            self.store = np.full((grid.height, grid.width), NODATA_CLASS, np.uint8)
            self.finished = outputs.writer(final, grid, 1, "uint8", NODATA_CLASS, [CLASS_DESCRIPTION])
        else:
            self.store = outputs.writer(final, grid, 1, "uint8", NODATA_CLASS, [CLASS_DESCRIPTION])

    @property
    def in_memory(self) -> bool:
        return isinstance(self.store, np.ndarray)

    def write(self, classes: np.ndarray, window: Window) -> None:
        if isinstance(self.store, np.ndarray):
            self.store[int(window.row_off):int(window.row_off + window.height),
                       int(window.col_off):int(window.col_off + window.width)] = classes
        else:
            self.store.write(classes, window)

    def close(self) -> None:
        if isinstance(self.store, StripWriter):
            self.store.close()


def finish_class_raster(scratch: ClassScratch, final: Path, outputs: OutputSet, buffer_px: int,
                        geometry: Optional[GeometryInput] = None) -> CoverStats:
    """Check shadows against cloud geometry, buffer the raw classes window by window (with halo rows), count.

    `geometry` (pixel size in metres, sun angles or None) turns on
    core.masking.shadow_geometry: shadow that no cloud can cast becomes clear before
    buffering, so a dark lake is neither shadow nor buffered as one.
    """
    scratch.close()
    if isinstance(scratch.store, np.ndarray):
        return _finish(scratch.store.__getitem__, scratch, final, outputs, buffer_px, geometry)
    with rasterio.open(scratch.store.path) as src:
        return _finish(lambda rows: src.read(1, window=Window(0, rows[0].start, scratch.grid.width,
                                                                rows[0].stop - rows[0].start)),
                       scratch, final, outputs, buffer_px, geometry)


def _finish(read_rows, scratch: ClassScratch, final: Path, outputs: OutputSet, buffer_px: int,
            geometry: Optional[GeometryInput]) -> CoverStats:
    grid = scratch.grid
    counts = np.zeros(256, np.int64)
    removed = 0
    zone = None
    if geometry is not None:
        zone = raster_zone(lambda y, h: read_rows((slice(y, y + h),)), grid.height,
                           geometry.pixel_m, geometry.sun, STRIP_ROWS)
    rewrite = scratch.in_memory or buffer_px > 0 or (zone is not None and zone.zone is not None)
    if rewrite:
        writer = scratch.finished or outputs.writer(final, grid, 1, "uint8", NODATA_CLASS, [CLASS_DESCRIPTION])
    for strip in grid.strips(STRIP_ROWS):
        read, inner = with_halo(strip, buffer_px, grid.height)
        block = read_rows((slice(int(read.row_off), int(read.row_off + read.height)),))
        if zone is not None:
            shadow_before = int((block[inner] == 3).sum())
            block, _ = zone.apply(block, int(read.row_off))
            removed += shadow_before - int((block[inner] == 3).sum())
        block = buffer_classes(block, buffer_px)[inner]
        if rewrite:
            writer.write(block, strip)
        counts += np.bincount(block.ravel(), minlength=256)
    if rewrite:
        writer.close()
        source = writer.path
    else:
        assert isinstance(scratch.store, StripWriter)
        source = scratch.store.path
    valid = int(counts[list(MASK_CLASSES)].sum())
    if valid == 0:
        raise InputError(
            "Every pixel of the input is no data (zero or the raster's no-data value in all bands); "
            "check the band mapping and that the layer covers imagery.")
    outputs.publish(source, final, "NEAREST", MASK_STYLE)
    report = None
    if zone is not None:
        zone.report.removed = removed
        report = zone.report
    return CoverStats({c: int(counts[c]) for c in MASK_CLASSES}, valid, report)


def decide_classes(probs: np.ndarray, axis: int = 0, weights: Tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Class per pixel from (.., 4, ..) probabilities: cloud first, then shadow, then which cloud.

    Thick and thin cloud split the probability of one thing, cloud; a plain
    argmax lets clear win a pixel that is 60 % cloud shared 30/30 between
    thick and thin.  So cloud (thick + thin) is decided first, against
    everything else (clear + shadow), and only then thick against thin.
    Shadow is decided among the pixels that are not cloud, against clear.
    `weights` (cloud, shadow) scale those probabilities before each contest:
    the calibration a model card states (`decision`), chosen on held-out
    human labels, because a network's probabilities are not calibrated (its
    shadow ones least).  Deciding cloud on its own keeps the two weights
    apart: when shadow competed with cloud too, the large weight shadow needs
    took cloud pixels, calibration raised the cloud weight to win them back,
    and that called bright clear ground cloud elsewhere (cloudfree_rgb on the
    ukis-csmask S2 patch: cloud user's accuracy 0.55).  It also makes the
    cloud threshold a plain probability threshold: cloud where P(cloud) > t.
    """
    p = np.moveaxis(probs, axis, 0)
    cloud_w, shadow_w = weights
    cloud = p[1] + p[2]
    shadow = p[3] * shadow_w if shadow_w != 1.0 else p[3]
    classes = np.where(shadow > p[0], 3, 0).astype(np.uint8)
    is_cloud = cloud * cloud_w > p[0] + p[3]
    classes[is_cloud] = np.where(p[1][is_cloud] >= p[2][is_cloud], 1, 2)
    return classes
