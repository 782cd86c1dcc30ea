"""Build small real .SAFE products for tests: real T33UUU JP2 imagery in a real metadata tree.

The imagery is the T33UUU L1C subset from ../shared/data (1536 x 768 px at
10 m); the metadata (MTD, MTD_TL, manifest) is a real product's from
../shared/data/safe_metadata, with its tile id rewritten to 33UUU.  Each band
file listed by the metadata is written as lossless JP2 at its resolution, with
`dn_offset` added to valid DN, as baseline 04.00+ products encode them.  L2A
products get an SCL built from real Sen2Cor SCL values (the Layton scene,
nearest-resampled onto the tile grid).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from cloudfree.core.io.safe import open_safe
from cloudfree.core.io.safe_integrity import restamp_manifest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JP2_DIR = DATA / "s2_l1c_t33uuu_jp2"
SCL_SOURCE = DATA / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"
L1C_N0301 = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
L2A_N0509 = "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825.SAFE"
L2A_N0212 = "S2A_MSIL2A_20190212T192651_N0212_R013_T07HFE_20201007T160857.SAFE"
WIDTH_10M, HEIGHT_10M = 1536, 768


def _copy_metadata(src: Path, dst: Path, old_tile: str) -> None:
    for f in src.rglob("*"):
        if f.is_file() and f.suffix.lower() in (".xml", ".safe"):
            rel = Path(str(f.relative_to(src)).replace(old_tile, "33UUU"))
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / rel).write_text(f.read_text(encoding="utf-8").replace(old_tile, "33UUU"), encoding="utf-8")


def _read_band(band: str, res: int) -> tuple:
    with rasterio.open(JP2_DIR / f"T33UUU_20170216T102101_{band}.jp2") as ds:
        shape = (HEIGHT_10M * 10 // res, WIDTH_10M * 10 // res)
        resampling = Resampling.average if shape[0] < ds.height else Resampling.nearest
        dn = ds.read(1, out_shape=shape, resampling=resampling)
        t = ds.transform
        transform = rasterio.Affine(res, 0, t.c, 0, -res, t.f)
        return dn, ds.crs, transform


def _read_scl(res: int) -> np.ndarray:
    with rasterio.open(SCL_SOURCE) as ds:
        return ds.read(1, out_shape=(HEIGHT_10M * 10 // res, WIDTH_10M * 10 // res), resampling=Resampling.nearest)


def build_safe(dst_dir: Path, metadata: str = L1C_N0301, dn_offset: int = 0) -> Path:
    """Write a small .SAFE product under dst_dir and return its path."""
    src = DATA / "safe_metadata" / metadata
    old_tile = re.search(r"_T(\d{2}[A-Z]{3})_", metadata).group(1)
    product = Path(dst_dir) / metadata.replace(old_tile, "33UUU")
    if product.exists():
        shutil.rmtree(product)
    _copy_metadata(src, product, old_tile)
    for band, options in open_safe(product).files.items():
        for res, path in options.items():
            if band == "SCL":
                data, (_, crs, transform) = _read_scl(res), _read_band("B02", res)
            else:
                dn, crs, transform = _read_band(band, res)
                data = np.where(dn > 0, dn.astype(np.int32) + dn_offset, 0).astype(np.uint16)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(path, "w", driver="JP2OpenJPEG", width=data.shape[1], height=data.shape[0],
                               count=1, dtype=data.dtype, crs=crs, transform=transform,
                               QUALITY=100, REVERSIBLE="YES") as out:
                out.write(data, 1)
    restamp_manifest(product)  # a real product's manifest lists the checksums of the files it holds
    return product
