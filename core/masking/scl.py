"""The CloudFree mask from Sen2Cor's Scene Classification Layer (SCL).

Gives analysts a mask at once without a model.  The mapping follows the
CloudSEN12 convention: medium and high cloud probability are thick cloud,
thin cirrus is thin cloud, cloud shadows are shadow; no data and saturated
or defective pixels are no data; everything else is clear.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from affine import Affine
from rasterio.enums import Resampling

from .class_raster import ClassScratch, CoverFigures, STRIP_ROWS, CoverStats, finish_class_raster
from ..errors import InputError
from ..io.grid import Grid, scaled_window
from ..io.inputs import is_safe_input
from ..model.card import NODATA_CLASS
from ..io.output_guard import guard_outputs
from ..io.outputs import OutputSet, check_output_path
from ..progress import Feedback
from ..io.safe import open_safe
from ..io.safe_integrity import verify_band_files
from ..io.sources import checked_read, open_raster

#: SCL 2 dark area, 4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 11 snow -> clear; 8, 9 cloud medium
#: and high probability -> thick; 10 thin cirrus -> thin; 3 cloud shadow -> shadow; 0 no data, 1 defective -> no data
SCL_TO_CLASS = np.full(256, NODATA_CLASS, np.uint8)
SCL_TO_CLASS[[2, 4, 5, 6, 7, 11]] = 0
SCL_TO_CLASS[[8, 9]] = 1
SCL_TO_CLASS[10] = 2
SCL_TO_CLASS[3] = 3


@dataclass(frozen=True)
class SclResult(CoverFigures):
    mask_path: Path
    stats: CoverStats
    seconds: float


def scl_to_classes(scl: np.ndarray) -> np.ndarray:
    if scl.size and int(scl.max()) > 11:
        raise InputError(
            f"The band holds value {int(scl.max())}, but SCL values run from 0 to 11; choose the "
            "SCL band (in L2A products: the SCL_20m file) or set the right band number.")
    return SCL_TO_CLASS[scl]


def _open_scl(path: str | Path, resolution_m: Optional[int]):
    """The SCL dataset and its native pixel size in metres (None when unknown)."""
    if is_safe_input(path):
        product = open_safe(path)
        if product.level != "L2A" or "SCL" not in product.files:
            raise InputError(
                f"{product.path.name} is a {product.level} product, which has no Scene Classification "
                "Layer; SCL exists in L2A products only. Use the cloudmask algorithm for L1C.")
        file, res = product.band_file("SCL", resolution_m or 20)
        verify_band_files(product.path, [file])
        return open_raster(file), res
    ds = open_raster(str(path))
    unit = ds.crs.linear_units_factor[1] if ds.crs is not None and ds.crs.is_projected else None
    return ds, (abs(ds.transform.a) * unit if unit else None)


def scl_mask(input: str | Path, output: str | Path, resolution_m: Optional[int] = 20, buffer_px: int = 0,
             scl_band: int = 1, feedback: Optional[Feedback] = None) -> SclResult:
    """Write the CloudFree class raster derived from an SCL band, atomically."""
    feedback = feedback or Feedback()
    started = time.perf_counter()
    if buffer_px < 0:
        raise InputError("The buffer must be 0 or more pixels.")
    output = check_output_path(output)
    if not Path(input).exists():
        raise InputError(f"The input {input} does not exist.")
    guard_outputs([output], [input])
    ds, native = _open_scl(input, resolution_m)
    with ds:
        if ds.crs is None:
            raise InputError(f"{Path(str(input)).name} has no coordinate reference system; assign one first.")
        if not 1 <= scl_band <= ds.count:
            raise InputError(f"The SCL band number must be between 1 and {ds.count}; it is {scl_band}.")
        factor = (resolution_m / native) if (resolution_m and native) else 1.0
        width, height = int(round(ds.width / factor)), int(round(ds.height / factor))
        t = ds.transform
        grid = Grid(ds.crs, Affine(t.a * ds.width / width, 0, t.c, 0, t.e * ds.height / height, t.f), width, height)
        resampling = Resampling.mode if factor > 1 else Resampling.nearest
        feedback.info(f"SCL of {Path(str(input)).name}: {ds.width} x {ds.height} px read onto "
                      f"{width} x {height} px at {grid.pixel_size:g}.")
        with OutputSet() as outs:
            scratch = ClassScratch(outs, output, grid)
            for window in grid.strips(STRIP_ROWS):
                feedback.check()
                src, shape = scaled_window(window, ds.width / width, ds.width, ds.height)
                scl = checked_read(ds, scl_band, window=src, out_shape=shape, resampling=resampling)
                scratch.write(scl_to_classes(scl), window)
                feedback.set_progress(90.0 * (window.row_off + window.height) / height)
            stats = finish_class_raster(scratch, output, outs, buffer_px)
            feedback.check()
            outs.commit()
    feedback.set_progress(100.0)
    return SclResult(output, stats, time.perf_counter() - started)
