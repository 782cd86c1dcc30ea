"""Masking a NumPy array: the API ukis-csmask and s2cloudless users expect, beside the file-level one.

The array goes through the same steps as a scene (normalisation, offset
tiling with blended overlaps, calibrated class decision, shadow geometry);
only reading and writing are left out.  The benchmark scores the bundled
models through this function, so its figures are those of this code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .class_raster import decide_classes
from ..errors import InputError
from ..io.input_checks import reflectance_problem
from .engine import array_probabilities
from ..model.runtime import cached_predictor
from ..model.card import AUTO_MODEL, NODATA_CLASS, ModelCard, choose_bundled_model, load_card
from .shadow_geometry import GeometryReport, SunAngles, confirm_shadows


@dataclass
class ArrayMask:
    classes: np.ndarray         # (H, W) uint8: 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow, 255 no data
    probabilities: np.ndarray   # (4, H, W) float32, blended softmax of the model (before the decision)
    model: str
    geometry: Optional[GeometryReport]


def mask_array(reflectance: np.ndarray, bands: Sequence[str], model: Optional[str] = None, *,
               band_axis: int = 0, pixel_m: float = 10.0, sun: Optional[SunAngles] = None,
               shadow_geometry: bool = True, device: str = "auto", engine: str = "onnx",
               batch_size: int = 4, cloud_threshold: Optional[float] = None,
               shadow_threshold: Optional[float] = None) -> ArrayMask:
    """Classes and probabilities of a reflectance array whose bands are named in `bands` (any order, extra
    bands ignored).  NaN in any band the model uses makes a pixel no data.  `pixel_m` and `sun` feed the
    shadow-geometry check (the sun's direction is estimated from the array when `sun` is None)."""
    array = np.asarray(reflectance)
    if array.ndim != 3:
        raise InputError(f"The array must have 3 dimensions (bands and two image axes); it has {array.ndim}.")
    array = np.moveaxis(array, band_axis, 0)
    names = [b.upper() for b in bands]
    if len(names) != array.shape[0]:
        raise InputError(f"{len(names)} band names for an array with {array.shape[0]} bands on axis {band_axis}; "
                         "name every band, in order.")
    if len(set(names)) != len(names):
        raise InputError(f"A band is named twice in {', '.join(names)}.")
    chosen = not model or model == AUTO_MODEL
    card: ModelCard = load_card(choose_bundled_model(names) if chosen else model)
    missing = [b for b in card.bands if b not in names]
    if missing:
        raise InputError(f"{card.name} needs {', '.join(card.bands)}; the array has no {', '.join(missing)}.")
    cube = np.stack([array[names.index(b)] for b in card.bands]).astype(np.float32)
    valid = np.all(np.isfinite(cube), axis=0)
    problem = reflectance_problem(cube[:, valid], card.bands, "its pixels")
    if problem:
        raise InputError(f"The array does not hold reflectance: {problem}.")
    cube[:, ~valid] = 0.0
    predictor = cached_predictor(card, engine, device)
    probs = array_probabilities(predictor, card, cube, batch_size)
    weights = card.weights_for(cloud_threshold, shadow_threshold)
    classes, report = classes_from_probabilities(probs, weights, pixel_m, sun, valid, shadow_geometry)
    return ArrayMask(classes, probs, card.name, report)


def classes_from_probabilities(probs: np.ndarray, weights: Tuple[float, float], pixel_m: float,
                               sun: Optional[SunAngles] = None, valid: Optional[np.ndarray] = None,
                               shadow_geometry: bool = True) -> Tuple[np.ndarray, Optional[GeometryReport]]:
    """What the engine does after inference: the calibrated decision, no data, then shadow geometry."""
    classes = decide_classes(probs, weights=weights)
    if valid is not None:
        classes[~valid] = NODATA_CLASS
    if not shadow_geometry:
        return classes, None
    return confirm_shadows(classes, pixel_m, sun)
