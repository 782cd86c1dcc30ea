"""Train the bundled mask models with a leave-one-dataset-out protocol on the human-labelled sets.

    .venv/bin/python -m cloudfree.models.prepare_training_data out/training/scenes.npz --human out/training/human.npz
    .venv/bin/python -m cloudfree.models.train_bundled out/training/scenes.npz out/training/human.npz \
        [--only cloudfree_s2] [--base-minutes 60]

Per model (band set):
1. **Base**: trained on synthetic clouds over clear real scenes and on teacher
   labels, never on a human label (`exclude_datasets` = every human set).
2. **Folds**: for each human-labelled set D that has the model's bands, the
   base is fine-tuned on the human sets other than D (half the draws) plus
   the base data, then predicts D; the base itself predicts D too.  Either
   way D's figures come from a model that never saw D.  Fold models go to
   <workdir>/<model>/folds/<D>/.
3. **Calibration**: the decision weights (cloud, shadow) used to score D are
   chosen on the other sets' predictions (nested, so D never tunes its own
   threshold); the shipped weights are chosen on all sets' predictions.
4. **Shipped model**: of the two variants (base, fine-tuned), the one with
   the higher mean balanced accuracy over the held-out sets; the fine-tuned
   variant is then the base fine-tuned on every human set.  It goes to
   models/ with the weights, both variants' figures and the protocol in its
   card; <workdir>/<model>/lodo_models.json names the model that never saw
   each set, with that set's nested weights, for bench/compare_masks.py.

Every stage checkpoints and resumes: run the same command again after a stop.
Places T49JGM and eolearn (synthetic and teacher labels) are held out for
early stopping throughout; human labels never decide early stopping.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cloudfree.core.masking.arrays import classes_from_probabilities
from cloudfree.core.io.bands import DEFAULT_MASK_RESOLUTION_M
from cloudfree.core.training.calibration import CalibrationSample, calibrate
from cloudfree.core.masking.engine import array_probabilities
from cloudfree.core.model.card import MODELS_DIR, ModelCard, load_card, write_card
from cloudfree.core.model.runtime import make_predictor
from cloudfree.core.training.train_model import build_card, export_trained
from cloudfree.core.training.trainer import BAND_SETS, TrainConfig, Trainer
from cloudfree.core.training.data import Scene, load_scenes
from cloudfree.models.clear_scenes import false_alarms, load_clear_scenes
from cloudfree.models.human_labelled import HUMAN_SETS, LabelledSet, evaluate_classes, load_set, training_labels

BUNDLED = {f"cloudfree_{key}": bands for key, (_, bands) in BAND_SETS.items()}
VALIDATION_PLACES = ["T49JGM", "eolearn"]
PROTOCOL = ("leave-one-dataset-out: a base model trained on synthetic and teacher labels only; per human-labelled "
            "set D, (a) the base itself and (b) the base fine-tuned on the other human sets score D, each with "
            "decision weights calibrated on the other sets' predictions; the variant with the higher selection score "
            "(the mean of those held-out balanced accuracies on the Sentinel-2 sets and of its specificities on held-out "
            "clear scenes) is "
            "shipped: the base, or the base fine-tuned on every human set, with weights calibrated on all sets' "
            "predictions")
log = logging.getLogger("train_bundled")
METRICS_KEY = "human_labelled_leave_one_dataset_out (each set scored by a model trained without it)"
#: How the card's weights are used (core/masking/class_raster.decide_classes); stated in every card since the
#: rule changed on 2026-12-02 (before: cloud competed with clear and the weighted shadow).
DECISION_RULE = ("cloud where cloud_weight x P(cloud) > P(clear) + P(shadow); elsewhere shadow where "
                 "shadow_weight x P(shadow) > P(clear)")


SELECTION = ("the variant with the higher selection score: the mean of its held-out balanced accuracies (each "
             "Sentinel-2 human set and class, scored by a model that never saw the set; the Landsat-5 patch is "
             "scored and reported but does not choose) and of its specificities on held-out clear scenes (1 - the "
             "share of clear pixels called cloud, and called shadow; models/clear_scenes.py)")


#: Human sets scored and reported but not used to choose the variant: the product masks Sentinel-2, and a
#: fine-tune's gains on another sensor came with false shadow on Sentinel-2's clear scenes (models/README.md).
NOT_FOR_SELECTION = {"landsat": "Landsat-5 TM, another sensor"}


def selection_score(lodo: Dict, alarms: Dict[str, float]) -> float:
    """Mean of the held-out BAs on the Sentinel-2 sets and of the clear-scene specificities: a model must find
    cloud and shadow where they are and leave a clear scene clear."""
    sentinel2 = {d: v for d, v in lodo.items() if d not in NOT_FOR_SELECTION}
    return float(np.mean(balanced_accuracies(sentinel2) + [1.0 - alarms["cloud"], 1.0 - alarms["shadow"]]))


def balanced_accuracies(lodo: Dict) -> List[float]:
    """Every finite held-out balanced accuracy of a LODO result (each set and class)."""
    return [g["balanced_accuracy"] for v in lodo.values() for g in v["scores"].values()
            if g.get("balanced_accuracy") is not None and np.isfinite(g["balanced_accuracy"])]


def fine_tune_config(base: TrainConfig, exclude: Sequence[str], mean: List[float], std: List[float],
                     steps: int, epochs: int) -> TrainConfig:
    return replace(base, exclude_datasets=list(exclude), human_fraction=0.5, steps_per_epoch=steps,
                   max_epochs=epochs, patience=epochs, learning_rate=5e-4, max_minutes=None,
                   normalisation={"mean": mean, "std": std})


def fold_probabilities(card: ModelCard, labelled: LabelledSet) -> List[np.ndarray]:
    """Blended class probabilities (4, H, W) of each scene of a set, as the engine computes them."""
    predictor = make_predictor(card, engine="onnx", device="cpu")
    return [array_probabilities(predictor, card, np.stack([s.bands[b] for b in card.bands]).astype(np.float32))
            for s in labelled.scenes]


def score_set(labelled: LabelledSet, probs: Sequence[np.ndarray], weights: Tuple[float, float]) -> Dict:
    """Scores on the set's own label grid (classes repeated back onto it) of the classes the engine's default
    settings give (decision weights, then shadow geometry), as bench/compare_masks.py does."""
    ev = evaluate_classes(labelled, [classes_from_probabilities(p, weights, s.pixel_m, s.sun)[0]
                                      for s, p in zip(labelled.scenes, probs)])
    keep = ("balanced_accuracy", "producers_accuracy", "users_accuracy", "f1", "reference_pixels")
    return {g: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items() if k in keep}
            for g, s in ev.scores().items() if g in ("cloud", "shadow")}


def samples_of(labelled: LabelledSet, probs: Sequence[np.ndarray]) -> List[CalibrationSample]:
    return [CalibrationSample(labelled.name, p, training_labels(labelled, s)) for s, p in zip(labelled.scenes, probs)]


def decision_record(weights: Sequence[float], calibrated_on: Sequence[str]) -> Dict:
    """A card's `decision`: the weights, the rule that uses them and the held-out sets they were chosen on."""
    return {"cloud_weight": weights[0], "shadow_weight": weights[1], "rule": DECISION_RULE,
            "calibrated_on": "leave-one-dataset-out predictions of " + ", ".join(calibrated_on)}


def nested_lodo(sets: Sequence[LabelledSet], probs: Dict[str, List[np.ndarray]]) -> Tuple[Dict, Tuple[float, float]]:
    """Scores of each set with weights calibrated on the other sets (nested), and the weights from all."""
    samples = {s.name: samples_of(s, probs[s.name]) for s in sets}
    out = {}
    for labelled in sets:
        d = labelled.name
        weights = calibrate([x for k, v in samples.items() if k != d for x in v])
        out[d] = {"scenes": len(labelled.scenes), "decision_weights": list(weights),
                  "calibrated_on": sorted(k for k in samples if k != d),
                  "scores": score_set(labelled, probs[d], weights),
                  "scores_uncalibrated": score_set(labelled, probs[d], (1.0, 1.0))}
    return out, calibrate([x for v in samples.values() for x in v])


def write_lodo_models(workdir: Path, name: str, chosen: str, models: Dict[str, Path], lodo: Dict) -> Dict[str, str]:
    """Per set, a copy of the model that never saw it with that set's nested weights, for the benchmark;
    <workdir>/lodo_models.json indexes them."""
    index = {}
    for d, onnx in models.items():
        folder = workdir / "lodo_models" / d
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}_without_{d}.onnx"
        shutil.copyfile(onnx, target)
        card = json.loads(onnx.with_suffix(".json").read_text())
        card["decision"] = decision_record(lodo[d]["decision_weights"], lodo[d]["calibrated_on"])
        card["lodo_variant"] = chosen
        weights_file = (card.get("architecture") or {}).get("weights_file")
        if weights_file:
            shutil.copyfile(onnx.parent / weights_file, folder / weights_file)
        card.pop("sha256")
        write_card(target, card)
        index[d] = str(target)
    (workdir / "lodo_models.json").write_text(json.dumps(index, indent=2))
    return index


class BandSetTraining:
    """The base, the folds and the shipped model of one band set, each resumable in its own folder."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name, self.args = name, args
        self.workdir = args.workdir / name
        self.base_config = TrainConfig(bands=list(BUNDLED[name]), steps_per_epoch=args.steps, max_epochs=args.epochs,
                                       patience=args.patience, validation_places=VALIDATION_PLACES,
                                       device=args.device, max_minutes=args.base_minutes,
                                       exclude_datasets=list(HUMAN_SETS), coarse_fraction=args.coarse_fraction,
                                       learning_rate=args.learning_rate)
        # scored and calibrated at the masking default (10 m); human.npz trains at 20 m like everything else
        self.sets = [s for s in (load_set(d, resolution_m=DEFAULT_MASK_RESOLUTION_M) for d in HUMAN_SETS)
                     if set(BUNDLED[name]) <= set(s.bands)]
        # A longer schedule that starts from an earlier base (never from a fold: that one saw human labels).
        self.warm_start = args.warm_start / name / "base" / "best.pt" if args.warm_start else None

    def _scenes(self, with_human: bool) -> List[Scene]:
        return load_scenes([self.args.training_set] + ([self.args.human_set] if with_human else []))

    def base(self) -> Tuple[Trainer, Dict]:
        started = time.monotonic()
        trainer = Trainer(self.base_config, self._scenes(False), self.workdir / "base",
                          init_weights=self.warm_start)
        if self.args.base_as_is and trainer.resume():
            summary = trainer.summary()  # a base stopped early (time budget) is used at its best epoch so far
            if trainer.epoch < self.base_config.max_epochs:
                summary["stopped_early"] = f"after {trainer.epoch} of {self.base_config.max_epochs} epochs"
        else:
            summary = trainer.fit()
        summary["minutes_this_call"] = round((time.monotonic() - started) / 60, 1)
        return trainer, summary

    def fine_tune(self, folder: str, exclude: Sequence[str], base: Dict, out_dir: Path, out_name: str,
                  extra_card: Dict) -> Tuple[Path, Dict]:
        never = [d for d in (self.args.fine_tune_without or []) if d not in exclude]
        config = fine_tune_config(self.base_config, list(exclude) + never, base["mean"], base["std"],
                                  self.args.ft_steps, self.args.ft_epochs)
        scenes = self._scenes(True)
        trainer = Trainer(config, scenes, self.workdir / folder, init_weights=self.workdir / "base" / "best.pt")
        summary = trainer.fit()
        card = build_card(config, summary, scenes, init_model=f"{self.name} base (synthetic and teacher labels)")
        card["training"]["base"] = self._base_record(base)
        card.update(extra_card)
        written = export_trained(trainer, out_dir, out_name, card)
        return written["fp32"], summary

    def _base_record(self, base: Dict) -> Dict:
        record = {"epochs_run": base["epochs"], "best_epoch": base["best_epoch"],
                  "config": {k: v for k, v in asdict(self.base_config).items() if k != "architecture"}}
        if self.warm_start:
            record["warm_start"] = f"started from the base of an earlier run ({self.warm_start})"
        if base.get("stopped_early"):
            record["stopped_early"] = base["stopped_early"] + " (time budget); the best epoch so far is used"
        return record

    def compute_record(self, variant: str) -> Dict:
        """Training time and hardware, from the checkpoints' own clocks (None where a checkpoint predates them)."""
        import os
        import platform

        import torch

        def minutes(folder: Path) -> Optional[float]:
            path = folder / "checkpoint.pt"
            if not path.is_file():
                return None
            seconds = torch.load(path, map_location="cpu", weights_only=False).get("seconds")
            return round(seconds / 60, 1) if seconds else None

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and self.args.device != "cpu" else \
            f"{platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
        record = {"hardware": device, "base_minutes": minutes(self.workdir / "base"),
                  "fold_minutes": {s.name: minutes(self.workdir / f"fold_{s.name}") for s in self.sets},
                  "date": time.strftime("%Y-%m-%d")}
        if self.warm_start:
            record["warm_start_base_minutes"] = minutes(self.warm_start.parent)
        if variant == "fine-tuned":
            record["final_fine_tune_minutes"] = minutes(self.workdir / "final")
        return record

    def export_base(self, trainer: Trainer, summary: Dict, out_dir: Path, out_name: str, extra_card: Dict) -> Path:
        card = build_card(self.base_config, summary, self._scenes(False))
        for key in ("warm_start", "stopped_early"):
            if key in self._base_record(summary):
                card["training"][key] = self._base_record(summary)[key]
        card.update(extra_card)
        return export_trained(trainer, out_dir, out_name, card)["fp32"]

    def lodo(self, probs: Dict[str, List[np.ndarray]]) -> Tuple[Dict, Tuple[float, float]]:
        return nested_lodo(self.sets, probs)

    @staticmethod
    def mean_ba(lodo: Dict) -> float:
        values = balanced_accuracies(lodo)
        return float(np.mean(values)) if values else float("nan")

    def run(self) -> None:
        base_trainer, base = self.base()
        log.info(f"{self.name}: base done ({base['epochs']} epochs, best {base['best_epoch']})")
        base_onnx = self.workdir / "base_export" / f"{self.name}_base.onnx"
        if not base_onnx.is_file():
            self.export_base(base_trainer, base, base_onnx.parent, base_onnx.stem, {})
        variants: Dict[str, Dict[str, List[np.ndarray]]] = {"base": {}, "fine-tuned": {}}
        models: Dict[str, Dict[str, Path]] = {"base": {}, "fine-tuned": {}}
        for labelled in self.sets:
            d = labelled.name
            onnx = self.workdir / "folds" / d / f"{self.name}_without_{d}.onnx"
            if not onnx.is_file():
                self.fine_tune(f"fold_{d}", [d], base, onnx.parent, onnx.stem, {})
            variants["fine-tuned"][d] = fold_probabilities(load_card(str(onnx)), labelled)
            variants["base"][d] = fold_probabilities(load_card(str(base_onnx)), labelled)
            models["fine-tuned"][d], models["base"][d] = onnx, base_onnx
            log.info(f"{self.name}: fold without {d} done")
        results = {k: self.lodo(v) for k, v in variants.items()}
        mean = {k: self.mean_ba(r[0]) for k, r in results.items()}
        # the human sets are all cloudy; clear scenes measure the false alarms they cannot (models/clear_scenes.py)
        clear = load_clear_scenes()
        alarms = {k: false_alarms(sorted({str(p) for p in models[k].values()}), results[k][1], clear)
                  for k in results}
        score = {k: selection_score(results[k][0], alarms[k]) for k in results}
        chosen = max(score, key=lambda k: (score[k], k == "base"))  # a tie keeps the model that saw no human label
        lodo, weights = results[chosen]
        self._write_lodo_models(chosen, models[chosen], lodo)
        (self.workdir / "lodo.json").write_text(json.dumps(
            {"chosen": chosen, "mean_balanced_accuracy": mean, "clear_scene_false_alarms": alarms,
             "selection_score": score,
             "variants": {k: {"weights": r[1], "lodo": r[0]} for k, r in results.items()}}, indent=2))
        extra = {"decision": decision_record(weights, sorted(lodo)),
                 "protocol": PROTOCOL,
                 "variant": {"chosen": chosen, "mean_lodo_balanced_accuracy": {k: round(v, 4) for k, v in mean.items()},
                             "clear_scene_false_alarms": {k: {c: round(v, 4) for c, v in a.items()}
                                                          for k, a in alarms.items()},
                             "selection_score": {k: round(v, 4) for k, v in score.items()},
                             "why": SELECTION}}
        if chosen == "fine-tuned":
            path, _ = self.fine_tune("final", [], base, self.args.output, self.name, extra)
        else:
            path = self.export_base(base_trainer, base, self.args.output, self.name, extra)
        compute = self.compute_record(chosen)
        for variant in (path, path.with_name(f"{self.name}_fp16.onnx")):
            card = json.loads(variant.with_suffix(".json").read_text())
            card["training_compute"] = compute
            card["metrics"][METRICS_KEY] = {"chosen variant": chosen, **lodo}
            card["metrics"]["leave_one_dataset_out_other_variant"] = {
                k: r[0] for k, r in results.items() if k != chosen}
            card.pop("sha256")
            write_card(variant, card)
        log.info(f"{self.name}: shipped the {chosen} variant (mean LODO BA {mean}) with weights {weights}; LODO "
                 + json.dumps({d: v["scores"] for d, v in lodo.items()}))

    def _write_lodo_models(self, chosen: str, models: Dict[str, Path], lodo: Dict) -> None:
        index = write_lodo_models(self.workdir, self.name, chosen, models, lodo)
        if self.args.warm_start:  # this run supersedes the one it started from: the benchmark looks there
            (self.args.warm_start / self.name / "lodo_models.json").write_text(json.dumps(index, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training_set", type=Path, help="synthetic and teacher scenes (prepare_training_data)")
    parser.add_argument("human_set", type=Path, help="the human-labelled scenes (prepare_training_data --human)")
    parser.add_argument("--only", choices=sorted(BUNDLED), action="append")
    parser.add_argument("--steps", type=int, default=100, help="base: steps per epoch")
    parser.add_argument("--epochs", type=int, default=30, help="base: epochs (the learning-rate schedule's length)")
    parser.add_argument("--patience", type=int, default=30, help="base: epochs without a better validation score")
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate,
                        help="base: peak of the one-cycle schedule (lower it to continue a warm-started base gently)")
    parser.add_argument("--base-minutes", type=float, default=None, help="base: time budget (stops the schedule)")
    parser.add_argument("--ft-steps", type=int, default=50, help="fine-tuning: steps per epoch")
    parser.add_argument("--ft-epochs", type=int, default=4, help="fine-tuning: epochs")
    parser.add_argument("--fine-tune-without", action="append", choices=HUMAN_SETS,
                        help="a human set no fine-tune trains on (still scored, by its fold), e.g. landsat: "
                             "fine-tune on Sentinel-2 labels only")
    parser.add_argument("--base-only", action="store_true", help="train the base models and stop")
    parser.add_argument("--base-as-is", action="store_true",
                        help="use each base at its best epoch so far, without training it further")
    parser.add_argument("--warm-start", type=Path, default=None,
                        help="an earlier work folder: each base starts from its base/best.pt (no human label in it)")
    parser.add_argument("--coarse-fraction", type=float, default=0.0,
                        help="share of training patches seen 1.5 times coarser (20 m as 30 m, like the Landsat and "
                             "Layton sets; default 0)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, default=MODELS_DIR)
    parser.add_argument("--workdir", type=Path, default=Path("out/training"))
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in args.only or BUNDLED:
        job = BandSetTraining(name, args)
        if args.base_only:
            job.base()
        else:
            job.run()


if __name__ == "__main__":
    main()
