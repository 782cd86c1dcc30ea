"""Single-image reconstruction of a raster: masked pixels filled by the inpainting U-Net.

The output has the input's bands, CRS, grid and data type, and its clear
pixels are the input's, bit for bit: only pixels the mask names (optionally
grown by a buffer) are replaced.  Bands the network was not trained on (B01,
B09, B10) are filled by normalised convolution, a smooth interpolation from
the clear neighbours, and the source raster says which pixel got what.
The scene is held in memory (MAX_PIXELS), tiled and blended like masking.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import InputError, ModelCardError
from .evaluation import read_on_grid
from .grid import Grid
from .inputs import raster_mapping
from .model_card import MODELS_DIR, sha256_of
from .morphology import buffer_classes
from .outputs import OutputSet, check_output_path
from .progress import Feedback
from .recon_metrics import box_mean
from .sources import open_raster
from .tiling import fit_patch_size, patch_starts, patch_weights
from .dn import DnCodec
from .inpainting import network_input, patch_statistics
from .recon_styles import paletted_style, true_colour_style, write_style

DEFAULT_RECONSTRUCTION_MODEL = "cloudfree_inpaint_s2"
MAX_PIXELS = 6000 * 6000
KEPT, FROM_NETWORK = 0, 1
SOURCE_ENTRIES = {KEPT: ("#4daf4a", 0, "Kept (clear in the input)"),
                  FROM_NETWORK: ("#ff7f00", 255, "Filled by the reconstruction U-Net")}


@dataclass(frozen=True)
class InpaintCard:
    path: Path
    bands: List[str]
    patch_size: int
    overlap: int
    input_multiple: int
    raw: Dict


def load_inpaint_card(model: Optional[str] = None) -> InpaintCard:
    """A reconstruction model by bundled name or .onnx path, checked against its card."""
    path = Path(model or DEFAULT_RECONSTRUCTION_MODEL)
    if path.suffix.lower() != ".onnx":
        path = MODELS_DIR / f"{path.name}.onnx"
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise ModelCardError(f"No reconstruction model at {path} with its card {card_path.name}.")
    raw = json.loads(card_path.read_text(encoding="utf-8"))
    if raw.get("task") != "reconstruction":
        raise ModelCardError(f"{path.name} is not a reconstruction model (its card says task "
                             f"'{raw.get('task', 'cloud mask')}'); use a cloudfree_inpaint_* model.")
    if sha256_of(path) != raw.get("sha256"):
        raise ModelCardError(f"The card {card_path.name} does not belong to {path.name} (sha256 differs).")
    return InpaintCard(path, list(raw["bands"]), int(raw["patch_size"]), int(raw["overlap"]),
                       int(raw["input_multiple"]), raw)


def interpolate_gaps(band: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill a band's holes from clear neighbours, by normalised convolution at growing radii."""
    out = band.astype(np.float64).copy()
    todo = hole.copy()
    known = (~hole).astype(np.float64)
    radius = 2
    while todo.any() and radius < 4 * max(band.shape):
        num, den = box_mean(np.where(hole, 0.0, out) * known, radius), box_mean(known, radius)
        ready = todo & (den > 1e-6)
        out[ready] = num[ready] / den[ready]
        todo &= ~ready
        radius *= 2
    if todo.any():
        out[todo] = band[~hole].mean() if (~hole).any() else 0.0
    return out


@dataclass(frozen=True)
class ReconstructionResult:
    output_path: Path
    source_path: Optional[Path]
    filled_pixels: int
    model: str
    seconds: float


def _predict(session, card: InpaintCard, cube: np.ndarray, hole: np.ndarray, feedback: Feedback) -> np.ndarray:
    """Tiled, blended network prediction (reflectance) of the model's bands.

    Each patch is normalised by its own clear pixels, as in training; a patch
    with too few clear pixels borrows the statistics of the whole scene.
    """
    _, h, w = cube.shape
    patch = fit_patch_size(card.patch_size, w, h, card.input_multiple)
    ov = min(card.overlap, patch // 2)
    scene_mean, scene_std = patch_statistics(cube[None], hole[None])
    acc = np.zeros(cube.shape, np.float32)
    wsum = np.zeros((h, w), np.float32)
    jobs = [(y, x0) for y in patch_starts(h, patch, ov) for x0 in patch_starts(w, patch, ov)
            if hole[y:y + patch, x0:x0 + patch].any()]
    name = session.get_inputs()[0].name
    for i, (y, x0) in enumerate(jobs):
        feedback.check()
        c, m = cube[None, :, y:y + patch, x0:x0 + patch], hole[None, y:y + patch, x0:x0 + patch]
        mean, std = patch_statistics(c, m) if (~m).mean() > 0.1 else (scene_mean, scene_std)
        pred = session.run(None, {name: network_input((c - mean) / std, m)})[0] * std + mean
        wt = patch_weights(patch, ov, y == 0, y + patch == h, x0 == 0, x0 + patch == w)
        acc[:, y:y + patch, x0:x0 + patch] += pred[0] * wt
        wsum[y:y + patch, x0:x0 + patch] += wt
        feedback.set_progress(90.0 * (i + 1) / max(len(jobs), 1))
    return acc / np.maximum(wsum, 1e-12)


def reconstruct_array(refl: np.ndarray, bands: Sequence[str], hole: np.ndarray, card: Optional[InpaintCard] = None,
                      feedback: Optional[Feedback] = None) -> np.ndarray:
    """(bands, H, W) reflectance with the `hole` pixels filled: the network for the bands it
    knows, normalised-convolution interpolation for the others; other pixels unchanged."""
    import onnxruntime as ort
    card = card or load_inpaint_card()
    feedback = feedback or Feedback()
    missing = [b for b in card.bands if b not in bands]
    if missing:
        raise InputError(f"The reconstruction model needs {', '.join(card.bands)}; the input has no "
                         f"{', '.join(missing)}.")
    index = [list(bands).index(b) for b in card.bands]
    session = ort.InferenceSession(str(card.path), providers=["CPUExecutionProvider"])
    pred = _predict(session, card, refl[index], hole, feedback)
    filled = refl.copy()
    for k, band in enumerate(index):
        filled[band][hole] = pred[k][hole]
    for band in (i for i in range(refl.shape[0]) if i not in index):
        filled[band] = np.where(hole, interpolate_gaps(refl[band], hole), refl[band])
    return filled


def reconstruct(input: str | Path, mask: str | Path, output: str | Path, source: Optional[str | Path] = None,
                model: Optional[str] = None, band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                dn_scale: Optional[float] = None, dn_offset: float = 0.0, mask_classes: Sequence[int] = (1, 2, 3),
                buffer_px: int = 0, feedback: Optional[Feedback] = None) -> ReconstructionResult:
    """Fill the masked pixels of a multi-band raster; write it (and the per-pixel source) as COGs."""
    feedback = feedback or Feedback()
    started = time.perf_counter()
    output = check_output_path(output)
    card = load_inpaint_card(model)
    with open_raster(str(input)) as ds:
        if ds.crs is None:
            raise InputError(f"{Path(input).name} has no CRS; assign one so the mask can be placed on it.")
        if ds.width * ds.height > MAX_PIXELS:
            raise InputError(f"{Path(input).name} is {ds.width} x {ds.height} px; reconstruction holds the scene in "
                             f"memory and takes at most {MAX_PIXELS} px: clip it first.")
        mapping = raster_mapping(str(input), ds.count, band_preset, band_mapping)
        missing = [b for b in card.bands if b not in mapping]
        if missing:
            raise InputError(f"The reconstruction model needs {', '.join(card.bands)}; the band mapping has no "
                             f"{', '.join(missing)}. Choose the band preset or mapping of this raster.")
        raw = ds.read()
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        nodata = ds.nodata
    classes = read_on_grid(mask, input)
    hole = np.isin(classes, list(mask_classes))
    if buffer_px > 0:
        grown = buffer_classes(np.where(hole, 1, 0).astype(np.uint8), buffer_px)
        hole = grown > 0
    valid = np.ones(hole.shape, bool) if nodata is None else ~np.any(raw == nodata, axis=0)
    hole &= valid
    if not hole.any():
        raise InputError("The mask names no pixel of this raster (classes "
                         f"{', '.join(map(str, mask_classes))}); nothing to reconstruct.")
    if not (valid & ~hole).any():
        raise InputError("Every pixel is masked; single-image reconstruction needs some clear pixels.")
    scale = dn_scale or (10000.0 if np.issubdtype(raw.dtype, np.integer) else 1.0)
    refl = (raw.astype(np.float32) + dn_offset) / scale
    names = {i: b for b, i in mapping.items()}
    order = [names.get(k + 1, f"band {k + 1}") for k in range(raw.shape[0])]  # the raster's band order
    filled = reconstruct_array(refl, order, hole, card, feedback)
    codec = DnCodec(str(raw.dtype), (dn_offset,) * len(order), (scale,) * len(order), nodata)
    out = raw.copy()
    out[:, hole] = codec.encode(filled[:, hole])
    codes = np.where(hole, FROM_NETWORK, KEPT).astype(np.uint8)  # other bands of a filled pixel: interpolated
    with OutputSet() as outs, tempfile.TemporaryDirectory() as tmp:
        w = outs.writer(output, grid, raw.shape[0], str(raw.dtype), nodata)
        w.ds.write(out)
        w.close()
        style = write_style(true_colour_style(order, codec), Path(tmp) / "rgb.qml")
        outs.publish(w.path, output, "AVERAGE", style)
        if source:
            sw = outs.writer(check_output_path(source), grid, 1, "uint8", 255, ["source of each pixel"])
            sw.ds.write(codes[None])
            sw.close()
            outs.publish(sw.path, Path(source), "NEAREST",
                         write_style(paletted_style(SOURCE_ENTRIES), Path(tmp) / "source.qml"))
        feedback.check()
        outs.commit()
    feedback.set_progress(100.0)
    return ReconstructionResult(output, Path(source) if source else None, int(hole.sum()),
                                card.raw.get("name", card.path.stem), time.perf_counter() - started)
