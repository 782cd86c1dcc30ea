"""How close a reconstruction is to the truth, on the pixels that were filled.

Clear pixels are copied unchanged, so scoring them would only dilute the
error; every metric here looks at the masked pixels alone.  SSIM is computed
on whole bands (it needs neighbourhoods) and then averaged over the masked
pixels only.  Reflectance is expected (DN / 10000); PSNR uses a peak of 1.0.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from ..errors import InputError
from ..reconstruction.box_filter import box_mean

PEAK = 1.0            # reflectance
_SSIM_C1 = (0.01 * PEAK) ** 2
_SSIM_C2 = (0.03 * PEAK) ** 2


#: mask_classes option of an evaluation -> description; which mask values mark a filled pixel
#: (here, with no file I/O, so that the QGIS algorithm can list them without rasterio)
MASK_SCHEMES = {
    "cloudfree": "CloudFree mask: 1 thick cloud, 2 thin cloud, 3 shadow are filled (0 clear, 255 no data)",
    "source": "Gap-fill source raster: 1 and 2 are filled (0 original, 255 no data)",
    "nonzero": "Binary mask: every non-zero value is filled",
}


def ssim_map(x: np.ndarray, y: np.ndarray, radius: int = 3) -> np.ndarray:
    """Structural similarity of two 2-D bands, per pixel, with a uniform 7 x 7 window."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    mx, my = box_mean(x, radius), box_mean(y, radius)
    vx = box_mean(x * x, radius) - mx * mx
    vy = box_mean(y * y, radius) - my * my
    cov = box_mean(x * y, radius) - mx * my
    return ((2 * mx * my + _SSIM_C1) * (2 * cov + _SSIM_C2)) / ((mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2))


def reconstruction_scores(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                          bands: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """MAE, RMSE, PSNR, SSIM per band and overall, and SAM (degrees), on mask pixels.

    `estimate` and `truth` are (bands, H, W) reflectance; `mask` (H, W) is
    True where a pixel was filled.
    """
    if estimate.shape != truth.shape or estimate.shape[1:] != mask.shape or len(bands) != estimate.shape[0]:
        raise InputError(f"Reconstruction {estimate.shape}, reference {truth.shape}, mask {mask.shape} and "
                         f"{len(bands)} band names must describe the same raster.")
    m = mask.astype(bool)
    if not m.any():
        raise InputError("The mask has no pixel to score; nothing was filled.")
    out: Dict[str, Dict[str, float]] = {}
    diffs = []
    for i, band in enumerate(bands):
        d = (estimate[i][m] - truth[i][m]).astype(np.float64)
        diffs.append(d)
        rmse = float(np.sqrt(np.mean(d * d)))
        out[band] = {"mae": float(np.mean(np.abs(d))), "rmse": rmse,
                     "psnr": float(20 * np.log10(PEAK / max(rmse, 1e-12))),
                     "ssim": float(ssim_map(estimate[i], truth[i])[m].mean())}
    d = np.concatenate(diffs)
    rmse = float(np.sqrt(np.mean(d * d)))
    e, t = estimate[:, m].astype(np.float64), truth[:, m].astype(np.float64)
    cos = (e * t).sum(0) / np.maximum(np.linalg.norm(e, axis=0) * np.linalg.norm(t, axis=0), 1e-12)
    out["overall"] = {"mae": float(np.mean(np.abs(d))), "rmse": rmse,
                      "psnr": float(20 * np.log10(PEAK / max(rmse, 1e-12))),
                      "ssim": float(np.mean([out[b]["ssim"] for b in bands])),
                      "sam_deg": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean()),
                      "pixels": int(m.sum())}
    return out
