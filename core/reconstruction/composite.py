"""Best-pixel composite of a raster time series: one clear observation per pixel.

Per pixel, the clear observation nearest in time to the middle of the period
(or to a chosen date) is taken, ties going to the earlier date.  A real
observation, not a median: its bands belong together (a median mixes bands
of different dates and dulls the spectra), it copies the DN unchanged, and
the source raster can say exactly which date each pixel is from.

Output: the first input's bands, grid, data type and DN scale; a pixel of a
date whose DN scale differs (a product with another radiometric offset) is
converted through reflectance.  The source raster (uint8) holds the 0-based
index of the input each pixel comes from, 255 where no date is clear; those
pixels are no data in the composite.  Memory: full-width strips, about
dates x bands x (4 + DN bytes) bytes per pixel, within `max_memory_mb`.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..io.dates import parse_date
from ..io.dn import DnCodec
from ..errors import InputError
from ..model.card import NODATA_CLASS
from ..io.outputs import OutputSet
from ..progress import Feedback
from .styles import date_index_style, true_colour_style, write_style
from .timeseries import attach_masks, check_series_outputs, open_series

SOURCE_DESCRIPTION = "CloudFree composite source: 0-based index of the input each pixel comes from, 255 none clear"
MAX_DATES = 255


@dataclass(frozen=True)
class CompositeResult:
    output: Path
    source_output: Path
    dates: List[str]
    centre: str
    #: date (ISO) -> pixels taken from it; "none clear" -> pixels left as no data
    counts: Dict[str, int]
    seconds: float

    @property
    def empty_percent(self) -> float:
        total = sum(self.counts.values())
        return 100.0 * self.counts.get("none clear", 0) / total if total else 0.0


def preference_order(days: Sequence[float], centre: float) -> List[int]:
    """Input indices, the one nearest to `centre` first; ties to the earlier date."""
    return sorted(range(len(days)), key=lambda i: (abs(days[i] - centre), days[i]))


def composite_rasters(inputs: Sequence[Union[str, Path]], masks: Optional[Sequence[Optional[Union[str, Path]]]],
                      output: Union[str, Path], source_output: Optional[Union[str, Path]] = None,
                      dates: Optional[Sequence[Optional[str]]] = None, centre: Optional[str] = None,
                      band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                      resolution_m: Optional[int] = None, buffer_px: int = 0, model: Optional[str] = None,
                      max_memory_mb: float = 1024.0, feedback: Optional[Feedback] = None) -> CompositeResult:
    """Write the best-pixel composite of `inputs` and its source raster (date index per pixel).

    `masks`: one CloudFree class raster per input, None entries (or None)
    computed with the bundled U-Net. `dates`: ISO dates, required for plain
    rasters. `centre`: the date to prefer (default: the middle of the period).
    `source_output`: default `<output stem>_source.tif`.
    """
    feedback = feedback or Feedback()
    started = time.perf_counter()
    output, source_output = check_series_outputs(output, source_output, list(inputs) + list(masks or []), "composite")
    if len(inputs) > MAX_DATES - 1:
        raise InputError(f"A composite takes at most {MAX_DATES - 1} dates; got {len(inputs)}.")
    with open_series(inputs, 0, dates, band_preset, band_mapping, resolution_m) as series, \
            tempfile.TemporaryDirectory(prefix="cloudfree-composite-") as tmp:
        attach_masks(series, masks, Path(tmp), buffer_px, model, band_preset, band_mapping, feedback, (0.0, 40.0))
        days = series.days
        mid = (min(days) + max(days)) / 2 if centre is None else float((parse_date(centre, "centre date")
                                                                         - series.dates[0]).days)
        order = preference_order(days, mid)
        codecs = [DnCodec.of(s) for s in series.sources]
        ref = codecs[0]
        empty_value = ref.nodata if ref.nodata is not None else 0
        feedback.info("Preference: " + ", ".join(series.dates[i].isoformat() for i in order))
        itemsize = np.dtype(ref.dtype).itemsize
        rows = series.strip_rows(len(inputs) * len(series.bands) * (4 + itemsize) + 3 * len(inputs) + 100,
                                 max_memory_mb, 0)
        counts = np.zeros(256, np.int64)
        style_rgb = write_style(true_colour_style(series.bands, ref), Path(tmp) / "true_colour.qml")
        style_src = write_style(date_index_style(series.dates), Path(tmp) / "dates.qml")
        strips = list(series.grid.strips(rows))
        with OutputSet() as outs:
            writer = outs.writer(output, series.grid, len(series.bands), ref.dtype, ref.nodata, series.bands)
            src_writer = outs.writer(source_output, series.grid, 1, "uint8", NODATA_CLASS, [SOURCE_DESCRIPTION])
            for k, window in enumerate(strips):
                feedback.check()
                data, _, clear = series.read(window)
                choice = np.full(clear.shape[1:], NODATA_CLASS, np.uint8)
                for i in order:
                    choice[clear[i] & (choice == NODATA_CLASS)] = i
                out = np.full((len(series.bands),) + choice.shape, empty_value, ref.dtype)
                for i in order:
                    take = choice == i
                    if not take.any():
                        continue
                    if codecs[i] == ref:
                        out[:, take] = series.sources[i].read_raw(window)[:, take]
                    else:
                        out[:, take] = ref.encode(data[i][:, take][:, :, None])[:, :, 0]
                writer.write(out, window)
                src_writer.write(choice, window)
                counts += np.bincount(choice.ravel(), minlength=256)
                feedback.set_progress(40.0 + 55.0 * (k + 1) / len(strips))
            writer.close()
            src_writer.close()
            if counts[:len(inputs)].sum() == 0:
                raise InputError("No pixel is clear on any date; there is nothing to composite.")
            outs.publish(writer.path, output, "AVERAGE", style_rgb)
            outs.publish(src_writer.path, source_output, "NEAREST", style_src)
            feedback.check()
            outs.commit()
    feedback.set_progress(100.0)
    by_date = {d.isoformat(): int(counts[i]) for i, d in enumerate(series.dates)}
    by_date["none clear"] = int(counts[NODATA_CLASS])
    centre_date = series.dates[0].fromordinal(series.dates[0].toordinal() + int(round(mid)))
    return CompositeResult(output, source_output, [d.isoformat() for d in series.dates], centre_date.isoformat(),
                           by_date, time.perf_counter() - started)
