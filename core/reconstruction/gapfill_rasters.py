"""Gap-filling of one date of a raster time series: the file-level front of core.reconstruction.gapfill.

Reads every date on the target's grid, takes each date's clear pixels from a
CloudFree class raster (class 0; 255 is no data) or masks it on the fly, and
writes the target with its cloudy and shadowed pixels filled from the other
dates, in the target's bands, grid, data type and DN scale.  Clear pixels are
copied from the file, so they come out bit for bit identical.  A separate
uint8 source raster says where each pixel came from (core.reconstruction.gapfill codes:
0 original, 1 filled from other dates, 2 no clear date: filled from the image
itself by the inpainting U-Net (or the target's mean where the inputs lack its
bands), 255 no data), so the reconstruction stays a plain image any tool can read.

Memory: the series is processed in full-width strips of rows with a halo of
`radius` + 1 rows, so the local seasonal fits are exactly those of the whole
image.  A strip holds every date and band as float32 plus the fitting
temporaries of one band; strips are sized for (dates x bands x 4 + 400)
bytes per pixel to stay within `max_memory_mb` (1024 MB by default: strips
of about 90 rows of a 10980 px wide tile with 10 dates of 13 bands), a
conservative figure (measured numpy peak: 33 MB at a 64 MB limit for
3 dates x 4 bands, 1500 px wide; GDAL's block cache comes on top).  A raster
too wide for even 32 rows within the limit is refused with the figures.  What gapfill
takes over the whole array (each date's scene-wide fit, used where a window
has too little clear support, and the target's mean, the fallback) is
summed over the scene in a first pass and handed to every strip
(core.reconstruction.gapfill.SceneFits), so strips give the whole-image result up to float
rounding.  A raster that fits one strip is filled by one gapfill call.

Pixels that are no data in the target stay no data (code 255): filling
outside the target's footprint would invent imagery the user never had.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import rasterio

from ..io.dates import input_dates, resolve_target
from ..io.dn import DnCodec
from ..errors import InputError
from .gapfill import (FALLBACK, FROM_OTHER_DATES, NO_DATA, ORIGINAL, SOURCE_NAMES, SceneFits, contributing_dates,
                      gapfill)
from ..io.outputs import OutputSet
from ..progress import Feedback, SubFeedback
from .learned_fill import learned_gapfill, load_multidate_card
from .multidate_input import CHANNELS
from ..model.card import ModelCard
from ..model.runtime import OnnxSession
from .strip_fill import fill_in_strips
from .styles import source_style, true_colour_style, write_style
from .timeseries import TimeSeries, attach_masks, check_inputs, check_series_outputs, open_series

SOURCE_DESCRIPTION = ("CloudFree gap-fill source: 0 original, 1 filled from other dates, 2 single-image fill, "
                      "255 no data")
DATES_DESCRIPTION = "dates that filled the pixel (0: clear, or none could), 255 no data"
MAX_GAIN = 3.0
GAPFILL_METHODS = ("gain_offset", "learned")


@dataclass(frozen=True)
class GapfillResult:
    output: Path
    source_output: Path
    target: int
    target_date: str
    dates: List[str]
    bands: List[str]
    counts: Dict[str, int]
    seconds: float

    @property
    def filled_percent(self) -> float:
        """Share of the target's valid pixels that were not clear, in percent."""
        valid = sum(n for k, n in self.counts.items() if k != SOURCE_NAMES[NO_DATA])
        return 100.0 * (valid - self.counts[SOURCE_NAMES[ORIGINAL]]) / valid if valid else 0.0


class SceneStats:
    """Sums over the whole scene for the fits that a strip alone cannot make (core.reconstruction.gapfill.SceneFits).

    Per other date and band: the linear fit of that date onto the target over
    the pixels clear on both; per band: the mean of the target's clear pixels.
    """

    def __init__(self, dates: int, bands: int) -> None:
        self.n = np.zeros(dates)
        self.s, self.t, self.ss, self.st = (np.zeros((dates, bands)) for _ in range(4))
        self.target_n, self.target_sum = 0, np.zeros(bands)

    def add(self, data: np.ndarray, clear: np.ndarray, target: int) -> None:
        ok = clear[target]
        self.target_n += int(ok.sum())
        self.target_sum += data[target][:, ok].sum(axis=1, dtype=np.float64)
        for i in range(len(data)):
            common = clear[i] & ok
            if i == target or not common.any():
                continue
            s = data[i][:, common].astype(np.float64)
            t = data[target][:, common].astype(np.float64)
            self.n[i] += common.sum()
            self.s[i] += s.sum(1)
            self.t[i] += t.sum(1)
            self.ss[i] += (s * s).sum(1)
            self.st[i] += (s * t).sum(1)

    def fits(self) -> SceneFits:
        """The fits as core.reconstruction.gapfill computes them over a whole array (regularised, clipped gain)."""
        n = np.maximum(self.n, 1)[:, None]
        ms, mt = self.s / n, self.t / n
        gain = np.clip((self.st / n - ms * mt) / (self.ss / n - ms * ms + 1e-4), 0.0, MAX_GAIN)
        return SceneFits(self.n >= 2, gain, ms, mt, self.target_sum / max(self.target_n, 1))


@dataclass(frozen=True)
class LearnedFill:
    """The learned multi-date fill's model and session, opened once per run (core.reconstruction.learned_fill)."""

    card: ModelCard
    session: OnnxSession

    @property
    def halo(self) -> int:
        """Rows of context the network needs beyond gapfill's own halo."""
        return self.card.patch_size // 2


def fill_strip(data: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int, radius: int,
               scene: Optional[SceneFits], learned: Optional[LearnedFill] = None,
               feedback: Optional[Feedback] = None) -> tuple:
    """Filled reflectance (bands, h, w) and source codes of one strip (halo rows included).

    gapfill runs band by band: its bands are independent, and one at a time
    keeps its float64 temporaries to one band.  The learned fill sees all
    bands of the strip at once (its features: core.reconstruction.multidate_input).
    """
    if learned is not None:
        learned_out, learned_source = learned_gapfill(data, clear, days, target, learned.card, learned.session,
                                                      radius, scene, feedback)
        return learned_out.astype(np.float32), learned_source
    filled = np.empty(data.shape[1:], np.float32)
    source = None
    for b in range(data.shape[1]):
        out, source = gapfill(data[:, b:b + 1], clear, days, target, radius,
                              None if scene is None else scene.band(b))
        filled[b] = out[0]
    return filled, source


def gapfill_rasters(inputs: Sequence[Union[str, Path]], output: Union[str, Path], target: Union[int, str, date],
                    masks: Optional[Sequence[Optional[Union[str, Path]]]] = None,
                    dates: Optional[Sequence[Optional[str]]] = None,
                    source_output: Optional[Union[str, Path]] = None,
                    band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                    resolution_m: Optional[int] = None, buffer_px: int = 0, model: Optional[str] = None,
                    radius: int = 7, max_memory_mb: float = 1024.0, method: str = "gain_offset",
                    multidate_model: Optional[str] = None, feedback: Optional[Feedback] = None) -> GapfillResult:
    """Fill the clouds and shadows of the `target` date from the other dates; write it and its source raster.

    `target`: 0-based index into `inputs`, or the target's date (YYYY-MM-DD).
    `masks`: one CloudFree class raster per input (None entries, or None for
    all: computed with the bundled U-Net, `model` overriding it).
    `dates`: ISO dates, one per input; required for plain rasters (.SAFE
    products carry theirs; an empty entry takes the product's).
    `source_output`: default `<output stem>_source.tif` beside `output`.
    Plain rasters are read at their native grid unless `resolution_m` is
    given; products at `resolution_m` (default 20 m).  `buffer_px` grows
    clouds and shadows of every mask.  `method`: "gain_offset" (the local
    gain/offset fit, time-weighted) or "learned" (that fill corrected by the
    multi-date network `multidate_model`, an .onnx from
    models/train_multidate.py; none is bundled).
    Writes nothing unless all succeeds.
    """
    feedback = feedback or Feedback()
    started = time.perf_counter()
    output, source_output = check_series_outputs(output, source_output, list(inputs) + list(masks or []), "reconstruction")
    if radius < 1:
        raise InputError("The fitting radius must be at least 1 pixel.")
    if method not in GAPFILL_METHODS:
        raise InputError(f"Unknown gap-fill method {method!r}; choose one of {', '.join(GAPFILL_METHODS)}.")
    learned = None
    if method == "learned":
        card = load_multidate_card(multidate_model)
        learned = LearnedFill(card, OnnxSession(card.onnx_path))
    check_inputs(inputs)
    t = resolve_target(target, input_dates(inputs, dates))
    with open_series(inputs, t, dates, band_preset, band_mapping, resolution_m) as series, \
            tempfile.TemporaryDirectory(prefix="cloudfree-gapfill-") as tmp:
        attach_masks(series, masks, Path(tmp), buffer_px, model, band_preset, band_mapping, feedback, (0.0, 40.0))
        codec = DnCodec.of(series.sources[t])
        feedback.info(f"Gap-filling {series.paths[t].name} ({series.dates[t]}) from {len(inputs) - 1} other "
                      f"date(s); bands {' '.join(series.bands)}; grid {series.grid.width} x {series.grid.height} px; "
                      + (f"gain/offset fill corrected by {learned.card.name}." if learned else "gain/offset fill."))
        halo = radius + 1 + (learned.halo if learned else 0)
        bpp = len(inputs) * len(series.bands) * 4 + 3 * len(inputs) + 8 * len(series.bands) + 400
        if learned:   # every donor's corrected bands (float64) and the network's features (float32)
            bpp += len(inputs) * len(series.bands) * 8 + len(series.bands) * len(CHANNELS) * 8
        rows = series.strip_rows(bpp, max_memory_mb, halo)
        strips = list(series.grid.strips_with_halo(rows, halo))
        scene = _scene_stats(series, t, strips, feedback).fits() if len(strips) > 1 else None
        counts = np.zeros(256, np.int64)
        style_rgb = write_style(true_colour_style(series.bands, codec), Path(tmp) / "true_colour.qml")
        style_src = write_style(source_style(), Path(tmp) / "source.qml")
        with OutputSet() as outs:
            writer = outs.writer(output, series.grid, len(series.bands), codec.dtype, codec.nodata, series.bands)
            src_writer = outs.writer(source_output, series.grid, 2, "uint8", NO_DATA,
                                     [SOURCE_DESCRIPTION, DATES_DESCRIPTION])
            for k, (read_win, out_win, off) in enumerate(strips):
                feedback.check()
                data, valid, clear = series.read(read_win)
                if scene is None and not clear[t].any():
                    _no_clear_target(series, t)
                filled, source = fill_strip(data, clear, series.days, t, radius, scene, learned, feedback)
                rows_ = slice(off, off + int(out_win.height))
                raw = series.sources[t].read_raw(out_win)
                keep = clear[t][rows_] | ~valid[t][rows_]
                dn = codec.encode(filled[:, rows_])
                dn[:, keep] = raw[:, keep]
                source = source[rows_]
                source[~valid[t][rows_]] = NO_DATA
                evidence = contributing_dates(clear, t, scene)[rows_]
                evidence[~valid[t][rows_]] = NO_DATA
                writer.write(dn, out_win)
                src_writer.write(np.stack([source, evidence]), out_win)
                counts += np.bincount(source.ravel(), minlength=256)
                feedback.set_progress(45.0 + 50.0 * (k + 1) / len(strips))
            writer.close()
            src_writer.close()
            if style_rgb is None:
                feedback.info("No true-colour style: the output lacks one of B04, B03, B02.")
            filled_path = writer.path
            if counts[FALLBACK]:
                filled_path = _fallback_with_network(outs, output, writer.path, src_writer.path, series, codec,
                                                     int(counts[FALLBACK]), max_memory_mb, feedback)
            outs.publish(filled_path, output, "AVERAGE", style_rgb)
            outs.publish(src_writer.path, source_output, "NEAREST", style_src)
            feedback.check()
            outs.commit()
    feedback.set_progress(100.0)
    names = {code: SOURCE_NAMES[code] for code in (ORIGINAL, FROM_OTHER_DATES, FALLBACK, NO_DATA)}
    return GapfillResult(output, source_output, t, series.dates[t].isoformat(),
                         [d.isoformat() for d in series.dates], list(series.bands),
                         {name: int(counts[code]) for code, name in names.items()}, time.perf_counter() - started)


def _fallback_with_network(outs: OutputSet, output: Path, filled: Path, source: Path, series: TimeSeries,
                           codec: DnCodec, count: int, max_memory_mb: float, feedback: Feedback) -> Path:
    """Refill the pixels no other date saw (mean-filled so far) with the inpainting U-Net.

    The network sees the gap-filled image around them, so a hole in the
    target that other dates filled is context, not a hole.  Without the
    network's bands the mean fill stays, and the log says so.
    """
    from .inpainter import load_inpaint_card, open_inpaint_session  # deferred: ONNX Runtime
    card = load_inpaint_card()
    missing = [b for b in card.bands if b not in series.bands]
    if missing:
        feedback.info(f"{count} pixel(s) are clear on no date; they keep the target's mean (code 2), since the "
                      f"single-image U-Net needs {', '.join(missing)}, which these inputs lack.")
        return filled
    feedback.info(f"{count} pixel(s) are clear on no date; filling them from the image with {card.name}.")
    refilled = outs.writer(output, series.grid, len(series.bands), codec.dtype, codec.nodata, series.bands)
    with rasterio.open(filled) as image, rasterio.open(source) as codes:
        fill_in_strips(lambda w: image.read(window=w), lambda w: codes.read(1, window=w) == FALLBACK,
                       lambda dn, hole, valid, w: refilled.write(dn, w), series.grid, codec, series.bands, card,
                       open_inpaint_session(card), max_memory_mb, SubFeedback(feedback, 95.0, 99.0))
    refilled.close()
    return refilled.path


def _no_clear_target(series: TimeSeries, t: int) -> None:
    raise InputError(f"The target {series.paths[t].name} ({series.dates[t]}) has no clear pixel: its mask marks every "
                     "valid pixel as cloud or shadow, so there is nothing to fit the other dates onto; choose "
                     "another target date.")


def _scene_stats(series: TimeSeries, t: int, strips, feedback: Feedback) -> SceneStats:
    """First pass: the scene-wide sums, strip by strip without halo."""
    stats = SceneStats(len(series.paths), len(series.bands))
    for k, (_, out_win, _) in enumerate(strips):
        feedback.check()
        data, _, clear = series.read(out_win)
        stats.add(data, clear, t)
        feedback.set_progress(40.0 + 5.0 * (k + 1) / len(strips))
    if stats.target_n == 0:
        _no_clear_target(series, t)
    return stats
