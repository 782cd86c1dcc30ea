"""The `cloudfree batch` command: many products, one summary table, an overall and a per-scene bar."""
from __future__ import annotations

import argparse
import json

from ..core.api import DEFAULT_MASK_RESOLUTION_M, DEVICES
from ..core.progress import Feedback, TqdmFeedback


def add_batch_parser(sub) -> None:
    b = sub.add_parser("batch", help="mask (and optionally reconstruct) many .SAFE products; resumable")
    b.add_argument("inputs", nargs="+",
                   help="folders of .SAFE folders/.zip files, globs (quote them), .txt lists (one product per line), "
                        "or products")
    b.add_argument("-o", "--output-dir", required=True,
                   help="folder for <scene>_mask.tif (+ _confidence.tif, _reconstructed.tif), <scene>.done.json "
                        "records and summary.csv/json; scenes already done there are skipped")
    b.add_argument("--model", help="bundled model name or .onnx path (default: best bundled for each product)")
    b.add_argument("--resolution", type=int, choices=(10, 20, 60), default=DEFAULT_MASK_RESOLUTION_M,
                   help=f"processing resolution (m, default {DEFAULT_MASK_RESOLUTION_M})")
    b.add_argument("--buffer", type=int, default=0, help="grow clouds and shadows by this many pixels")
    b.add_argument("--confidence", action="store_true", help="also write per-class confidence rasters")
    b.add_argument("--reconstruct", action="store_true", help="also reconstruct each scene under its clouds")
    b.add_argument("--device", choices=DEVICES, default="auto")
    b.add_argument("--engine", choices=("onnx", "torch"), default="onnx")
    b.add_argument("--batch-size", type=int, default=4, help="patches per inference call")
    b.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786) to hand the scenes to; workers must "
                                       "see the same paths")
    b.add_argument("--gpu-workers", action="store_true",
                   help="run scenes only on Dask workers started with --resources 'GPU=1', on CUDA")
    b.add_argument("--no-shadow-geometry", action="store_true",
                   help="keep every shadow the model finds (default: shadow no cloud can cast becomes clear)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")


def run_batch_command(args: argparse.Namespace, overall: Feedback) -> int:
    from ..core.api import BatchOptions, run_batch
    options = BatchOptions(model=args.model, resolution_m=args.resolution, device=args.device, engine=args.engine,
                           batch_size=args.batch_size, buffer_px=args.buffer, confidence=args.confidence,
                           reconstruct=args.reconstruct, shadow_geometry=not args.no_shadow_geometry)
    result = run_batch(args.inputs, args.output_dir, options, scheduler=args.scheduler, gpu_workers=args.gpu_workers,
                       feedback=overall, scene_feedback=None if args.scheduler else _scene_bar)
    if hasattr(overall, "close"):
        overall.close()
    if args.json:
        print(json.dumps({"summary_csv": str(result.summary_csv), "counts": result.counts, "scenes": result.rows},
                         indent=2))
    else:
        print(format_summary(result.rows))
        print(f"Summary written: {result.summary_csv} (and {result.summary_json.name}); "
              + ", ".join(f"{n} {s}" for s, n in result.counts.items()) + f"; {result.seconds:.1f} s")
    return 0 if "failed" not in result.counts else 1


def _scene_bar(name: str) -> TqdmFeedback:
    """The per-scene bar, under the overall one."""
    return TqdmFeedback(name[:40], position=1, leave=False)


def format_summary(rows) -> str:
    head = f"{'scene':<62} {'date':<10} {'tile':<5} {'cloud %':>8} {'shadow %':>8} {'s':>7}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        num = lambda v, f: (f"{v:{f}}" if isinstance(v, (int, float)) else str(v))  # noqa: E731
        lines.append(f"{r['scene'][:62]:<62} {r['date']:<10} {r['tile']:<5} {num(r['cloud_percent'], '8.2f'):>8} "
                     f"{num(r['shadow_percent'], '8.2f'):>8} {num(r['seconds'], '7.1f'):>7}  {r['status']}"
                     + (f": {r['error']}" if r.get("error") else ""))
    return "\n".join(lines)


__all__ = ["add_batch_parser", "run_batch_command", "format_summary"]
