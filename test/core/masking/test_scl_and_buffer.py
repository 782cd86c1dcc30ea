"""SCL to CloudFree classes on real Sen2Cor SCL, and buffering that is exact by windows."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.masking import class_raster
from cloudfree.core.errors import InputError
from cloudfree.core.masking.morphology import buffer_classes
from cloudfree.core.masking.scl import SCL_TO_CLASS, scl_mask
from conftest import SAMPLE


def test_scl_mapping_follows_cloudsen12():
    assert [int(SCL_TO_CLASS[v]) for v in range(12)] == [255, 255, 0, 3, 0, 0, 0, 0, 1, 1, 2, 0]


def test_scl_mask_of_a_real_scl_raster(data_dir, tmp_path):
    scl_path = data_dir / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"
    result = scl_mask(scl_path, tmp_path / "m.tif", resolution_m=20)
    with rasterio.open(scl_path) as s, rasterio.open(tmp_path / "m.tif") as m:
        scl, classes = s.read(1), m.read(1)
        assert m.crs == s.crs and m.transform.almost_equals(s.transform)  # geographic: native grid
    np.testing.assert_array_equal(classes, SCL_TO_CLASS[scl])
    valid = scl > 1
    assert result.cloud_percent == pytest.approx(100 * np.isin(scl[valid], (8, 9, 10)).mean())
    assert result.shadow_percent == pytest.approx(100 * (scl[valid] == 3).mean())


def test_scl_from_an_l2a_safe_at_10_m(safe_l2a_offset, tmp_path):
    scl_mask(safe_l2a_offset, tmp_path / "m.tif", resolution_m=10)
    with rasterio.open(tmp_path / "m.tif") as m:
        assert (m.width, m.height, m.transform.a) == (1536, 768, 10.0) and m.crs.to_epsg() == 32633
        assert set(np.unique(m.read(1))) <= {0, 1, 2, 3, 255}


def test_scl_from_an_l1c_safe_is_refused(safe_l1c, tmp_path):
    with pytest.raises(InputError, match="L2A products only"):
        scl_mask(safe_l1c, tmp_path / "m.tif")
    assert list(tmp_path.iterdir()) == []


def test_a_reflectance_band_is_not_taken_for_scl(tmp_path):
    with pytest.raises(InputError, match="SCL values run from 0 to 11"):
        scl_mask(SAMPLE, tmp_path / "m.tif", resolution_m=None)
    assert list(tmp_path.iterdir()) == []


def test_buffer_grows_an_octagon_into_clear_only():
    classes = np.zeros((21, 21), np.uint8)
    classes[10, 10] = 1
    classes[10, 14] = 255
    out = buffer_classes(classes, 4)
    assert out[10, 6] == 1 and out[6, 10] == 1 and out[10, 5] == 0  # radius 4 along axes
    assert out[10, 14] == 255                                       # no data stays no data
    assert out[7, 7] == 1 and out[6, 6] == 0                        # octagon, not square


def test_buffer_priority_thick_then_thin_then_shadow():
    classes = np.zeros((5, 9), np.uint8)
    classes[2, 2], classes[2, 6] = 1, 3
    out = buffer_classes(classes, 2)
    assert out[2, 4] == 1  # equidistant pixel goes to thick cloud


def test_windowed_buffer_equals_whole_image_buffer(data_dir, tmp_path, monkeypatch):
    scl_path = data_dir / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"
    monkeypatch.setattr(class_raster, "STRIP_ROWS", 50)  # many strips, each needing halo rows
    scl_mask(scl_path, tmp_path / "m.tif", resolution_m=None, buffer_px=5)
    with rasterio.open(scl_path) as s, rasterio.open(tmp_path / "m.tif") as m:
        expected = buffer_classes(SCL_TO_CLASS[s.read(1)], 5)
        np.testing.assert_array_equal(m.read(1), expected)
