"""Training a CloudFree U-Net: a resumable loop with place-held-out early stopping on balanced accuracy.

The network is a segmentation-models-pytorch U-Net with a truncated
MobileNetV3-small encoder (timm, no pretrained weights) and a slim decoder: small enough to ship (a few MB),
fast on two CPU cores, and deep enough (16x down-sampling) to see a cloud
next to its shadow.  Everything that decides a run (seed, bands, patch,
steps) is in `TrainConfig`, saved in every checkpoint, so a killed run
resumes where it stopped and a finished one can be repeated.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import Cancelled, InputError
from ..model.card import MASK_CLASSES
from ..progress import Feedback
from .synthetic import IGNORE
from .data import (PatchSampler, Scene, band_statistics, fixed_patches, split_by_place,
                            without_datasets)

#: The band sets CloudFree models are trained for: name -> (description, bands).
BAND_SETS: Dict[str, tuple] = {
    "s2": ("6 bands (B02, B03, B04, B08, B11, B12), the band set of the human-labelled ukis-csmask patches",
           ["B02", "B03", "B04", "B08", "B11", "B12"]),
    "bgrn": ("Blue, green, red, NIR (B02, B03, B04, B08)", ["B02", "B03", "B04", "B08"]),
    "rgb": ("True colour (B02, B03, B04)", ["B02", "B03", "B04"]),
}
DEFAULT_ARCHITECTURE = {"arch": "Unet", "encoder": "tu-mobilenetv3_small_100",
                        "kwargs": {"encoder_depth": 4, "decoder_channels": [64, 32, 24, 16]}}


@dataclass
class TrainConfig:
    bands: List[str]
    resolution_m: int = 20
    patch: int = 128
    batch_size: int = 16
    steps_per_epoch: int = 100
    max_epochs: int = 30
    patience: int = 5
    learning_rate: float = 2e-3
    seed: int = 0
    validation_places: List[str] = field(default_factory=list)
    validation_patches: int = 96
    synthetic_fraction: float = 0.7
    class_weights: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.5, 2.0])
    architecture: Dict = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_ARCHITECTURE)))
    device: str = "auto"
    max_minutes: Optional[float] = None
    exclude_datasets: List[str] = field(default_factory=list)  # human-labelled sets this run must never see
    human_fraction: float = 0.0   # share of draws from human-labelled scenes (when the run has any)
    coarse_fraction: float = 0.0  # share of training draws seen 1.5 times coarser (core.training.data.coarsen)
    normalisation: Optional[Dict[str, List[float]]] = None  # fixed mean/std (fine-tuning keeps the base's)


def build_model(config: TrainConfig):
    import segmentation_models_pytorch as smp
    arch = config.architecture
    return smp.create_model(arch["arch"], encoder_name=arch["encoder"], encoder_weights=None,
                            in_channels=len(config.bands), classes=len(MASK_CLASSES), **arch.get("kwargs", {}))


def _device(torch, name: str):
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA was asked for but torch sees no GPU; use device 'auto' or 'cpu'.")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def _confusion(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    keep = ref != IGNORE
    return np.bincount(ref[keep].astype(np.int64) * 4 + pred[keep], minlength=16).reshape(4, 4)


def _balanced_accuracies(conf: np.ndarray) -> Dict[str, float]:
    """Balanced accuracy of cloud (thick or thin) and shadow from a 4x4 confusion matrix."""
    total = conf.sum()
    out = {}
    for name, cls in (("cloud", [1, 2]), ("shadow", [3])):
        tp = conf[np.ix_(cls, cls)].sum()
        ref = conf[cls, :].sum()
        pred = conf[:, cls].sum()
        tn = total - ref - pred + tp
        pa = tp / ref if ref else np.nan
        spec = tn / (total - ref) if total - ref else np.nan
        out[name] = float((pa + spec) / 2)
    return out


class Trainer:
    history: List[Dict[str, float]]  # one validation record per epoch

    def __init__(self, config: TrainConfig, scenes: Sequence[Scene], workdir: Path,
                 feedback: Optional[Feedback] = None, init_weights: Optional[Path] = None) -> None:
        import torch
        self.torch, self.config, self.workdir = torch, config, Path(workdir)
        self.feedback = feedback or Feedback()
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenes = without_datasets(scenes, config.exclude_datasets)
        train, val = split_by_place(scenes, config.validation_places)
        val = [s for s in val if s.record.label_source != "human"]  # early stopping never sees human labels
        torch.manual_seed(config.seed)
        self.sampler = PatchSampler(train, config.bands, config.patch, config.seed, config.synthetic_fraction,
                                    human_fraction=config.human_fraction, coarse_fraction=config.coarse_fraction)
        if config.normalisation:
            self.mean, self.std = list(config.normalisation["mean"]), list(config.normalisation["std"])
        else:
            self.mean, self.std = band_statistics(train, config.bands, seed=config.seed)
        val_sampler = PatchSampler(val or train, config.bands, config.patch, config.seed + 1000,
                                   config.synthetic_fraction)
        self.val_x, self.val_y = fixed_patches(val_sampler, config.validation_patches)
        self.train_places = sorted({s.record.place for s in self.sampler.scenes})
        self.val_places = sorted({s.record.place for s in val_sampler.scenes}) if val else ["(none held out)"]
        self.device = _device(torch, config.device)
        self.model = build_model(config).to(self.device)
        if init_weights:
            self.model.load_state_dict(torch.load(init_weights, map_location="cpu", weights_only=True))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
        total = config.steps_per_epoch * config.max_epochs
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, config.learning_rate, total_steps=total)
        weights = torch.tensor(config.class_weights, dtype=torch.float32, device=self.device)
        self.loss_fn = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)
        self.epoch, self.best, self.stale, self.history = 0, float("inf"), 0, []
        self.seconds = 0.0  # wall-clock training time over every call that worked on this folder

    # -- checkpoints -----------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.workdir / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        return self.workdir / "best.pt"

    def save_checkpoint(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "best": self.best,
                 "stale": self.stale, "history": self.history, "config": asdict(self.config),
                 "rng": self.sampler.rng.bit_generator.state, "torch_rng": self.torch.get_rng_state(),
                 "seconds": self.seconds}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        self.torch.save(state, tmp)
        tmp.replace(self.checkpoint_path)

    def resume(self) -> bool:
        if not self.checkpoint_path.is_file():
            return False
        state = self.torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        if state["config"] != asdict(self.config):
            raise InputError(f"The checkpoint in {self.workdir} was made with other settings; "
                             "use a new work folder or the same settings to resume.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best, self.stale = state["epoch"], state["best"], state["stale"]
        self.history = state["history"]
        self.seconds = float(state.get("seconds", 0.0))  # older checkpoints did not keep the time
        self.sampler.rng.bit_generator.state = state["rng"]
        self.torch.set_rng_state(state["torch_rng"])
        return True

    # -- loop ------------------------------------------------------------------------
    def _normalise(self, x: np.ndarray):
        mean = np.asarray(self.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.std, np.float32)[None, :, None, None]
        return self.torch.from_numpy((x - mean) / std).to(self.device)

    def target_loss(self, logits, target):
        """Cross-entropy against (B, 5, H, W) targets: class probabilities and a per-pixel weight.

        Each pixel counts with its weight times the class weight of its
        target's most likely class, normalised by the sum of those, so that
        one-hot targets give exactly the weighted cross-entropy of hard labels
        and a teacher pixel counts as much as the teachers agree on it.
        """
        torch = self.torch
        probs, weight = target[:, :4], target[:, 4]
        class_weight = self.loss_fn.weight[probs.argmax(dim=1)] * weight
        per_pixel = -(probs * torch.log_softmax(logits, dim=1)).sum(dim=1)
        return (per_pixel * class_weight).sum() / class_weight.sum().clamp_min(1e-6)

    def validate(self) -> Dict[str, float]:
        from ..masking.class_raster import decide_classes  # deferred: class_raster writes rasters (rasterio)
        torch = self.torch
        self.model.eval()
        losses, conf = [], np.zeros((4, 4), np.int64)
        with torch.inference_mode():
            for i in range(0, len(self.val_x), 16):
                x = self._normalise(self.val_x[i:i + 16])
                y = torch.from_numpy(self.val_y[i:i + 16].astype(np.int64)).to(self.device)
                logits = self.model(x)
                losses.append(float(self.loss_fn(logits, y)))
                pred = decide_classes(torch.softmax(logits, 1).cpu().numpy(), axis=1)
                conf += _confusion(pred.ravel(), self.val_y[i:i + 16].ravel())
        self.model.train()
        scores = _balanced_accuracies(conf)
        return {"loss": float(np.mean(losses)), "cloud_ba": scores["cloud"], "shadow_ba": scores["shadow"]}

    @staticmethod
    def selection_score(val: Dict[str, float]) -> float:
        """What early stopping maximises: the mean of cloud and shadow balanced accuracy.

        The validation loss is a poor guide here: the held-out places' labels
        are partly a teacher's, and the loss rewards confident agreement with
        them rather than finding clouds and shadows.
        """
        scores = [v for v in (val["cloud_ba"], val["shadow_ba"]) if np.isfinite(v)]
        return float(np.mean(scores)) if scores else -val["loss"]

    def fit(self) -> Dict:
        torch, cfg = self.torch, self.config
        resumed = self.resume()
        self.feedback.info(f"Training {cfg.architecture['arch']}/{cfg.architecture['encoder']} on "
                           f"{', '.join(cfg.bands)} ({self.device.type}); train places: "
                           f"{', '.join(self.train_places)}; validation: {', '.join(self.val_places)}"
                           + (f"; resumed at epoch {self.epoch}" if resumed else ""))
        start = time.monotonic()
        batches = self.sampler.batches(cfg.batch_size)
        self.model.train()
        while self.epoch < cfg.max_epochs and self.stale < cfg.patience:
            running, epoch_started = [], time.monotonic()
            for step in range(cfg.steps_per_epoch):
                if self.feedback.is_cancelled():
                    self.save_checkpoint()
                    raise Cancelled("Training cancelled; run again with the same work folder to resume.")
                x, _, target = next(batches)
                logits = self.model(self._normalise(x))
                loss = self.target_loss(logits, torch.from_numpy(target).to(self.device))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                running.append(loss.item())
                done = (self.epoch * cfg.steps_per_epoch + step + 1) / (cfg.max_epochs * cfg.steps_per_epoch)
                self.feedback.set_progress(100.0 * done)
            self.epoch += 1
            val = self.validate()
            val["train_loss"] = float(np.mean(running))
            val["epoch"] = self.epoch
            self.history.append(val)
            self.seconds += time.monotonic() - epoch_started
            score = -self.selection_score(val)  # self.best is minimised
            if score < self.best:
                self.best, self.stale = score, 0
                torch.save(self.model.state_dict(), self.best_path)
            else:
                self.stale += 1
            self.feedback.info(f"epoch {self.epoch}: train loss {val['train_loss']:.3f}, validation loss "
                               f"{val['loss']:.3f}, cloud BA {val['cloud_ba']:.3f}, shadow BA {val['shadow_ba']:.3f}")
            self.save_checkpoint()
            if cfg.max_minutes and (time.monotonic() - start) / 60 > cfg.max_minutes:
                self.feedback.info(f"Stopping: the {cfg.max_minutes} min budget is spent.")
                break
        return self.summary()

    def summary(self) -> Dict:
        """The best epoch's model loaded and what the card records of the run (also for a stopped run)."""
        self.model.load_state_dict(self.torch.load(self.best_path, map_location="cpu", weights_only=True))
        best = max(self.history, key=self.selection_score)
        return {"epochs": self.epoch, "best_epoch": best["epoch"], "validation": best,
                "train_places": self.train_places, "validation_places": self.val_places,
                "mean": self.mean, "std": self.std, "train_minutes": round(self.seconds / 60, 1)}
