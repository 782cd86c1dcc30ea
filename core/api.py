"""The Python API: one call per operation, the same that QGIS and the CLI use."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .inputs import available_bands, open_band_source
from .masking import MaskResult, run_mask
from .model_card import AUTO_MODEL, choose_bundled_model, load_card
from .progress import Feedback
from .runtime import make_predictor
from .scl import SclResult, scl_mask

__all__ = ["cloud_mask", "scl_mask", "MaskResult", "SclResult"]


def cloud_mask(input: str | Path, output: str | Path, confidence: Optional[str | Path] = None,
               model: Optional[str] = None, resolution_m: Optional[int] = 20,
               band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
               dn_scale: Optional[float] = None, dn_offset: float = 0.0,
               device: str = "auto", engine: str = "onnx", batch_size: int = 4,
               patch_size: Optional[int] = None, overlap: Optional[int] = None,
               buffer_px: int = 0, feedback: Optional[Feedback] = None) -> MaskResult:
    """Mask clouds and shadows of a raster or .SAFE product with a U-Net model.

    `model` is a bundled model name or an .onnx path with its card beside it;
    None or "auto" picks the best bundled model for the bands the input has.
    Patch size and overlap default to the card's.
    """
    feedback = feedback or Feedback()
    if not model or model == AUTO_MODEL:
        model = choose_bundled_model(available_bands(input, band_preset, band_mapping))
        feedback.info(f"Model chosen for the input's bands: {model}")
    card = load_card(model)
    if resolution_m and resolution_m != card.resolution_m:
        feedback.info(f"Note: {card.name} was trained at {card.resolution_m} m; processing at {resolution_m} m.")
    predictor = make_predictor(card, engine=engine, device=device)
    source = open_band_source(input, card.bands, resolution_m, band_preset, band_mapping, dn_scale, dn_offset)
    try:
        return run_mask(source, predictor, card, output, confidence, patch_size, overlap,
                        batch_size, buffer_px, feedback)
    finally:
        source.close()
