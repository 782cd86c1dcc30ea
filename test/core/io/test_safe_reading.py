"""Reading real JP2 bands from assembled .SAFE products, offsets applied."""
import numpy as np
import rasterio
from rasterio.windows import Window

from cloudfree.core.io.safe import open_safe
from cloudfree.core.io.sources import SafeSource

BANDS = ["B02", "B03", "B04", "B08", "B11"]


def _read_all(path, res, bands=BANDS):
    src = SafeSource(open_safe(path), bands, res)
    try:
        return src.read(Window(0, 0, src.grid.width, src.grid.height)), src.grid
    finally:
        src.close()


def test_offset_products_read_the_same_reflectance(safe_l1c, safe_l2a_offset, safe_l2a_old):
    (a, va), grid = _read_all(safe_l1c, 10)
    (b, vb), _ = _read_all(safe_l2a_offset, 10)
    (c, vc), _ = _read_all(safe_l2a_old, 10)
    assert (grid.width, grid.height, grid.pixel_size) == (1536, 768, 10)
    assert grid.crs.to_epsg() == 32633 and (grid.transform.c, grid.transform.f) == (330000.0, 5822040.0)
    assert va.all() and vb.all() and vc.all()
    # Same DN underneath: baseline 05.09 stores DN + 1000 and says BOA_ADD_OFFSET -1000.
    np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(c, a)
    assert 0.01 < float(np.median(a[0])) < 0.5  # plausible winter TOA blue reflectance


def test_offset_applies_to_the_20m_files_of_l2a(safe_l2a_offset, safe_l2a_old):
    """At 20 m, L2A reads its R20m files (B08 has none: it is left out here)."""
    bands = ["B02", "B03", "B04", "B11"]
    (b, _), grid = _read_all(safe_l2a_offset, 20, bands)
    (c, _), _ = _read_all(safe_l2a_old, 20, bands)
    assert (grid.width, grid.height) == (768, 384)
    np.testing.assert_array_equal(b, c)


def test_reflectance_matches_the_source_jp2(safe_l1c, data_dir):
    (refl, _), _ = _read_all(safe_l1c, 10)
    with rasterio.open(data_dir / "s2_l1c_t33uuu_jp2" / "T33UUU_20170216T102101_B04.jp2") as ds:
        expected = ds.read(1).astype(np.float32) / 1e4
    np.testing.assert_array_equal(refl[2], expected)


def test_windowed_reads_match_a_whole_read(safe_l1c):
    src = SafeSource(open_safe(safe_l1c), BANDS, 20)
    try:
        whole, _ = src.read(Window(0, 0, 768, 384))
        part, _ = src.read(Window(100, 50, 200, 120))
    finally:
        src.close()
    np.testing.assert_array_equal(part, whole[:, 50:170, 100:300])
