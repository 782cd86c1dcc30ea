"""A small real time series as GeoTIFFs: the eo-learn L1C stack with real s2cloudless masks.

REFERENCE_SCENES.npy holds 5 real dates (101 x 100 px at 10 m, 13 bands of
TOA reflectance) over the EPSG:32633 box in bbox.geojson; frame i is the
date FRAME_DATES[i] and timestamp index FRAME_TIMESTAMP[i] of the s2cloudless
masks CLM_S2C.npy.  Three frames are clear, two fully cloudy.  The series
written here is B02 B03 B04 B08 as uint16 DN (reflectance x 10000), one file
per date, with CloudFree class rasters (1 = cloud, else 0) from the real
masks.  The clear 2015-08-30 target gets the real 39 % cloud mask of
2016-03-17 (timestamp 14), so its true values under the clouds are known.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import rasterio
from rasterio.transform import from_bounds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "s2_l1c_timeseries_eolearn"
FRAME_DATES = ["2015-08-20", "2015-07-31", "2015-09-09", "2015-08-30", "2015-07-11"]
FRAME_TIMESTAMP = [2, 1, 4, 3, 0]
BGRN = [1, 2, 3, 7]          # B02 B03 B04 B08 in the 13-band order
TARGET_CLOUD_TIMESTAMP = 14  # 2016-03-17: 39 % cloud, laid over the clear 2015-08-30 target
CRS = "EPSG:32633"


def grid():
    box = json.loads((DATA / "bbox.geojson").read_text())["coordinates"][0]
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return from_bounds(min(xs), min(ys), max(xs), max(ys), 100, 101)


def frames_dn() -> np.ndarray:
    """(5, 4, 101, 100) uint16 DN of B02 B03 B04 B08."""
    refl = np.load(DATA / "REFERENCE_SCENES.npy")[..., BGRN]
    return np.clip(np.rint(np.moveaxis(refl, -1, 1) * 10000), 1, 65535).astype(np.uint16)


def cloud(timestamp: int) -> np.ndarray:
    return np.load(DATA / "CLM_S2C.npy")[timestamp, ..., 0].astype(bool)


def write_raster(path: Path, array: np.ndarray, transform=None, crs: str = CRS, nodata=None) -> Path:
    array = array if array.ndim == 3 else array[None]
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=array.dtype, crs=crs, transform=transform or grid(),
                       nodata=nodata) as ds:
        ds.write(array)
    return path


def build_series(folder: Path, frames: Optional[List[int]] = None) -> Dict[str, object]:
    """Write the series (clear frames and the cloudy ones, by date) with masks; return paths and truth.

    The target 2015-08-30 (frame 3) gets the timestamp-14 cloud mask; the
    other clear frames are masked by their own (clear) s2cloudless masks, the
    cloudy frames by theirs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    frames = frames if frames is not None else [4, 1, 0, 3, 2]   # in time order
    dn = frames_dn()
    images, masks, dates = [], [], []
    for f in frames:
        date = FRAME_DATES[f]
        cl = cloud(TARGET_CLOUD_TIMESTAMP) if f == 3 else cloud(FRAME_TIMESTAMP[f])
        images.append(str(write_raster(folder / f"s2_{date}.tif", dn[f])))
        masks.append(str(write_raster(folder / f"s2_{date}_mask.tif", cl.astype(np.uint8), nodata=255)))
        dates.append(date)
    return {"images": images, "masks": masks, "dates": dates, "target": frames.index(3),
            "truth": dn[3], "cloud": cloud(TARGET_CLOUD_TIMESTAMP), "folder": folder}
