"""The model layer: model cards, inference sessions on CPU or GPU, tiled blended prediction.

card     the model card (bands, normalisation, decision weights, metrics), bundled models
runtime  predictors for ONNX Runtime and PyTorch, providers and devices, one cached session per model
tiling   patch grids and blending weights (offset tiling without seams)
"""
__all__ = ["card", "runtime", "tiling"]
