"""Cloud and shadow masking with a U-Net: tiled inference with blended overlaps.

The scene is processed one row of patches at a time.  A rolling accumulator
one patch high holds the weighted class scores; rows no later patch can touch
are normalised, turned into classes and written, so memory depends on the
scene width and patch size, never on the scene height.  Reading, inference
and writing run on their own threads (core.masking.pipeline), rows ahead being read
and rows behind being written while the current one is inferred.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Tuple

import numpy as np
from rasterio.windows import Window

from .class_raster import ClassScratch, CoverFigures, CoverStats, decide_classes, finish_class_raster
from ..errors import InputError
from ..io.grid import Grid, describe_pixel, pixel_metres_xy
from ..model.card import MASK_CLASSES, NODATA_CLASS, ModelCard
from ..io.output_guard import guard_outputs
from ..io.outputs import CONFIDENCE_STYLE, OutputSet, check_output_path
from .pipeline import AsyncWriter, RowReader, StageClock
from ..progress import Feedback
from ..model.runtime import Predictor
from .shadow_geometry import GeometryInput
from ..model.tiling import RowBlender, fit_patch_size, patch_starts, predict_blended


class BandSource(Protocol):
    grid: Grid
    bands: List[str]
    description: str

    def read(self, window: Window) -> Tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class MaskResult(CoverFigures):
    mask_path: Path
    confidence_path: Optional[Path]
    stats: CoverStats
    model: str
    runtime: str
    patch_size: int
    overlap: int
    seconds: float
    #: busy seconds per stage (read, infer, write, ...), stages overlapping on threads
    stages: Dict[str, float] = field(default_factory=dict)


def choose_patch(card: ModelCard, grid: Grid, patch_size: Optional[int], overlap: Optional[int]) -> Tuple[int, int]:
    """Patch and overlap: the card's by default (fitted to the raster, see fit_patch_size), the user's if given."""
    m = card.input_multiple
    ov = card.overlap if overlap is None or overlap < 0 else overlap
    if not patch_size:
        patch = fit_patch_size(card.patch_size, grid.width, grid.height, m, ov)
    elif patch_size % m:
        raise InputError(f"The patch size must be a multiple of {m} for this model; {patch_size} is not.")
    elif patch_size > min(grid.width, grid.height):
        raise InputError(
            f"The patch size {patch_size} px is larger than the raster ({grid.width} x {grid.height} px "
            f"at {grid.pixel_size:g} m); choose at most {(min(grid.width, grid.height) // m) * m}, "
            "or leave it at 0 to fit it automatically.")
    else:
        patch = patch_size
    ov = min(ov, patch // 2)
    return patch, ov


def normalise(data: np.ndarray, card: ModelCard) -> np.ndarray:
    mean = np.asarray(card.mean, np.float32)[:, None, None]
    std = np.asarray(card.std, np.float32)[:, None, None]
    return (data - mean) / std


@dataclass
class ScenePlan:
    """A scene opened for masking: its patch grid, and its rows already being read on a thread."""

    source: BandSource
    card: ModelCard
    patch: int
    overlap: int
    ys: List[int]
    xs: List[int]
    clock: StageClock
    reader: RowReader

    def close(self) -> None:
        self.reader.close()


def plan_scene(source: BandSource, card: ModelCard, patch_size: Optional[int] = None,
               overlap: Optional[int] = None) -> ScenePlan:
    """Check the source against the model, lay out the patches and start reading the first rows."""
    if source.bands != card.bands:
        raise InputError(f"The source provides {source.bands} but the model needs {card.bands}.")
    grid = source.grid
    patch, ov = choose_patch(card, grid, patch_size, overlap)
    ys, xs = patch_starts(grid.height, patch, ov), patch_starts(grid.width, patch, ov)
    clock = StageClock()
    reader = RowReader(lambda y: source.read(Window(0, y, grid.width, patch)), ys, clock)
    return ScenePlan(source, card, patch, ov, ys, xs, clock, reader)


@dataclass(frozen=True)
class MaskOptions:
    """How a scene is masked, whatever the model and input: one value from the API down to the engine.

    `batch_size`: patches per inference call.  `buffer_px`: clouds and
    shadows grown by this many pixels.  `shadow_geometry`: shadow that no
    cloud can cast (core.masking.shadow_geometry, with the source's sun angles
    when it has them) becomes clear.  `cloud_threshold` / `shadow_threshold`:
    the probability at which cloud or shadow wins (ModelCard.weights_for);
    None keeps the card's calibration.
    """

    batch_size: int = 4
    buffer_px: int = 0
    shadow_geometry: bool = True
    cloud_threshold: Optional[float] = None
    shadow_threshold: Optional[float] = None

    def check(self, card: ModelCard) -> Tuple[float, float]:
        """Refuse a bad option before any pixel is read; the decision weights the thresholds give."""
        if self.batch_size < 1:
            raise InputError("The batch size must be at least 1.")
        if self.buffer_px < 0:
            raise InputError("The buffer must be 0 or more pixels.")
        return card.weights_for(self.cloud_threshold, self.shadow_threshold)


def run_mask(plan: ScenePlan, predictor: Predictor, output: str | Path, *,
             confidence: Optional[str | Path] = None, options: Optional[MaskOptions] = None,
             feedback: Optional[Feedback] = None) -> MaskResult:
    """Mask one planned scene (plan_scene) and write the class raster (and optional confidence) atomically.

    Reading, inference and writing run on three threads (core.masking.pipeline);
    the plan's first rows may already be read (a batch opens the next scene
    ahead).  The plan is closed when this returns.
    """
    feedback = feedback or Feedback()
    options = options or MaskOptions()
    started = time.perf_counter()
    try:
        weights = options.check(plan.card)
        output = check_output_path(output)
        conf_path = check_output_path(confidence) if confidence else None
        guard_outputs([output, conf_path], source_inputs(plan.source))
        geometry = scene_geometry(plan.source) if options.shadow_geometry else None
        return _masked(plan, predictor, output, conf_path, options.batch_size, options.buffer_px, feedback, started,
                       geometry, weights)
    finally:
        plan.close()


def _masked(plan: ScenePlan, predictor: Predictor, output: Path, conf_path: Optional[Path], batch_size: int,
            buffer_px: int, feedback: Feedback, started: float, geometry: Optional[GeometryInput],
            decision: Tuple[float, float]) -> MaskResult:
    card, grid, patch, ov, ys, xs = plan.card, plan.source.grid, plan.patch, plan.overlap, plan.ys, plan.xs
    k = len(MASK_CLASSES)
    feedback.info(f"Model {card.name} ({', '.join(card.bands)} at {card.resolution_m} m) on "
                  f"{predictor.description}; grid {grid.width} x {grid.height} px at "
                  f"{describe_pixel(grid)}; patch {patch} px, overlap {ov} px, {len(ys) * len(xs)} patches; "
                  f"cloud threshold {1 / (1 + decision[0]):.3g}, shadow threshold {1 / (1 + decision[1]):.3g}"
                  + (" (the card's calibration)." if decision == card.decision_weights else "."))
    blender = RowBlender(k, grid.height, grid.width, patch, ov)
    total = len(ys) * len(xs)
    done = 0
    clock = plan.clock
    with OutputSet() as outs:
        raw = ClassScratch(outs, output, grid)
        conf_writer = outs.writer(conf_path, grid, k, "uint8", 255,
                                  [f"{MASK_CLASSES[c]} confidence (%)" for c in range(k)]) if conf_path else None
        writer = AsyncWriter(lambda a, s, v, w: _emit(a, s, v, w, raw, conf_writer, decision), clock)
        try:
            for i, (data, valid) in enumerate(plan.reader):
                y = ys[i]
                data = normalise(data, card)
                jobs = [x for x in xs if valid[:, x:x + patch].any()]
                for b in range(0, len(jobs), batch_size):
                    feedback.check()
                    chunk = jobs[b:b + batch_size]
                    batch = np.stack([data[:, :, x:x + patch] for x in chunk])
                    t = time.perf_counter()
                    probs = predictor(batch)
                    clock.add("infer", time.perf_counter() - t)
                    for x, p in zip(chunk, probs):
                        blender.add(y, x, p)
                    done += len(chunk)
                    feedback.set_progress(95.0 * done / total)
                done += len(xs) - len(jobs)
                acc, wsum, y, rows = blender.finish_row(i)
                writer.submit(acc, wsum, valid[:rows], Window(0, y, grid.width, rows))
                feedback.set_progress(95.0 * done / total)
        finally:
            writer.finish()
        t = time.perf_counter()
        if conf_writer:
            assert conf_path is not None  # conf_writer exists only when conf_path was given
            conf_writer.close()
            outs.publish(conf_writer.path, conf_path, "AVERAGE", CONFIDENCE_STYLE)
        stats = finish_class_raster(raw, output, outs, buffer_px, geometry)
        if stats.geometry is not None:
            feedback.info(stats.geometry.describe())
        feedback.check()
        outs.commit()
        clock.add("finish (buffer, COG)", time.perf_counter() - t)
    feedback.set_progress(100.0)
    return MaskResult(output, conf_path, stats, card.name, predictor.description, patch, ov,
                      time.perf_counter() - started, clock.rounded())


def _emit(acc: np.ndarray, wsum: np.ndarray, valid: np.ndarray, window: Window, raw: ClassScratch, conf_writer,
          weights=(1.0, 1.0)) -> None:
    """Normalise finished rows, write classes (255 where no data) and confidence."""
    covered = valid & (wsum > 0)
    probs = acc / np.maximum(wsum, 1e-12)
    classes = decide_classes(probs, weights=weights)
    classes[~covered] = NODATA_CLASS
    raw.write(classes, window)
    if conf_writer is not None:
        conf = np.clip(np.rint(probs * 100), 0, 100).astype(np.uint8)
        conf[:, ~covered] = 255
        conf_writer.write(conf, window)


def scene_geometry(source: BandSource) -> GeometryInput:
    """Pixel size in metres and the sun angles (a .SAFE product's; None for a plain raster) of a source."""
    grid = source.grid
    mx, my = pixel_metres_xy(grid.crs, grid.transform, grid.width, grid.height)
    return GeometryInput(math.sqrt(mx * my), getattr(source, "sun", None))


def source_inputs(source: BandSource) -> list:
    """The files or product folder a band source reads: what no output may touch."""
    product = getattr(source, "product", None)
    return [product.path] if product is not None else [getattr(source, "path", None)]


def array_probabilities(predictor: Predictor, card: ModelCard, cube: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """(4, H, W) class probabilities of an in-memory (bands, H, W) reflectance cube, normalised, tiled and
    blended as a scene is; for labelled patches (benchmarks, fold scoring) that need no streaming."""
    _, h, w = cube.shape
    patch = fit_patch_size(card.patch_size, w, h, card.input_multiple, card.overlap)
    # np.float32(list) returns a float32 ndarray; numpy's stubs accept only scalars there
    data = (cube - np.float32(card.mean)[:, None, None]) / np.float32(card.std)[:, None, None]  # type: ignore[arg-type, index]
    return predict_blended(predictor, data, patch, min(card.overlap, patch // 2), batch_size)
