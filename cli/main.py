"""Command line: `python -m cloudfree` / `cloudfree`, for scripts and batch use."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import tempfile
from pathlib import Path
from typing import List, Optional

# names load on first use (core.api): --help stays fast, torch loads only when training starts
from ..core.api import BAND_SETS, DEFAULT_MASK_RESOLUTION_M, DEVICES, MODELS_DIR, PRESETS, limit_gdal_cache, load_card
from .batch import add_batch_parser, run_batch_command
from .reconstruction import COMMANDS as RECON_COMMANDS, add_recon_parsers, run_recon_command
from ..core.errors import InputError, describe_error
from ..core.progress import TqdmFeedback


def _common(p: argparse.ArgumentParser, resolution_m: int) -> None:
    p.add_argument("input", help="raster file, .SAFE folder, .SAFE .zip, or MTD_MSIL*.xml")
    p.add_argument("-o", "--output", required=True, help="output class raster (.tif, Cloud Optimized GeoTIFF)")
    p.add_argument("--resolution", type=int, choices=(10, 20, 60), default=resolution_m,
                   help=f"processing resolution in metres (default {resolution_m})")
    p.add_argument("--buffer", type=int, default=0, help="grow clouds and shadows by this many pixels (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudfree", description="Sentinel-2 cloud and shadow masks.")
    sub = parser.add_subparsers(dest="command", required=True)
    cm = sub.add_parser("cloudmask", help="mask clouds and shadows with a U-Net model")
    _common(cm, DEFAULT_MASK_RESOLUTION_M)
    cm.add_argument("--confidence", help="optional per-class confidence raster (.tif, percent)")
    cm.add_argument("--model", help="bundled model name or .onnx path with its .json card (default: bundled)")
    cm.add_argument("--bands", choices=sorted(PRESETS), help="band preset of a plain raster (default: from band count)")
    cm.add_argument("--band-mapping", help="explicit mapping, e.g. 'B02=1,B03=2,B04=3,B08=4'")
    cm.add_argument("--dn-scale", type=float, help="divide raster values by this to get reflectance "
                    "(default: 10000 for integer rasters, 1 for float)")
    cm.add_argument("--dn-offset", type=float, default=0.0,
                    help="add this to raster values first (e.g. -1000 for baseline 04.00+ exports)")
    cm.add_argument("--device", choices=DEVICES, default="auto")
    cm.add_argument("--engine", choices=("onnx", "torch"), default="onnx")
    cm.add_argument("--batch-size", type=int, default=4)
    cm.add_argument("--patch-size", type=int, default=0, help="0: the model card's, fitted to small rasters")
    cm.add_argument("--overlap", type=int, default=-1, help="-1: the model card's")
    cm.add_argument("--cloud-threshold", type=float, default=None,
                    help="cloud where P(cloud) exceeds it (0-1, lower finds more, e.g. thin haze); default: the "
                         "model card's calibrated value")
    cm.add_argument("--shadow-threshold", type=float, default=None,
                    help="where not cloud, shadow where P(shadow) / (P(shadow) + P(clear)) exceeds it (0-1, lower "
                         "finds more); default: the card's")
    cm.add_argument("--no-shadow-geometry", action="store_true",
                    help="keep every shadow the model finds (default: shadow that no cloud can cast, from the sun "
                         "angles or the scene's own cloud-shadow offset, becomes clear)")
    sc = sub.add_parser("sclmask", help="the same classes from a Sen2Cor SCL band (L2A)")
    _common(sc, 20)  # SCL's native resolution
    sc.add_argument("--scl-band", type=int, default=1, help="band number of SCL in a plain raster (default 1)")
    sub.add_parser("models", help="list the bundled models")
    _training_parsers(sub)
    add_recon_parsers(sub)
    add_batch_parser(sub)
    return parser


def _training_parsers(sub) -> None:
    pr = sub.add_parser("prepare", help="build a training set (.npz) from L2A products (SCL labels) or labelled rasters")
    pr.add_argument("-o", "--output", required=True, type=Path, help="training set to write (.npz)")
    pr.add_argument("--scl", nargs="*", default=[], help="L2A .SAFE products labelled by their SCL")
    pr.add_argument("--image", action="append", default=[], help="image raster or .SAFE (repeat; pairs with --labels)")
    pr.add_argument("--labels", action="append", default=[], help="label raster for the --image at the same position")
    pr.add_argument("--label-classes", default="cloudfree", help="label coding: 'cloudfree' (0-3) or 'value=class,...'")
    pr.add_argument("--bands", choices=sorted(PRESETS), help="band preset of the image rasters")
    pr.add_argument("--resolution", type=int, choices=(10, 20, 60), default=20)
    tr = sub.add_parser("train", help="train or fine-tune a U-Net on prepared training sets; writes ONNX + card")
    tr.add_argument("training_sets", nargs="+", type=Path)
    tr.add_argument("-o", "--output", required=True, type=Path, help="model to write (.onnx); _fp16.onnx is written beside it")
    tr.add_argument("--model-bands", default="s2", choices=list(BAND_SETS), help="band set of a new model")
    tr.add_argument("--base-model", help="bundled name or .onnx to fine-tune (its bands are used)")
    tr.add_argument("--validation-place", action="append", default=[], help="place held out for early stopping")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--steps", type=int, default=100, help="steps per epoch")
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--patience", type=int, default=5)
    tr.add_argument("--minutes", type=float, help="time budget")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", choices=DEVICES, default="auto")
    tr.add_argument("--resolution", type=int, choices=(10, 20, 60), default=20)
    ev = sub.add_parser("evaluate", help="score class masks, or a model on labelled images, against references (pooled)")
    ev.add_argument("--mask", action="append", default=[], help="CloudFree class raster (repeat)")
    ev.add_argument("--image", action="append", default=[],
                    help="image raster or .SAFE to mask with --model first (repeat; instead of --mask)")
    ev.add_argument("--model", help="model for --image: bundled name, .onnx path, or auto (default)")
    ev.add_argument("--bands", choices=sorted(PRESETS), help="band preset of the --image rasters")
    ev.add_argument("--resolution", type=int, choices=(10, 20, 60), default=DEFAULT_MASK_RESOLUTION_M,
                    help=f"resolution of --image masks (default {DEFAULT_MASK_RESOLUTION_M}, as cloudmask)")
    ev.add_argument("--reference", action="append", required=True, help="reference raster (repeat, same order)")
    ev.add_argument("--reference-classes", default="cloudfree",
                    help="coding of the references: cloudfree, cloud_binary, shadow_binary, scl, ukis, or 'value=class,...'")
    ev.add_argument("--table", help="write the scores to this .csv or .json")
    ev.add_argument("--json", action="store_true", help="print the scores as JSON")


def _run_training_command(args, feedback) -> int:
    from ..core.api import scene_from_label_raster, scene_from_scl, guard_outputs, save_scenes
    if args.command == "prepare":
        if len(args.image) != len(args.labels):
            raise InputError(f"Give one --labels per --image ({len(args.image)} images, {len(args.labels)} label rasters).")
        if not args.scl and not args.image:
            raise InputError("Nothing to prepare: give --scl products or --image/--labels pairs.")
        if args.output.suffix.lower() != ".npz":
            raise InputError(f"The training set must be an .npz file, not {args.output.name}.")
        guard_outputs([args.output], [*args.scl, *args.image, *args.labels], sidecars=False)
        scenes = [scene_from_scl(p, args.resolution) for p in args.scl]
        scenes += [scene_from_label_raster(i, lab, args.resolution, args.label_classes, args.bands)
                   for i, lab in zip(args.image, args.labels)]
        save_scenes(args.output, scenes)
        print(f"Training set written: {args.output} ({len(scenes)} scenes)")
        return 0
    if args.command == "train":
        from ..core.api import train_model, TrainConfig
        if args.output.suffix.lower() != ".onnx":
            raise InputError(f"The model output must end in .onnx, not '{args.output.name}'.")
        if not args.output.parent.is_dir():
            raise InputError(f"The folder {args.output.parent} does not exist; create it or choose another.")
        stem = args.output.with_suffix("")
        written = [args.output, args.output.with_suffix(".json"), Path(f"{stem}.pt"), Path(f"{stem}_fp16.onnx"),
                   Path(f"{stem}_fp16.json")]
        base_files = []
        if args.base_model:
            base = load_card(args.base_model)
            base_files = [base.onnx_path, base.onnx_path.with_suffix(".json"), base.torch_weights]
        guard_outputs(written, [*args.training_sets, *base_files], sidecars=False)
        config = TrainConfig(bands=list(BAND_SETS[args.model_bands][1]), resolution_m=args.resolution,
                             batch_size=args.batch_size, steps_per_epoch=args.steps, max_epochs=args.epochs,
                             patience=args.patience, seed=args.seed, validation_places=args.validation_place,
                             device=args.device, max_minutes=args.minutes)
        if args.base_model:
            config.bands = load_card(args.base_model).bands
        model = train_model(args.training_sets, args.output.parent, args.output.stem, config,
                            init_model=args.base_model, feedback=feedback)
        print(f"Model written: {model.onnx_fp32} (fp16: {model.onnx_fp16})")
        return 0
    from ..core.api import evaluate_rasters, format_table, write_scores
    if bool(args.mask) == bool(args.image):
        raise InputError("Give either --mask rasters or --image rasters with --model, one --reference each.")
    guard_outputs([args.table], [*args.mask, *args.image, *args.reference], sidecars=False)
    with tempfile.TemporaryDirectory() as tmp:
        masks = list(args.mask)
        for i, image in enumerate(args.image):
            from ..core.api import cloud_mask
            masks.append(str(cloud_mask(image, Path(tmp) / f"mask_{i}.tif", model=args.model,
                                        resolution_m=args.resolution, band_preset=args.bands).mask_path))
        scores = evaluate_rasters(masks, args.reference, args.reference_classes).scores()
    if args.table:
        write_scores(scores, args.table)
    print(json.dumps(scores, indent=2) if args.json else format_table(scores, f"{len(args.mask)} mask(s)"))
    return 0


def _report(result, as_json: bool) -> None:
    info = {"mask": str(result.mask_path), "cloud_percent": round(result.cloud_percent, 3),
            "shadow_percent": round(result.shadow_percent, 3), "seconds": round(result.seconds, 2),
            "pixels": result.stats.counts, "valid_pixels": result.stats.valid}
    for key in ("confidence_path", "model", "runtime"):
        if getattr(result, key, None) is not None:
            info[key.replace("_path", "")] = str(getattr(result, key))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    print(f"Mask written: {info['mask']} (style: {Path(info['mask']).with_suffix('.qml')})")
    if "confidence" in info:
        print(f"Confidence written: {info['confidence']}")
    if "model" in info:
        print(f"Model: {info['model']}, run by {info['runtime']}")
    print(f"Cloud cover: {info['cloud_percent']:.2f} %, shadow cover: {info['shadow_percent']:.2f} % "
          f"of {info['valid_pixels']} valid pixels, in {info['seconds']:.1f} s")


def _terminate(signum, frame) -> None:
    """SIGTERM unwinds like Ctrl-C, so that every `with OutputSet()` removes its temporaries."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    limit_gdal_cache()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    feedback = TqdmFeedback(f"{args.command} {Path(getattr(args, 'input', '') or '').name}".strip())
    try:
        return _run(args, feedback)
    except KeyboardInterrupt:
        feedback.close()
        print("cloudfree: stopped; no output was written or changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends as one message, never a traceback
        feedback.close()
        if os.environ.get("CLOUDFREE_DEBUG"):
            raise
        print(f"cloudfree: error: {describe_error(exc, 'cli')}", file=sys.stderr)
        return 2


def _run(args, feedback) -> int:
    if args.command == "models":
        for onnx in sorted(MODELS_DIR.glob("*.onnx")):
            card = load_card(str(onnx))
            print(f"{onnx.stem}: bands {' '.join(card.bands)} at {card.resolution_m} m, patch {card.patch_size}")
        return 0
    from ..core.api import cloud_mask, scl_mask  # deferred: keeps `--help` fast
    if args.command == "batch":
        return run_batch_command(args, feedback)
    if args.command in RECON_COMMANDS:
        return run_recon_command(args, feedback)
    if args.command in ("prepare", "train", "evaluate"):
        code = _run_training_command(args, feedback)
        feedback.close()
        return code
    if args.command == "cloudmask":
        result = cloud_mask(args.input, args.output, args.confidence, model=args.model, resolution_m=args.resolution,
                            band_preset=args.bands, band_mapping=args.band_mapping, dn_scale=args.dn_scale,
                            dn_offset=args.dn_offset, device=args.device, engine=args.engine,
                            batch_size=args.batch_size, patch_size=args.patch_size or None, overlap=args.overlap,
                            buffer_px=args.buffer, feedback=feedback, shadow_geometry=not args.no_shadow_geometry,
                            cloud_threshold=args.cloud_threshold, shadow_threshold=args.shadow_threshold)
    else:
        result = scl_mask(args.input, args.output, args.resolution, args.buffer, args.scl_band, feedback)
    feedback.close()
    _report(result, args.json)
    return 0
