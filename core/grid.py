"""The processing grid: CRS, transform and size at the processing resolution."""
from __future__ import annotations

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
            top = max(0, int(strip.row_off) - halo)
            bottom = min(self.height, int(strip.row_off + strip.height) + halo)
            yield Window(0, top, self.width, bottom - top), strip, int(strip.row_off) - top


def scaled_window(window: Window, factor: float, width: int, height: int) -> Tuple[Window, Tuple[int, int]]:
    """Map a window of the processing grid onto a source grid `factor` times finer.

    Returns the source window (clipped to the source) and the output shape, so
    that a read with out_shape lands exactly on the processing window.
    """
    col, row = window.col_off * factor, window.row_off * factor
    w, h = window.width * factor, window.height * factor
    src = Window(col, row, min(w, width - col), min(h, height - row))
    return src, (int(window.height), int(window.width))
