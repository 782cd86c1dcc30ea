"""Atomic, windowed output rasters.

Results are written strip by strip into hidden temporary GeoTIFFs beside the
final path, turned into Cloud Optimized GeoTIFFs, and renamed only when the
whole run succeeded: a failed or cancelled run leaves nothing behind, and a
reader never sees a half-written file under the final name.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from ..errors import CloudFreeError, InputError
from .grid import Grid

try:  # GDAL's own errors (a failed TIFF write, say) are not RasterioError subclasses
    from rasterio._err import CPLE_BaseError
except ImportError:  # pragma: no cover - other rasterio layouts
    CPLE_BaseError = RuntimeError
GDAL_ERRORS = (OSError, rasterio.errors.RasterioError, CPLE_BaseError)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
MASK_STYLE = RESOURCES / "mask_classes.qml"
CONFIDENCE_STYLE = RESOURCES / "confidence.qml"


def check_output_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"CloudFree writes Cloud Optimized GeoTIFF; give an output name ending in .tif, not {path.name}.")
    existing = nearest_existing_folder(path.parent)
    if existing is None:
        raise InputError(f"The output folder {path.parent} cannot be created: {_first_file(path.parent)} is a "
                         "file, not a folder; choose another output folder.")
    if not os.access(existing, os.W_OK):
        raise InputError(f"The output folder {existing} is not writable; choose another.")
    return path  # a missing folder is created when the run writes its first file, and removed if it fails


def nearest_existing_folder(folder: Path) -> Optional[Path]:
    """The folder itself or its nearest existing ancestor; None when that ancestor is a file."""
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            return candidate if candidate.is_dir() else None
    return None


def _first_file(folder: Path) -> Path:
    return next(c for c in [folder, *folder.parents] if c.exists())


class StripWriter:
    """A temporary tiled GeoTIFF on the output grid, filled window by window."""

    def __init__(self, tmp: Path, grid: Grid, count: int, dtype: str, nodata: Optional[float],
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
        try:
            self.ds.write(array if array.ndim == 3 else array[None], window=window)
        except GDAL_ERRORS as exc:
            raise OutputWriteError(_write_failure(exc, self.path.parent)) from exc

    def close(self) -> None:
        if not self.ds.closed:
            try:
                self.ds.close()
            except GDAL_ERRORS as exc:
                raise OutputWriteError(_write_failure(exc, self.path.parent)) from exc


TEMP_TAG = ".cloudfree-"
_TEMP_NAME = re.compile(r"^\..+\.cloudfree-(\d+)-[0-9a-f]{8}\.(tif|qml|bak)(\.aux\.xml)?$")


def pid_alive(pid) -> bool:
    """Whether a process with this id exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> List[Path]:
    """Delete the hidden temporaries that dead CloudFree processes left in `folder` (killed runs)."""
    removed: List[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(m.group(1)):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def check_free_space(folder: Path, need_bytes: float) -> None:
    """Refuse a run whose outputs cannot fit on the disk, before a pixel is computed."""
    free = shutil.disk_usage(nearest_existing_folder(folder) or folder).free
    if need_bytes > free:
        raise InputError(f"No space left on {folder}: need up to about {need_bytes / 1e6:.0f} MB, "
                         f"{free / 1e6:.0f} MB free. Free some space or write elsewhere.")


def verify_raster(path: Path) -> None:
    """Read a written raster back whole, so that a truncated or corrupt file is never committed."""
    try:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as ds:
            for _, window in ds.block_windows(1):
                ds.read(window=window)
            for level in ds.overviews(1):
                ds.read(1, out_shape=(max(1, ds.height // level), max(1, ds.width // level)))
    except GDAL_ERRORS as exc:
        raise OutputWriteError(f"Writing {path.name} failed ({exc}); the existing outputs were kept.") from exc


class OutputSet:
    """Temporary files of one run and the final paths they become: all committed together or none.

    Use as a context manager.  `commit` converts every result to a COG beside
    its final path, reads each back whole, then moves any existing final file
    aside and renames the new one into place.  If anything fails, before or
    after the commit, inside the `with` block, every final file is restored
    to what it was before the run and every temporary file is removed.
    """

    def __init__(self) -> None:
        self.temps: List[Path] = []
        self.pending: List[Tuple[Path, Path, str, Optional[Path]]] = []
        self.placed: List[Tuple[Path, Optional[Path]]] = []  # (final, backup of what it replaced)
        self._cleaned: set = set()
        self.created: List[Path] = []  # output folders this run made, innermost last

    def temp_path(self, final: Path, suffix: str = ".tif") -> Path:
        if not final.parent.is_dir():
            missing = [p for p in [final.parent, *final.parent.parents] if not p.exists()]
            final.parent.mkdir(parents=True, exist_ok=True)
            self.created.extend(reversed(missing))
        if final.parent not in self._cleaned:
            remove_stale_temporaries(final.parent)
            self._cleaned.add(final.parent)
        tmp = final.parent / f".{final.stem}{TEMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"
        self.temps.append(tmp)
        return tmp

    def writer(self, final: Path, grid: Grid, count: int, dtype: str, nodata: Optional[float],
               descriptions: Optional[List[str]] = None) -> StripWriter:
        check_free_space(final.parent, grid.width * grid.height * count * np.dtype(dtype).itemsize * 0.5)
        return StripWriter(self.temp_path(final), grid, count, dtype, nodata, descriptions)

    def publish(self, source: Path, final: Path, overview_resampling: str, style: Optional[Path]) -> None:
        """Queue `source` to become the COG `final` (with a sidecar QML style) at commit."""
        self.pending.append((source, final, overview_resampling, style))

    def commit(self) -> None:
        staged: List[Tuple[Path, Path]] = []
        try:
            for source, final, resampling, style in self.pending:
                cog = self.temp_path(final)
                rasterio.shutil.copy(source, cog, driver="COG", compress="DEFLATE", blocksize=512,
                                     overview_resampling=resampling, BIGTIFF="IF_SAFER")
                verify_raster(cog)
                staged.append((cog, final))
                if style is not None:
                    qml = self.temp_path(final, ".qml")
                    shutil.copyfile(style, qml)
                    staged.append((qml, final.with_suffix(".qml")))
        except OutputWriteError:
            raise
        except GDAL_ERRORS as exc:
            raise OutputWriteError(_write_failure(exc, self.pending[0][1].parent)) from exc
        folder = staged[0][1].parent if staged else Path(".")
        try:
            for tmp, final in staged:
                backup = None
                if final.exists():
                    backup = self.temp_path(final, ".bak")
                    os.replace(final, backup)
                self.placed.append((final, backup))
                os.replace(tmp, final)
        except OSError as exc:
            self.rollback()
            raise OutputWriteError(_write_failure(exc, folder)) from exc
        self.pending = []

    def rollback(self) -> None:
        """Put back what the run replaced and remove what it added."""
        for final, backup in reversed(self.placed):
            if backup is not None and backup.exists():
                os.replace(backup, final)
            elif backup is None:
                final.unlink(missing_ok=True)
        self.placed = []

    def cleanup(self) -> None:
        for tmp in self.temps:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".aux.xml").unlink(missing_ok=True)
        self.temps = []

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.rollback()
        self.placed = []
        self.cleanup()
        if exc_type is not None:  # a failed run leaves no folder it made either
            for folder in reversed(self.created):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (another program wrote there): keep it and its parents
        self.created = []


class OutputWriteError(CloudFreeError, OSError):
    """An output could not be written whole (full disk, I/O error); nothing was replaced."""


def _write_failure(exc: Exception, folder: Path) -> str:
    try:
        nearly_full = shutil.disk_usage(folder).free < 4 * 1024 * 1024
    except OSError:
        nearly_full = False
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space" in str(exc) or nearly_full:
        return f"No space left on {folder}; free some space or write elsewhere. Nothing was replaced."
    return f"Writing the outputs in {folder} failed ({exc}); nothing was replaced."
