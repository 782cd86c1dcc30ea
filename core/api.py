"""The Python API: the operations that QGIS and the command line run, from one import.

Files: `cloud_mask` (a raster or .SAFE product to a styled mask), `open_scene`
(an input opened ahead of a `cloud_mask`), `scl_mask` (the Scene
Classification Layer to the same classes), `reconstruct` (the surface under
a mask); arrays: `mask_array` (a NumPy cube with named bands to classes and
probabilities).  Each lives in its concern package; this module only names
them, so that users and entry points depend on one place.
"""
from __future__ import annotations

from .masking.arrays import ArrayMask, mask_array
from .masking.engine import MaskResult
from .masking.scene_mask import OpenedScene, cloud_mask, open_scene
from .masking.scl import SclResult, scl_mask
from .model.runtime import cached_predictor
from .reconstruction.reconstruct import reconstruct

__all__ = ["cloud_mask", "mask_array", "open_scene", "scl_mask", "reconstruct", "cached_predictor", "ArrayMask",
           "MaskResult", "SclResult", "OpenedScene"]
