"""Training the single-image reconstruction network: a U-Net that fills masked pixels.

The network sees the scene with the masked pixels replaced by a smooth
interpolation from their clear neighbours, plus the mask itself, and adds a
correction to that first guess (a residual network).  It is scored only on
the pixels it had to invent (masked MSE): clear pixels are copied from the
input afterwards, so spending capacity on them would be wasted.  Masks are real cloud shapes (teacher masks of real
cloudy scenes) and fractal fields, laid over clear real scenes whose truth
is therefore known.  A plain encoder-decoder without skip connections is
trained the same way, as the baseline the issue asks the U-Net to beat.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..progress import Feedback
from ..reconstruction.inpaint_input import INPUT_VERSION, THIN_INPUT_VERSION, input_builder, patch_statistics
from .synthetic import THIN_ALPHA, TRAIN_BANDS, fractal_field, opacity_from_field, thin_opacity, thin_veil
from .keep_best import train_keep_best
from .trainer import DEFAULT_ARCHITECTURE
from .data import Scene

#: 2: holes hold the normalised-convolution first guess and the network adds a correction (1: holes were 0).
UNET = DEFAULT_ARCHITECTURE  # the same small U-Net as the cloud masks, with other inputs and outputs


@dataclass
class InpaintConfig:
    bands: List[str]
    patch: int = 128
    batch_size: int = 16
    steps: int = 600
    learning_rate: float = 2e-3
    seed: int = 0
    validation_patches: int = 64
    model: str = "unet"        # "unet" or "plain" (the encoder-decoder baseline)
    device: str = "cpu"
    max_minutes: Optional[float] = None
    spectral_weight: float = 0.0   # weight of the masked (1 - cosine) spectral term added to the masked MSE
    zero_init: bool = False        # start the residual at exactly the interpolation (last layer zeroed)
    architecture: Dict = field(default_factory=lambda: json.loads(json.dumps(UNET)))
    task: str = "inpaint"          # "inpaint" (fill holes) or "thin" (remove a thin-cloud veil)


class MaskBank:
    """Cloud-shaped masks: real ones (cropped, rotated) when given, fractal otherwise."""

    def __init__(self, masks: Sequence[np.ndarray], rng: np.random.Generator) -> None:
        self.masks = [m.astype(bool) for m in masks if 0.05 < m.mean() < 0.8]
        self.rng = rng

    def draw(self, size: int) -> np.ndarray:
        if self.masks and self.rng.random() < 0.6:
            m = self.masks[self.rng.integers(len(self.masks))]
            reps = int(np.ceil(size / min(m.shape)))
            m = np.tile(m, (reps, reps)) if reps > 1 else m
            y = int(self.rng.integers(0, m.shape[0] - size + 1))
            x = int(self.rng.integers(0, m.shape[1] - size + 1))
            out = np.rot90(m[y:y + size, x:x + size], int(self.rng.integers(4)))
        else:
            cover = float(self.rng.uniform(0.05, 0.5))
            out = opacity_from_field(fractal_field((size, size), self.rng, float(self.rng.uniform(2.6, 3.6))),
                                     cover, 1.0, 0.05) > 0.3
        return np.ascontiguousarray(out)


class InpaintSampler:
    """(input, truth, mask) patches: clear real reflectance with a cloud-shaped hole."""

    def __init__(self, scenes: Sequence[Scene], bands: Sequence[str], patch: int, masks: MaskBank,
                 seed: int) -> None:
        idx = [TRAIN_BANDS.index(b) for b in bands]
        self.images = [s.image[idx] for s in scenes if s.has_bands(bands) and min(s.label.shape) >= patch]
        self.known = [s.label == 0 for s in scenes if s.has_bands(bands) and min(s.label.shape) >= patch]
        if not self.images:
            raise InputError(f"No clear scene of at least {patch} px has the bands {', '.join(bands)}.")
        self.patch, self.masks = patch, masks
        self.rng = np.random.default_rng(seed)

    def draw(self):
        i = int(self.rng.integers(len(self.images)))
        image, known = self.images[i], self.known[i]
        _, h, w = image.shape
        y, x = int(self.rng.integers(0, h - self.patch + 1)), int(self.rng.integers(0, w - self.patch + 1))
        truth = image[:, y:y + self.patch, x:x + self.patch]
        k = int(self.rng.integers(4))
        truth = np.rot90(truth, k, axes=(1, 2))
        ok = np.rot90(known[y:y + self.patch, x:x + self.patch], k)
        hole = self.masks.draw(self.patch)
        truth = np.ascontiguousarray(truth, np.float32)
        return truth, hole, np.ascontiguousarray(hole & ok), truth


class ThinCloudSampler(InpaintSampler):
    """(truth, thin mask, scored, veiled) patches: clear real reflectance under a synthetic thin-cloud veil.

    The veil is core.training.synthetic's (the same physics the masks are
    trained on); the mask is where its opacity reaches THIN_ALPHA, what a
    mask calls thin cloud.  Fainter veil outside it stays, as in real scenes.
    Needs all of TRAIN_BANDS (the veil's spectrum is given for them).
    """

    def draw(self):
        truth, _, _, _ = super().draw()
        opacity = thin_opacity((self.patch, self.patch), float(self.rng.uniform(0.1, 0.7)), self.rng)
        veiled = thin_veil(truth, opacity, self.rng).astype(np.float32)
        thin = opacity >= THIN_ALPHA
        return truth, thin, thin, veiled


def build_model(config: InpaintConfig):
    """The network wrapped as a residual on its input: its output is the first guess plus a correction,
    so an untrained network is an interpolation and training can only add what the context tells."""
    import torch
    bands = len(config.bands)
    if config.model == "plain":
        def block(cin, cout, stride):
            return [torch.nn.Conv2d(cin, cout, 3, stride, 1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True)]
        layers = block(bands + 1, 32, 1) + block(32, 48, 2) + block(48, 64, 2) + block(64, 96, 2) + block(96, 128, 2)
        for cin, cout in ((128, 96), (96, 64), (64, 48), (48, 32)):
            layers += [torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)] + block(cin, cout, 1)
        net = torch.nn.Sequential(*layers, torch.nn.Conv2d(32, bands, 1))
    else:
        import segmentation_models_pytorch as smp
        arch = config.architecture
        net = smp.create_model(arch["arch"], encoder_name=arch["encoder"], encoder_weights=None,
                               in_channels=bands + 1, classes=bands, **arch.get("kwargs", {}))

    if config.zero_init:   # start as the interpolation exactly; training moves it from there
        last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        torch.nn.init.zeros_(last.weight)
        assert last.bias is not None  # every candidate head's last Conv2d has a bias (PyTorch's default)
        torch.nn.init.zeros_(last.bias)

    class Residual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return x[:, :bands] + self.net(x)

    return Residual()


def masked_loss(pred, truth, mask, mean, std, spectral_weight: float = 0.0):
    """Masked MSE of the normalised bands plus `spectral_weight` x the masked mean of (1 - cosine) between the
    predicted and true spectra in reflectance (MSE alone, per band, may let a fill drift in colour).
    Returns the loss and its two parts as floats."""
    import torch
    m = mask[:, None].float()
    count = m.sum().clamp(min=1.0)
    mse = ((pred - truth) ** 2 * m).sum() / (count * pred.shape[1])
    p, t = pred * std + mean, truth * std + mean
    cos = (p * t).sum(1, keepdim=True) / (torch.linalg.vector_norm(p, dim=1, keepdim=True)
                                          * torch.linalg.vector_norm(t, dim=1, keepdim=True) + 1e-6)
    spectral = ((1.0 - cos) * m).sum() / count
    return mse + spectral_weight * spectral, (float(mse.detach()), float(spectral.detach()))


def train_inpainter(config: InpaintConfig, train: Sequence[Scene], val: Sequence[Scene], masks: Sequence[np.ndarray],
                    workdir: Path, feedback: Optional[Feedback] = None):
    """Train with the masked loss (core.training.inpainting.masked_loss); keep the weights with the lowest validation loss."""
    import torch
    feedback = feedback or Feedback()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    kind = ThinCloudSampler if config.task == "thin" else InpaintSampler
    sampler = kind(train, config.bands, config.patch, MaskBank(masks, rng), config.seed)
    vsampler = kind(val or train, config.bands, config.patch, MaskBank(masks, np.random.default_rng(7)),
                    config.seed + 1)
    build_input = input_builder(config.task)

    def normalised(draws):
        truth, hole = np.stack([d[0] for d in draws]), np.stack([d[1] for d in draws])
        seen = np.stack([d[3] for d in draws])
        mean, std = patch_statistics(seen, hole)  # what inference has: the pixels outside the mask
        return (torch.from_numpy(build_input((seen - mean) / std, hole)), torch.from_numpy((truth - mean) / std),
                torch.from_numpy(np.stack([d[2] for d in draws])), torch.from_numpy(mean), torch.from_numpy(std))

    val_batch = normalised([vsampler.draw() for _ in range(config.validation_patches)])
    model = build_model(config)

    def step_loss():
        x, y, m, mean, std = normalised([sampler.draw() for _ in range(config.batch_size)])
        return masked_loss(model(x), y, m, mean, std, config.spectral_weight)[0]

    def validate():
        vx, vy, vm, vmean, vstd = val_batch
        v, parts = masked_loss(model(vx), vy, vm, vmean, vstd, config.spectral_weight)
        return float(v), {"val_loss": float(v), "val_masked_mse": parts[0], "val_spectral": parts[1]}, \
            f"{float(v):.4f} (masked MSE {parts[0]:.4f}, spectral {parts[1]:.5f})"

    history, best = train_keep_best(model, config.steps, config.learning_rate, workdir, step_loss, validate,
                                    feedback, config.max_minutes, f"{config.model} step")
    return model, {"history": history, "best_val_loss": best}


def export_inpainter(model, config: InpaintConfig, stats: Dict, path: Path, card: Dict) -> Path:
    """ONNX (fp32) of a trained inpainter with its card; refused if ONNX Runtime disagrees with PyTorch."""
    from ..model.card import write_card
    from .export import export_checked
    diff = export_checked(model, path, len(config.bands) + 1, config.patch, "masked_reflectance", "reflectance")
    fields = dict(card)
    fields.update({"bands": list(config.bands), "resolution_m": 20,
                   "normalisation": {"mode": "per patch: mean and std (+0.01) of its clear pixels, per band"},
                   "patch_size": 256, "overlap": 32, "input_multiple": 16, "onnx_parity_max_abs_diff": diff})
    if config.task == "thin":
        fields.update({"task": "thin_cloud_removal", "input_version": THIN_INPUT_VERSION,
                       "input": "per-patch normalised reflectance, the thin-cloud pixels as observed, then the "
                                "thin-cloud mask (1 = correct) as the last channel",
                       "output": "per-patch normalised reflectance of every band: the observed input plus a "
                                 "learned correction (the veil removed)"})
    else:
        fields.update({"task": "reconstruction", "input_version": INPUT_VERSION,
                       "input": "per-patch normalised reflectance, masked pixels replaced by normalised-convolution "
                                "interpolation from their clear neighbours, then the mask (1 = fill) as the last "
                                "channel",
                       "output": "per-patch normalised reflectance of every band: the interpolated input plus a "
                                 "learned correction"})
    write_card(path, fields)
    return path
