"""Train, export and card a model in one call: what the CLI, QGIS and models/ use."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import InputError
from .export import export_model
from ..model.card import load_card
from ..progress import Feedback
from .trainer import TrainConfig, Trainer
from .data import Scene, load_scenes, without_datasets

INFERENCE_PATCH = 512
INFERENCE_OVERLAP = 64


@dataclass
class TrainedModel:
    onnx_fp32: Path
    onnx_fp16: Path
    summary: Dict


def _training_data_record(scenes: Sequence[Scene]) -> List[Dict]:
    seen: Dict[str, Dict] = {}
    for s in scenes:
        entry = seen.setdefault(s.record.place, {"place": s.record.place, "scenes": 0, "label_sources": set(),
                                                 "licences": set()})
        entry["scenes"] += 1
        entry["label_sources"].add(s.record.label_source)
        entry["licences"].add(s.record.licence)
    return [{**e, "label_sources": sorted(e["label_sources"]), "licences": sorted(e["licences"])}
            for e in seen.values()]


def train_model(training_sets: Sequence[Path], output_dir: Path, name: str, config: TrainConfig,
                workdir: Optional[Path] = None, init_model: Optional[str] = None,
                feedback: Optional[Feedback] = None, extra_card: Optional[Dict] = None) -> TrainedModel:
    """Train on prepared scene sets, export fp32 and fp16 ONNX with cards into output_dir.

    `init_model` (a bundled name or .onnx path whose card names PyTorch
    weights) starts from that model's weights: fine-tuning.
    """
    feedback = feedback or Feedback()
    scenes = load_scenes([Path(p) for p in training_sets])
    init_weights = None
    if init_model:
        base = load_card(init_model)
        if base.bands != list(config.bands):
            raise InputError(f"The model {base.name} takes {', '.join(base.bands)}; fine-tuning it needs the "
                             f"same bands, not {', '.join(config.bands)}.")
        if base.resolution_m != config.resolution_m:
            raise InputError(f"The model {base.name} was trained at {base.resolution_m} m; fine-tune it at that "
                             f"resolution, not {config.resolution_m} m.")
        if base.torch_weights is None or not base.torch_weights.is_file():
            raise InputError(f"The model {base.name} has no PyTorch weights beside it, so it cannot be fine-tuned.")
        init_weights = base.verified_torch_weights()
        config.architecture = {k: v for k, v in base.raw["architecture"].items()
                               if k not in ("weights_file", "weights_sha256")}
        if config.normalisation is None:  # the base's weights expect the base's input scaling
            config.normalisation = {"mean": list(base.mean), "std": list(base.std)}
    workdir = Path(workdir or Path(output_dir) / f".{name}_training")
    trainer = Trainer(config, scenes, workdir, feedback, init_weights)
    summary = trainer.fit()
    card = build_card(config, summary, scenes, init_model)
    card.update(extra_card or {})
    written = export_trained(trainer, Path(output_dir), name, card)
    feedback.info(f"Wrote {written['fp32']} and {written['fp16']} (validation: cloud BA "
                  f"{summary['validation']['cloud_ba']:.3f}, shadow BA {summary['validation']['shadow_ba']:.3f})")
    return TrainedModel(written["fp32"], written["fp16"], summary)


def build_card(config: TrainConfig, summary: Dict, scenes: Sequence[Scene], init_model: Optional[str] = None) -> Dict:
    """The card fields of a trained model (everything but the file-specific ones export adds)."""
    return {
        "kind": "U-Net (segmentation-models-pytorch), trained by CloudFree",
        "bands": list(config.bands), "resolution_m": config.resolution_m,
        "normalisation": {"mean": summary["mean"], "std": summary["std"],
                          "input": "top-of-atmosphere or surface reflectance (DN / 10000 after the product offset)"},
        "patch_size": INFERENCE_PATCH, "overlap": INFERENCE_OVERLAP, "input_multiple": 16,
        "architecture": dict(config.architecture),
        "training": {"config": {k: v for k, v in asdict(config).items() if k != "architecture"},
                     "epochs_run": summary["epochs"], "best_epoch": summary["best_epoch"],
                     "train_places": summary["train_places"], "validation_places": summary["validation_places"],
                     "fine_tuned_from": init_model or None},
        "training_data": _training_data_record(without_datasets(scenes, config.exclude_datasets)),
        "metrics": {"validation_patches (held-out places, synthetic and teacher labels)": summary["validation"]},
        "licence": "MIT (this repository); training data licences listed in training_data",
    }


def export_trained(trainer: Trainer, output_dir: Path, name: str, card: Dict) -> Dict[str, Path]:
    """Export a trainer's best model as fp32 and fp16 ONNX (parity-checked) with its card."""
    mean, std = trainer.mean, trainer.std
    sample = trainer.val_x[:2]
    sample = (sample - np.asarray(mean, np.float32)[None, :, None, None]) / np.asarray(std, np.float32)[None, :, None, None]
    return export_model(trainer.model, Path(output_dir), name, card, sample.astype(np.float32))
