"""Does the shadow-geometry step (core/masking/shadow_geometry.py) raise shadow BA on held-out human labels?

    .venv/bin/python bench/shadow_geometry.py [--models-dir models]

Per human set with a shadow class, each bundled model that has the set's
bands masks it with its leave-one-dataset-out model (the one that never saw
the set; the shipped one if no fold was built), and the classes are scored
before and after the geometry step: with the set's sun angles where it has
them (Layton), and with the direction estimated from the scene (every set;
on Layton this also checks the estimate against the real azimuth).  Prints
cloud and shadow BA and the after/before shadow-BA difference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cloudfree.core.io.bands import DEFAULT_MASK_RESOLUTION_M  # noqa: E402
from cloudfree.core.masking.class_raster import decide_classes  # noqa: E402
from cloudfree.core.masking.engine import array_probabilities  # noqa: E402
from cloudfree.core.model.card import BUNDLED_MODELS, MODELS_DIR, load_card  # noqa: E402
from cloudfree.core.model.runtime import make_predictor  # noqa: E402
from cloudfree.core.masking.shadow_geometry import confirm_shadows  # noqa: E402
from cloudfree.models.human_labelled import evaluate_classes, load_set  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_masks import fold_model, stack  # noqa: E402
from results_file import write_json  # noqa: E402 - bench/ is the script's folder

SHADOW_SETS = ("ukis_s2", "landsat", "layton")


def score(ds, classes: List) -> Dict[str, Optional[float]]:
    scores = evaluate_classes(ds, classes).scores()
    return {g: (round(v["balanced_accuracy"], 4) if v.get("balanced_accuracy") is not None else None)
            for g, v in scores.items()}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = {}
    for set_name in SHADOW_SETS:
        ds = load_set(set_name, resolution_m=DEFAULT_MASK_RESOLUTION_M)
        for name in BUNDLED_MODELS:
            shipped = args.models_dir / f"{name}.onnx"
            path = fold_model(name, set_name) or shipped
            card = load_card(str(path))
            if not set(card.bands) <= set(ds.bands):
                continue
            pred = make_predictor(card, engine="onnx", device="cpu")
            probs = [array_probabilities(pred, card, stack(s.bands, card.bands, 0)) for s in ds.scenes]
            before = [decide_classes(p, weights=card.decision_weights) for p in probs]
            row = {"model": path.name, "before": score(ds, before)}
            estimated = [confirm_shadows(c, s.pixel_m, None) for c, s in zip(before, ds.scenes)]
            row["estimated"] = score(ds, [c for c, _ in estimated])
            row["estimated_reports"] = [r.describe() for _, r in estimated]
            if all(s.sun is not None for s in ds.scenes):
                known = [confirm_shadows(c, s.pixel_m, s.sun) for c, s in zip(before, ds.scenes)]
                row["sun_angles"] = score(ds, [c for c, _ in known])
                row["sun_reports"] = [r.describe() for _, r in known]
            results[f"{set_name} / {name}"] = row
            line = f"{set_name:8s} {name:15s} before {row['before']}  estimated {row['estimated']}"
            if "sun_angles" in row:
                line += f"  sun angles {row['sun_angles']}"
            print(line, flush=True)
            for r in row["estimated_reports"] + row.get("sun_reports", []):
                print("    " + r)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
