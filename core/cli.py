"""Command line: `python -m cloudfree` / `cloudfree`, for scripts and batch use."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from .bands import PRESETS
from .errors import CloudFreeError
from .model_card import MODELS_DIR, load_card
from .progress import TqdmFeedback
from .runtime import DEVICES


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="raster file, .SAFE folder, .SAFE .zip, or MTD_MSIL*.xml")
    p.add_argument("-o", "--output", required=True, help="output class raster (.tif, Cloud Optimized GeoTIFF)")
    p.add_argument("--resolution", type=int, choices=(10, 20, 60), default=20, help="processing resolution in metres (default 20)")
    p.add_argument("--buffer", type=int, default=0, help="grow clouds and shadows by this many pixels (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudfree", description="Sentinel-2 cloud and shadow masks.")
    sub = parser.add_subparsers(dest="command", required=True)
    cm = sub.add_parser("cloudmask", help="mask clouds and shadows with a U-Net model")
    _common(cm)
    cm.add_argument("--confidence", help="optional per-class confidence raster (.tif, percent)")
    cm.add_argument("--model", help="bundled model name or .onnx path with its .json card (default: bundled)")
    cm.add_argument("--bands", choices=sorted(PRESETS), help="band preset of a plain raster (default: from band count)")
    cm.add_argument("--band-mapping", help="explicit mapping, e.g. 'B02=1,B03=2,B04=3,B08=4'")
    cm.add_argument("--dn-scale", type=float, help="divide raster values by this to get reflectance (default: 10000 for integer rasters, 1 for float)")
    cm.add_argument("--dn-offset", type=float, default=0.0, help="add this to raster values first (e.g. -1000 for baseline 04.00+ exports)")
    cm.add_argument("--device", choices=DEVICES, default="auto")
    cm.add_argument("--engine", choices=("onnx", "torch"), default="onnx")
    cm.add_argument("--batch-size", type=int, default=4)
    cm.add_argument("--patch-size", type=int, default=0, help="0: the model card's, fitted to small rasters")
    cm.add_argument("--overlap", type=int, default=-1, help="-1: the model card's")
    sc = sub.add_parser("sclmask", help="the same classes from a Sen2Cor SCL band (L2A)")
    _common(sc)
    sc.add_argument("--scl-band", type=int, default=1, help="band number of SCL in a plain raster (default 1)")
    sub.add_parser("models", help="list the bundled models")
    return parser


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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "models":
        for onnx in sorted(MODELS_DIR.glob("*.onnx")):
            card = load_card(str(onnx))
            print(f"{onnx.stem}: bands {' '.join(card.bands)} at {card.resolution_m} m, patch {card.patch_size}")
        return 0
    from .api import cloud_mask, scl_mask  # deferred: keeps `--help` fast
    feedback = TqdmFeedback(f"{args.command} {Path(args.input).name}")
    try:
        if args.command == "cloudmask":
            result = cloud_mask(args.input, args.output, args.confidence, args.model, args.resolution,
                                args.bands, args.band_mapping, args.dn_scale, args.dn_offset, args.device,
                                args.engine, args.batch_size, args.patch_size or None, args.overlap, args.buffer, feedback)
        else:
            result = scl_mask(args.input, args.output, args.resolution, args.buffer, args.scl_band, feedback)
    except CloudFreeError as exc:
        feedback.close()
        print(f"cloudfree: error: {exc}", file=sys.stderr)
        return 2
    feedback.close()
    _report(result, args.json)
    return 0
