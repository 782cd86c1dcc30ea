"""Windowed band readers that hand the engine reflectance at the processing resolution.

Both readers return float32 reflectance (DN scaled and offset as the data
says) and a validity mask for any window of the processing grid, so memory
depends on the window, never on the scene.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from .bands import check_mapping
from ..errors import InputError, UnreadableFileError
from .grid import Grid, pixel_metres_xy, scaled_window
from .outputs import GDAL_ERRORS
from .safe import SafeProduct
from .safe_integrity import verify_band_files

DEFAULT_READ_THREADS = 4  # band files decoded at once; JPEG2000 decoding is the slow part of reading
ReadResult = Tuple[np.ndarray, np.ndarray]  # (bands x rows x cols float32, rows x cols bool valid)


def open_raster(path: str) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise UnreadableFileError(
            f"Cannot open {path} as a raster: {exc}. Check that the file exists, is complete "
            "and is a format GDAL reads (GeoTIFF, JP2, ...).") from exc


def checked_read(ds, *args, name: Optional[str] = None, **kwargs) -> np.ndarray:
    """ds.read, with decoding in this thread so that a corrupt or truncated file raises, naming the file.

    GDAL's JPEG 2000 driver decodes in worker threads by default, where a
    decoder error only prints and the read returns whatever was decoded;
    with one decoding thread the error reaches rasterio and fails the read.
    """
    try:
        with rasterio.Env(GDAL_NUM_THREADS="1"):
            return ds.read(*args, **kwargs)
    except GDAL_ERRORS as exc:
        cause = exc.__cause__ or exc
        raise UnreadableFileError(f"Cannot read {name or ds.name}: the file is damaged or incomplete ({cause}). "
                                  "Download or copy it again.") from exc


def _resampling(factor: float) -> Resampling:
    """Average when shrinking (no aliasing), bilinear when enlarging, nearest when equal."""
    if abs(factor - 1.0) < 1e-9:
        return Resampling.nearest
    return Resampling.average if factor > 1 else Resampling.bilinear


def _metre_factor(ds: rasterio.DatasetReader, resolution_m: Optional[int]) -> float:
    """How many source pixels make one processing pixel (1 when resolution is unknown).

    A geographic CRS keeps its degree grid, with pixels of about `resolution_m`
    metres (the mean of their width and height at the centre latitude), so the
    same data in degrees and in UTM are masked at the same detail.
    """
    if resolution_m is None or ds.crs is None:
        return 1.0
    mx, my = pixel_metres_xy(ds.crs, ds.transform, ds.width, ds.height)
    return resolution_m / math.sqrt(mx * my)


def require_crs(ds, path: str) -> None:
    """A mask must be placed on the map: refuse a raster without a CRS, before anything else is asked of it."""
    if ds.crs is None:
        raise InputError(
            f"{Path(path).name} has no coordinate reference system; assign one (Raster > "
            "Projections > Assign Projection) so the mask can be georeferenced.")


class RasterLayerSource:
    """A multi-band raster (a QGIS layer's file) with a band mapping."""

    def __init__(self, path: str, mapping: Mapping[str, int], bands: Sequence[str],
                 resolution_m: Optional[int] = None, dn_scale: Optional[float] = None,
                 dn_offset: float = 0.0, ds: Optional[rasterio.DatasetReader] = None) -> None:
        """`ds`: the raster already open (core.io.inputs.open_input); the source closes it."""
        self.path = str(path)
        self.ds = ds if ds is not None else open_raster(self.path)
        try:
            require_crs(self.ds, self.path)
        except InputError:
            self.ds.close()
            raise
        self.bands = list(bands)
        self.indexes = check_mapping(mapping, self.ds.count, self.bands)
        self.factor = _metre_factor(self.ds, resolution_m)
        width = max(1, int(round(self.ds.width / self.factor)))
        height = max(1, int(round(self.ds.height / self.factor)))
        self.grid = Grid(self.ds.crs, self.ds.transform * self.ds.transform.scale(
            self.ds.width / width, self.ds.height / height), width, height)
        if dn_scale is None:  # Integer rasters hold DN (x 10000); float rasters reflectance.
            dn_scale = 10000.0 if np.issubdtype(np.dtype(self.ds.dtypes[0]), np.integer) else 1.0
        self.dn_scale, self.dn_offset = float(dn_scale), float(dn_offset)
        self.nodata = self.ds.nodata
        self.description = Path(self.path).name
        self.sun = None  # a plain raster carries no sun angles: shadow geometry estimates the direction

    @property
    def dtype(self) -> str:
        return self.ds.dtypes[self.indexes[0] - 1]

    def read_raw(self, window: Window) -> np.ndarray:
        """The stored values (DN, the file's data type) of the bands, on the processing grid."""
        fx = self.ds.width / self.grid.width
        src, shape = scaled_window(window, fx, self.ds.width, self.ds.height)
        return checked_read(self.ds, self.indexes, window=src, out_shape=(len(self.indexes),) + shape,
                            resampling=_resampling(fx), masked=False)

    def read(self, window: Window) -> ReadResult:
        raw = self.read_raw(window)
        data = raw.astype(np.float32)
        if self.nodata is not None and not np.isnan(self.nodata):
            valid = ~np.any(raw == self.nodata, axis=0)
        else:
            valid = np.any(data != 0, axis=0)
        valid &= np.all(np.isfinite(data), axis=0)
        data = (data + self.dn_offset) / self.dn_scale
        data[:, ~valid] = 0.0
        return data, valid

    def close(self) -> None:
        self.ds.close()


class SafeSource:
    """The bands of a .SAFE product, each read at the processing resolution."""

    pool: Optional[ThreadPoolExecutor]

    def __init__(self, product: SafeProduct, bands: Sequence[str], resolution_m: int,
                 read_threads: int = DEFAULT_READ_THREADS) -> None:
        self.product = product
        self.read_threads, self.pool = max(1, min(read_threads, len(bands))), None
        self.bands = list(bands)
        self.resolution_m = resolution_m
        self.datasets: List[Tuple[rasterio.DatasetReader, float]] = []
        chosen = [product.band_file(band, resolution_m) for band in self.bands]
        verify_band_files(product.path, [path for path, _ in chosen])
        try:
            for path, res in chosen:
                self.datasets.append((open_raster(path), resolution_m / res))
        except Exception:
            self.close()
            raise
        ref, factor = self.datasets[0]
        width = int(round(ref.width / factor))
        height = int(round(ref.height / factor))
        t = ref.transform
        self.grid = Grid(ref.crs, Affine(resolution_m, 0, t.c, 0, -resolution_m, t.f), width, height)
        self.scales = [product.reflectance_scale(b) for b in self.bands]
        self.description = product.path.name
        self.sun = product.sun

    @property
    def dtype(self) -> str:
        return self.datasets[0][0].dtypes[0]

    def read_raw(self, window: Window) -> np.ndarray:
        """The stored DN of the bands (uint16), each resampled onto the processing grid.

        Bands are separate files, decoded in parallel threads (GDAL releases
        the GIL while decoding JPEG2000; each file is used by one thread).
        """
        out = np.empty((len(self.bands), int(window.height), int(window.width)), self.dtype)

        def read_band(i: int) -> None:
            ds, factor = self.datasets[i]
            src, shape = scaled_window(window, factor, ds.width, ds.height)
            out[i] = checked_read(ds, 1, window=src, out_shape=shape, resampling=_resampling(factor))

        if self.read_threads > 1:
            list(self._pool().map(read_band, range(len(self.datasets))))
        else:
            for i in range(len(self.datasets)):
                read_band(i)
        return out

    def _pool(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.read_threads, thread_name_prefix="cloudfree-band")
        return self.pool

    def read(self, window: Window) -> ReadResult:
        raw = self.read_raw(window)
        out = np.empty(raw.shape, np.float32)
        all_zero = np.all(raw == 0, axis=0)
        for i, (offset, divisor) in enumerate(self.scales):
            out[i] = (raw[i].astype(np.float32) + offset) / divisor
        valid = ~all_zero
        out[:, all_zero] = 0.0
        return out, valid

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        for ds, _ in self.datasets:
            ds.close()
        self.datasets = []
