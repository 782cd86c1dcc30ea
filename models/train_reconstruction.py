"""Train the single-image reconstruction U-Net (and its plain baseline), or the thin-cloud remover.

    .venv/bin/python -m cloudfree.models.train_reconstruction out/training/scenes.npz [--steps 400]
    .venv/bin/python -m cloudfree.models.train_reconstruction out/training/scenes.npz --task thin --minutes 60

Clear real scenes of the training set (the "synthetic" label source: the
clear bases) with cloud-shaped holes: real cloud masks (the teachers' masks
of the real cloudy scenes, and eo-learn's s2cloudless masks) and fractal
ones. Places T49JGM and eolearn are held out: the comparison printed at the
end is on them, against normalised-convolution interpolation and mean fill, on the filled pixels only.

`--task thin` trains a thin-cloud remover instead (cloudfree_thin_s2, not bundled): the same U-Net, residual on
the observed pixels, on the same clear scenes under a synthetic thin-cloud
veil (core.training.synthetic.thin_veil); it is compared on the held-out
places with leaving the veil, filling those pixels by interpolation and by
cloudfree_inpaint_s2, on the veiled pixels only. `reconstruct(thin_cloud="correct",
thin_model=<its .onnx>)` uses it in place of the veil model.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np

from cloudfree.core.reconstruction.inpaint_input import interpolate_holes, network_input, patch_statistics
from cloudfree.core.training.inpainting import (InpaintConfig, InpaintSampler, MaskBank, ThinCloudSampler,
                                                export_inpainter, train_inpainter)
from cloudfree.core.model.card import MODELS_DIR
from cloudfree.core.evaluation.recon_metrics import reconstruction_scores
from cloudfree.core.training.synthetic import TRAIN_BANDS
from cloudfree.core.training.data import load_scenes

DATA = Path(os.environ.get("CLOUDFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VALIDATION_PLACES = {"T49JGM", "eolearn"}


def real_masks(scenes) -> list:
    masks = [np.isin(s.label, (1, 2)) for s in scenes if s.record.label_source == "teacher"]
    clm = np.load(DATA / "s2_l1c_timeseries_eolearn" / "CLM_S2C.npy")[..., 0]
    return masks + [m for m in clm]


def compare(models: dict, stats: dict, val, masks, bands, cases: int = 48) -> dict:
    import torch
    sampler = InpaintSampler(val, bands, 128, MaskBank(masks, np.random.default_rng(99)), 99)
    rows = {name: [] for name in list(models) + ["interpolation", "mean_fill"]}
    for _ in range(cases):
        truth, hole, scored, _ = sampler.draw()
        if scored.sum() < 50:
            continue
        mean, std = patch_statistics(truth[None], hole[None])
        mean, std = mean[0], std[0]
        x = torch.from_numpy(network_input(((truth - mean) / std)[None], hole[None]))
        for name, model in models.items():
            with torch.inference_mode():
                pred = model(x)[0].numpy() * std + mean
            est = np.where(hole[None], pred, truth)
            rows[name].append(reconstruction_scores(est, truth, scored, bands)["overall"])
        guess = interpolate_holes(truth[None], hole[None])[0]
        rows["interpolation"].append(reconstruction_scores(guess, truth, scored, bands)["overall"])
        fill = truth[:, ~hole].mean(axis=1)[:, None, None]
        rows["mean_fill"].append(reconstruction_scores(np.where(hole[None], fill, truth), truth, scored, bands)["overall"])
    return {n: {k: round(float(np.mean([r[k] for r in rs])), 4) for k in ("mae", "rmse", "psnr", "ssim", "sam_deg")}
            for n, rs in rows.items()} | {"cases": len(rows["mean_fill"])}


def compare_thin(model, val, masks, bands, cases: int = 48) -> dict:
    """Scores on the veiled pixels of held-out patches: the remover against the fills and the veil left alone."""
    import torch
    from cloudfree.core.reconstruction.inpainter import fill_holes, load_inpaint_card
    from cloudfree.core.reconstruction.inpaint_input import thin_input
    sampler = ThinCloudSampler(val, bands, 128, MaskBank(masks, np.random.default_rng(99)), 99)
    inpaint = load_inpaint_card()
    from cloudfree.core.reconstruction.thin_cloud import remove_veil
    rows = {name: [] for name in ("thin_removal", "veil_model", "inpaint_fill", "interpolation", "veil_left")}
    for _ in range(cases):
        truth, thin, scored, veiled = sampler.draw()
        if scored.sum() < 50:
            continue
        mean, std = patch_statistics(veiled[None], thin[None])
        with torch.inference_mode():
            pred = model(torch.from_numpy(thin_input(((veiled - mean[0]) / std[0])[None], thin[None])))[0].numpy()
        estimates = {"thin_removal": np.where(thin[None], pred * std[0] + mean[0], veiled),
                     "veil_model": remove_veil(veiled, bands, thin),
                     "inpaint_fill": fill_holes(veiled, bands, thin, inpaint),
                     "interpolation": interpolate_holes(veiled[None], thin[None])[0],
                     "veil_left": veiled}
        for name, est in estimates.items():
            rows[name].append(reconstruction_scores(est, truth, scored, bands)["overall"])
    return {n: {k: round(float(np.mean([r[k] for r in rs])), 4) for k in ("mae", "rmse", "psnr", "ssim", "sam_deg")}
            for n, rs in rows.items()} | {"cases": len(rows["veil_left"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training_set", type=Path)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--minutes", type=float, help="time budget per network (stops at the next check)")
    parser.add_argument("--spectral-weight", type=float, default=0.0,
                        help="weight of a masked spectral (1 - cosine) term added to the masked MSE (default 0)")
    parser.add_argument("--zero-init", action="store_true",
                        help="start the residual network at exactly the interpolation (last layer zeroed)")
    parser.add_argument("--workdir", type=Path, default=Path("out/training/reconstruction"))
    parser.add_argument("--export-only", action="store_true", help="export the trained U-Net of --workdir")
    parser.add_argument("--only-unet", action="store_true",
                        help="train the U-Net only (the comparison then has no plain encoder-decoder row)")
    parser.add_argument("--output", type=Path, default=MODELS_DIR,
                        help="folder for cloudfree_inpaint_s2.onnx and its card (default: models/)")
    parser.add_argument("--task", choices=("inpaint", "thin"), default="inpaint",
                        help="inpaint: the hole-filling U-Net; thin: the thin-cloud remover (cloudfree_thin_s2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    scenes = [s for s in load_scenes([args.training_set]) if s.record.label_source == "synthetic"]
    train = [s for s in scenes if s.record.place not in VALIDATION_PLACES]
    val = [s for s in scenes if s.record.place in VALIDATION_PLACES]
    masks = real_masks(load_scenes([args.training_set]))
    if args.task == "thin":
        train_thin(args, train, val, masks)
        return
    configs = {kind: InpaintConfig(bands=list(TRAIN_BANDS), steps=args.steps, model=kind, max_minutes=args.minutes,
                                   spectral_weight=args.spectral_weight, zero_init=args.zero_init)
               for kind in (("unet",) if args.only_unet else ("unet", "plain"))}
    if args.export_only:
        import torch
        from cloudfree.core.training.inpainting import build_model
        model = build_model(configs["unet"])
        model.load_state_dict(torch.load(args.workdir / "unet" / "best.pt", weights_only=True))
        result = json.loads((args.workdir / "comparison.json").read_text())
        export(model.eval(), {}, result, train, val, configs["unet"], args.output)
        return
    models, stats = {}, None
    for kind, config in configs.items():
        models[kind], stats = train_inpainter(config, train, val, masks, args.workdir / kind)
    result = compare(models, stats, val, masks, TRAIN_BANDS)
    print(json.dumps(result, indent=2))
    (args.workdir / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    export(models["unet"], stats, result, train, val, configs["unet"], args.output)


def export(model, stats, result, train, val, config: InpaintConfig, folder: Path = MODELS_DIR) -> None:
    card = {"name": "cloudfree_inpaint_s2", "kind": "U-Net inpainter (segmentation-models-pytorch), trained by CloudFree",
            "architecture": config.architecture,
            "loss": "MSE on the masked pixels" + (f" + {config.spectral_weight:g} x masked spectral (1 - cosine) term"
                                                  if config.spectral_weight else ""),
            "network": "residual: the output is the normalised-convolution interpolation of the hole plus the "
                       "network's correction" + (" (last layer zero-initialised)" if config.zero_init else ""),
            "training": {"steps": config.steps, "batch_size": config.batch_size, "patch": config.patch,
                         "learning_rate": config.learning_rate, "seed": config.seed},
            "training_data": sorted({s.record.place for s in train}),
            "validation_places": sorted({s.record.place for s in val}),
            "metrics": {"held-out places, filled pixels only (48 patches)": result},
            "licence": "MIT (this repository); data licences as in models/README.md"}
    folder.mkdir(parents=True, exist_ok=True)
    export_inpainter(model, config, stats, folder / "cloudfree_inpaint_s2.onnx", card)


def train_thin(args, train, val, masks) -> None:
    import time
    config = InpaintConfig(bands=list(TRAIN_BANDS), steps=args.steps, max_minutes=args.minutes, task="thin",
                           zero_init=True)  # starts as "leave the veil": training can only improve on the input
    workdir = args.workdir if args.workdir != Path("out/training/reconstruction") else Path("out/training/thin")
    started = time.monotonic()
    model, stats = train_inpainter(config, train, val, masks, workdir / "unet")
    minutes = round((time.monotonic() - started) / 60, 1)
    result = compare_thin(model, val, masks, TRAIN_BANDS)
    print(json.dumps(result, indent=2))
    (workdir / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    card = {"name": "cloudfree_thin_s2", "kind": "U-Net thin-cloud remover (segmentation-models-pytorch), trained by "
                                                 "CloudFree",
            "architecture": config.architecture,
            "loss": "MSE on the thin-cloud pixels (normalised per patch)",
            "network": "residual: the output is the observed (veiled) input plus the network's correction (last "
                       "layer zero-initialised, so it starts by leaving the veil)",
            "training": {"steps_planned": config.steps, "batch_size": config.batch_size, "patch": config.patch,
                         "learning_rate": config.learning_rate, "seed": config.seed,
                         "history": stats["history"], "minutes": minutes},
            "training_data": sorted({s.record.place for s in train}) + ["synthetic thin-cloud veil "
                                                                         "(core.training.synthetic.thin_veil)"],
            "validation_places": sorted({s.record.place for s in val}),
            "metrics": {"held-out places, synthetic thin cloud, veiled pixels only (48 patches)": result},
            "licence": "MIT (this repository); data licences as in models/README.md"}
    export_inpainter(model, config, stats, args.output / "cloudfree_thin_s2.onnx", card)


if __name__ == "__main__":
    main()
