"""Training scenes from an analyst's own data: L2A products with their SCL, or
an image with a label raster painted in QGIS.

Scenes are read through the same sources the masking engine uses, at the
processing resolution, so a model is trained on exactly what it will see.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import InputError
from ..evaluation.masks import parse_scheme
from ..io.inputs import available_bands, is_safe_input, open_band_source
from ..model.card import NODATA_CLASS
from ..io.safe import open_safe
from ..masking.scl import scl_to_classes
from .synthetic import IGNORE, TRAIN_BANDS
from .data import Scene, SceneRecord

MAX_PIXELS = 4096 * 4096  # one scene in memory; larger inputs should be cut into tiles first


def _read_cube(path: str | Path, resolution_m: int, band_preset: Optional[str], band_mapping: Optional[str]):
    have = [b for b in TRAIN_BANDS if b in available_bands(path, band_preset, band_mapping)]
    if not {"B02", "B03", "B04"} <= set(have):
        raise InputError(f"{Path(path).name} lacks blue, green or red (B02, B03, B04); every CloudFree model needs them.")
    source = open_band_source(path, have, resolution_m, band_preset, band_mapping)
    try:
        grid = source.grid
        if grid.width * grid.height > MAX_PIXELS:
            raise InputError(f"{Path(path).name} is {grid.width} x {grid.height} px at {resolution_m} m; cut it "
                             f"into parts of at most {MAX_PIXELS} px (Raster > Extraction > Clip) to train on it.")
        data, valid = source.read(Window(0, 0, grid.width, grid.height))
    finally:
        source.close()
    cube = np.full((len(TRAIN_BANDS), grid.height, grid.width), np.nan, np.float32)
    for i, b in enumerate(have):
        cube[TRAIN_BANDS.index(b)] = data[i]
    return cube, valid, grid


def scene_from_scl(product: str | Path, resolution_m: int = 20, place: Optional[str] = None) -> Scene:
    """An L2A product's bands, labelled by its own Scene Classification Layer."""
    if not is_safe_input(product):
        raise InputError(f"{Path(product).name} is not a .SAFE product; SCL labels come from L2A products.")
    info = open_safe(product)
    if info.level != "L2A" or "SCL" not in info.files:
        raise InputError(f"{info.path.name} is {info.level} with no SCL; SCL labels need an L2A product.")
    cube, valid, grid = _read_cube(product, resolution_m, None, None)
    scl_path = info.files["SCL"][min(info.files["SCL"])]
    with rasterio.open(scl_path) as ds:
        scl = ds.read(1, out_shape=(grid.height, grid.width), resampling=Resampling.nearest)
    label = scl_to_classes(scl)
    label[(label == NODATA_CLASS) | ~valid] = IGNORE
    tile = info.path.name.split("_")[5] if info.path.name.count("_") >= 6 else Path(_product_name(product)).stem
    return Scene(SceneRecord(info.path.name, place or tile, "scl", resolution_m, "L2A", "user data"), cube, label)


def scene_from_label_raster(image: str | Path, labels: str | Path, resolution_m: int = 20,
                            label_classes: str = "cloudfree", band_preset: Optional[str] = None,
                            band_mapping: Optional[str] = None, place: Optional[str] = None) -> Scene:
    """An image (raster or .SAFE) with a label raster on any grid, resampled (nearest) onto the image's."""
    cube, valid, grid = _read_cube(image, resolution_m, band_preset, band_mapping)
    scheme = parse_scheme(label_classes)
    if any(c > 3 for c in scheme.values()):
        raise InputError("Training labels must say thick or thin cloud and shadow; use classes 0-3 "
                         "(scheme 'cloudfree' or value=class pairs with classes 0 to 3).")
    if not Path(labels).is_file():
        raise InputError(f"The label raster {labels} does not exist.")
    with rasterio.open(labels) as src:
        if src.crs is None:
            raise InputError(f"The label raster {Path(labels).name} has no CRS; assign the image's.")
        with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                       resampling=Resampling.nearest) as vrt:
            raw = vrt.read(1, masked=True)
    lut = np.full(max(int(raw.max()) + 1 if raw.count() else 1, max(scheme) + 1), IGNORE, np.uint8)
    for value, cls in scheme.items():
        lut[value] = cls
    label = lut[np.asarray(raw.filled(0), np.int64)]
    label[np.ma.getmaskarray(raw) | ~valid] = IGNORE
    if not (label != IGNORE).any():
        raise InputError(f"{Path(labels).name} has no labelled pixel over {Path(image).name}; check that they overlap "
                         "and that the label classes are right.")
    name = _product_name(image)
    return Scene(SceneRecord(name, place or Path(name).stem, "human", resolution_m, "", "user data"), cube, label)


def _product_name(path: str | Path) -> str:
    """A .SAFE's folder name for an MTD xml inside it; otherwise the file name."""
    p = Path(path)
    return p.parent.name if p.suffix.lower() == ".xml" else p.name
