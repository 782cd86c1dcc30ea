"""Atomic, windowed output rasters.

Results are written strip by strip into hidden temporary GeoTIFFs beside the
final path, turned into Cloud Optimized GeoTIFFs, and renamed only when the
whole run succeeded: a failed or cancelled run leaves nothing behind, and a
reader never sees a half-written file under the final name.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from .errors import InputError
from .grid import Grid

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
MASK_STYLE = RESOURCES / "mask_classes.qml"
CONFIDENCE_STYLE = RESOURCES / "confidence.qml"


def check_output_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"CloudFree writes Cloud Optimized GeoTIFF; give an output name ending in .tif, not {path.name}.")
    if not path.parent.is_dir():
        raise InputError(f"The output folder {path.parent} does not exist; create it or choose another.")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"The output folder {path.parent} is not writable; choose another.")
    return path


class StripWriter:
    """A temporary tiled GeoTIFF on the output grid, filled window by window."""

    def __init__(self, tmp: Path, grid: Grid, count: int, dtype: str, nodata: float,
                 descriptions: Optional[List[str]] = None) -> None:
        self.path = tmp
        self.ds = rasterio.open(
            tmp, "w", driver="GTiff", width=grid.width, height=grid.height, count=count,
            dtype=dtype, crs=grid.crs, transform=grid.transform, nodata=nodata, tiled=True,
            blockxsize=512, blockysize=512, compress="deflate", predictor=1, BIGTIFF="IF_SAFER",
            photometric="MINISBLACK")  # several uint8 bands are data, not RGB(A) colour
        if count > 1:
            self.ds.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (count - 1)
        for i, text in enumerate(descriptions or [], start=1):
            self.ds.set_band_description(i, text)

    def write(self, array: np.ndarray, window: Window) -> None:
        self.ds.write(array if array.ndim == 3 else array[None], window=window)

    def close(self) -> None:
        if not self.ds.closed:
            self.ds.close()


class OutputSet:
    """Temporary files of one run and the final paths they become.

    Use as a context manager: on an exception every temporary file is
    removed, and so is every final file this set had already put in place.
    """

    def __init__(self) -> None:
        self.temps: List[Path] = []
        self.pending: List[Tuple[Path, Path, str, Optional[Path]]] = []
        self.done: List[Path] = []

    def temp_path(self, final: Path) -> Path:
        tmp = final.parent / f".{final.stem}.cloudfree-{uuid.uuid4().hex[:8]}.tif"
        self.temps.append(tmp)
        return tmp

    def writer(self, final: Path, grid: Grid, count: int, dtype: str, nodata: float,
               descriptions: Optional[List[str]] = None) -> StripWriter:
        return StripWriter(self.temp_path(final), grid, count, dtype, nodata, descriptions)

    def publish(self, source: Path, final: Path, overview_resampling: str, style: Optional[Path]) -> None:
        """Queue `source` to become the COG `final` (with a sidecar QML style) at commit."""
        self.pending.append((source, final, overview_resampling, style))

    def commit(self) -> None:
        staged = []
        for source, final, resampling, style in self.pending:
            cog = self.temp_path(final)
            rasterio.shutil.copy(source, cog, driver="COG", compress="DEFLATE", blocksize=512,
                                 overview_resampling=resampling, BIGTIFF="IF_SAFER")
            staged.append((cog, final, style))
        for cog, final, style in staged:
            os.replace(cog, final)
            self.done.append(final)
            if style is not None:
                sidecar = final.with_suffix(".qml")
                shutil.copyfile(style, sidecar)
                self.done.append(sidecar)
        self.pending = []

    def cleanup(self) -> None:
        for tmp in self.temps:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".aux.xml").unlink(missing_ok=True)
        self.temps = []

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for final in self.done:
                final.unlink(missing_ok=True)
        self.cleanup()
