"""Which Sentinel-2 band each raster band holds, when the user gave neither a preset nor a mapping.

A band count alone is ambiguous below 12 bands: four bands are B/G/R/NIR
as often as R/G/B/NIR, and reading one as the other moves cloud cover by
several points without a word.  So Auto believes, in this order:

1. the raster's own band names (GDAL band descriptions such as "B02",
   "B2" or "Blue"; the colour interpretation red/green/blue of an RGB file);
2. for 12 and 13 bands, the count (the L2A and L1C band lists);
3. for 3 and 4 bands, the count only when the pixels agree: in top-of-
   atmosphere images the darkest pixels are brighter in blue than in red
   (scattering by the air), so the darkest 2 % of the band taken for blue
   must be at least BLUE_OVER_RED times those of the band taken for red.
   Surface reflectance (L2A) often shows no such difference: then Auto
   asks for a preset or a mapping and says what it saw, rather than guess.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, cast

import numpy as np

from .bands import PRESETS, canonical_band, preset_mapping
from ..errors import BandMappingError
from .input_checks import sample_windows

BLUE_OVER_RED = 1.3
_NAME_RE = re.compile(r"\bB\s?(\d{1,2}A?)\b", re.IGNORECASE)
_WORDS = [("nir", "B08"), ("near infrared", "B08"), ("near-infrared", "B08"), ("blue", "B02"), ("green", "B03"),
          ("red", "B04")]
_COLOUR = {"red": "B04", "green": "B03", "blue": "B02"}
_BY_COUNT = {3: "rgb", 4: "bgrn", 12: "s2_l2a", 13: "s2_l1c"}


def _band_of(description: str) -> Optional[str]:
    """The Sentinel-2 band a description names, or None."""
    text = description.strip().lower()
    if not text:
        return None
    m = _NAME_RE.search(description)
    if m:
        try:
            return canonical_band("B" + m.group(1))
        except BandMappingError:
            return None
    if "edge" in text or "swir" in text:
        return None
    for word, band in _WORDS:
        if re.search(rf"\b{word}\b", text):
            return band
    return None


def described_mapping(ds) -> Optional[Dict[str, int]]:
    """A mapping from the raster's band descriptions or colour interpretation, when they name every band."""
    names = [_band_of(d or "") for d in ds.descriptions]
    if all(names) and len(set(names)) == len(names):
        return {band: i + 1 for i, band in enumerate(cast(List[str], names))}  # all(names): no None left
    colours = [getattr(c, "name", str(c)).lower() for c in ds.colorinterp]
    if ds.count == 3 and colours == ["red", "green", "blue"]:
        return {_COLOUR[c]: i + 1 for i, c in enumerate(colours)}
    return None


def _darkest(datasets: Sequence, index: int, dn_offset: float) -> float:
    """The 2nd percentile of a band over samples of the images (no-data and zeros left out)."""
    values: List[np.ndarray] = []
    for ds in datasets:
        for window in sample_windows(ds.width, ds.height):
            data = ds.read(index, window=window).astype(np.float64)
            ok = np.isfinite(data) & (data != 0)
            if ds.nodata is not None and not np.isnan(ds.nodata):
                ok &= data != ds.nodata
            values.append(data[ok] + dn_offset)
    v = np.concatenate(values) if values else np.zeros(0)
    return float(np.percentile(v, 2)) if v.size else float("nan")


def guess_mapping(ds, path: str, dn_offset: float = 0.0, others: Sequence = ()) -> Dict[str, int]:
    """The mapping Auto uses for a plain raster, or an error that names what was seen and what to give.

    `others`: more rasters of the same layout (the other dates of a series),
    whose pixels join the check, so that a cloudy date is read like its clear
    neighbours.
    """
    named = described_mapping(ds)
    if named is not None:
        return named
    count, name = ds.count, Path(path).name
    preset = _BY_COUNT.get(count)
    if preset is None:
        raise BandMappingError(
            f"{name} has {count} bands, which matches no preset (13 = L1C, 12 = L2A, 4 = B/G/R/NIR, 3 = R/G/B), "
            "and no band names; give a band mapping such as 'B02=1, B03=2, B04=3, B08=4'.")
    if count >= 12:
        return preset_mapping(preset)
    order = PRESETS[preset]
    blue, red = order.index("B02") + 1, order.index("B04") + 1
    pooled = [ds] + [o for o in others if o.count == count]
    dark_blue, dark_red = _darkest(pooled, blue, dn_offset), _darkest(pooled, red, dn_offset)
    if dark_red > 0 and dark_blue >= BLUE_OVER_RED * dark_red:
        return preset_mapping(preset)
    seen = f"darkest 2 %: band {blue} {dark_blue:.4g}, band {red} {dark_red:.4g}"
    other = "the preset rgbn for R/G/B/NIR" if count == 4 else "'B02=1, B03=2, B04=3' for B/G/R"
    raise BandMappingError(
        f"{name} has {count} bands and no band names, and its pixels do not confirm the usual order "
        f"{'/'.join(order)} ({seen}; in top-of-atmosphere images blue's darkest pixels are the brighter). "
        f"Choose the band preset that matches the file or give a band mapping, for example "
        f"'{', '.join(f'{b}={i + 1}' for i, b in enumerate(order))}' or {other}.")
