"""Exporting a trained U-Net to ONNX (fp32 for CPU, fp16 for GPU) with its card.

The exported graph ends in a softmax so that both engines hand the tiler
probabilities.  Every export is checked against PyTorch on the same input
before its card is written: a model whose ONNX twin disagrees never ships.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import ModelCardError
from ..model.card import MASK_CLASSES, sha256_of, write_card


def export_checked(model, path: Path, channels: int, patch: int, input_name: str, output_name: str) -> float:
    """ONNX (fp32) of a reconstruction network, checked against PyTorch on a random input: the largest
    difference, or the file removed and an error when it is over 1e-3."""
    import onnxruntime as ort
    import torch
    model = model.cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(model, (torch.zeros(1, channels, patch, patch),), str(path), input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: {0: "n", 2: "h", 3: "w"},
                                                                     output_name: {0: "n", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
        sample = torch.from_numpy(np.random.default_rng(0).normal(0, 1, (2, channels, 64, 64)).astype(np.float32))
        expected = model(sample).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diff = float(np.abs(session.run(None, {input_name: sample.numpy()})[0] - expected).max())
    if diff > 1e-3:
        path.unlink()
        raise ModelCardError(f"The ONNX export of {path.name} differs from PyTorch by {diff:.2e}; not written.")
    return diff


def export_onnx(model, path: Path, bands: int, patch: int, fp16: bool = False) -> Path:
    import copy
    import torch
    inner = copy.deepcopy(model).cpu() if fp16 else model.cpu()  # never round the caller's weights
    wrapped = torch.nn.Sequential(inner, torch.nn.Softmax(dim=1)).eval()
    dummy = torch.zeros(1, bands, patch, patch)
    if fp16:
        wrapped, dummy = wrapped.half(), dummy.half()
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(wrapped, (dummy,), str(path), input_names=["reflectance"], output_names=["probabilities"],
                          dynamic_axes={"reflectance": {0: "n", 2: "h", 3: "w"},
                                        "probabilities": {0: "n", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    return path


def parity(model, onnx_path: Path, sample: np.ndarray, fp16: bool = False) -> float:
    """Largest absolute difference in class probability between PyTorch and ONNX Runtime."""
    import onnxruntime as ort
    import torch
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = sample.astype(np.float16 if fp16 else np.float32)
    onnx_probs = session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float32)
    with torch.inference_mode():
        torch_probs = torch.softmax(model.eval().cpu().float()(torch.from_numpy(sample.astype(np.float32))), 1).numpy()
    return float(np.abs(onnx_probs - torch_probs).max())


def export_model(model, out_dir: Path, name: str, card: Dict[str, Any], sample: np.ndarray,
                 tolerance: Tuple[float, float] = (1e-4, 2e-2), weights: Optional[Path] = None) -> Dict[str, Path]:
    """Write name.onnx (fp32), name_fp16.onnx and their cards, after checking parity.

    `sample` is a normalised (1, bands, h, w) input; `card` holds every card
    field except sha256 and the file-specific ones filled in here.
    """
    import torch
    out_dir.mkdir(parents=True, exist_ok=True)
    written: Dict[str, Path] = {}
    model = model.cpu().half().float().eval()  # ship fp16-exact weights: the .pt, fp32 and fp16 files agree
    if weights is None:
        weights = out_dir / f"{name}.pt"
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, weights)
    try:
        for fp16, suffix, tol in ((False, "", tolerance[0]), (True, "_fp16", tolerance[1])):
            path = export_onnx(model, out_dir / f"{name}{suffix}.onnx", sample.shape[1], card["patch_size"], fp16)
            written["fp16" if fp16 else "fp32"] = path
            diff = parity(model, path, sample, fp16)
            if not diff <= tol:
                raise ModelCardError(f"The {'fp16' if fp16 else 'fp32'} ONNX export of {name} differs from "
                                     f"PyTorch by {diff:.2e} (> {tol}); no model was written.")
            fields = dict(card)
            fields.update({"name": f"{name}{suffix}", "precision": "fp16" if fp16 else "fp32",
                           "onnx_parity_max_abs_diff": round(diff, 6),
                           "classes": {str(k): v for k, v in MASK_CLASSES.items()}, "output": "probabilities"})
            fields["architecture"] = dict(fields.get("architecture", {}), weights_file=weights.name,
                                          weights_sha256=sha256_of(weights))
            write_card(path, fields)
    except BaseException:
        for path in list(written.values()) + [weights]:
            for f in (path, path.with_suffix(".json")) if path.suffix == ".onnx" else (path,):
                f.unlink(missing_ok=True)
        raise
    return written
