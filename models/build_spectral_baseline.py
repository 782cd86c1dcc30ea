"""Build the interim bundled model: a rule-based spectral cloud/shadow classifier as ONNX.

This is NOT the U-Net: it is a transparent baseline that lets CloudFree run
end to end until the trained U-Net is bundled.  It uses blue, green, red and
NIR reflectance (so it runs on every band set CloudFree accepts):

- thick cloud: bright and white in the visible (min(B02, B03, B04) high);
- thin cloud: positive haze-optimised transform (HOT = B02 - 0.5 B04 - 0.08);
- shadow: dark in NIR and in the visible (water is confused with it);
- scores are smoothed with a 5 x 5 mean, so the model has spatial context and
  exercises the tiling's blending like a convolutional network does.

Run: python models/build_spectral_baseline.py  (writes models/spectral_baseline.onnx
and its card, measuring it on the labelled chips in ../shared/data).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT.parent))  # so that 'cloudfree' resolves when run from a checkout link
NAME = "spectral_baseline"
BANDS = ["B02", "B03", "B04", "B08"]


class Graph:
    """Just enough of a graph builder to write the rules readably."""

    def __init__(self) -> None:
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value: float) -> str:
        name = f"c{self.n}"
        self.n += 1
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
        return name

    def op(self, kind: str, *inputs: str, **attrs) -> str:
        out = f"t{self.n}"
        self.n += 1
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def soft_above(self, x: str, threshold: float, width: float) -> str:
        """sigmoid((x - threshold) / width): a soft 'x > threshold'."""
        return self.op("Sigmoid", self.op("Div", self.op("Sub", x, self.const(threshold)), self.const(width)))

    def one_minus(self, x: str) -> str:
        return self.op("Sub", self.const(1.0), x)


def build() -> onnx.ModelProto:
    g = Graph()
    b, gr, r, n = (f"band{i}" for i in range(4))
    g.nodes.append(helper.make_node("Split", ["x", "split"], [b, gr, r, n], axis=1))
    g.inits.append(helper.make_tensor("split", TensorProto.INT64, [4], [1, 1, 1, 1]))
    vis_min = g.op("Min", b, gr, r)
    vis_mean = g.op("Div", g.op("Sum", b, gr, r), g.const(3.0))
    hot = g.op("Sub", g.op("Sub", b, g.op("Mul", r, g.const(0.5))), g.const(0.08))
    thick = g.op("Mul", g.soft_above(vis_min, 0.22, 0.03), g.soft_above(b, 0.20, 0.03))
    not_thick = g.one_minus(thick)
    thin = g.op("Mul", g.op("Mul", g.soft_above(hot, 0.0, 0.015), g.soft_above(vis_mean, 0.10, 0.02)), not_thick)
    dark = g.op("Mul", g.one_minus(g.soft_above(n, 0.20, 0.03)), g.one_minus(g.soft_above(vis_mean, 0.085, 0.01)))
    shadow = g.op("Mul", g.op("Mul", dark, not_thick), g.one_minus(thin))
    clear = g.op("Mul", g.op("Mul", not_thick, g.one_minus(thin)), g.one_minus(shadow))
    scores = g.op("Concat", clear, thick, thin, shadow, axis=1)
    smooth = g.op("AveragePool", scores, kernel_shape=[5, 5], pads=[2, 2, 2, 2], count_include_pad=0)
    total = g.op("ReduceSum", smooth, g.op("Constant", value=helper.make_tensor("axes", TensorProto.INT64, [1], [1])), keepdims=1)
    g.nodes.append(helper.make_node("Div", [smooth, total], ["probabilities"]))
    graph = helper.make_graph(
        g.nodes, NAME, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cloudfree")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    from cloudfree.core.model_card import write_card
    from cloudfree.models.measure_baseline import measure

    path = ROOT / "models" / f"{NAME}.onnx"
    onnx.save(build(), path)
    card = {
        "name": NAME, "format_version": 1, "kind": "rule-based spectral baseline (not a trained U-Net)",
        "bands": BANDS, "resolution_m": 20, "normalisation": {"mean": [0.0] * 4, "std": [1.0] * 4,
                                                              "input": "top-of-atmosphere or surface reflectance (DN / 10000 after the product offset)"},
        "classes": {"0": "clear", "1": "thick cloud", "2": "thin cloud", "3": "cloud shadow"},
        "output": "probabilities", "patch_size": 256, "overlap": 32, "input_multiple": 1,
        "training_data": "none: thresholds set by hand from reflectance physics (bright, white clouds; "
                         "haze-optimised transform for thin cloud; dark NIR for shadow)",
        "licence": "MIT (this repository)",
        "evaluation_note": "drivendata chips are held out (never looked at when setting thresholds); the "
                           "shadow thresholds were checked against the ukis patch, so its shadow figures are "
                           "not held-out. Chips are L2A while the rules were written for TOA reflectance.",
        "limitations": "water and dark soil are taken for shadow; bright snow, sand and roofs for cloud; "
                       "no use of SWIR or cirrus bands; a stand-in until the trained U-Net is bundled",
    }
    onnx_sha = write_card(path, card)  # write once so measure() can load the model
    card["metrics"] = measure(str(path))
    write_card(path, card)
    print(f"wrote {path} and {onnx_sha}")
    for name, scores in card["metrics"].items():
        print(name, scores)


if __name__ == "__main__":
    main()
