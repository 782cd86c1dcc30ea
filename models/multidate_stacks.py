"""The real time series on hand, as stacks for gap-filling, and the one protocol that scores fills on them.

    eolearn      5 dates of L1C, 13 bands at 10 m (3 clear), Slovenia 2015: held out from every training run
                 of the shipped multi-date fill, so its figures there are on an unseen place
    worldcereal  10 monthly L2A composites 2020-11 .. 2021-10 (9 bands, 10 m), Belgium
    layton       6 L2A dates 2020-06-15 .. 07-22 (B02 B03 B04 B08, ~30 m), Alberta; clear = Sen2Cor's SCL
                 says vegetation, bare, water, dark or unclassified and the hand-painted shadow is absent,
                 grown by 2 px; RGB from an 8-bit display image (saturates near 0.4, clouds only)
    wright       30 dates of DEA Sentinel-2 ARD (10 bands, 10 m, 100 x 100 px), arid Australia; the dates are
                 unknown and taken as 10 days apart (Sentinel-2A's revisit, in order); clear = cloudfree_s2
                 calls the pixel clear, grown by 2 px, on dates not ten times darker than the rest (one is);
                 training only

Scoring (score_methods): every clear target date gets real cloud shapes
(eo-learn's s2cloudless masks of its partly cloudy dates, 15-75 % cover), so
the truth under the "cloud" is known; each method fills it, and
core.evaluation.recon_metrics scores the filled pixels only.
"""
from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

from cloudfree.core.evaluation.recon_metrics import reconstruction_scores
from cloudfree.core.reconstruction.box_filter import box_mean
from cloudfree.models.clear_scenes import L1C_BANDS, eolearn_series

DATA = Path(os.environ.get("CLOUDFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
EO = DATA / "s2_l1c_timeseries_eolearn"
WC = DATA / "s2_l2a_monthly_worldcereal" / "worldcereal_preprocessed_inputs.nc"
LAYTON = DATA / "s2_l2a_shadow_layton"
WRIGHT = DATA / "s2_timeseries_wright" / "wright_stack_and_clear.npz"
WRIGHT_ASSUMED_DAYS = 10.0
WC_BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12"]
LAYTON_BANDS = ["B02", "B03", "B04", "B08"]
SCL_CLEAR = (2, 4, 5, 6, 7)   # dark, vegetation, bare, water, unclassified
Stack = Tuple[np.ndarray, np.ndarray, List[float], List[int], List[str]]   # stack, clear, days, targets, bands
#: A fill method: (stack, clear, days, target, bands) -> the target date filled, (bands, H, W).
Method = Callable[[np.ndarray, np.ndarray, List[float], int, List[str]], np.ndarray]


def benchmark_masks(limit: int) -> List[np.ndarray]:
    """Cloud masks of partly cloudy eo-learn dates (s2cloudless), 15-75 % cover."""
    clm = np.load(EO / "CLM_S2C.npy")[..., 0]
    covers = clm.reshape(len(clm), -1).mean(axis=1)
    return [clm[i] for i in np.flatnonzero((covers > 0.15) & (covers < 0.75))[:limit]]


def eolearn_stack() -> Stack:
    reflectance, dates, clear = eolearn_series()
    targets = [k for k in range(len(dates)) if clear[k].all()]  # the three clear dates
    return reflectance.astype(np.float64), clear, [float(d.toordinal()) for d in dates], targets, L1C_BANDS


def worldcereal_stack() -> Stack:
    import rasterio
    bands, days = [], []
    for b in WC_BANDS:
        with rasterio.open(f"NETCDF:{WC}:S2-L2A-{b}") as ds:
            bands.append(ds.read().astype(np.int64) & 0xFFFF)  # unsigned 16-bit stored as int16
            days = [float((date(1990, 1, 1) + timedelta(days=int(ds.tags(i + 1)["NETCDF_DIM_t"]))).toordinal())
                    for i in range(ds.count)]
    cube = np.stack(bands, axis=1)                          # (months, bands, H, W)
    valid = np.all((cube > 0) & (cube < 65535), axis=1)
    keep = [t for t in range(len(cube)) if valid[t].mean() > 0.99]
    return cube[keep] / 1e4, valid[keep], [days[t] for t in keep], list(range(len(keep))), WC_BANDS


def layton_stack() -> Stack:
    """Layton's six dates (training and validation take different rows of them: models/train_multidate.py)."""
    import rasterio

    def read(path: Path) -> np.ndarray:
        with rasterio.open(path) as ds:
            return ds.read()
    cubes, clears, days = [], [], []
    for day in sorted(d for d in LAYTON.iterdir() if d.is_dir()):
        rgb, nir = read(day / "RGB.tif").astype(np.float32), read(day / "B08.tif")[0].astype(np.float32)
        cubes.append(np.concatenate([rgb[::-1] / (2.5 * 255), nir[None] / 65535]))   # B02 B03 B04 from R G B
        scl, shadow = read(day / "SCL.tif")[0], read(day / "shadow_mask_from_baseline.tif")[0]
        unclear = ~np.isin(scl, SCL_CLEAR) | (shadow == 1) | (nir <= 0) | (rgb.max(axis=0) >= 255)
        clears.append(box_mean(unclear.astype(np.float64), 2) == 0)   # grown by 2 px: Sen2Cor misses cloud edges
        days.append(float(date.fromisoformat(day.name).toordinal()))
    stack, clear = np.stack(cubes).astype(np.float64), np.stack(clears)
    targets = [t for t in range(len(days)) if clear[t].mean() > 0.5]
    return stack, clear, days, targets, LAYTON_BANDS


def wright_stack() -> Stack:
    from cloudfree.core.masking.arrays import mask_array
    npz = np.load(WRIGHT)
    stack = npz["stack_yxbt"].transpose(3, 2, 0, 1).astype(np.float64) / 1e4   # (dates, bands, H, W)
    bands = [str(b) for b in npz["band_names"]]
    clear = np.stack([box_mean((mask_array(date_.astype(np.float32), bands, pixel_m=10.0).classes != 0)
                               .astype(np.float64), 2) == 0 for date_ in stack])
    level = np.median(stack, axis=(1, 2, 3))
    clear &= (level > level.mean() / 3)[:, None, None]   # one date reads a tenth of the others in every band
    days = [WRIGHT_ASSUMED_DAYS * i for i in range(len(stack))]
    return stack, clear, days, [t for t in range(len(days)) if clear[t].mean() > 0.5], bands


def layton_cloud_shapes() -> List[np.ndarray]:
    """Sen2Cor's cloud and shadow masks of the Layton dates: real cloud shapes for training holes."""
    import rasterio
    shapes = []
    for day in sorted(d for d in LAYTON.iterdir() if d.is_dir()):
        with rasterio.open(day / "SCL.tif") as ds:
            shapes.append(np.isin(ds.read(1), (3, 8, 9, 10)))
    return shapes


def score_methods(stack: Stack, masks: List[np.ndarray], methods: Dict[str, Method]) -> Dict:
    """Mean scores per method over every clear target date x real mask, on the hidden pixels only."""
    reflectance, clear, days, targets, bands = stack
    h, w = reflectance.shape[2:]
    pooled: Dict[str, List[Dict[str, float]]] = {m: [] for m in methods}
    for t in targets:
        for mask in masks:
            cloud = mask[:h, :w] & clear[t]
            masked_clear = clear.copy()
            masked_clear[t] &= ~cloud
            for name, fn in methods.items():
                est = fn(reflectance, masked_clear, days, t, bands)
                pooled[name].append(reconstruction_scores(est, reflectance[t], cloud, bands)["overall"])
    table = {m: {k: float(np.mean([r[k] for r in rows])) for k in ("mae", "rmse", "psnr", "ssim", "sam_deg")}
             for m, rows in pooled.items()}
    return {"targets": len(targets), "masks": len(masks), "bands": bands, "dates": len(days), "scores": table}
