"""Seconds per full-size Sentinel-2 L1C scene, split by pipeline stage, and peak memory.

Why: an analyst masking a season of tiles needs each whole tile fast; the
engine overlaps reading, inference and writing on threads (core.masking.pipeline)
so that the slowest stage, not the sum of all three, sets the pace.  This
measures both: the wall time of a scene, and the busy seconds of each stage
in the same run.  Their ratio (sum of stages / wall) is the speed-up the
overlap gives over running the same stages one after the other; the stage
with the most busy seconds is the bottleneck.

The scene is SYNTHETIC imagery in a REAL .SAFE layout, built by
bench/peak_memory.py's builder (10980 px 10 m bands, 5490 px 20 m, 1830 px
60 m, lossless JPEG2000, real T46RER metadata): no real full-size product is
bundled.  Each run is a child process, so its peak RSS is its own.

    python bench/scene_speed.py                          # 20 m and 10 m on CPU
    python bench/scene_speed.py --resolution 20 --device cuda --engine onnx

Reference points (other hardware, not measured here): CloudS2Mask about
2.2 s and OmniCloudMask about 1.26 s per scene at 20 m on an RTX 4090.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peak_memory import DONE_MARK, FULL_10M, META_SAFE, build_safe, load_builder_modules, peak_rss_mb  # noqa: E402
from results_file import write_json  # noqa: E402 - bench/ is the script's folder

REFERENCES_20M = {"CloudS2Mask (RTX 4090, published)": 2.2, "OmniCloudMask (RTX 4090, published)": 1.26}


def child(safe: str, out_tif: str, resolution: int, device: str, engine: str, batch: int) -> None:
    """One scene as the command line runs it (its GDAL cache cap included, core.io.gdal_cache)."""
    from cloudfree.core.io.gdal_cache import limit_gdal_cache
    limit_gdal_cache()
    from cloudfree.core.api import cloud_mask
    t0 = time.perf_counter()
    res = cloud_mask(safe, out_tif, resolution_m=resolution, device=device, engine=engine, batch_size=batch)
    print("RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "stages": res.stages,
                                  "runtime": res.runtime, "cloud_percent": res.cloud_percent,
                                  "peak_mb": peak_rss_mb()}), flush=True)


def measure(safe: Path, out_tif: Path, resolution: int, device: str, engine: str, batch: int) -> dict:
    for p in out_tif.parent.glob(out_tif.stem + "*"):
        p.unlink()
    cmd = [sys.executable, __file__, "--_child", str(safe), str(out_tif), str(resolution), device, engine, str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the masking child failed (exit {proc.returncode})")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/cloudfree-bench", type=Path)
    ap.add_argument("--resolution", type=int, action="append", choices=(10, 20, 60),
                    help="repeat; default 20 and 10")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--engine", default="onnx", choices=("onnx", "torch"))
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    resolutions = args.resolution or [20, 10]
    print("CloudFree scene-speed benchmark: SYNTHETIC imagery in a REAL L1C .SAFE layout "
          f"({META_SAFE.name}), full size ({FULL_10M} px at 10 m)", flush=True)
    print(f"{os.cpu_count()} CPUs; device {args.device}, engine {args.engine}, batch {args.batch_size}", flush=True)
    safe = args.workdir / "full" / META_SAFE.name
    if not (safe / DONE_MARK).exists():
        print("Building the full-size SAFE (once; reused from --workdir) ...", flush=True)
        load_builder_modules()
        safe = build_safe(args.workdir / "full", FULL_10M, lambda s: print(s, flush=True))
    rows = {}
    for res in resolutions:
        r = measure(safe, args.workdir / f"speed_mask_{res}m.tif", res, args.device, args.engine, args.batch_size)
        rows[res] = r
        print(f"  {res} m: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB, {r['runtime']}", flush=True)
    print()
    stages = ["read", "infer", "write", "finish (buffer, COG)", "wait for read", "wait for write"]
    head = f"{'res':>4} {'wall s':>8} " + " ".join(f"{s[:14]:>14}" for s in stages) + f" {'peak MB':>8} {'overlap':>8}"
    print(head)
    print("-" * len(head))
    for res, r in rows.items():
        st = r["stages"]
        busy = st.get("read", 0) + st.get("infer", 0) + st.get("write", 0) + st.get("finish (buffer, COG)", 0)
        r["overlap_ratio"] = busy / r["seconds"]
        r["bottleneck"] = max(("read", "infer", "write"), key=lambda s: st.get(s, 0))
        print(f"{res:>4} {r['seconds']:8.1f} " + " ".join(f"{st.get(s, 0):14.1f}" for s in stages)
              + f" {r['peak_mb']:8.0f} {r['overlap_ratio']:7.2f}x")
    print("\noverlap = (read + infer + write + finish busy seconds) / wall seconds: the speed-up over running the "
          "stages one after another, measured in this run.")
    for res, r in rows.items():
        print(f"{res} m: slowest stage {r['bottleneck']}")
    if 20 in rows:
        for name, ref in REFERENCES_20M.items():
            print(f"20 m wall / {name} {ref} s: {rows[20]['seconds'] / ref:.1f}x (different hardware)")
    write_json(args.json, {str(k): v for k, v in rows.items()})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7]))
    else:
        main()
