"""A small real L1C raster and a cloud mask for single-image reconstruction front ends (CLI, QGIS).

The 13 real T33UUU JP2 bands (2017-02-16) read decimated to 768 x 384 px (20 m)
and cropped to 128 x 128 px, written as a uint16 GeoTIFF (DN = reflectance
x 10000), the band order of the s2_l1c preset.  The mask has a block of
class 1 ("thick cloud"), everything else clear.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import rasterio
from rasterio.transform import from_origin

import safe_fixture
from cloudfree.core.io.bands import ALL_BANDS

DATA = safe_fixture.DATA / "s2_l1c_t33uuu_jp2"
SIZE = 128
ROW0, COL0 = 100, 400
BLOCK = (slice(40, 72), slice(50, 90))  # a 32 x 40 px "cloud"


def build_l1c_raster(path: Path, size: int = SIZE) -> Path:
    """The 13 bands at 20 m (the engine's reduced-resolution JP2 read), a size x size crop."""
    bands = []
    for b in ALL_BANDS:
        with rasterio.open(next(DATA.glob(f"*_{b}.jp2"))) as ds:
            crs, t = ds.crs, ds.transform  # the last band, B12, is a 20 m band
            bands.append(ds.read(1, out_shape=(384, 768))[ROW0:ROW0 + size, COL0:COL0 + size])
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=len(ALL_BANDS), dtype="uint16",
                       crs=crs, transform=from_origin(t.c + COL0 * 20, t.f - ROW0 * 20, 20, 20)) as dst:
        dst.write(np.stack(bands))
    return path


def write_class_raster(path: Path, like: Path, classes: np.ndarray) -> Path:
    """A CloudFree class raster (uint8, 255 no data) on the grid of `like`."""
    with rasterio.open(like) as src:
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform, nodata=255)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
    return path


def build_block_mask(path: Path, like: Path) -> Tuple[Path, np.ndarray]:
    """A CloudFree class raster on the grid of `like` with BLOCK as class 1; returns it and the hole."""
    classes = np.zeros((SIZE, SIZE), np.uint8)
    classes[BLOCK] = 1
    return write_class_raster(path, like, classes), classes == 1


def build_display_image(path: Path, size: int = 64) -> Path:
    """An 8-bit, 3-band display image (values 0-255, not reflectance) on a UTM grid: what the engine refuses."""
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(np.random.default_rng(0).integers(0, 255, (3, size, size), dtype=np.uint8))
    return path
