"""One scene masked from its file: the model chosen, the input opened once, the engine run.

`cloud_mask` is the operation behind the API, the command line, QGIS and
batches; `open_scene` opens an input ahead of time (a batch starts reading
the next scene while one is masked).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..io.bands import DEFAULT_MASK_RESOLUTION_M
from ..io.input_checks import check_scaling
from ..io.inputs import open_band_source, open_input
from ..model.card import AUTO_MODEL, ModelCard, choose_bundled_model, load_card
from ..model.runtime import cached_predictor, make_predictor
from ..progress import Feedback
from .engine import MaskOptions, MaskResult, ScenePlan, plan_scene, run_mask

if TYPE_CHECKING:
    from ..io.sources import RasterLayerSource, SafeSource


def cloud_mask(input: str | Path, output: str | Path, confidence: Optional[str | Path] = None, *,
               model: Optional[str] = None, resolution_m: Optional[int] = DEFAULT_MASK_RESOLUTION_M,
               band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
               dn_scale: Optional[float] = None, dn_offset: float = 0.0,
               device: str = "auto", engine: str = "onnx", batch_size: int = 4,
               patch_size: Optional[int] = None, overlap: Optional[int] = None,
               buffer_px: int = 0, feedback: Optional[Feedback] = None,
               opened: Optional["OpenedScene"] = None, keep_session: bool = False,
               shadow_geometry: bool = True, cloud_threshold: Optional[float] = None,
               shadow_threshold: Optional[float] = None) -> MaskResult:
    """Mask clouds and shadows of a raster or .SAFE product with a U-Net model.

    `model` is a bundled model name or an .onnx path with its card beside it;
    None or "auto" picks the best bundled model for the input's bands.
    Patch size and overlap default to the card's.  `opened`: the same scene
    already opened by `open_scene` (a batch reads the next scene ahead).
    `keep_session`: keep the inference session for the next call in this
    process (batches; off by default so that QGIS gets its memory back).
    `shadow_geometry`: shadow that no cloud can cast becomes clear
    (core.masking.shadow_geometry); on by default.  `cloud_threshold` /
    `shadow_threshold`: probability thresholds in place of the card's
    calibrated ones (lower finds more; ModelCard.weights_for).
    """
    feedback = feedback or Feedback()
    scene = opened or open_scene(input, model=model, resolution_m=resolution_m, band_preset=band_preset,
                                 band_mapping=band_mapping, dn_scale=dn_scale, dn_offset=dn_offset,
                                 patch_size=patch_size, overlap=overlap)
    try:
        if scene.chosen:
            feedback.info(f"Model chosen for the input's bands: {scene.card.name}")
        if resolution_m and resolution_m != scene.card.resolution_m:
            feedback.info(f"Note: {scene.card.name} was trained at {scene.card.resolution_m} m; processing at "
                          f"{resolution_m} m.")
        predictor = (cached_predictor(scene.card, engine, device) if keep_session
                     else make_predictor(scene.card, engine=engine, device=device))
        options = MaskOptions(batch_size, buffer_px, shadow_geometry, cloud_threshold, shadow_threshold)
        return run_mask(scene.plan, predictor, output, confidence=confidence, options=options, feedback=feedback)
    finally:
        scene.close()


@dataclass
class OpenedScene:
    """An input opened for masking, its first patch rows already being read."""

    card: ModelCard
    source: SafeSource | RasterLayerSource  # what open_band_source returns
    plan: ScenePlan
    chosen: bool

    def close(self) -> None:
        self.plan.close()
        self.source.close()


def open_scene(input: str | Path, *, model: Optional[str] = None,
               resolution_m: Optional[int] = DEFAULT_MASK_RESOLUTION_M,
               band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
               dn_scale: Optional[float] = None, dn_offset: float = 0.0, patch_size: Optional[int] = None,
               overlap: Optional[int] = None) -> OpenedScene:
    """Choose the model, open the bands it needs and start reading (core.masking.engine.plan_scene)."""
    chosen = not model or model == AUTO_MODEL
    card = None if chosen else load_card(model)  # a model that cannot run is refused before the input is read
    check_scaling(dn_scale, dn_offset)
    with open_input(input, band_preset, band_mapping, dn_offset) as opened:  # opened once, read by all below
        if card is None:
            card = load_card(choose_bundled_model(opened.bands))
        source = open_band_source(opened, card.bands, resolution_m, dn_scale=dn_scale)
    try:
        return OpenedScene(card, source, plan_scene(source, card, patch_size, overlap), chosen)
    except BaseException:
        source.close()
        raise
