"""Sentinel-2 band names, native resolutions and the band mappings users pick.

A band mapping says which band of an input raster holds which Sentinel-2
band.  Presets cover the common exports; an explicit mapping covers the rest.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Sequence

from ..errors import BandMappingError

#: Every MSI band with its native pixel size in metres.
NATIVE_RESOLUTION_M: Dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}
ALL_BANDS: List[str] = list(NATIVE_RESOLUTION_M)
#: The cloud mask's default processing resolution.  The bundled models train at 20 m, yet run at 10 m
#: they score higher on every human-labelled 10 m set (bench/resolution_choice.py: cloudfree_s2 on the
#: ukis-csmask S2 patch, shadow BA 0.863 at 20 m against 0.927 at 10 m), for 4x the inference time.
DEFAULT_MASK_RESOLUTION_M = 10
L2A_BANDS: List[str] = [b for b in ALL_BANDS if b != "B10"]

#: Preset name -> band order of the input raster (band 1 first).
PRESETS: Dict[str, List[str]] = {
    "s2_l1c": ALL_BANDS,
    "s2_l2a": L2A_BANDS,
    "bgrn": ["B02", "B03", "B04", "B08"],
    "rgb": ["B04", "B03", "B02"],
    "rgbn": ["B04", "B03", "B02", "B08"],
}
PRESET_LABELS: Dict[str, str] = {
    "s2_l1c": "Sentinel-2 L1C, 13 bands (B01 ... B12 with B8A and B10)",
    "s2_l2a": "Sentinel-2 L2A, 12 bands (B01 ... B12 with B8A, no B10)",
    "bgrn": "4 bands: blue, green, red, NIR (B02 B03 B04 B08)",
    "rgb": "3 bands: red, green, blue (B04 B03 B02), as in true-colour exports",
    "rgbn": "4 bands: red, green, blue, NIR (B04 B03 B02 B08)",
}

_ALIASES = {"B1": "B01", "B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B6": "B06",
            "B7": "B07", "B8": "B08", "B9": "B09"}


def canonical_band(name: str) -> str:
    """Accept 'B2', 'b02', 'B8a' and return the canonical 'B02' / 'B8A' form."""
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    if key not in NATIVE_RESOLUTION_M:
        raise BandMappingError(
            f"'{name}' is not a Sentinel-2 band; use one of {', '.join(ALL_BANDS)}.")
    return key


def parse_mapping(text: str) -> Dict[str, int]:
    """Parse 'B02=1, B03=2, B04=3, B08=4' into {'B02': 1, ...} (1-based raster bands)."""
    mapping: Dict[str, int] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text or ""))):
        m = re.fullmatch(r"([A-Za-z0-9]+)\s*[=:]\s*(\d+)", part)
        if not m:
            raise BandMappingError(
                f"Cannot read '{part}' in the band mapping; write it as BAND=INDEX, "
                "for example 'B02=1, B03=2, B04=3, B08=4' (raster bands count from 1).")
        band, index = canonical_band(m.group(1)), int(m.group(2))
        if index < 1:
            raise BandMappingError(f"Raster band numbers start at 1; '{part}' uses {index}.")
        if band in mapping:
            raise BandMappingError(f"{band} appears twice in the band mapping.")
        mapping[band] = index
    if not mapping:
        raise BandMappingError("The band mapping is empty; give at least the bands the model needs.")
    return mapping


def preset_mapping(preset: str) -> Dict[str, int]:
    """The band mapping of a preset: band i of the raster holds PRESETS[preset][i-1]."""
    if preset not in PRESETS:
        raise BandMappingError(f"Unknown band preset '{preset}'; use one of {', '.join(PRESETS)}.")
    return {band: i + 1 for i, band in enumerate(PRESETS[preset])}


def check_mapping(mapping: Mapping[str, int], band_count: int, required: Sequence[str]) -> List[int]:
    """Return the 1-based raster band index of each required band, or say what is missing."""
    missing = [b for b in required if b not in mapping]
    if missing:
        raise BandMappingError(
            f"The model needs bands {', '.join(required)} but the band mapping has no "
            f"{', '.join(missing)}; choose a preset or mapping that includes them, or a model "
            "trained on the bands you have.")
    too_high = {b: mapping[b] for b in required if mapping[b] > band_count}
    if too_high:
        listed = ", ".join(f"{b}={i}" for b, i in too_high.items())
        raise BandMappingError(
            f"The raster has {band_count} band(s) but the mapping asks for {listed}; "
            "check the band preset or mapping against the raster's bands.")
    return [mapping[b] for b in required]
