"""Small ONNX models with known behaviour, written with their cards for tests."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cloudfree.core.model.card import write_card

CLASSES = {"0": "clear", "1": "thick cloud", "2": "thin cloud", "3": "cloud shadow"}


def _save(model: onnx.ModelProto, path: Path, bands: Sequence[str], **card) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    fields = {"name": path.stem, "bands": list(bands), "resolution_m": 20,
              "normalisation": {"mean": [0.0] * len(bands), "std": [1.0] * len(bands)},
              "classes": CLASSES, "output": "logits", "patch_size": 64, "overlap": 16, "input_multiple": 1}
    fields.update(card)
    write_card(path, fields)
    return path


def conv_model(path: Path, bands: Sequence[str], kernel: int = 1, seed: int = 0, fp16: bool = False,
               **card) -> Path:
    """A single convolution to 4 class logits: translation-equivariant, with
    zero padding at patch borders when kernel > 1 (which tiling must blend away).
    With fp16, weights, input and output are half precision (as a GPU export)."""
    rng = np.random.default_rng(seed)
    dtype, onnx_type = (np.float16, TensorProto.FLOAT16) if fp16 else (np.float32, TensorProto.FLOAT)
    w = (rng.normal(0, 4.0, (4, len(bands), kernel, kernel)) / kernel).astype(dtype)
    b = rng.normal(0, 0.2, 4).astype(dtype)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[kernel // 2] * 4)
    graph = helper.make_graph(
        [node], path.stem, [helper.make_tensor_value_info("x", onnx_type, ["n", len(bands), "h", "w"])],
        [helper.make_tensor_value_info("y", onnx_type, ["n", 4, "h", "w"])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, bands, **card)


def identity_thin_model(path: Path, bands: Sequence[str], shift: float = 0.0) -> Path:
    """A thin-cloud remover stand-in: each band's normalised input back (plus `shift` std), the mask ignored.

    With shift 0 a corrected pixel keeps its observed value exactly; with
    shift s it moves by s x the patch's standard deviation of that band.
    """
    n = len(bands)
    w = np.zeros((n, n + 1, 1, 1), np.float32)
    w[np.arange(n), np.arange(n)] = 1.0
    b = np.full(n, shift, np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"])
    graph = helper.make_graph(
        [node], path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n + 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", n, "h", "w"])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, bands,
                 task="thin_cloud_removal", input_version=1, patch_size=64, overlap=16, input_multiple=1)
