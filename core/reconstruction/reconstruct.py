"""Single-image reconstruction of a raster or a .SAFE product: masked pixels filled by the inpainting U-Net.

The output has the input's bands, CRS, grid and data type (a product: all
its bands at the chosen resolution, in its DN and offsets), and its clear
pixels are the input's, bit for bit: only pixels the mask names (optionally
grown by a buffer) are replaced.  Bands the network was not trained on (B01,
B09, B10) are filled by normalised convolution, a smooth interpolation from
the clear neighbours.  The scene is processed in strips (core.reconstruction.strip_fill),
so memory depends on its width only.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
from rasterio.windows import Window

from ..io.dn import DnCodec
from ..errors import InputError, option
from ..io.grid import Grid, with_halo
from ..model.runtime import OnnxSession
from ..model.card import ModelCard
from .inpainter import fill_holes, load_inpaint_card, load_thin_card, open_inpaint_session
from ..io.inputs import is_safe_input, raster_mapping
from ..masking.morphology import dilate
from ..io.output_guard import guard_outputs
from ..io.input_checks import check_scaling
from ..io.outputs import OutputSet, check_output_path
from ..progress import Feedback, SubFeedback
from .styles import paletted_style, true_colour_style, write_style
from ..io.safe import open_safe
from ..io.sources import SafeSource, checked_read, open_raster
from .strip_fill import EVIDENCE_CAP, THIN_CORRECTED, ThinPass, fill_in_strips, sample_statistics
from .thin_cloud import SMOOTH_PX, remove_veil
from .timeseries import MaskReader

KEPT, FROM_NETWORK, RELIT, NO_DATA = 0, 1, 2, 255
METHODS = ("network", "interpolation")
#: What becomes of thin cloud (class 2): filled like thick cloud, or corrected by the thin-cloud remover.
THIN_MODES = ("fill", "correct")
THIN_CLASS, SHADOW_CLASS = 2, 3
SOURCE_ENTRIES = {KEPT: ("#4daf4a", 0, "Kept (clear in the input)"),
                  FROM_NETWORK: ("#ff7f00", 255, "Filled by the reconstruction U-Net"),
                  RELIT: ("#377eb8", 255, "Shadow relit (its own values, brightened)"),
                  THIN_CORRECTED: ("#984ea3", 255, "Thin cloud removed (its own values, the veil taken off)")}
DEFAULT_SAFE_RESOLUTION = 20


@dataclass(frozen=True)
class ReconstructionResult:
    output_path: Path
    source_path: Optional[Path]
    filled_pixels: int
    model: str
    seconds: float


class ImageReader:
    """Every band of the input, as stored, on the grid the output gets."""

    safe: Optional[SafeSource]  # None for a plain raster

    def __init__(self, path: str | Path, card: ModelCard, band_preset: Optional[str], band_mapping: Optional[str],
                 resolution_m: Optional[int], dn_scale: Optional[float], dn_offset: float) -> None:
        self.name = Path(path).name
        check_scaling(dn_scale, dn_offset)
        if is_safe_input(path):
            product = open_safe(path)
            self.safe = SafeSource(product, [b for b in product.files if b != "SCL"],
                                   resolution_m or DEFAULT_SAFE_RESOLUTION)
            self.ds, self.grid, self.bands = None, self.safe.grid, list(self.safe.bands)
            self.codec = DnCodec.of(self.safe)
            self.descriptions = list(self.bands)
            return
        if resolution_m is not None:
            raise InputError("A plain raster is reconstructed on its own grid; leave the resolution empty "
                             "(it applies to .SAFE products) or resample the raster first.")
        self.safe, self.ds = None, open_raster(str(path))
        ds = self.ds
        if ds.crs is None:
            ds.close()
            raise InputError(f"{self.name} has no CRS; assign one so the mask can be placed on it.")
        try:
            mapping = raster_mapping(ds, str(path), band_preset, band_mapping, dn_offset)
        except Exception:
            ds.close()
            raise
        names = {i: b for b, i in mapping.items()}
        self.bands = [names.get(k + 1, f"band {k + 1}") for k in range(ds.count)]  # the raster's own order
        self.grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        scale = dn_scale or (10000.0 if np.issubdtype(np.dtype(ds.dtypes[0]), np.integer) else 1.0)
        self.codec = DnCodec(ds.dtypes[0], (dn_offset,) * ds.count, (scale,) * ds.count, ds.nodata)
        self.descriptions = [d or b for d, b in zip(ds.descriptions, self.bands)]
        missing = [b for b in card.bands if b not in mapping]
        if missing:
            ds.close()
            raise InputError(f"The reconstruction model needs {', '.join(card.bands)}; the band mapping has no "
                             f"{', '.join(missing)}. Choose the band preset or mapping of this raster.")

    def read_raw(self, window: Window) -> np.ndarray:
        return self.safe.read_raw(window) if self.safe is not None else checked_read(self.ds, window=window)

    def close(self) -> None:
        if self.safe is not None:
            self.safe.close()
        if self.ds is not None:
            self.ds.close()


class HoleReader:
    """The pixels to fill in any full-width window: mask classes, grown by the buffer; and the shadow
    pixels to relight in the same window, from the same read of the mask."""

    def __init__(self, mask: str | Path, grid: Grid, classes: Sequence[int], buffer_px: int) -> None:
        self.mask = MaskReader(mask, grid, 0)
        self.grid, self.classes, self.buffer_px = grid, list(classes), buffer_px
        self._last: Optional[Tuple[int, int, np.ndarray]] = None  # (top, rows, classes) of the last window

    def __call__(self, window: Window) -> np.ndarray:
        b = self.buffer_px
        read, inner = with_halo(Window(0, window.row_off, self.grid.width, window.height), b, self.grid.height)
        block = self.mask.read(read)
        self._last = (int(window.row_off), int(window.height), block[inner])
        hole = np.isin(block, self.classes)
        return dilate(hole, b)[inner] if b > 0 else hole

    def of_class(self, window: Window, cls: int) -> np.ndarray:
        """Pixels of one class (unbuffered) in the window the holes were last read for (read again otherwise)."""
        if self._last is None or self._last[:2] != (int(window.row_off), int(window.height)):
            self(window)
        assert self._last is not None  # __call__ has just set it
        return self._last[2] == cls

    def shadows(self, window: Window) -> np.ndarray:
        return self.of_class(window, SHADOW_CLASS)

    def thin(self, window: Window) -> np.ndarray:
        return self.of_class(window, THIN_CLASS)

    def count(self, rows: int = 1024) -> Tuple[int, int, int, int]:
        """(pixels to fill, clear, shadow and thin-cloud pixels) over the whole mask, for refusing a run with
        nothing to do or one that would invent most of the scene."""
        holes = clear = shadow = thin = 0
        for win in self.grid.strips(rows):
            classes = self.mask.read(win)
            holes += int(np.isin(classes, self.classes).sum())
            clear += int((classes == 0).sum())
            shadow += int((classes == SHADOW_CLASS).sum())
            thin += int((classes == THIN_CLASS).sum())
        return holes, clear, shadow, thin

    def close(self) -> None:
        self.mask.close()


#: Above WARN_MASKED_PERCENT of masked pixels a single image invents most of its surface: the log says so,
#: with the figures; above MAX_MASKED_PERCENT (the default limit) the run is refused (the bundled sample with
#: a buffer of 2 was 90 % "reconstructed" into a grey, blocky image). Gap-filling from other dates sees it.
WARN_MASKED_PERCENT = 50.0
MAX_MASKED_PERCENT = 90.0


def check_masked_share(n_holes: int, n_clear: int, max_percent: float, name: str,
                       feedback: Optional[Feedback] = None) -> None:
    """Refuse, with the figures, a scene whose masked share is above `max_percent`; warn above 50 %."""
    if not 0.0 <= max_percent <= 100.0:
        raise InputError(f"The largest masked share is a percentage from 0 to 100, not {max_percent:g}.")
    share = 100.0 * n_holes / max(1, n_holes + n_clear)
    if share > WARN_MASKED_PERCENT and share <= max_percent and feedback is not None:
        feedback.info(f"Warning: {share:.0f} % of the valid pixels of {name} are masked ({n_holes} of "
                      f"{n_holes + n_clear}): most of this reconstruction is invented, not seen; gap-filling "
                      "from other dates would show the surface.")
    if share > max_percent:
        raise InputError(
            f"{share:.0f} % of the valid pixels of {name} are masked ({n_holes} of {n_holes + n_clear}); above "
            f"{max_percent:g} % a single image would invent nearly all of the scene. Gap-fill it from "
            f"other dates (gap-fill), or raise the limit ({option('max_masked', '95')}) to run anyway.")


def reconstruct(input: str | Path, mask: str | Path, output: str | Path, source: Optional[str | Path] = None,
                model: Optional[str] = None, band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                dn_scale: Optional[float] = None, dn_offset: float = 0.0, mask_classes: Sequence[int] = (1, 2, 3),
                buffer_px: int = 0, resolution_m: Optional[int] = None, max_memory_mb: float = 1024.0,
                feedback: Optional[Feedback] = None,
                max_masked_percent: float = MAX_MASKED_PERCENT, relight: bool = True,
                device: str = "auto", method: str = "network", thin_cloud: str = "fill",
                thin_model: Optional[str] = None) -> ReconstructionResult:
    """Fill the masked pixels of a multi-band raster or .SAFE product; write it (and the per-pixel source) as COGs.

    `resolution_m` applies to products (default 20 m; every band is read at it).
    `max_masked_percent`: refuse a scene whose masked share of valid pixels is
    larger (one image cannot show what lies under most of itself).
    `relight`: shadow pixels (class 3, when filled at all) are relit from
    their own values (core.reconstruction.relight) instead of painted over; they do not
    count as invented for `max_masked_percent`.  `device`: where the inpainting network
    runs (auto: a GPU when ONNX Runtime has one; cuda that cannot be used is an error).
    `method`: "network" (the inpainting U-Net) or "interpolation" (normalised convolution
    from the clear neighbours, the network's own starting point; no ONNX Runtime needed).
    `thin_cloud`: "fill" treats thin cloud (class 2) as a hole; "correct" keeps its pixels
    and takes the veil off them (core.reconstruction.thin_cloud; or a trained remover,
    `thin_model`, an .onnx of card kind "thin"), after thick cloud is filled and shadows
    relit; corrected pixels count as seen, not invented.
    """
    feedback = feedback or Feedback()
    started = time.perf_counter()
    output = check_output_path(output)
    if buffer_px < 0:
        raise InputError("The buffer must be 0 or more pixels.")
    source = check_output_path(source) if source else None
    guard_outputs([output, source], [input, mask])
    if method not in METHODS:
        raise InputError(f"The fill method is one of {', '.join(METHODS)}, not {method!r}.")
    if thin_cloud not in THIN_MODES:
        raise InputError(f"Thin cloud is either filled or corrected ({', '.join(THIN_MODES)}), not {thin_cloud!r}.")
    card = load_inpaint_card(model)
    correct_thin = thin_cloud == "correct" and THIN_CLASS in mask_classes
    thin_card = load_thin_card(thin_model) if correct_thin and thin_model else None
    # a device that cannot be used is refused before any reading
    session = open_inpaint_session(card, device) if method == "network" else None
    thin_session = open_inpaint_session(thin_card, device) if thin_card is not None else None
    remover = thin_card.name if thin_card is not None else "the veil model (core.reconstruction.thin_cloud)"
    filler = card.name if session is not None else "interpolation (normalised convolution)"
    image = ImageReader(input, card, band_preset, band_mapping, resolution_m, dn_scale, dn_offset)
    holes = None
    try:
        if thin_card is not None:
            missing = [b for b in thin_card.bands if b not in image.bands]
            if missing:
                raise InputError(f"The thin-cloud remover needs {', '.join(thin_card.bands)}; {image.name} has no "
                                 f"{', '.join(missing)}. Fill thin cloud instead ({option('thin_cloud', 'fill')}).")
        relit = relight and SHADOW_CLASS in mask_classes
        kept = {SHADOW_CLASS} if relit else set()
        kept |= {THIN_CLASS} if correct_thin else set()
        holes = HoleReader(mask, image.grid, [c for c in mask_classes if c not in kept], buffer_px)
        n_holes, n_clear, n_shadow, n_thin = holes.count()
        n_shadow = n_shadow if relit else 0
        n_thin = n_thin if correct_thin else 0
        if n_holes + n_shadow + n_thin == 0:
            raise InputError(f"The mask names no pixel of {image.name} (classes "
                             f"{', '.join(map(str, mask_classes))}); nothing to reconstruct.")
        if n_clear == 0:
            raise InputError("Every pixel is masked; single-image reconstruction needs some clear pixels.")
        check_masked_share(n_holes, n_clear + n_shadow + n_thin, max_masked_percent, image.name, feedback)
        feedback.info(f"Reconstructing {image.name}: {image.grid.width} x {image.grid.height} px, bands "
                      f"{' '.join(image.bands)}; {n_holes} masked pixels to fill with {filler}"
                      + (f", {n_shadow} shadow pixels to relight" if relit else "")
                      + (f", {n_thin} thin-cloud pixels to correct with {remover}" if correct_thin else "")
                      + ".")
        thin = _thin_pass(holes, image, thin_card, thin_session, feedback) if correct_thin else None
        filled = _write(image, holes, card, session, output, source, max_memory_mb, feedback, relit, thin)
    finally:
        image.close()
        if holes is not None:
            holes.close()
    feedback.set_progress(100.0)
    return ReconstructionResult(output, Path(source) if source else None, filled, filler,
                                time.perf_counter() - started)


def _thin_pass(holes: HoleReader, image: ImageReader, card: Optional[ModelCard], session: Optional[OnnxSession],
               feedback: Feedback) -> ThinPass:
    """The veil model by default; a trained remover (card kind "thin") when one is given."""
    bands = list(image.bands)
    if card is None or session is None:
        return ThinPass(holes.thin, lambda refl, thin: remove_veil(refl, bands, thin), 2 * SMOOTH_PX + 64)
    index = [bands.index(b) for b in card.bands]
    stats = sample_statistics(image.read_raw, lambda w: holes(w) | holes.thin(w), image.grid, image.codec, index)
    return ThinPass(holes.thin, lambda refl, thin: fill_holes(refl, bands, thin, card, session, stats, feedback),
                    card.patch_size // 2)


def _write(image: ImageReader, holes: HoleReader, card: ModelCard, session: Optional[OnnxSession], output: Path,
           source: Optional[str | Path],
           max_memory_mb: float, feedback: Feedback, relight: bool = False, thin: Optional[ThinPass] = None) -> int:
    with OutputSet() as outs, tempfile.TemporaryDirectory() as tmp:
        writer = outs.writer(output, image.grid, len(image.bands), image.codec.dtype, image.codec.nodata,
                             image.descriptions)
        src_writer = outs.writer(check_output_path(source), image.grid, 2, "uint16", NO_DATA,
                                 ["source of each pixel",
                                  f"distance to the nearest pixel seen as it is (pixels, {EVIDENCE_CAP} = at least)"]
                                 ) if source else None

        def sink(dn: np.ndarray, hole: np.ndarray, valid: np.ndarray, window: Window,
                 distance: Optional[np.ndarray] = None) -> None:
            writer.write(dn, window)
            if src_writer is not None:
                codes = hole.astype(np.uint16)  # KEPT 0, FROM_NETWORK 1 (RELIT 2, THIN_CORRECTED 3)
                codes[~valid] = NO_DATA
                assert distance is not None  # asked for whenever there is a source output
                distance[~valid] = NO_DATA
                src_writer.write(np.stack([codes, distance]), window)

        filled = fill_in_strips(image.read_raw, holes, sink, image.grid, image.codec, image.bands, card,
                                session, max_memory_mb, SubFeedback(feedback, 0.0, 95.0),
                                read_shadow=holes.shadows if relight else None,
                                with_distance=src_writer is not None, thin=thin)
        writer.close()
        style = write_style(true_colour_style(image.bands, image.codec), Path(tmp) / "rgb.qml")
        outs.publish(writer.path, output, "AVERAGE", style)
        if src_writer is not None:
            assert source is not None  # src_writer exists only when source was given
            src_writer.close()
            outs.publish(src_writer.path, Path(source), "NEAREST",
                         write_style(paletted_style(SOURCE_ENTRIES), Path(tmp) / "source.qml"))
        feedback.check()
        outs.commit()
    return filled


__all__ = ["reconstruct", "ReconstructionResult", "KEPT", "FROM_NETWORK", "RELIT", "THIN_CORRECTED", "NO_DATA",
           "THIN_MODES"]
