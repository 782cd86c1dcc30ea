"""Values that cannot be reflectance are refused before a pixel is computed, with what to change."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import InputError
from cloudfree.core.io.input_checks import sample_windows
from conftest import SAMPLE


def variant(tmp_path, name, transform_values, dtype):
    with rasterio.open(SAMPLE) as src:
        profile, data = src.profile, src.read()
    profile.update(dtype=dtype, nodata=None)
    path = tmp_path / name
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(transform_values(data.astype(np.float64)).astype(dtype))
    return path


def test_an_8bit_display_image_is_refused_unless_its_scale_is_given(tmp_path):
    display = variant(tmp_path, "display.tif", lambda dn: np.clip(dn / 10000 * 2.5 * 255, 0, 255), "uint8")
    with pytest.raises(InputError, match="8-bit values.*dn-scale 255"):
        cloud_mask(display, tmp_path / "m.tif")
    assert not (tmp_path / "m.tif").exists()
    result = cloud_mask(display, tmp_path / "m.tif", dn_scale=255 * 2.5)  # the user says how it was scaled
    assert result.cloud_percent > 5


def test_dn_read_as_reflectance_is_refused_naming_the_scale(tmp_path):
    floats = variant(tmp_path, "dn_as_float.tif", lambda dn: dn, "float32")  # float rasters default to scale 1
    with pytest.raises(InputError, match="not scaled.*--dn-scale 10000"):
        cloud_mask(floats, tmp_path / "m.tif")


def test_a_wrong_offset_that_makes_reflectance_negative_is_refused(tmp_path):
    with pytest.raises(InputError, match="negative.*offset"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", dn_offset=-20000)


@pytest.mark.parametrize("scale", [0.0, -5.0, float("nan"), float("inf")])
def test_a_senseless_dn_scale_is_refused(tmp_path, scale):
    with pytest.raises(InputError, match="DN scale must be a positive number"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", dn_scale=scale)


def test_the_sample_covers_corners_and_centre_of_any_grid():
    windows = sample_windows(1000, 300, side=64)
    starts = {(w.col_off, w.row_off) for w in windows}
    assert starts == {(x, y) for x in (0, 468, 936) for y in (0, 118, 236)}
    tiny = sample_windows(20, 10, side=64)
    assert [(w.width, w.height) for w in tiny] == [(20, 10)]
