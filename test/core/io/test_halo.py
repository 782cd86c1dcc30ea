"""with_halo: the one way strips are read with neighbour rows (buffers, SSIM, inpainting context)."""
from rasterio.windows import Window

from cloudfree.core.io.grid import with_halo


def test_a_strip_inside_the_raster_gets_halo_rows_on_both_sides():
    read, inner = with_halo(Window(0, 100, 50, 20), 5, 1000)
    assert (read.row_off, read.height, read.col_off, read.width) == (95, 30, 0, 50)
    assert (inner.start, inner.stop) == (5, 25)


def test_the_halo_is_clipped_at_the_first_and_last_rows():
    read, inner = with_halo(Window(0, 2, 50, 20), 5, 1000)   # only 2 rows above exist
    assert (read.row_off, read.height) == (0, 27) and (inner.start, inner.stop) == (2, 22)
    read, inner = with_halo(Window(0, 990, 50, 10), 5, 1000)  # the strip ends at the last row
    assert (read.row_off, read.height) == (985, 15) and (inner.start, inner.stop) == (5, 15)


def test_no_halo_reads_the_strip_itself():
    read, inner = with_halo(Window(3, 40, 7, 9), 0, 100)
    assert (read.row_off, read.height, read.col_off, read.width) == (40, 9, 3, 7) and (inner.start, inner.stop) == (0, 9)
