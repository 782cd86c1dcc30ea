"""The processing grid: CRS, transform and size at the processing resolution."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Tuple

from affine import Affine
from rasterio.windows import Window


@dataclass(frozen=True)
class Grid:
    crs: Any
    transform: Affine
    width: int
    height: int

    @property
    def pixel_size(self) -> float:
        return abs(self.transform.a)

    def strips(self, rows: int) -> Iterator[Window]:
        """Full-width windows of at most `rows` rows, top to bottom."""
        for y in range(0, self.height, rows):
            yield Window(0, y, self.width, min(rows, self.height - y))

    def strips_with_halo(self, rows: int, halo: int) -> Iterator[Tuple[Window, Window, int]]:
        """(window to read, with up to `halo` rows of context above and below; the strip itself; the offset
        of the strip's first row in the read window), for filters whose result needs neighbours."""
        for strip in self.strips(rows):
            read, inner = with_halo(strip, halo, self.height)
            yield read, strip, inner.start


def with_halo(window: Window, halo: int, height: int) -> Tuple[Window, slice]:
    """`window` grown by up to `halo` rows above and below (clipped to a raster `height` rows high), and the
    rows of `window` within it: the one way a filter that needs neighbours (a buffer, SSIM, inpainting
    context) reads a strip."""
    top, rows = int(window.row_off), int(window.height)
    lo, hi = max(0, top - halo), min(height, top + rows + halo)
    return Window(window.col_off, lo, window.width, hi - lo), slice(top - lo, top - lo + rows)


def pixel_metres_xy(crs, transform: Affine, width: int, height: int) -> Tuple[float, float]:
    """A grid's pixel width and height in metres: a geographic CRS's degrees converted at the grid's centre
    latitude (a spherical approximation, within a percent at the scale of a pixel)."""
    a, e = abs(transform.a), abs(transform.e)
    if crs is not None and getattr(crs, "is_geographic", False):
        _, lat = transform * (width / 2, height / 2)
        return a * 111_320.0 * max(0.01, math.cos(math.radians(lat))), e * 110_574.0
    try:
        unit = float(crs.linear_units_factor[1]) if crs is not None else 1.0
    except Exception:  # a CRS without a linear unit: take its units as metres
        unit = 1.0
    return a * unit, e * unit


def describe_pixel(grid: "Grid") -> str:
    """The pixel size with its real unit: metres, or degrees with their size in metres."""
    mx, my = pixel_metres_xy(grid.crs, grid.transform, grid.width, grid.height)
    if grid.crs is not None and getattr(grid.crs, "is_geographic", False):
        return (f"{abs(grid.transform.a):.3g} x {abs(grid.transform.e):.3g} degrees "
                f"(about {mx:.0f} x {my:.0f} m)")
    return f"{mx:g} m" if abs(mx - my) < 1e-9 else f"{mx:g} x {my:g} m"


def scaled_window(window: Window, factor: float, width: int, height: int) -> Tuple[Window, Tuple[int, int]]:
    """Map a window of the processing grid onto a source grid `factor` times finer.

    Returns the source window (clipped to the source) and the output shape, so
    that a read with out_shape lands exactly on the processing window.
    """
    col, row = window.col_off * factor, window.row_off * factor
    w, h = window.width * factor, window.height * factor
    src = Window(col, row, min(w, width - col), min(h, height - row))
    return src, (int(window.height), int(window.width))
