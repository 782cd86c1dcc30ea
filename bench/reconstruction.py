"""Gap-filling against simple baselines on real time series, with real cloud masks.

    .venv/bin/python bench/reconstruction.py [--json out/bench/reconstruction.json]

Every clear target date of two real stacks gets real cloud masks from the
cloudy dates of eo-learn's s2cloudless record (partial covers of 15-75 %),
so the truth under the "cloud" is known. Each method fills it from the
other dates, and the scores (core/evaluation/recon_metrics.py) are computed on the filled
pixels only (models/multidate_stacks.py: the stacks and this protocol):
  eolearn     5 dates of L1C, 13 bands at 10 m (3 clear: 2015-07-11, 08-30, 09-09)
  worldcereal 10 monthly L2A composites 2020-11 .. 2021-10 (B02-B08, B11, B12)
Methods: the learned multi-date fill (gapfill corrected by a network,
models/train_multidate.py; none is bundled: each given with
--multidate-model is scored on the stack its training held out; `make
bench-reconstruction` gives the two folds kept in bench/models/), gapfill (local
seasonal correction, time-weighted), linear
interpolation in time, nearest clear date, mean fill, and two that use the
target date alone: normalised-convolution interpolation from the clear
neighbours, and the single-image U-Net (cloudfree_inpaint_s2, which starts
from that interpolation; n/a on WorldCereal, which lacks its band B8A).

Thin cloud (eo-learn, a place no model trained on): each clear target date
under a synthetic thin-cloud veil (core.training.synthetic.thin_veil) laid
in the real cloud shapes; on the pixels the veil makes thin cloud, the
veil taken off (core.reconstruction.thin_cloud; and a trained remover given
with --thin-model) against filling them from the same image (U-Net,
interpolation), from the other dates (gapfill) and leaving the veil. The
synthetic veils and the veil model share the veil's spectrum (the remover
knows neither their brightness, drawn from 0.8-1.3, nor their +-7 % per band),
so the real hazy/clear pair of eo-learn is scored too.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from cloudfree.core.reconstruction.gapfill import gapfill, linear_in_time, mean_fill, nearest_date
from cloudfree.core.evaluation.recon_metrics import reconstruction_scores
from cloudfree.core.reconstruction.inpainter import fill_holes, load_inpaint_card, load_thin_card
from cloudfree.core.reconstruction.learned_fill import learned_gapfill, load_multidate_card
from cloudfree.core.model.card import ModelCard
from cloudfree.core.reconstruction.thin_cloud import remove_veil
from cloudfree.core.reconstruction.inpaint_input import interpolate_holes
from cloudfree.core.training.synthetic import THIN_ALPHA, TRAIN_BANDS, thin_opacity, thin_veil
from cloudfree.models.multidate_stacks import Method, benchmark_masks, eolearn_stack, score_methods, worldcereal_stack
from results_file import write_json  # noqa: E402 - bench/ is the script's folder



def unet_single_image(stack, clear, days, target, bands):
    hole = ~clear[target]
    return fill_holes(stack[target].astype(np.float32), bands, hole, load_inpaint_card()).astype(np.float64)


METHODS: Dict[str, Method] = {
    "gapfill": lambda s, c, d, t, b: gapfill(s, c, d, t)[0],
    "linear_in_time": lambda s, c, d, t, b: linear_in_time(s, c, d, t),
    "nearest_date": lambda s, c, d, t, b: nearest_date(s, c, d, t),
    "mean_fill": lambda s, c, d, t, b: mean_fill(s, c, t),
    "interpolation_single_image": lambda s, c, d, t, b: interpolate_holes(s[t][None], ~c[t][None])[0],
    "unet_single_image": unet_single_image,
}


def run(name: str, loader, masks: List[np.ndarray], fills: List[ModelCard]) -> Dict:
    """Every method on one stack; a learned fill only on the stack its training held out, the single-image U-Net
    only where the stack has its bands."""
    stack = loader()
    methods: Dict[str, Method] = {}
    for card in fills:
        if card.raw.get("held_out") == name:
            methods[f"learned_fill ({card.name})"] = \
                lambda s, c, d, t, b, card=card: learned_gapfill(s, c, d, t, card)[0]
    methods.update(METHODS)
    if not set(load_inpaint_card().bands) <= set(stack[4]):
        methods.pop("unet_single_image")
    return score_methods(stack, masks, methods)


def thin_cloud(masks: List[np.ndarray], thin_model: Optional[str] = None, seed: int = 5) -> Dict:
    """Scores on veiled pixels of the clear eo-learn dates, 10 bands (TRAIN_BANDS)."""
    stack, clear, days, targets, bands = eolearn_stack()
    index = [bands.index(b) for b in TRAIN_BANDS]
    h, w = stack.shape[2:]
    rng = np.random.default_rng(seed)
    inpaint_card = load_inpaint_card()
    thin_card = load_thin_card(thin_model) if thin_model else None
    pooled: Dict[str, List[Dict[str, float]]] = {m: [] for m in (
        "veil_removed", "trained_remover", "unet_single_image", "interpolation_single_image", "gapfill",
        "veil_left") if m != "trained_remover" or thin_card is not None}
    for t in targets:
        for mask in masks:
            region = mask[:h, :w] & clear[t]
            opacity = np.where(region, thin_opacity((h, w), 0.9, rng), 0.0).astype(np.float32)
            veiled_pixels = opacity >= THIN_ALPHA
            if veiled_pixels.sum() < 100:
                continue
            truth = stack[t][index].astype(np.float32)
            veiled = thin_veil(truth, opacity, rng)
            observed = stack.copy()
            observed[t][index] = veiled
            masked_clear = clear.copy()
            masked_clear[t] &= ~veiled_pixels
            estimates = {
                "veil_removed": remove_veil(veiled, TRAIN_BANDS, veiled_pixels),
                "unet_single_image": fill_holes(veiled, TRAIN_BANDS, veiled_pixels, inpaint_card),
                "interpolation_single_image": interpolate_holes(veiled[None], veiled_pixels[None])[0],
                "gapfill": gapfill(observed, masked_clear, days, t)[0][index],
                "veil_left": veiled}
            if thin_card is not None:
                estimates["trained_remover"] = fill_holes(veiled, TRAIN_BANDS, veiled_pixels, thin_card)
            for method, est in estimates.items():
                pooled[method].append(reconstruction_scores(est.astype(np.float64), truth.astype(np.float64),
                                                            veiled_pixels, TRAIN_BANDS)["overall"])
    table = {m: {k: float(np.mean([r[k] for r in rows])) for k in ("mae", "rmse", "psnr", "ssim", "sam_deg")}
             for m, rows in pooled.items()}
    return {"targets": len(targets), "masks": len(masks), "bands": TRAIN_BANDS, "dates": len(days),
            "cases": len(pooled["veil_left"]), "scores": table}


def real_thin_pairs(thin_model: Optional[str] = None) -> Dict:
    """Real hazy/clear pairs of eo-learn (10 and 20 days apart): the hazy date's thin cloud (as cloudfree_s2 masks
    it) corrected, filled or left, scored against the clear date on those pixels (clear there per s2cloudless).

    The surface changes a little in 10 days and the view and sun differ, so every method carries that
    error; the comparison between methods is what the pair shows.
    """
    from cloudfree.core.masking.arrays import mask_array
    stack, clear, days, _, bands = eolearn_stack()
    index = [bands.index(b) for b in TRAIN_BANDS]
    stamps = [date.fromordinal(int(d)).isoformat() for d in days]
    pairs = [(stamps.index("2015-08-20"), stamps.index("2015-08-30")),
             (stamps.index("2015-07-31"), stamps.index("2015-07-11"))]
    inpaint_card = load_inpaint_card()
    thin_card = load_thin_card(thin_model) if thin_model else None
    out: Dict = {}
    for hazy, ref in pairs:
        classes = mask_array(stack[hazy], bands, pixel_m=10.0).classes
        thin, gone = classes == 2, np.isin(classes, (1, 3))
        scored = thin & clear[ref]
        observed = stack[hazy][index].astype(np.float32)
        thick_filled = fill_holes(observed, TRAIN_BANDS, gone, inpaint_card) if gone.any() else observed
        estimates = {
            "veil_removed": remove_veil(thick_filled, TRAIN_BANDS, thin),
            "unet_single_image": fill_holes(observed, TRAIN_BANDS, thin | gone, inpaint_card),
            "interpolation_single_image": interpolate_holes(observed[None], (thin | gone)[None])[0],
            "veil_left": observed}
        if thin_card is not None:
            estimates["trained_remover"] = fill_holes(thick_filled, TRAIN_BANDS, thin, thin_card)
        truth = stack[ref][index].astype(np.float64)
        out[f"{stamps[hazy]} against {stamps[ref]}"] = {
            "thin_pixels": int(thin.sum()), "scored_pixels": int(scored.sum()),
            "scores": {m: reconstruction_scores(e.astype(np.float64), truth, scored, TRAIN_BANDS)["overall"]
                       for m, e in estimates.items()}}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=6, help="real cloud masks per target date")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--thin-model", help="a trained thin-cloud remover (.onnx, models/train_reconstruction.py "
                                             "--task thin) to score beside the veil model")
    parser.add_argument("--multidate-model", action="append", help="a learned multi-date fill (.onnx, "
                        "models/train_multidate.py) to score on the stack it held out; repeatable")
    args = parser.parse_args()
    masks = benchmark_masks(args.masks)
    fills = [load_multidate_card(p) for p in args.multidate_model or []]   # none is bundled
    results = {"eolearn": run("eolearn", eolearn_stack, masks, fills),
               "worldcereal": run("worldcereal", worldcereal_stack, masks, fills),
               "eolearn_thin_cloud": thin_cloud(masks, args.thin_model)}
    for name, r in results.items():
        what = "veiled pixels only" if name.endswith("thin_cloud") else "filled pixels only"
        print(f"\n{name}: {r['targets']} target dates x {r['masks']} real masks, {r['dates']} dates, "
              f"{len(r['bands'])} bands (mean over cases, {what})")
        print(f"{'method':<40} {'MAE':>7} {'RMSE':>7} {'PSNR dB':>8} {'SSIM':>6} {'SAM deg':>8}")
        for m, s in r["scores"].items():
            print(f"{m:<40} {s['mae']:7.4f} {s['rmse']:7.4f} {s['psnr']:8.2f} {s['ssim']:6.3f} {s['sam_deg']:8.2f}")
    results["eolearn_real_thin_pairs"] = real_thin_pairs(args.thin_model)
    for pair, r in results["eolearn_real_thin_pairs"].items():
        print(f"\nreal pair {pair}: {r['thin_pixels']} px thin cloud on the hazy date, {r['scored_pixels']} scored "
              "(clear on the other date); against the other date")
        for m, s in r["scores"].items():
            print(f"{m:<40} {s['mae']:7.4f} {s['rmse']:7.4f} {s['psnr']:8.2f} {s['ssim']:6.3f} {s['sam_deg']:8.2f}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
