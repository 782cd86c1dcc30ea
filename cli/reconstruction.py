"""Command-line subcommands for reconstruction: gapfill, composite, reconstruct, evaluate-reconstruction.

Kept apart from cli.py so that the masking commands' module stays small;
cli.py adds these parsers and hands the parsed arguments here.
"""
from __future__ import annotations

import argparse
import json
import re
from typing import List, Optional, Tuple, Union

from ..core.api import PRESETS, THIN_MODES
from ..core.errors import InputError
from ..core.progress import Feedback

COMMANDS = ("gapfill", "composite", "reconstruct", "evaluate-reconstruction")
AUTO_MASK = "auto"


def _series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="the dates: rasters on one grid, or .SAFE products of one tile")
    p.add_argument("-o", "--output", required=True, help="output raster (.tif, Cloud Optimized GeoTIFF)")
    p.add_argument("--source-output", help="source raster (.tif); default <output>_source.tif")
    p.add_argument("--mask", action="append", default=[],
                   help=f"CloudFree class raster of each input, in order (repeat; '{AUTO_MASK}' computes that one "
                        "with the bundled model); none given: all computed")
    p.add_argument("--dates", help="dates of the inputs in order, e.g. 2015-07-11,2015-08-30 "
                                   "(required for plain rasters; .SAFE products carry theirs)")
    p.add_argument("--bands", choices=sorted(PRESETS), help="band preset of plain rasters (default: from band count)")
    p.add_argument("--band-mapping", help="explicit mapping, e.g. 'B02=1,B03=2,B04=3,B08=4'")
    p.add_argument("--resolution", type=int, choices=(10, 20, 60),
                   help="processing resolution in metres (default: native for rasters, 20 for .SAFE)")
    p.add_argument("--buffer", type=int, default=0, help="grow clouds and shadows of the masks by this many pixels")
    p.add_argument("--model", help="model for computed masks (default: best bundled)")
    p.add_argument("--max-memory", type=float, default=1024.0, help="memory limit of a strip in MB (default 1024)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _reconstruct_parser(sub) -> None:
    rc = sub.add_parser("reconstruct", help="fill the clouds and shadows of one image with the inpainting U-Net")
    rc.add_argument("input", help="multi-band raster with Sentinel-2 bands, or a .SAFE product (folder, .zip, MTD file)")
    rc.add_argument("--mask", required=True,
                    help="CloudFree class raster of the input (0 clear, 1 thick, 2 thin cloud, 3 shadow); "
                         "resampled (nearest) onto the input's grid")
    rc.add_argument("-o", "--output", required=True, help="output raster (.tif, Cloud Optimized GeoTIFF)")
    rc.add_argument("--source-output", help="optional source raster (.tif): band 1 0 kept, 1 filled, 2 relit; band 2 "
                    "the distance in pixels to the nearest pixel seen as it is (64 = at least 64)")
    rc.add_argument("--bands", choices=sorted(PRESETS), help="band preset of the raster (default: from band count)")
    rc.add_argument("--band-mapping", help="explicit mapping, e.g. 'B02=1,B03=2,B04=3,...'")
    rc.add_argument("--dn-scale", type=float,
                    help="divide raster values by this to get reflectance (default: 10000 for integer rasters, "
                         "1 for float)")
    rc.add_argument("--dn-offset", type=float, default=0.0,
                    help="add this to raster values first (e.g. -1000 for baseline 04.00+ exports)")
    rc.add_argument("--mask-classes", default="1,2,3",
                    help="mask classes to fill, e.g. 1,2 for clouds only (default 1,2,3: clouds and shadows)")
    rc.add_argument("--buffer", type=int, default=0, help="grow the filled area by this many pixels (default 0)")
    rc.add_argument("--model", help="reconstruction model: bundled name or .onnx path with its .json card "
                                    "(default: cloudfree_inpaint_s2)")
    rc.add_argument("--resolution", type=int, choices=(10, 20, 60),
                    help="resolution in metres for a .SAFE product (default 20; plain rasters keep their grid)")
    rc.add_argument("--max-memory", type=float, default=1024.0, help="memory limit of a strip in MB (default 1024)")
    rc.add_argument("--no-relight", action="store_true",
                    help="fill shadows like clouds (default: shadow pixels keep their own values, brightened "
                         "back by the sunlit-to-shadow ratio around them)")
    rc.add_argument("--max-masked", type=float, default=None,
                    help="refuse a scene with more masked pixels than this percentage (default 90; above 50 the "
                         "log warns that most of the result is invented)")
    rc.add_argument("--method", choices=("network", "interpolation"), default="network",
                    help="fill with the inpainting U-Net (default) or by interpolation from the clear neighbours alone")
    rc.add_argument("--thin-cloud", choices=THIN_MODES, default="fill",
                    help="thin cloud (class 2): fill it like thick cloud (default), or correct it: keep its pixels "
                         "and take the veil off their own values (a veil model fitted to their clear surroundings)")
    rc.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where the inpainting network runs: auto (a GPU when ONNX Runtime has one), cpu or cuda")
    rc.add_argument("--json", action="store_true", help="print the result as JSON")


def parse_mask_classes(text: str) -> Tuple[int, ...]:
    """'1,2' -> (1, 2): CloudFree classes to fill (1 thick cloud, 2 thin cloud, 3 shadow)."""
    parts = [p.strip() for p in re.split(r"[,;\s]+", text or "") if p.strip()]
    if not parts or not all(re.fullmatch(r"\d+", p) for p in parts) or not set(map(int, parts)) <= {1, 2, 3}:
        raise InputError(f"Mask classes '{text}' are not a list of CloudFree classes: give some of 1 (thick "
                         "cloud), 2 (thin cloud) and 3 (shadow), e.g. '1,2,3' or '1,2'.")
    return tuple(sorted(set(map(int, parts))))


def add_recon_parsers(sub) -> None:
    gf = sub.add_parser("gapfill", help="fill the clouds and shadows of one date from the other dates")
    _series_args(gf)
    gf.add_argument("--target", required=True,
                    help="the date to fill: its position among the inputs (1 = first) or its date YYYY-MM-DD")
    gf.add_argument("--radius", type=int, default=7, help="window radius of the local seasonal fit (default 7)")
    co = sub.add_parser("composite", help="best-pixel composite: per pixel the clear date nearest the period's middle")
    _series_args(co)
    co.add_argument("--centre", help="prefer the clear date nearest this one (default: middle of the period)")
    _reconstruct_parser(sub)
    ev = sub.add_parser("evaluate-reconstruction", help="score a reconstruction against a reference on filled pixels")
    ev.add_argument("reconstruction", help="reconstructed raster (e.g. a gapfill output)")
    ev.add_argument("--reference", required=True, help="the true image on the same grid")
    ev.add_argument("--mask", required=True, help="which pixels were filled: a mask or a gapfill source raster")
    ev.add_argument("--mask-classes", choices=("cloudfree", "source", "nonzero"), default="cloudfree",
                    help="cloudfree: classes 1-3 are filled; source: gapfill codes 1-2; nonzero: binary mask")
    ev.add_argument("--band", action="append", default=[], help="score only this band (repeat; default all)")
    ev.add_argument("--bands", choices=sorted(PRESETS), help="band preset of both rasters")
    ev.add_argument("--band-mapping", help="explicit mapping of both rasters")
    ev.add_argument("--table", help="write the scores to this .csv or .json")
    ev.add_argument("--json", action="store_true", help="print the scores as JSON")


def parse_target(text: str) -> Union[int, str]:
    """'3' -> index 2 (the CLI counts from 1); a date stays a date."""
    if re.fullmatch(r"\s*\d+\s*", text):
        position = int(text)
        if position < 1:
            raise InputError("The target position counts from 1 (the first input).")
        return position - 1
    return text.strip()


def _masks(given: List[str], count: int) -> Optional[List[Optional[str]]]:
    if not given:
        return None
    if len(given) != count:
        raise InputError(f"Give one --mask per input ({count} inputs, {len(given)} masks); "
                         f"'{AUTO_MASK}' computes one.")
    return [None if m == AUTO_MASK else m for m in given]


def _close(feedback: Feedback) -> None:
    """End a progress bar before printing (the CLI's TqdmFeedback has one)."""
    close = getattr(feedback, "close", None)
    if close is not None:
        close()


def run_recon_command(args, feedback: Feedback) -> int:
    """Run a reconstruction subcommand; engine errors propagate to main()."""
    if args.command == "evaluate-reconstruction":
        from ..core.api import evaluate_reconstruction, format_recon_table, write_recon_scores
        scores = evaluate_reconstruction(args.reconstruction, args.reference, args.mask, args.band or None,
                                         args.mask_classes, args.bands, args.band_mapping)
        if args.table:
            write_recon_scores(scores, args.table)
        _close(feedback)
        print(json.dumps(scores, indent=2) if args.json else format_recon_table(scores, args.reconstruction))
        return 0
    if args.command == "reconstruct":
        return _run_reconstruct(args, feedback)
    from ..core.api import split_dates
    common = dict(masks=_masks(args.mask, len(args.inputs)), dates=split_dates(args.dates),
                  source_output=args.source_output, band_preset=args.bands, band_mapping=args.band_mapping,
                  resolution_m=args.resolution, buffer_px=args.buffer, model=args.model,
                  max_memory_mb=args.max_memory, feedback=feedback)
    if args.command == "gapfill":
        from ..core.api import gapfill_rasters
        result = gapfill_rasters(args.inputs, args.output, parse_target(args.target), radius=args.radius, **common)
        info = {"output": str(result.output), "source": str(result.source_output), "target": result.target + 1,
                "target_date": result.target_date, "bands": result.bands, "pixels": result.counts,
                "filled_percent": round(result.filled_percent, 3), "seconds": round(result.seconds, 2)}
        lines = [f"Reconstruction written: {result.output} (style: {result.output.with_suffix('.qml')})",
                 f"Source written: {result.source_output}",
                 f"Target {result.target_date}: {result.filled_percent:.2f} % of valid pixels filled; "
                 + ", ".join(f"{k}: {v}" for k, v in result.counts.items())]
    else:
        from ..core.api import composite_rasters
        masks = common.pop("masks")
        result = composite_rasters(args.inputs, masks, args.output, centre=args.centre, **common)
        info = {"output": str(result.output), "source": str(result.source_output), "centre": result.centre,
                "pixels_by_date": result.counts, "empty_percent": round(result.empty_percent, 3),
                "seconds": round(result.seconds, 2)}
        lines = [f"Composite written: {result.output}", f"Source (date index) written: {result.source_output}",
                 f"Centre {result.centre}; pixels by date: " + ", ".join(f"{k}: {v}" for k, v in result.counts.items())]
    _close(feedback)
    print(json.dumps(info, indent=2) if args.json else "\n".join(lines))
    return 0


def _run_reconstruct(args, feedback: Feedback) -> int:
    from ..core.api import reconstruct
    if args.buffer < 0:
        raise InputError(f"The buffer is a number of pixels, 0 or more, not {args.buffer}.")
    if args.dn_scale is not None and args.dn_scale <= 0:
        raise InputError(f"The DN scale divides raster values into reflectance; it must be positive, "
                         f"not {args.dn_scale}.")
    result = reconstruct(args.input, args.mask, args.output, source=args.source_output, model=args.model,
                         band_preset=args.bands, band_mapping=args.band_mapping, dn_scale=args.dn_scale,
                         dn_offset=args.dn_offset, mask_classes=parse_mask_classes(args.mask_classes),
                         buffer_px=args.buffer, resolution_m=args.resolution, max_memory_mb=args.max_memory,
                         feedback=feedback, relight=not args.no_relight, device=args.device, method=args.method,
                         thin_cloud=args.thin_cloud,
                         **({} if args.max_masked is None else {"max_masked_percent": args.max_masked}))
    info = {"output": str(result.output_path), "source": str(result.source_path) if result.source_path else None,
            "filled_pixels": result.filled_pixels, "model": result.model, "seconds": round(result.seconds, 2)}
    lines = [f"Reconstruction written: {result.output_path} (style: {result.output_path.with_suffix('.qml')})"]
    if result.source_path:
        lines.append(f"Source written: {result.source_path} (0 kept, 1 filled, 2 shadow relit)")
    lines.append(f"{result.filled_pixels} pixels filled by {result.model} in {result.seconds:.1f} s")
    _close(feedback)
    print(json.dumps(info, indent=2) if args.json else "\n".join(lines))
    return 0
