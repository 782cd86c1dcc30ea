"""Scoring a reconstruction raster against a reference raster on the pixels that were filled.

The raster front of core.evaluation.recon_metrics: both images are read as reflectance
with the same bands, the mask says which pixels were filled, and the scores
(MAE, RMSE, PSNR, SSIM per band and overall, SAM) are taken on those pixels
only, where both images hold data.  The mask can be a CloudFree class raster
(filled = thick cloud, thin cloud or shadow), a gap-fill source raster
(filled = codes 1 and 2), or any binary mask (filled = non-zero).

Memory: read in full-width strips with a halo of SSIM_RADIUS + 1 rows, each
strip scored with reconstruction_scores and the sums pooled, which gives
exactly the whole-image scores (SSIM needs neighbourhoods, the halo gives
them); about bands x 50 bytes per pixel of a strip, within `max_memory_mb`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
from rasterio.windows import Window

from ..io.bands import canonical_band
from ..errors import InputError
from .masks import write_table
from ..io.inputs import open_band_source
from .recon_metrics import MASK_SCHEMES, PEAK, reconstruction_scores
from ..reconstruction.timeseries import GridRaster, describe_grid, same_grid, series_bands

SSIM_RADIUS = 3
METRICS = ("mae", "rmse", "psnr", "ssim")


def filled_from_mask(values: np.ndarray, covered: np.ndarray, scheme: str) -> np.ndarray:
    """Which pixels of a mask window were filled, under a mask scheme."""
    if scheme == "cloudfree":
        return covered & np.isin(values, (1, 2, 3))
    if scheme == "source":
        return covered & np.isin(values, (1, 2))
    if scheme == "nonzero":
        return covered & (values != 0)
    raise InputError(f"Unknown mask classes '{scheme}'; use one of {', '.join(MASK_SCHEMES)}.")


class _Pool:
    """Pixel-weighted sums of per-strip scores; gives the whole-image scores."""

    def __init__(self, bands: Sequence[str]) -> None:
        self.bands = list(bands)
        self.n: float = 0  # a pixel count, summed from the scores' float "pixels"
        self.sums = {b: np.zeros(3) for b in self.bands}   # mae, squared error, ssim
        self.sam = 0.0

    def add(self, scores: Dict[str, Dict[str, float]]) -> None:
        n = scores["overall"]["pixels"]
        self.n += n
        for b in self.bands:
            s = scores[b]
            self.sums[b] += n * np.array([s["mae"], s["rmse"] ** 2, s["ssim"]])
        self.sam += n * scores["overall"]["sam_deg"]

    def scores(self) -> Dict[str, Dict[str, float]]:
        out: Dict[str, Dict[str, float]] = {}
        for b in self.bands:
            mae, mse, ssim = self.sums[b] / self.n
            out[b] = _row(mae, mse, ssim)
        mean = np.mean([self.sums[b] for b in self.bands], axis=0) / self.n
        out["overall"] = dict(_row(*mean), sam_deg=self.sam / self.n, pixels=int(self.n))
        return out


def _row(mae: float, mse: float, ssim: float) -> Dict[str, float]:
    rmse = float(np.sqrt(mse))
    return {"mae": float(mae), "rmse": rmse, "psnr": float(20 * np.log10(PEAK / max(rmse, 1e-12))),
            "ssim": float(ssim)}


def evaluate_reconstruction(reconstruction: str | Path, reference: str | Path, mask: str | Path,
                            bands: Optional[Sequence[str]] = None, mask_classes: str = "cloudfree",
                            band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                            resolution_m: Optional[int] = None,
                            max_memory_mb: float = 512.0) -> Dict[str, Dict[str, float]]:
    """Scores of `reconstruction` against `reference` on the filled pixels of `mask`.

    Both rasters are read with the same band preset or mapping (a gap-fill
    output has the layout of its input); `bands` picks some of them (default:
    all of the reconstruction's).  The two must share a grid; the mask may
    be coarser (same CRS), it is read by nearest neighbour.  Returns
    {band: {mae, rmse, psnr, ssim}, "overall": {..., sam_deg, pixels}} in
    reflectance (PSNR peak 1.0).
    """
    if mask_classes not in MASK_SCHEMES:
        raise InputError(f"Unknown mask classes '{mask_classes}'; use one of {', '.join(MASK_SCHEMES)}.")
    names = [canonical_band(b) for b in bands] if bands else series_bands(reconstruction, band_preset, band_mapping)
    recon = open_band_source(reconstruction, names, resolution_m, band_preset, band_mapping)
    try:
        ref = open_band_source(reference, names, resolution_m, band_preset, band_mapping)
    except Exception:
        recon.close()
        raise
    try:
        if not same_grid(recon.grid, ref.grid):
            raise InputError(f"The reconstruction ({describe_grid(recon.grid)}) and the reference "
                             f"({describe_grid(ref.grid)}) are on different grids; score rasters of the same "
                             "extent and resolution (resample one onto the other first).")
        filled = GridRaster(mask, recon.grid, "mask")
        try:
            pool = _Pool(names)
            grid, halo = recon.grid, SSIM_RADIUS + 1
            rows = max(32, int(max_memory_mb * 2 ** 20 // (grid.width * len(names) * 50 + 1)) - 2 * halo)
            for y in range(0, grid.height, rows):
                n = min(rows, grid.height - y)
                top, bottom = max(0, y - halo), min(grid.height, y + n + halo)
                window = Window(0, top, grid.width, bottom - top)
                est, est_ok = recon.read(window)
                truth, truth_ok = ref.read(window)
                m = filled_from_mask(*filled.read(window), mask_classes) & est_ok & truth_ok
                m[:y - top] = False
                m[y - top + n:] = False
                if m.any():
                    pool.add(reconstruction_scores(est, truth, m, names))
        finally:
            filled.close()
    finally:
        recon.close()
        ref.close()
    if pool.n == 0:
        raise InputError(f"The mask {Path(mask).name} marks no pixel as filled where both rasters hold data "
                         f"(mask classes: {MASK_SCHEMES[mask_classes]}); check the mask and its classes.")
    return pool.scores()


def format_recon_table(scores: Dict[str, Dict[str, float]], title: str = "") -> str:
    """A text table: one row per band and the overall row, with SAM and the pixel count."""
    rows = [title] if title else []
    rows.append(f"{'band':<8} {'MAE':>8} {'RMSE':>8} {'PSNR dB':>8} {'SSIM':>7} {'SAM deg':>8} {'pixels':>10}")
    for band, s in scores.items():
        extra = (f" {s['sam_deg']:8.3f} {s['pixels']:>10}" if band == "overall" else "")
        rows.append(f"{band:<8} {s['mae']:8.5f} {s['rmse']:8.5f} {s['psnr']:8.2f} {s['ssim']:7.4f}{extra}")
    return "\n".join(rows)


def write_recon_scores(scores: Dict[str, Dict[str, float]], path: str | Path) -> Path:
    """Scores as CSV (one row per band, then overall) or JSON, chosen by the file's extension."""
    return write_table(scores, path, "band", list(METRICS) + ["sam_deg", "pixels"])
