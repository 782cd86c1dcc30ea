"""False alarms on clear real scenes: how much of a cloud-free image each method calls cloud or shadow.

    .venv/bin/python bench/clear_scenes.py [--json out/bench/clear_scenes.json]

The human-labelled sets (bench/compare_masks.py) all hold much cloud and
shadow, so they say little about the commonest complaint, dark ground called
shadow on a clear day.  Here the reference is a clear scene: the three dates
of eo-learn's L1C stack that s2cloudless calls clear on every pixel (summer
farmland and forest, 10 m, 13 bands; a place held out from every CloudFree
training run).  Every pixel a method calls cloud or shadow is a false alarm.
Methods: the bundled models with their defaults (mask_array: calibrated
decision, shadow-geometry check with the direction estimated from the scene)
and at a shadow threshold of 0.5; ukis-csmask 6- and 4-band L1C models
(needs `make teachers`); a blue-band threshold (B02 > 0.2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict

import numpy as np

from cloudfree.core.masking.arrays import mask_array
from cloudfree.core.model.card import BUNDLED_MODELS
from cloudfree.models.clear_scenes import load_clear_scenes
from results_file import write_json  # noqa: E402 - bench/ is the script's folder

UKIS = {"ukis_6b_l1c": ["B02", "B03", "B04", "B08", "B11", "B12"], "ukis_4b_l1c": ["B02", "B03", "B04", "B08"]}
UKIS_NAMES = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22"}


def percent(classes: np.ndarray) -> Dict[str, float]:
    return {"cloud_percent": round(100.0 * float(np.isin(classes, (1, 2)).mean()), 2),
            "shadow_percent": round(100.0 * float((classes == 3).mean()), 2)}


def ukis_classes(image: np.ndarray, bands, names) -> np.ndarray:
    from ukis_csmask.mask import CSmask
    cube = np.moveaxis(image[[bands.index(b) for b in names]], 0, -1).astype(np.float32)
    csm = CSmask(cube, [UKIS_NAMES[b] for b in names], product_level="l1c").csm
    csm = csm[..., 0] if csm.ndim == 3 else csm
    return np.array([0, 1, 3], np.uint8)[np.clip(csm, 0, 2)]  # ukis 0 clear, 1 cloud, 2 shadow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: Dict[str, Dict] = {}
    for scene in load_clear_scenes():
        image, bands = scene.reflectance, scene.bands
        row: Dict[str, Dict] = {}
        for model in BUNDLED_MODELS:
            row[model] = percent(mask_array(image, bands, model=model, pixel_m=scene.pixel_m).classes)
            row[f"{model} (shadow threshold 0.5)"] = percent(
                mask_array(image, bands, model=model, pixel_m=scene.pixel_m, shadow_threshold=0.5).classes)
        for name, names in UKIS.items():
            try:
                row[name] = percent(ukis_classes(image, bands, names))
            except ImportError:
                row[name] = {"missing": "ukis-csmask is not installed (make teachers)"}
        row["blue_threshold"] = percent(np.where(image[bands.index("B02")] > 0.2, 1, 0))
        results[scene.name] = row
    methods = list(next(iter(results.values())))
    print(f"False alarms on {len(results)} clear eo-learn dates (% of pixels; reference: all clear)")
    print(f"{'method':<40}" + "".join(f"{d:>24}" for d in results))
    for m in methods:
        cells = []
        for d in results:
            r = results[d][m]
            cells.append("n/a" if "missing" in r else f"cloud {r['cloud_percent']:4.1f}, shadow {r['shadow_percent']:4.1f}")
        print(f"{m:<40}" + "".join(f"{c:>24}" for c in cells))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
