"""Single-image reconstruction of a real raster with the bundled inpainting U-Net."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.errors import InputError, ModelCardError
from cloudfree.core.reconstruction.inpainter import load_inpaint_card
from cloudfree.core.reconstruction.reconstruct import FROM_NETWORK, KEPT, reconstruct
from single_image_fixture import build_l1c_raster, write_class_raster as write_mask


@pytest.fixture(scope="module")
def clear_raster(tmp_path_factory, data_dir):
    """A clear 13-band L1C raster (uint16 DN) from the real T33UUU bands, 192 x 192 px at 20 m."""
    return build_l1c_raster(tmp_path_factory.mktemp("clear") / "t33uuu_l1c.tif", size=192)


@pytest.fixture()
def cloud_mask_raster(tmp_path, clear_raster):
    classes = np.zeros((192, 192), np.uint8)
    classes[60:108, 80:128] = 1      # a 48 x 48 px "cloud"
    classes[130:140, 20:90] = 3      # a "shadow" strip
    return write_mask(tmp_path / "mask.tif", clear_raster, classes), classes > 0


def test_clear_pixels_are_kept_bit_for_bit_and_holes_are_filled_better_than_mean_fill(
        clear_raster, cloud_mask_raster, tmp_path):
    mask_path, hole = cloud_mask_raster
    result = reconstruct(clear_raster, mask_path, tmp_path / "rec.tif", tmp_path / "src.tif", relight=False)  # every class filled
    with rasterio.open(clear_raster) as a, rasterio.open(tmp_path / "rec.tif") as b, \
            rasterio.open(tmp_path / "src.tif") as s:
        truth, rec, src = a.read(), b.read(), s.read(1)
        assert (b.crs, b.transform, b.count, b.dtypes[0]) == (a.crs, a.transform, 13, "uint16")
    np.testing.assert_array_equal(rec[:, ~hole], truth[:, ~hole])
    np.testing.assert_array_equal(src, np.where(hole, FROM_NETWORK, KEPT))
    assert result.filled_pixels == int(hole.sum())
    t, r = truth[:, hole].astype(float) / 1e4, rec[:, hole].astype(float) / 1e4
    mean_fill = truth[:, ~hole].astype(float).mean(axis=1, keepdims=True) / 1e4
    network = [ALL_BANDS.index(b) for b in load_inpaint_card().bands]
    assert np.abs(r - t)[network].mean() < np.abs(mean_fill - t)[network].mean()
    assert (tmp_path / "rec.qml").is_file() and (tmp_path / "src.qml").is_file()


def test_a_buffer_grows_the_filled_area(clear_raster, cloud_mask_raster, tmp_path):
    mask_path, hole = cloud_mask_raster
    result = reconstruct(clear_raster, mask_path, tmp_path / "rec.tif", buffer_px=2, relight=False)
    assert result.filled_pixels > hole.sum() + 4 * 48


def test_bad_inputs_are_refused_and_leave_nothing(clear_raster, tmp_path):
    empty = write_mask(tmp_path / "clear_mask.tif", clear_raster, np.zeros((192, 192), np.uint8))
    with pytest.raises(InputError, match="nothing to reconstruct"):
        reconstruct(clear_raster, empty, tmp_path / "rec.tif")
    full = write_mask(tmp_path / "all.tif", clear_raster, np.ones((192, 192), np.uint8))
    with pytest.raises(InputError, match="Every pixel is masked"):
        reconstruct(clear_raster, full, tmp_path / "rec.tif")
    with pytest.raises(InputError, match="needs B02"):
        reconstruct(clear_raster, full, tmp_path / "rec.tif", band_mapping="B02=2, B03=3, B04=4")
    with pytest.raises(ModelCardError, match="not a reconstruction model"):
        reconstruct(clear_raster, full, tmp_path / "rec.tif", model="cloudfree_s2")
    assert not list(tmp_path.glob("rec*")) and not list(tmp_path.glob(".rec*"))


def test_the_source_output_says_how_far_each_filled_pixel_is_from_real_evidence(clear_raster, tmp_path):
    classes = np.zeros((192, 192), np.uint8)
    top, bottom, left, right = 50, 90, 30, 130  # a 40 x 100 px cloud; nothing else masked
    classes[top:bottom, left:right] = 1
    mask = write_mask(tmp_path / "block.tif", clear_raster, classes)
    reconstruct(clear_raster, mask, tmp_path / "rec.tif", source=tmp_path / "src.tif")
    with rasterio.open(tmp_path / "src.tif") as src:
        codes, distance = src.read(1), src.read(2)
        assert src.count == 2 and "distance" in src.descriptions[1]
    rows, cols = np.mgrid[0:192, 0:192]
    # inside an axis-aligned block the nearest seen pixel lies straight across the nearest edge
    expected = np.minimum.reduce([rows - top + 1, bottom - rows, cols - left + 1, right - cols])
    inside = classes == 1
    np.testing.assert_array_equal(codes[inside], 1)
    np.testing.assert_array_equal(distance[inside], expected[inside])
    assert (distance[~inside] == 0).all() and distance.max() == 20  # the block's middle rows, 20 px from an edge


def test_interpolation_fills_without_the_network(clear_raster, cloud_mask_raster, tmp_path, monkeypatch):
    from cloudfree.core.reconstruction import reconstruct as module
    from cloudfree.core.reconstruction.inpaint_input import interpolate_holes

    def no_network(*args, **kwargs):
        raise AssertionError("the interpolation method opened the network")

    monkeypatch.setattr(module, "open_inpaint_session", no_network)
    mask, hole = cloud_mask_raster
    result = reconstruct(clear_raster, mask, tmp_path / "interp.tif", method="interpolation", relight=False)
    assert result.model.startswith("interpolation") and result.filled_pixels == int(hole.sum())
    with rasterio.open(clear_raster) as src, rasterio.open(tmp_path / "interp.tif") as out:
        original, filled = src.read().astype(np.float64), out.read().astype(np.float64)
    expected = interpolate_holes(original[None] / 10000.0, hole[None])[0] * 10000.0  # the whole image is one strip
    np.testing.assert_allclose(filled[:, hole], np.rint(expected[:, hole]), atol=1)
    np.testing.assert_array_equal(filled[:, ~hole], original[:, ~hole])
    with pytest.raises(InputError, match="fill method"):
        reconstruct(clear_raster, mask, tmp_path / "bad.tif", method="median")
