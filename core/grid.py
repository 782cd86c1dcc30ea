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


def scaled_window(window: Window, factor: float, width: int, height: int) -> Tuple[Window, Tuple[int, int]]:
    """Map a window of the processing grid onto a source grid `factor` times finer.

    Returns the source window (clipped to the source) and the output shape, so
    that a read with out_shape lands exactly on the processing window.
    """
    col, row = window.col_off * factor, window.row_off * factor
    w, h = window.width * factor, window.height * factor
    src = Window(col, row, min(w, width - col), min(h, height - row))
    return src, (int(window.height), int(window.width))
