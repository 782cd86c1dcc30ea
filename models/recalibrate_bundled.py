"""Re-derive a base-variant mask model's calibrated decision and held-out figures without retraining.

    .venv/bin/python -m cloudfree.models.recalibrate_bundled [--only cloudfree_rgb] [--model other.onnx] [--write]

A model whose shipped variant is the base never saw a human label, so the
shipped file is itself the model that never saw each set: its
leave-one-dataset-out figures need only its predictions and the nested
calibration (models/train_bundled.py), not the fold fine-tunes.  This runs
that part again, under the current decision rule (DECISION_RULE), prints the
figures and the selection score, and with --write stores the new decision
and figures in the card (fp32 and fp16) and the per-set models for
bench/compare_masks.py under out/training/<model>/.  A fine-tuned variant
needs its folds: train_bundled.py, not this.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

from cloudfree.core.io.bands import DEFAULT_MASK_RESOLUTION_M
from cloudfree.core.model.card import MODELS_DIR, load_card, write_card
from cloudfree.models.clear_scenes import false_alarms, load_clear_scenes
from cloudfree.models.human_labelled import HUMAN_SETS, load_set
from cloudfree.models.train_bundled import (BUNDLED, METRICS_KEY, decision_record, fold_probabilities, nested_lodo,
                                            selection_score, write_lodo_models)

log = logging.getLogger("recalibrate_bundled")


def recalibrate(model: Path) -> Dict:
    """The nested LODO figures, the weights from all sets, the clear-scene false alarms and the selection score."""
    card = load_card(str(model))
    sets = [s for s in (load_set(d, resolution_m=DEFAULT_MASK_RESOLUTION_M) for d in HUMAN_SETS)
            if set(card.bands) <= set(s.bands)]
    probs = {s.name: fold_probabilities(card, s) for s in sets}
    lodo, weights = nested_lodo(sets, probs)
    alarms = false_alarms([str(model)], weights, load_clear_scenes())
    return {"lodo": lodo, "weights": weights, "alarms": alarms, "selection_score": selection_score(lodo, alarms)}


def write(name: str, result: Dict, workdir: Path) -> None:
    weights, lodo = result["weights"], result["lodo"]
    for path in (MODELS_DIR / f"{name}.json", MODELS_DIR / f"{name}_fp16.json"):
        card = json.loads(path.read_text())
        card["decision"] = decision_record(weights, sorted(lodo))
        card["metrics"][METRICS_KEY] = {"chosen variant": "base", **lodo}
        variant = card.setdefault("variant", {})
        variant["clear_scene_false_alarms"] = dict(variant.get("clear_scene_false_alarms") or {},
                                                   base={c: round(v, 4) for c, v in result["alarms"].items()})
        variant["selection_score"] = dict(variant.get("selection_score") or {},
                                          base=round(result["selection_score"], 4))
        variant["recalibrated"] = ("decision and base figures re-derived under the decision rule above by "
                                   "models/recalibrate_bundled.py; the fine-tuned variant's figures are from "
                                   "train_bundled.py under the rule before (cloud against clear and weighted shadow)")
        card.pop("sha256")
        write_card(path.with_suffix(".onnx"), card)
    write_lodo_models(workdir / name, name, "base", {d: MODELS_DIR / f"{name}.onnx" for d in lodo}, lodo)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BUNDLED), action="append")
    parser.add_argument("--model", type=Path, help="score this file instead of the bundled one (never written)")
    parser.add_argument("--write", action="store_true", help="store the decision and figures in the bundled cards")
    parser.add_argument("--workdir", type=Path, default=Path("out/training"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = args.only or sorted(BUNDLED)
    if args.model and (args.write or len(names) != 1):
        parser.error("--model scores one candidate file: give one --only and no --write")
    for name in names:
        model = args.model or MODELS_DIR / f"{name}.onnx"
        chosen = (json.loads(model.with_suffix(".json").read_text()).get("variant") or {}).get("chosen")
        if chosen != "base":
            if args.model:
                parser.error(f"{model} is a {chosen} variant, whose figures need its folds: run train_bundled.py")
            log.warning(f"{name}: skipped, it ships its {chosen} variant, whose figures need its folds "
                        "(train_bundled.py wrote them)")
            continue
        result = recalibrate(model)
        scores = {d: {c: v["balanced_accuracy"] for c, v in r["scores"].items()} for d, r in result["lodo"].items()}
        log.info(f"{name} ({model}): weights {result['weights']}, clear-scene false alarms {result['alarms']}, "
                 f"selection score {result['selection_score']:.4f}; held-out BA {json.dumps(scores)}")
        if args.write:
            write(name, result, args.workdir)


if __name__ == "__main__":
    main()
