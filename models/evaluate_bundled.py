"""Measure the bundled models on the human-labelled test sets and record it in their cards.

    .venv/bin/python -m cloudfree.models.evaluate_bundled [--from-json out/bench/compare_masks.json]

Runs the accuracy part of bench/compare_masks.py (the same code that compares
CloudFree with ukis-csmask and SCL) and copies each bundled model's scores
into models/<name>.json: the leave-one-dataset-out figure of every set (its
fold model never saw it; models/train_bundled.py) and, for reference, the
shipped model's, which trained on all of them.  The card's sha256 covers the
ONNX file only, so recording metrics does not change it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cloudfree.core.model.card import BUNDLED_MODELS, MODELS_DIR, write_card

BENCH = Path(__file__).resolve().parent.parent / "bench" / "compare_masks.py"
KEEP = ("balanced_accuracy", "producers_accuracy", "users_accuracy", "f1", "iou", "reference_pixels")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", type=Path, help="use this compare_masks.py result instead of running it")
    args = parser.parse_args()
    if args.from_json:
        accuracy = json.loads(args.from_json.read_text())["accuracy"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "accuracy.json"
            subprocess.run([sys.executable, str(BENCH), "--sizes", "--json", str(out)], check=True)
            accuracy = json.loads(out.read_text())["accuracy"]
    for name in BUNDLED_MODELS:
        measured = {}
        for dataset, result in accuracy.items():
            for variant, label in ((f"{name} (LODO)", "leave_one_dataset_out"), (f"{name} (shipped)", "shipped")):
                scores = result["methods"].get(variant, {}).get("scores")
                if scores:
                    measured.setdefault(dataset, {"scheme": result["scheme"], "scenes": len(result["scenes"])})
                    measured[dataset][label] = {group: {k: (round(v, 4) if isinstance(v, float) else v)
                                                        for k, v in s.items() if k in KEEP}
                                                for group, s in scores.items() if group in ("cloud", "shadow")}
        for variant in (name, f"{name}_fp16"):
            card_path = MODELS_DIR / f"{variant}.json"
            if not card_path.is_file():
                continue
            card = json.loads(card_path.read_text())
            card.setdefault("metrics", {}).pop("human_labelled_test_sets (fp32 model, never trained on)", None)
            card["metrics"]["human_labelled_sets (bench/compare_masks.py; leave_one_dataset_out: a fold model that "
                            "never saw the set; shipped: trained on every set, optimistic)"] = measured or (
                "none: no human-labelled set on hand has all of this model's bands")
            card.pop("sha256", None)
            write_card(card_path.with_suffix(".onnx"), card)
        print(f"{name}: {json.dumps(measured)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
