"""The Python API: every operation and setting that QGIS, the command line and users call, from one import.

Files: `cloud_mask` (a raster or .SAFE product to a styled mask), `open_scene`
(an input opened ahead of a `cloud_mask`), `scl_mask` (the Scene
Classification Layer to the same classes), `reconstruct` (the surface under
a mask), `gapfill_rasters` and `composite_rasters` (several dates),
`run_batch` (many scenes, locally or on Dask), `evaluate_rasters` and
`evaluate_reconstruction` (scores against references), `train_model` (train
or fine-tune a mask model); arrays: `mask_array` (a NumPy cube with named
bands to classes and probabilities).  Beside them, the vocabulary their
parameters take (band presets, devices, bundled models, schemes).

Each name lives in its concern package; this module only names them, so
that entry points (cli/, algorithms/) and users depend on one place and the
packages behind it can move.  Names load on first use (PEP 562): QGIS
starts without ONNX Runtime, and PyTorch loads only when training starts.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

#: Public name -> the module under core/ that defines it.
_WHERE: Dict[str, str] = {
    # masking
    "cloud_mask": "masking.scene_mask", "open_scene": "masking.scene_mask", "OpenedScene": "masking.scene_mask",
    "MaskResult": "masking.engine", "scl_mask": "masking.scl", "SclResult": "masking.scl",
    "mask_array": "masking.arrays", "ArrayMask": "masking.arrays",
    # reconstruction
    "reconstruct": "reconstruction.reconstruct", "THIN_MODES": "reconstruction.reconstruct",
    "gapfill_rasters": "reconstruction.gapfill_rasters",
    "composite_rasters": "reconstruction.composite", "FALLBACK": "reconstruction.gapfill",
    "NO_DATA": "reconstruction.gapfill", "SOURCE_NAMES": "reconstruction.gapfill",
    # evaluation
    "evaluate_rasters": "evaluation.masks", "format_table": "evaluation.masks", "write_scores": "evaluation.masks",
    "REFERENCE_SCHEMES": "evaluation.masks", "SCHEME_LABELS": "evaluation.masks",
    "evaluate_reconstruction": "evaluation.reconstructions", "format_recon_table": "evaluation.reconstructions",
    "write_recon_scores": "evaluation.reconstructions", "MASK_SCHEMES": "evaluation.recon_metrics",
    # training
    "train_model": "training.train_model", "TrainConfig": "training.trainer", "BAND_SETS": "training.trainer",
    "save_scenes": "training.data", "scene_from_label_raster": "training.label_sources",
    "scene_from_scl": "training.label_sources",
    # batch
    "run_batch": "batch.runner", "BatchOptions": "batch.jobs", "DONE": "batch.jobs", "DONE_BEFORE": "batch.jobs",
    "FAILED": "batch.jobs", "CANCELLED": "batch.jobs",
    # models and runtime
    "load_card": "model.card", "BUNDLED_MODELS": "model.card", "MODELS_DIR": "model.card",
    "DEVICES": "model.runtime", "cached_predictor": "model.runtime",
    # inputs and outputs
    "PRESETS": "io.bands", "PRESET_LABELS": "io.bands", "DEFAULT_MASK_RESOLUTION_M": "io.bands",
    "split_dates": "io.dates", "limit_gdal_cache": "io.gdal_cache", "guard_outputs": "io.output_guard",
}

__all__: List[str] = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"cloudfree.core.api has no {name!r}; its names are in __all__.")
    value = getattr(importlib.import_module(f"{__package__}.{where}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .batch.jobs import CANCELLED, DONE, DONE_BEFORE, FAILED, BatchOptions  # noqa: F401
    from .batch.runner import run_batch  # noqa: F401
    from .evaluation.masks import (REFERENCE_SCHEMES, SCHEME_LABELS, evaluate_rasters,  # noqa: F401
                                   format_table, write_scores)
    from .evaluation.recon_metrics import MASK_SCHEMES  # noqa: F401
    from .evaluation.reconstructions import (evaluate_reconstruction, format_recon_table,  # noqa: F401
                                             write_recon_scores)
    from .io.bands import DEFAULT_MASK_RESOLUTION_M, PRESET_LABELS, PRESETS  # noqa: F401
    from .io.dates import split_dates  # noqa: F401
    from .io.gdal_cache import limit_gdal_cache  # noqa: F401
    from .io.output_guard import guard_outputs  # noqa: F401
    from .masking.arrays import ArrayMask, mask_array  # noqa: F401
    from .masking.engine import MaskResult  # noqa: F401
    from .masking.scene_mask import OpenedScene, cloud_mask, open_scene  # noqa: F401
    from .masking.scl import SclResult, scl_mask  # noqa: F401
    from .model.card import BUNDLED_MODELS, MODELS_DIR, load_card  # noqa: F401
    from .model.runtime import DEVICES, cached_predictor  # noqa: F401
    from .reconstruction.composite import composite_rasters  # noqa: F401
    from .reconstruction.gapfill import FALLBACK, NO_DATA, SOURCE_NAMES  # noqa: F401
    from .reconstruction.gapfill_rasters import gapfill_rasters  # noqa: F401
    from .reconstruction.reconstruct import THIN_MODES, reconstruct  # noqa: F401
    from .training.data import save_scenes  # noqa: F401
    from .training.label_sources import scene_from_label_raster, scene_from_scl  # noqa: F401
    from .training.train_model import train_model  # noqa: F401
    from .training.trainer import BAND_SETS, TrainConfig  # noqa: F401
