"""A time series of rasters on one grid: reflectance, validity and clear pixels per date.

Gap-filling and compositing compare the same pixel across dates, so every
input must lie on the same grid.  Resampling here would blur the clear pixels
that must be copied unchanged, so a mismatch is an error that says how to fix
it.  Cloud masks may come at another resolution on the same CRS (a 20 m
CloudFree mask for 10 m imagery): they are read onto the grid by nearest
neighbour.  A date without a mask gets one computed on the fly with the
bundled U-Net.  Everything is read in full-width strips, so memory depends
on the raster's width, the number of dates and bands, never on its height.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..io.dates import input_dates
from ..errors import BandMappingError, InputError
from ..io.grid import Grid, with_halo
from ..io.band_guess import guess_mapping
from ..io.inputs import available_bands, is_safe_input, open_band_source, raster_mapping
from ..model.card import NODATA_CLASS
from ..masking.morphology import buffer_classes
from ..progress import Feedback, SubFeedback
from ..io.safe import open_safe
from ..io.sources import checked_read, open_raster

MASK_VALUES = (0, 1, 2, 3, NODATA_CLASS)
MIN_STRIP_ROWS = 32


def series_bands(path: str | Path, band_preset: Optional[str], band_mapping: Optional[str]) -> List[str]:
    """The bands of the reference input in its band order (a product's in band-number order).

    A mapping that names some bands of a raster gives those bands, still in
    the raster's order, so an output keeps the layout of its input.
    """
    if is_safe_input(path):
        return open_safe(path).bands
    bands = available_bands(path, band_preset, band_mapping)
    with open_raster(str(path)) as ds:
        index = raster_mapping(ds, str(path), band_preset, band_mapping)
    return sorted(bands, key=index.__getitem__)


def series_mapping(inputs: Sequence[str | Path], reference: int, band_preset: Optional[str],
                   band_mapping: Optional[str]) -> Optional[str]:
    """The band mapping every raster of a series is read with: the user's, or Auto's answer for the
    reference raster checked on the pixels of all dates (one cloudy date cannot confirm an order alone)."""
    if band_mapping or band_preset or is_safe_input(inputs[reference]):
        return band_mapping
    rasters = [str(p) for p in inputs if not is_safe_input(p)]
    with ExitStack() as stack:
        opened = [stack.enter_context(open_raster(p)) for p in rasters]
        ref = opened[rasters.index(str(inputs[reference]))]
        mapping = guess_mapping(ref, str(inputs[reference]), others=[d for d in opened if d is not ref])
    return ", ".join(f"{b}={i}" for b, i in mapping.items())


def same_grid(a: Grid, b: Grid) -> bool:
    """Same CRS and size, and transforms equal to a thousandth of a pixel."""
    tol = 1e-3 * max(abs(a.transform.a), abs(a.transform.e))
    return (a.crs == b.crs and (a.width, a.height) == (b.width, b.height)
            and all(abs(x - y) <= tol for x, y in zip(a.transform[:6], b.transform[:6])))


def describe_grid(g: Grid) -> str:
    crs = g.crs.to_string() if g.crs is not None else "no CRS"
    return (f"{g.width} x {g.height} px of {abs(g.transform.a):g} x {abs(g.transform.e):g} in {crs}, "
            f"origin ({g.transform.c:.3f}, {g.transform.f:.3f})")


class GridRaster:
    """Band 1 of a raster read onto a grid: directly when it is on the grid, else by nearest neighbour.

    Only the resolution and extent may differ, not the CRS: reprojecting is
    a choice (and a cost) the user should make knowingly.
    """

    def __init__(self, path: str | Path, grid: Grid, what: str = "mask") -> None:
        self.path, self.grid = Path(path), grid
        if not self.path.is_file():
            raise InputError(f"The {what} {path} does not exist.")
        self.ds = open_raster(str(path))
        self.vrt = None
        g = Grid(self.ds.crs, self.ds.transform, self.ds.width, self.ds.height)
        if not same_grid(g, grid):
            if self.ds.crs is None or self.ds.crs != grid.crs:
                self.ds.close()
                raise InputError(
                    f"The {what} {self.path.name} ({describe_grid(g)}) is not in the CRS of the images "
                    f"({describe_grid(grid)}); reproject it onto their grid first (Raster > Projections > "
                    "Warp, nearest neighbour).")
            self.vrt = WarpedVRT(self.ds, crs=grid.crs, transform=grid.transform, width=grid.width,
                                 height=grid.height, resampling=Resampling.nearest, add_alpha=True)

    def read(self, window: Window) -> Tuple[np.ndarray, np.ndarray]:
        """Values of band 1 and where they are data (inside the raster and not its no-data value)."""
        if self.vrt is not None:
            values = checked_read(self.vrt, 1, window=window, name=self.ds.name)
            covered = checked_read(self.vrt, self.vrt.count, window=window, name=self.ds.name) > 0
        else:
            values = checked_read(self.ds, 1, window=window)
            covered = np.ones(values.shape, bool)
        nodata = self.ds.nodata
        if nodata is not None and not np.isnan(nodata):
            covered &= values != nodata
        if np.issubdtype(values.dtype, np.floating):
            covered &= np.isfinite(values)
        return values, covered

    def close(self) -> None:
        if self.vrt is not None:
            self.vrt.close()
        self.ds.close()


class MaskReader:
    """A CloudFree class raster on the series grid, with an optional buffer around clouds and shadows."""

    def __init__(self, path: str | Path, grid: Grid, buffer_px: int = 0) -> None:
        self.raster = GridRaster(path, grid, "mask")
        self.path, self.grid, self.buffer_px = Path(path), grid, buffer_px

    def read(self, window: Window) -> np.ndarray:
        """Classes (uint8, 255 = no data) of a full-width window, buffered with halo rows."""
        read, inner = with_halo(window, self.buffer_px, self.grid.height)
        values, covered = self.raster.read(read)
        block = np.where(covered, values, NODATA_CLASS)
        bad = ~np.isin(block, MASK_VALUES)
        if bad.any():
            raise InputError(
                f"The mask {self.path.name} holds the value {block[bad].flat[0]:g}; a mask must be a CloudFree "
                "class raster (0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 no data).")
        return buffer_classes(block.astype(np.uint8), self.buffer_px)[inner]

    def close(self) -> None:
        self.raster.close()


@dataclass
class TimeSeries:
    """Opened inputs of a series on one grid, with their dates and (once attached) masks."""

    paths: List[Path]
    sources: list
    dates: List[date]
    bands: List[str]
    grid: Grid
    masks: List[MaskReader] = field(default_factory=list)
    band_mapping: Optional[str] = None  # the mapping the rasters were read with (Auto's answer, if it decided)

    @property
    def days(self) -> List[float]:
        return [float((d - self.dates[0]).days) for d in self.dates]

    def read(self, window: Window) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dates, bands, h, w) float32 reflectance, (dates, h, w) valid, and clear (valid and class 0)."""
        n, h, w = len(self.sources), int(window.height), int(window.width)
        data = np.empty((n, len(self.bands), h, w), np.float32)
        valid = np.empty((n, h, w), bool)
        clear = np.empty((n, h, w), bool)
        for i, source in enumerate(self.sources):
            data[i], valid[i] = source.read(window)
            clear[i] = valid[i] & (self.masks[i].read(window) == 0)
        return data, valid, clear

    def strip_rows(self, bytes_per_pixel: int, max_memory_mb: float, halo: int) -> int:
        """Rows per strip that keep one strip (with its halo rows) within the memory limit."""
        budget = max_memory_mb * 2 ** 20
        rows = int(budget // (self.grid.width * bytes_per_pixel)) - 2 * halo
        if rows < MIN_STRIP_ROWS:
            need = (MIN_STRIP_ROWS + 2 * halo) * self.grid.width * bytes_per_pixel / 2 ** 20
            raise InputError(
                f"The rasters are {self.grid.width} px wide; with {len(self.sources)} dates of {len(self.bands)} "
                f"bands, even a strip of {MIN_STRIP_ROWS} rows needs {need:.0f} MB, more than the memory limit of "
                f"{max_memory_mb:.0f} MB. Give fewer dates or bands, clip the rasters, or raise the limit.")
        return min(rows, self.grid.height)

    def close(self) -> None:
        for s in self.sources:
            s.close()
        for m in self.masks:
            m.close()
        self.sources, self.masks = [], []

    def __enter__(self) -> "TimeSeries":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_inputs(inputs: Sequence[str | Path]) -> None:
    """At least two inputs, each of which exists."""
    if len(inputs) < 2:
        raise InputError(f"Give at least two dates of the same area; got {len(inputs)} input(s).")
    for path in inputs:
        if not str(path) or (not Path(path).exists() and not str(path).startswith("/vsi")):
            raise InputError(f"The input {path} does not exist.")


def check_series_outputs(output: str | Path, source_output: Optional[str | Path], inputs: Sequence[Optional[str | Path]],
                         what: str) -> Tuple[Path, Path]:
    """The output and its source raster (default `<stem>_source.tif`), neither overwriting an input."""
    from ..io.output_guard import guard_outputs
    from ..io.outputs import check_output_path
    output = check_output_path(output)
    source = check_output_path(source_output or output.with_name(f"{output.stem}_source.tif"))
    guard_outputs([output, source], list(inputs))
    return output, source


def open_series(inputs: Sequence[str | Path], reference: int, dates: Optional[Sequence[Optional[str]]],
                band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                resolution_m: Optional[int] = None) -> TimeSeries:
    """Open every input with the reference input's bands, on the reference's grid, or say what differs."""
    check_inputs(inputs)
    when = input_dates(inputs, dates)
    if not 0 <= reference < len(inputs):
        raise InputError(f"The target index {reference} is outside the {len(inputs)} inputs.")
    band_mapping = series_mapping(inputs, reference, band_preset, band_mapping)
    bands = series_bands(inputs[reference], band_preset, band_mapping)
    sources: list = []
    try:
        for path in inputs:
            try:
                sources.append(open_band_source(path, bands, resolution_m, band_preset, band_mapping))
            except BandMappingError as exc:
                raise BandMappingError(f"Every input needs the bands of {Path(inputs[reference]).name} "
                                       f"({', '.join(bands)}); {Path(path).name} does not fit: {exc}") from exc
        grid = sources[reference].grid
        for path, source in zip(inputs, sources):
            if not same_grid(source.grid, grid):
                raise InputError(
                    f"{Path(path).name} is on a different grid ({describe_grid(source.grid)}) than "
                    f"{Path(inputs[reference]).name} ({describe_grid(grid)}); resample and clip all inputs onto "
                    "one grid first (Raster > Projections > Warp with the same extent and resolution, or gdalwarp "
                    "-te ... -tr ...).")
    except Exception:
        for s in sources:
            s.close()
        raise
    return TimeSeries([Path(p) for p in inputs], sources, when, bands, grid, band_mapping=band_mapping)


def attach_masks(series: TimeSeries, masks: Optional[Sequence[Optional[str | Path]]], workdir: Path,
                 buffer_px: int = 0, model: Optional[str] = None, band_preset: Optional[str] = None,
                 band_mapping: Optional[str] = None, feedback: Optional[Feedback] = None,
                 progress: Tuple[float, float] = (0.0, 40.0)) -> None:
    """Open each date's mask; compute the missing ones with `cloud_mask` into `workdir`."""
    feedback = feedback or Feedback()
    if buffer_px < 0:
        raise InputError("The buffer must be 0 or more pixels.")
    masks = list(masks) if masks is not None else [None] * len(series.paths)
    if len(masks) != len(series.paths):
        raise InputError(f"Give one mask per input (or none at all): {len(series.paths)} inputs, {len(masks)} masks.")
    missing = [i for i, m in enumerate(masks) if not m]
    for k, i in enumerate(missing):
        from ..masking.scene_mask import cloud_mask  # deferred: loads ONNX Runtime only when a mask is computed
        feedback.check()
        share = (progress[1] - progress[0]) / len(missing)
        feedback.info(f"Masking clouds of {series.paths[i].name} ({series.dates[i]}) with the bundled model.")
        result = cloud_mask(series.paths[i], Path(workdir) / f"mask_{i}.tif", model=model,
                            band_preset=band_preset, band_mapping=band_mapping or series.band_mapping,
                            resolution_m=20 if series.grid.crs is not None and series.grid.crs.is_projected else None,
                            feedback=SubFeedback(feedback, progress[0] + k * share, progress[0] + (k + 1) * share))
        masks[i] = result.mask_path
    for m in masks:
        assert m is not None  # every missing mask was computed above
        series.masks.append(MaskReader(m, series.grid, buffer_px))


__all__ = ["TimeSeries", "GridRaster", "MaskReader", "check_inputs", "check_series_outputs", "open_series", "attach_masks",
           "same_grid", "series_bands"]
