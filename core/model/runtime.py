"""Inference engines behind one call: normalised patches in, class probabilities out.

ONNX Runtime is the engine inside QGIS (no torch needed); providers are tried
in the order TensorRT, CUDA, CPU and the one that actually runs is reported.
The PyTorch engine runs the same smp model from its state dict and exists for
training-time checks and GPUs without onnxruntime-gpu; torch is imported only
when it is asked for, never at plugin load.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelCardError, RuntimeUnavailableError
from .card import MASK_CLASSES, ModelCard

PREFERRED_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
DEVICES = ("auto", "cpu", "cuda")


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def choose_providers(device: str, available: List[str]) -> List[str]:
    """The providers to ask for, best first, or an error that says how to get CUDA."""
    if device not in DEVICES:
        raise RuntimeUnavailableError(f"Unknown device '{device}'; use one of {', '.join(DEVICES)}.")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    if device == "cuda" and "CUDAExecutionProvider" not in chosen:
        raise RuntimeUnavailableError(
            "CUDA was requested but this onnxruntime has no CUDA provider (it offers "
            f"{', '.join(available)}). Install onnxruntime-gpu in place of onnxruntime "
            "(pip uninstall onnxruntime; pip install onnxruntime-gpu) and an NVIDIA driver, "
            "or choose device 'auto' or 'cpu'.")
    return chosen or ["CPUExecutionProvider"]


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def cuda_reason(device: str, available: Sequence[str], used: Sequence[str], error: Optional[str] = None) -> str:
    """Why CUDA is not running the model ("" when it is), in words the user can act on.

    ONNX Runtime falls back to the CPU silently when the CUDA provider cannot
    start, so without this a user with a GPU cannot tell a CPU-only build
    from a missing driver.
    """
    if any(p in used for p in GPU_PROVIDERS):
        return ""
    if device == "cpu":
        return "device cpu was asked for"
    if "CUDAExecutionProvider" not in available:
        return "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    return ("CUDA provider present but it failed to start: " + (error or (
        "ONNX Runtime gave no reason; check the NVIDIA driver and the CUDA and cuDNN versions "
        "onnxruntime-gpu was built for")))


def _cuda_library_error(ort_file: str) -> Optional[str]:
    """The loader's error for the CUDA provider library (missing CUDA/cuDNN), or None if it loads.

    When that library cannot load, ONNX Runtime only logs a warning on stderr
    and runs on the CPU; loading it here gets the message back.
    """
    import ctypes
    capi = Path(ort_file).parent / "capi"
    names = ["onnxruntime_providers_cuda.dll"] if sys.platform.startswith("win") else \
        ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_cuda.dylib"]
    for name in names:
        if (capi / name).is_file():
            try:
                ctypes.CDLL(str(capi / name))
            except OSError as exc:
                return f"its library does not load ({exc})"
            return None
    return f"{names[0]} is missing from {capi}"


class Predictor:
    """A callable engine with a human-readable description of what runs it."""

    description: str = ""
    #: Why the GPU is not used ("" when it is or there is nothing to say).
    reason: str = ""

    def __call__(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def _check_output(probs: np.ndarray, card: ModelCard) -> np.ndarray:
    if probs.ndim != 4 or probs.shape[1] != len(MASK_CLASSES):
        raise ModelCardError(
            f"The model {card.onnx_path.name} returns shape {probs.shape}; CloudFree needs "
            f"(batch, {len(MASK_CLASSES)}, height, width) class scores.")
    probs = probs.astype(np.float32, copy=False)
    return softmax(probs) if card.output == "logits" else probs


class OnnxSession:
    """An ONNX Runtime session on the best provider for `device`, for every kind of model (masks, inpainting).

    `description` names the provider that runs and, when CUDA was possible
    but is not used, why.  `device="cuda"` that cannot be honoured is an
    error, not a silent CPU run.
    """

    def __init__(self, path: Path, device: str = "auto", threads: Optional[int] = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeUnavailableError(
                "onnxruntime is not installed; install it with 'pip install onnxruntime' "
                "(or onnxruntime-gpu for NVIDIA GPUs) into the Python that runs CloudFree.") from exc
        available = ort.get_available_providers()
        providers = choose_providers(device, available)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("CLOUDFREE_THREADS", "0"))
        provider_args = [(p, {"trt_fp16_enable": True}) if p.startswith("Tensorrt") else p for p in providers]
        printed = io.StringIO()  # onnxruntime prints "EP Error ..." when a provider fails and it falls back
        try:
            with contextlib.redirect_stdout(printed):
                self.session = ort.InferenceSession(str(path), options, providers=provider_args)
        except Exception as exc:  # onnxruntime raises its own non-builtin exception types
            raise ModelCardError(f"ONNX Runtime cannot load {Path(path).name}: {exc}") from exc
        ep_error = next((line[len("EP Error "):].split(" when using ")[0].strip()
                         for line in printed.getvalue().splitlines() if line.startswith("EP Error ")), None)
        if printed.getvalue() and ep_error is None and sys.stdout is not None:
            sys.stdout.write(printed.getvalue())
        inp = self.session.get_inputs()[0]
        self.input = inp
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        used = self.session.get_providers()
        gpu_failed = "CUDAExecutionProvider" in available and not any(p in used for p in GPU_PROVIDERS)
        self.reason = cuda_reason(device, available, used,
                                  ep_error or (_cuda_library_error(ort.__file__) if gpu_failed and device != "cpu"
                                               else None))
        if device == "cuda" and self.reason:
            raise RuntimeUnavailableError(f"CUDA was requested but cannot be used: {self.reason}. Choose device "
                                          "'auto' or 'cpu', or fix the NVIDIA driver / CUDA libraries.")
        self.description = f"ONNX Runtime {ort.__version__} on {used[0]}"
        if self.reason:
            self.description += f" ({self.reason})"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The first output for one input batch, in the model's input precision."""
        return self.session.run(None, {self.input_name: batch.astype(self.input_dtype, copy=False)})[0]


class OnnxPredictor(Predictor):
    def __init__(self, card: ModelCard, device: str = "auto", threads: Optional[int] = None) -> None:
        self.onnx = OnnxSession(card.onnx_path, device, threads)
        self.session = self.onnx.session
        inp = self.onnx.input
        channels = inp.shape[1] if len(inp.shape) == 4 else None
        if isinstance(channels, int) and channels != len(card.bands):
            raise ModelCardError(
                f"The model card of {card.onnx_path.name} lists {len(card.bands)} bands but the "
                f"model takes {channels} input channels; the card does not belong to this model.")
        self.input_name, self.input_dtype = self.onnx.input_name, self.onnx.input_dtype
        self.card = card
        self.reason, self.description = self.onnx.reason, self.onnx.description

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: batch.astype(self.input_dtype, copy=False)})[0]
        return _check_output(out, self.card)


class TorchPredictor(Predictor):
    """The smp model of a card, run by PyTorch from the state dict the card names."""

    def __init__(self, card: ModelCard, device: str = "auto") -> None:
        try:
            import torch
            import segmentation_models_pytorch as smp
        except ImportError as exc:
            raise RuntimeUnavailableError(
                "The PyTorch engine needs torch and segmentation-models-pytorch; install them "
                "or use the ONNX engine.") from exc
        arch = card.raw.get("architecture") or {}
        if not arch.get("arch") or card.torch_weights is None:
            raise ModelCardError(
                f"The card of {card.onnx_path.name} names no PyTorch architecture and weights file; "
                "the PyTorch engine needs 'architecture': {'arch', 'encoder', 'weights_file', 'weights_sha256'}.")
        weights = card.verified_torch_weights()
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeUnavailableError("CUDA was requested but torch sees no CUDA device; choose 'auto' or 'cpu'.")
        self.device = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
        model = smp.create_model(arch["arch"], encoder_name=arch.get("encoder", "resnet18"),
                                 encoder_weights=None, in_channels=len(card.bands),
                                 classes=len(MASK_CLASSES), **arch.get("kwargs", {}))
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.model = model.eval().to(self.device)
        self.card, self.torch = card, torch
        self.description = f"PyTorch {torch.__version__} on {self.device.type}"
        if self.device.type == "cpu":
            self.reason = "device cpu was asked for" if device == "cpu" else (
                f"torch {torch.__version__} sees no CUDA device" if torch.version.cuda else
                f"this torch {torch.__version__} is built without CUDA")
            self.description += f" ({self.reason})"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    y = self.model(x)
            else:
                y = self.model(x)
            scores = y.float().cpu().numpy()
        # The smp model returns logits; the ONNX export of it may carry a softmax.
        return softmax(scores)


ENGINES: dict = {"onnx": OnnxPredictor, "torch": TorchPredictor}


def make_predictor(card: ModelCard, engine: str = "onnx", device: str = "auto") -> Predictor:
    if engine not in ENGINES:
        raise RuntimeUnavailableError(f"Unknown engine '{engine}'; use 'onnx' or 'torch'.")
    factory: Callable[..., Predictor] = ENGINES[engine]
    return factory(card, device=device)


_PREDICTORS: Dict[Tuple[str, str, str, str], Predictor] = {}
_PREDICTORS_LOCK = threading.Lock()


def cached_predictor(card: ModelCard, engine: str, device: str) -> Predictor:
    """One inference session per model file, engine and device in a process, reused by every scene."""
    key = (str(card.onnx_path), card.sha256, engine, device)
    with _PREDICTORS_LOCK:
        if key not in _PREDICTORS:
            _PREDICTORS[key] = make_predictor(card, engine=engine, device=device)
        return _PREDICTORS[key]
