"""QGIS styles (.qml) for reconstructions, composites and their source rasters.

Which raster band holds red, green and blue, and what DN reflectance 0.3
is, depend on the input, so the true-colour style is written for each
output rather than shipped as a fixed file.  The palettes of the source
rasters carry the meaning of each code (or the date of each index), so a
user reads them from the legend.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Sequence
from xml.sax.saxutils import quoteattr

from ..io.dn import DnCodec
from .gapfill import SOURCE_NAMES

#: Reflectance shown as black and as full brightness in the true-colour style.
TRUE_COLOUR_RANGE = (0.0, 0.3)
SOURCE_COLOURS = {0: ("#000000", 0), 1: ("#1f78b4", 255), 2: ("#e31a1c", 255)}

_HEAD = ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
         "<qgis version=\"3.22.0\" styleCategories=\"AllStyleCategories\">\n  <pipe>\n")
_TAIL = ("    <brightnesscontrast brightness=\"0\" contrast=\"0\" gamma=\"1\"/>\n"
         "    <huesaturation saturation=\"0\" grayscaleMode=\"0\" colorizeOn=\"0\" colorizeRed=\"255\" "
         "colorizeGreen=\"128\" colorizeBlue=\"128\" colorizeStrength=\"100\"/>\n"
         "    <rasterresampler maxOversampling=\"2\"/>\n  </pipe>\n  <blendMode>0</blendMode>\n</qgis>\n")


def _stretch(colour: str, low: float, high: float) -> str:
    return (f"      <{colour}ContrastEnhancement>\n        <minValue>{low:g}</minValue>\n"
            f"        <maxValue>{high:g}</maxValue>\n        <algorithm>StretchToMinimumMaximum</algorithm>\n"
            f"      </{colour}ContrastEnhancement>\n")


def true_colour_style(bands: Sequence[str], codec: DnCodec) -> Optional[str]:
    """B04/B03/B02 as red/green/blue, stretched over reflectance 0-0.3 in the output's DN; None without them."""
    if not {"B04", "B03", "B02"} <= set(bands):
        return None
    low, high = codec.dn_of(TRUE_COLOUR_RANGE[0]), codec.dn_of(TRUE_COLOUR_RANGE[1])
    index = {b: i for i, b in enumerate(bands)}
    r, g, b = index["B04"], index["B03"], index["B02"]
    body = (f"    <rasterrenderer type=\"multibandcolor\" redBand=\"{r + 1}\" greenBand=\"{g + 1}\" "
            f"blueBand=\"{b + 1}\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n"
            "      <rasterTransparency/>\n"
            "      <minMaxOrigin>\n        <limits>None</limits>\n        <extent>WholeRaster</extent>\n"
            "        <statAccuracy>Estimated</statAccuracy>\n        <cumulativeCutLower>0.02</cumulativeCutLower>\n"
            "        <cumulativeCutUpper>0.98</cumulativeCutUpper>\n        <stdDevFactor>2</stdDevFactor>\n"
            "      </minMaxOrigin>\n"
            + _stretch("red", low[r], high[r]) + _stretch("green", low[g], high[g])
            + _stretch("blue", low[b], high[b]) + "    </rasterrenderer>\n")
    return _HEAD + body + _TAIL


def paletted_style(entries: Dict[int, tuple]) -> str:
    """A paletted style: value -> (colour, alpha, label)."""
    rows = "".join(f"        <paletteEntry value=\"{v}\" color=\"{c}\" alpha=\"{a}\" label={quoteattr(label)}/>\n"
                   for v, (c, a, label) in sorted(entries.items()))
    body = ("    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n"
            "      <rasterTransparency/>\n      <colorPalette>\n" + rows + "      </colorPalette>\n"
            "    </rasterrenderer>\n")
    return _HEAD + body + _TAIL


def source_style() -> str:
    """Gap-fill source codes: original pixels transparent, filled ones coloured by how."""
    return paletted_style({code: (colour, alpha, SOURCE_NAMES[code].capitalize())
                           for code, (colour, alpha) in SOURCE_COLOURS.items()})


def _ramp(i: int, n: int) -> str:
    """Viridis-like colours from early (purple) to late (yellow) dates."""
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    t = i / max(n - 1, 1) * (len(stops) - 1)
    k = min(int(t), len(stops) - 2)
    f = t - k
    rgb = [round(a + f * (b - a)) for a, b in zip(stops[k], stops[k + 1])]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def date_index_style(dates: List[date]) -> str:
    """Composite source: one colour per input, labelled with its index and date."""
    return paletted_style({i: (_ramp(i, len(dates)), 255, f"{i}: {d.isoformat()}") for i, d in enumerate(dates)})


def write_style(text: Optional[str], path: Path) -> Optional[Path]:
    """Write a style to `path` (None stays None: no style)."""
    if text is None:
        return None
    path.write_text(text, encoding="utf-8")
    return path
