"""Accuracy on real labels and CPU throughput of CloudFree, ukis-csmask, s2cloudless and Sen2Cor SCL.

All methods run in one process on the same CPU threads (--threads, default 2: ONNX Runtime intra-op
threads for CloudFree and ukis-csmask, LightGBM num_threads for s2cloudless, OMP/BLAS variables).

Accuracy: cloud and shadow balanced, producer's and user's accuracy, F1 and IoU (core/evaluation/masks.py),
pixels pooled per dataset, on the sets of models/human_labelled.py (drivendata, ukis_s2, landsat, layton).
Each bundled model is scored twice: "(LODO)" by its leave-one-dataset-out fold model, which never saw the
set (built by models/train_bundled.py under out/training/; the figure to quote), and "(shipped)" by the
shipped model, which trained on every human set (an optimistic figure, shown for reference).  All with
the card's calibrated decision weights.  blue_threshold: B02 > 0.2 is cloud (the baseline RGB must beat).
Throughput: Mpx/s (median of --repeats after a warm-up) and the ratio to ukis-csmask 6-band L1C, all
methods on the same real 13-band L1C SEN12MS-CR patch (256 px, DN/10000) np.tile'd to --sizes.  Timed:
normalising, inference, blending and class map (CloudFree with its card's patch/overlap; ukis-csmask's
256 px tiles via CSmask._csm with its session reused; s2cloudless.get_cloud_probability_maps).

    .venv/bin/python bench/compare_masks.py --threads 2 --json out/bench/compare_masks.json
    # quick: --max-scenes 1 --sizes 256 --repeats 1 [--models-dir /tmp/smoke_models]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ACCURACY_SETS = ("drivendata", "ukis_s2", "landsat", "layton")
FOLDS_DIR = Path(__file__).resolve().parents[1] / "out" / "training"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="CPU threads for every method (default 2)")
    p.add_argument("--json", type=Path, help="write all results as JSON here")
    p.add_argument("--models-dir", type=Path, help="folder with cloudfree_*.onnx + .json (default: models/)")
    p.add_argument("--data", type=Path, default=DATA, help=f"shared data folder (default {DATA})")
    p.add_argument("--datasets", nargs="*", default=list(ACCURACY_SETS), choices=ACCURACY_SETS)
    p.add_argument("--max-scenes", type=int, default=0, help="at most N chips/dates per dataset (0 = all)")
    p.add_argument("--sizes", nargs="*", type=int, default=[256, 1024], help="throughput array sides in px")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per method and size (median)")
    return p


# The thread variables must be set before numpy, onnxruntime and LightGBM are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CLOUDFREE_THREADS"):
    os.environ[_var] = str(build_parser().parse_known_args()[0].threads)

import numpy as np  # noqa: E402

from cloudfree.core.masking.shadow_geometry import SunAngles  # noqa: E402
from cloudfree.core.errors import CloudFreeError  # noqa: E402
from cloudfree.core.evaluation.masks import REFERENCE_SCHEMES, groups_for  # noqa: E402
from cloudfree.core.model.card import BUNDLED_MODELS, MODELS_DIR, ModelCard, load_card  # noqa: E402
from cloudfree.core.model.runtime import Predictor, make_predictor  # noqa: E402
from cloudfree.core.masking.scl import scl_to_classes  # noqa: E402
from cloudfree.core.masking.arrays import mask_array  # noqa: E402
from cloudfree.core.io.bands import DEFAULT_MASK_RESOLUTION_M  # noqa: E402
from cloudfree.models.human_labelled import (LabelledScene as Scene, LabelledSet as Dataset,  # noqa: E402
                                             evaluate_classes, load_set, read)
from results_file import write_json  # noqa: E402 - bench/ is the script's folder

UKIS_NAMES = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22"}
S2C_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
L1C_ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
UKIS_TO_CLASS = np.array([0, 1, 3], np.uint8)  # ukis-csmask 0 clear, 1 cloud, 2 shadow -> CloudFree
Bands = Dict[str, np.ndarray]
Models = Dict[str, Tuple[ModelCard, Predictor]]


def fold_model(name: str, dataset: str) -> Optional[Path]:
    """The leave-one-dataset-out model of `name` that never saw `dataset` (models/train_bundled.py), if built.

    It is the shipped recipe's model for that set (the base, or the fold fine-tuned without the set), with
    decision weights calibrated on the other sets only.
    """
    index = FOLDS_DIR / name / "lodo_models.json"
    if not index.is_file():
        return None
    path = json.loads(index.read_text()).get(dataset)
    return Path(path) if path and Path(path).is_file() else None


class UkisRunner:
    """ukis-csmask on one band set; the ONNX session of the first call is reused afterwards."""

    def __init__(self, bands: List[str], level: str, threads: int) -> None:
        self.names, self.level, self.threads = [UKIS_NAMES[b] for b in bands], level, threads
        self.mask: Any = None
        self.model_bands: List[str] = []

    def __call__(self, img: np.ndarray) -> np.ndarray:
        from ukis_csmask.mask import CSmask
        if self.mask is None:
            self.mask = CSmask(img, self.names, product_level=self.level, intra_op_num_threads=self.threads,
                               inter_op_num_threads=1)
            meta = json.loads(Path(self.mask.model_file).with_suffix(".json").read_text(encoding="utf-8"))
            self.model_bands = meta["data"]["dataset_statistics"]["band_names"]
            return self.mask.csm[..., 0]
        m = self.mask  # what CSmask.__init__ does up to its class map, without a new session
        m.img = m.normalize(m.adjust_band_order(img, self.names, self.model_bands).astype(np.float32),
                            m.band_mean, m.band_std)
        return m._csm()[..., 0]


def cloudfree_classes(model: str | Path, bands: Bands, pixel_m: float, sun: Optional[SunAngles] = None) -> np.ndarray:
    """Classes (H, W) of a scene's bands as `cloudfree cloudmask` decides them by default: the array-level
    API (core.masking.arrays.mask_array), the engine's own tiling, decision and shadow geometry."""
    names = list(bands)
    return mask_array(np.stack([bands[b] for b in names]), names, str(model), pixel_m=pixel_m, sun=sun,
                      device="cpu").classes


BLUE_THRESHOLD = 0.2  # a plain rule: blue (B02) reflectance above it is cloud


def blue_threshold(bands: Bands) -> np.ndarray:
    return np.where(bands["B02"] > BLUE_THRESHOLD, 1, 0).astype(np.uint8)


def load_models(models_dir: Path, log: Callable[[str], None]) -> Models:
    models = {}
    for name in BUNDLED_MODELS:
        try:
            card = load_card(str(models_dir / f"{name}.onnx"))
            models[name] = (card, make_predictor(card, engine="onnx", device="cpu"))
        except CloudFreeError as exc:
            log(f"skip {name}: {exc}")
    return models


def stack(bands: Bands, names: List[str], axis: int) -> np.ndarray:
    return np.ascontiguousarray(np.stack([bands[b] for b in names], axis=axis), np.float32)


def run_accuracy(ds: Dataset, models: Models, threads: int) -> Dict[str, Any]:
    scheme, have = REFERENCE_SCHEMES[ds.scheme], set(ds.scenes[0].bands)
    out: Dict[str, Any] = {"scheme": ds.scheme, "scenes": [s.name for s in ds.scenes], "notes": ds.notes,
                           "methods": {}}
    methods: Dict[str, Callable[[Scene], np.ndarray]] = {}
    for name in BUNDLED_MODELS:
        if name not in models:
            out["methods"][name] = {"n/a": "model file missing or unusable"}
        elif not set(models[name][0].bands) <= have:
            out["methods"][name] = {"n/a": f"bands missing (needs {' '.join(models[name][0].bands)})"}
        else:
            fold = fold_model(name, ds.name)
            if fold is None:
                out["methods"][f"{name} (LODO)"] = {"n/a": "no fold model: run models/train_bundled.py"}
            else:
                methods[f"{name} (LODO)"] = lambda s, f=fold: cloudfree_classes(f, s.bands, s.pixel_m, s.sun)
            methods[f"{name} (shipped)"] = lambda s, m=models[name]: cloudfree_classes(m[0].onnx_path, s.bands,
                                                                                      s.pixel_m, s.sun)
    if "B02" in have:
        methods["blue_threshold"] = lambda s: blue_threshold(s.bands)
    ukis_bands = [b for b in UKIS_NAMES if b in have]
    ukis, ukis_name = UkisRunner(ukis_bands, ds.level, threads), f"ukis_{len(ukis_bands)}b_{ds.level}"
    methods[ukis_name] = lambda s: UKIS_TO_CLASS[ukis(stack(s.bands, ukis_bands, -1))]
    if ds.scenes[0].scl is not None:
        methods["sen2cor_scl"] = lambda s: scl_to_classes(s.scl)
    else:
        out["methods"]["sen2cor_scl"] = {"n/a": "no SCL in this dataset"}
    for name, fn in methods.items():
        out["methods"][name] = {"scores": evaluate_classes(ds, [fn(s) for s in ds.scenes]).scores()}
    why = "bands missing (needs B01 B02 B04 B05 B08 B8A B09 B10 B11 B12)"
    if "shadow" in groups_for(scheme) and "cloud" not in groups_for(scheme):
        why += "; no shadow class (the CLP layer is cloud only)"
    out["methods"]["s2cloudless"] = {"n/a": why}
    order = [n for name in BUNDLED_MODELS for n in (f"{name} (LODO)", f"{name} (shipped)", name)]
    order += [ukis_name, "blue_threshold", "sen2cor_scl", "s2cloudless"]
    out["methods"] = {name: out["methods"][name] for name in order if name in out["methods"]}
    return out


def run_throughput(path: Path, models: Models, sizes: List[int], repeats: int, threads: int,
                   log: Callable[[str], None]) -> Dict[str, Any]:
    from s2cloudless import S2PixelCloudDetector
    dn = read(path)
    base = {b: dn[i].astype(np.float32) / 10000 for i, b in enumerate(L1C_ORDER)}
    detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    ukis_bands = ["B02", "B03", "B04", "B08", "B11", "B12"]
    out: Dict[str, Any] = {"array": path.name, "sizes": {}, "notes": [
        "a real 13-band L1C patch (DN / 10000), 256 x 256, np.tile'd to each size; every method sees it as is",
        "CloudFree: its card's patch/overlap, batch 4; ukis-csmask: its 256 px tiles, 20% overlap; "
        "s2cloudless: probability maps (no averaging/dilation); cloud %: s2cloudless at p >= 0.4"]}
    for size in sizes:
        reps = math.ceil(size / 256)
        bands = {b: np.tile(a, (reps, reps))[:size, :size].copy() for b, a in base.items()}
        jobs: Dict[str, Callable[[], np.ndarray]] = {}
        for name, (card, _) in models.items():
            jobs[name] = lambda c=card, b=bands: np.isin(cloudfree_classes(c.onnx_path, b, 20.0), (1, 2))
        ukis, img = UkisRunner(ukis_bands, "l1c", threads), stack(bands, ukis_bands, -1)
        jobs["ukis_6b_l1c"] = lambda u=ukis, i=img: u(i) == 1
        s2c = stack(bands, S2C_BANDS, -1)[None]
        jobs["s2cloudless"] = lambda s=s2c: detector.get_cloud_probability_maps(s, num_threads=threads)[0] >= 0.4
        rows: Dict[str, Dict[str, float]] = {}
        for name, fn in jobs.items():
            log(f"throughput {size} px: {name} ...")
            cloud, times = fn(), []  # the first call is the warm-up
            for _ in range(max(1, repeats)):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            sec = statistics.median(times)
            rows[name] = {"seconds": sec, "mpx_per_s": size * size / 1e6 / sec, "cloud_fraction": float(cloud.mean())}
        for r in rows.values():
            r["ratio_to_ukis"] = r["mpx_per_s"] / rows["ukis_6b_l1c"]["mpx_per_s"]
        out["sizes"][str(size)] = rows
    return out


def fmt(v: Optional[float]) -> str:
    return "   n/a" if v is None or math.isnan(v) else f"{v:6.3f}"


def print_tables(acc: Dict[str, Any], thr: Dict[str, Any], threads: int) -> None:
    print(f"\nACCURACY (pixels pooled per dataset)\n{'dataset':<11} {'method':<15} {'class':<6} "
          f"{'BA':>6} {'PA':>6} {'UA':>6} {'F1':>6} {'IoU':>6} {'ref px':>9}")
    for ds, r in acc.items():
        for method, m in r["methods"].items():
            if "n/a" in m:
                print(f"{ds:<11} {method:<15} {'-':<6} n/a: {m['n/a']}")
            for group, s in m.get("scores", {}).items():
                if group in ("cloud", "shadow"):
                    print(f"{ds:<11} {method:<15} {group:<6} {fmt(s['balanced_accuracy'])} "
                          f"{fmt(s['producers_accuracy'])} {fmt(s['users_accuracy'])} {fmt(s['f1'])} "
                          f"{fmt(s['iou'])} {s['reference_pixels']:>9}")
        for note in r["notes"]:
            print(f"{'':<11} note: {note}")
    if thr:
        print(f"\nTHROUGHPUT on {thr['array']} ({threads} threads, median)\n"
              f"{'size':>5} {'method':<15} {'s':>8} {'Mpx/s':>7} {'x ukis':>7} {'cloud %':>8}")
        for size, rows in thr["sizes"].items():
            for name, r in rows.items():
                print(f"{size:>5} {name:<15} {r['seconds']:8.3f} {r['mpx_per_s']:7.3f} {r['ratio_to_ukis']:7.2f} "
                      f"{100 * r['cloud_fraction']:8.1f}")
        for note in thr["notes"]:
            print(f"note: {note}")


def clean(obj: Any) -> Any:
    """NaN -> null, so that the JSON is strict."""
    if isinstance(obj, (dict, list)):
        return {k: clean(v) for k, v in obj.items()} if isinstance(obj, dict) else [clean(v) for v in obj]
    return None if isinstance(obj, float) and math.isnan(obj) else obj


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    models = load_models(args.models_dir or MODELS_DIR, log)
    accuracy = {}
    for name in args.datasets:
        log(f"accuracy: {name} ...")
        accuracy[name] = run_accuracy(load_set(name, args.data, args.max_scenes, DEFAULT_MASK_RESOLUTION_M), models,
                                      args.threads)
    l1c = sorted((args.data / "s2_l1c_cloudy_sen12mscr").glob("*.tif"))[0]
    throughput = run_throughput(l1c, models, args.sizes, args.repeats, args.threads, log) if args.sizes else {}
    print_tables(accuracy, throughput, args.threads)
    if args.json:
        packages = ("onnxruntime", "ukis-csmask", "s2cloudless", "lightgbm")
        result = {"threads": args.threads, "cpu_count": os.cpu_count(),
                  "versions": {p: metadata.version(p) for p in packages},
                  "models": {n: {"path": str(c.onnx_path), "sha256": c.sha256, "bands": c.bands,
                                 "resolution_m": c.resolution_m} for n, (c, _) in models.items()},
                  "missing_models": [n for n in BUNDLED_MODELS if n not in models],
                  "accuracy": accuracy, "throughput": throughput}
        write_json(args.json, clean(result))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
