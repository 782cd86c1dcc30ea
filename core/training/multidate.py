"""Training the learned multi-date fill: a network on top of the gain/offset gap-fill, one band at a time.

Samples are cut from real time series: a target date's clear pixels are
hidden under a real cloud shape, the other dates (a random subset of them,
each with its own clear mask) fill them, and the loss is the MSE on the
hidden pixels only, where the truth is known.  The network's input is
core.reconstruction.multidate_input's: gapfill's result plus the evidence
behind it.  Its head either adds a free correction to gapfill's result
("residual") or weighs the evidence per pixel ("blend"); either starts at or
next to gapfill (last layer zeroed), and the weights kept are those of the
step that validates best (core.training.keep_best).  Measured and not
bundled: models/README.md.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..progress import Feedback
from ..reconstruction.multidate_input import CHANNELS, MULTIDATE_INPUT_VERSION, multidate_features, normalise_features
from .inpainting import MaskBank
from .keep_best import train_keep_best

BLEND_CANDIDATES = tuple(CHANNELS.index(c) for c in ("gapfill", "interpolation", "nearest", "second"))
BLEND_PRIOR = 5.0   # logit of gapfill over the others at the start: weight e^5 / (e^5 + 3) = 0.98


#: A small dilated CNN (about 30 k weights, 31 px receptive field): little room to learn one place by heart.
DILATED = {"arch": "dilated", "channels": 32, "dilations": [1, 2, 4, 8]}


@dataclass(frozen=True)
class TimeSeries:
    """One real stack: reflectance (dates, bands, H, W), clear (dates, H, W), day numbers, band names."""

    name: str
    reflectance: np.ndarray
    clear: np.ndarray
    days: Sequence[float]
    bands: Sequence[str]


@dataclass
class MultidateConfig:
    patch: int = 64
    batch_size: int = 32
    steps: int = 3000
    learning_rate: float = 2e-3
    seed: int = 0
    samples: int = 6000            # pre-drawn training samples, one band each (up to two per crop)
    validation_samples: int = 300
    max_minutes: Optional[float] = None
    head: str = "blend"            # "blend": weights of the evidence (BLEND_CANDIDATES); "residual": a free correction
    architecture: Dict = field(default_factory=lambda: json.loads(json.dumps(DILATED)))


def draw_sample(series: TimeSeries, masks: MaskBank, patch: int, rng: np.random.Generator,
                bands_per_sample: int = 2) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(normalised features (k, CHANNELS, p, p), normalised truth (k, p, p), scored (p, p)) or None when the
    draw has nothing to score (too little clear ground under the hole, or no date to fill from)."""
    dates, _, h, w = series.reflectance.shape
    y, x = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
    clear = series.clear[:, y:y + patch, x:x + patch]
    candidates = [t for t in range(dates) if clear[t].mean() > 0.6]
    if not candidates:
        return None
    target = int(rng.choice(candidates))
    others = [i for i in range(dates) if i != target and clear[i].any()]
    keep = sorted([target] + list(rng.choice(others, size=int(rng.integers(1, len(others) + 1)), replace=False))
                  if others else [target])
    cube = series.reflectance[keep][:, :, y:y + patch, x:x + patch].astype(np.float64)
    seen = clear[keep].copy()
    t = keep.index(target)
    cut = masks.draw(patch) & seen[t]
    if cut.sum() < 30 or (seen[t] & ~cut).sum() < 64 or len(keep) < 2:
        return None
    seen[t] &= ~cut
    feats, _, _ = multidate_features(cube, seen, [series.days[i] for i in keep], t)
    pick = rng.choice(feats.shape[0], size=min(bands_per_sample, feats.shape[0]), replace=False)
    normalised, mean, std = normalise_features(feats[pick], ~seen[t])
    truth = (cube[t][pick] - mean) / std
    return normalised, truth.astype(np.float32), cut


def draw_pool(series: Sequence[TimeSeries], masks: MaskBank, config: MultidateConfig, count: int,
              rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` samples drawn evenly from the stacks, flattened to one band each: (x, truth, scored)."""
    xs: List[np.ndarray] = []
    ys: List[np.ndarray] = []
    ms: List[np.ndarray] = []
    k = 0
    while len(xs) < count:
        drawn = draw_sample(series[k % len(series)], masks, config.patch, rng)
        k += 1
        if drawn is None:
            continue
        x, y, m = drawn
        for b in range(x.shape[0]):
            xs.append(x[b])
            ys.append(y[b])
            ms.append(m)
    return np.stack(xs[:count]).astype(np.float16), np.stack(ys[:count]).astype(np.float16), np.stack(ms[:count])


def build_fill_model(config: MultidateConfig):
    """The network on top of gapfill's result (channel 0), its last layer zero-initialised.

    "residual": gapfill's result plus a free correction.  "blend": a per-pixel
    weighted mean of the evidence (gapfill, the interpolation, the nearest and
    second-nearest dates), weights by softmax, starting at gapfill's weight
    0.99; it can only choose among values some evidence holds, never paint.
    """
    import torch
    arch = config.architecture
    outputs = len(BLEND_CANDIDATES) if config.head == "blend" else 1
    if arch["arch"] == "dilated":
        layers, cin = [], len(CHANNELS)
        for d in arch["dilations"]:
            layers += [torch.nn.Conv2d(cin, arch["channels"], 3, padding=d, dilation=d), torch.nn.ReLU()]
            cin = arch["channels"]
        net = torch.nn.Sequential(*layers, torch.nn.Conv2d(cin, outputs, 1))
    else:
        import segmentation_models_pytorch as smp
        net = smp.create_model(arch["arch"], encoder_name=arch["encoder"], encoder_weights=None,
                               in_channels=len(CHANNELS), classes=outputs, **arch.get("kwargs", {}))
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    assert last.bias is not None
    torch.nn.init.zeros_(last.bias)
    prior = torch.tensor([BLEND_PRIOR] + [0.0] * (len(BLEND_CANDIDATES) - 1)).view(1, -1, 1, 1)

    class Correction(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("prior", prior)

        def forward(self, x):
            if outputs == 1:
                return x[:, :1] + self.net(x)
            weights = torch.softmax(self.net(x) + self.prior, dim=1)
            return (weights * x[:, list(BLEND_CANDIDATES)]).sum(dim=1, keepdim=True)

    return Correction()


def masked_mse(pred, truth, scored):
    m = scored[:, None].float()
    return (((pred - truth[:, None]) ** 2) * m).sum() / m.sum().clamp(min=1.0)


def train_fill(config: MultidateConfig, train: Sequence[TimeSeries], val: Sequence[TimeSeries],
               masks: Sequence[np.ndarray], workdir: Path, feedback: Optional[Feedback] = None):
    """Train on `train`, keep the weights with the lowest masked MSE on samples of `val`; returns (model, stats)."""
    import torch
    if not train:
        raise InputError("No time series to train the multi-date fill on.")
    feedback = feedback or Feedback()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    started = time.monotonic()
    x, y, m = draw_pool(train, MaskBank(masks, rng), config, config.samples, rng)
    vx, vy, vm = (torch.from_numpy(a.astype(np.float32) if a.dtype == np.float16 else a)
                  for a in draw_pool(val or train, MaskBank(masks, np.random.default_rng(7)), config,
                                     config.validation_samples, np.random.default_rng(config.seed + 1)))
    feedback.info(f"drew {len(x)} training and {len(vx)} validation samples in "
                  f"{time.monotonic() - started:.0f} s")
    model = build_fill_model(config)
    start_val = float(masked_mse(vx[:, :1], vy, vm))   # gapfill's own error

    def step_loss():
        pick = rng.integers(0, len(x), config.batch_size)
        turn = int(rng.integers(4))       # the same patch seen rotated: no direction is special
        xb = torch.rot90(torch.from_numpy(x[pick].astype(np.float32)), turn, (2, 3))
        yb = torch.rot90(torch.from_numpy(y[pick].astype(np.float32)), turn, (1, 2))
        mb = torch.rot90(torch.from_numpy(m[pick]), turn, (1, 2))
        return masked_mse(model(xb), yb, mb)

    def validate():
        v = float(masked_mse(model(vx), vy, vm))
        return v, {"val_masked_mse": round(v, 5)}, f"{v:.4f} (gapfill {start_val:.4f})"

    history, best = train_keep_best(model, config.steps, config.learning_rate, workdir, step_loss, validate,
                                    feedback, config.max_minutes)
    return model, {"history": [{"step": 0, "val_masked_mse": start_val}] + history, "best_val_masked_mse": best,
                   "gapfill_val_masked_mse": start_val, "minutes": round((time.monotonic() - started) / 60, 1),
                   "head": config.head}


def export_fill(model, config: MultidateConfig, path: Path, card: Dict, bands: Sequence[str]) -> Path:
    """ONNX (fp32) of a trained multi-date fill with its card; refused if ONNX Runtime disagrees with PyTorch."""
    from ..model.card import write_card
    from .export import export_checked
    diff = export_checked(model, path, len(CHANNELS), config.patch, "features", "reflectance")
    fields = dict(card)
    fields.update({"task": "multidate_fill", "input_version": MULTIDATE_INPUT_VERSION, "bands": list(bands),
                   "per_band": True, "channels": list(CHANNELS), "resolution_m": 10,
                   "normalisation": {"mode": "per patch and band: mean and std (+0.01) of the target's clear pixels"},
                   "patch_size": config.patch, "overlap": config.patch // 4, "input_multiple": 16,
                   "onnx_parity_max_abs_diff": diff,
                   "input": "one band at a time: core.reconstruction.multidate_input.CHANNELS",
                   "head": config.head,
                   "output": "normalised reflectance of that band: " + (
                       "a per-pixel weighted mean of gapfill's result, the interpolation and the nearest and "
                       "second-nearest dates (weights by the network)" if config.head == "blend" else
                       "gapfill's result plus a learned correction")})
    write_card(path, fields)
    return path
