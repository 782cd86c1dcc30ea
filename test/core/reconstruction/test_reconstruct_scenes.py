"""Single-image reconstruction beyond one in-memory block: strips, .SAFE products, coarser masks."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.inpainter import load_inpaint_card
from cloudfree.core.io.inputs import open_band_source
from cloudfree.core.reconstruction.reconstruct import FROM_NETWORK, KEPT, reconstruct
from cloudfree.core.io.safe import open_safe
from single_image_fixture import build_l1c_raster

SIZE = 256


def write_classes(path, classes, crs, transform):
    with rasterio.open(path, "w", driver="GTiff", width=classes.shape[1], height=classes.shape[0], count=1,
                       dtype="uint8", crs=crs, transform=transform, nodata=255) as dst:
        dst.write(classes, 1)
    return path


@pytest.fixture(scope="module")
def tall_raster(tmp_path_factory, data_dir):
    return build_l1c_raster(tmp_path_factory.mktemp("tall") / "l1c.tif", size=SIZE)


@pytest.fixture(scope="module")
def holes():
    hole = np.zeros((SIZE, SIZE), bool)
    hole[20:60, 30:90] = True       # in the first strip
    hole[110:150, 100:200] = True   # across a strip border
    hole[200:240, 10:50] = True     # in the last strip
    return hole


def mae_against_mean_fill(truth, rec, hole, bands):
    t = truth[:, hole].astype(float)
    err = np.abs(rec[:, hole].astype(float) - t)[bands].mean()
    mean_err = np.abs(truth[:, ~hole].astype(float).mean(axis=1, keepdims=True) - t)[bands].mean()
    return err, mean_err


def test_strips_fill_like_one_block_and_keep_clear_pixels(tall_raster, holes, tmp_path):
    with rasterio.open(tall_raster) as ds:
        truth, crs, transform = ds.read(), ds.crs, ds.transform
    mask = write_classes(tmp_path / "mask.tif", holes.astype(np.uint8), crs, transform)
    whole = reconstruct(tall_raster, mask, tmp_path / "whole.tif")
    strips = reconstruct(tall_raster, mask, tmp_path / "strips.tif", tmp_path / "src.tif", max_memory_mb=36)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "strips.tif") as b, \
            rasterio.open(tmp_path / "src.tif") as s:
        one, many, codes = a.read(), b.read(), s.read(1)
    assert whole.filled_pixels == strips.filled_pixels == int(holes.sum())
    np.testing.assert_array_equal(many[:, ~holes], truth[:, ~holes])
    np.testing.assert_array_equal(codes, np.where(holes, FROM_NETWORK, KEPT))
    network = [i for i, b in enumerate(ALL_BANDS) if b in load_inpaint_card().bands]
    err_strips, mean_err = mae_against_mean_fill(truth, many, holes, network)
    err_whole, _ = mae_against_mean_fill(truth, one, holes, network)
    assert err_strips < 0.9 * mean_err
    assert abs(err_strips - err_whole) < 0.1 * err_whole      # the halo gives strips the context of the whole
    assert np.abs(many.astype(float) - one).max() > 0         # ... but they really ran in several strips


def test_too_little_memory_for_a_strip_is_refused(tall_raster, holes, tmp_path):
    with rasterio.open(tall_raster) as ds:
        mask = write_classes(tmp_path / "m.tif", holes.astype(np.uint8), ds.crs, ds.transform)
    with pytest.raises(InputError, match="memory limit"):
        reconstruct(tall_raster, mask, tmp_path / "rec.tif", max_memory_mb=10)
    assert not list(tmp_path.glob("*rec*"))


def test_a_safe_product_is_reconstructed_in_its_dn_with_offset(safe_l2a_offset, tmp_path):
    """Real JP2 L2A (baseline 05.09, BOA_ADD_OFFSET -1000) with a 40 m mask: a coarser mask is placed by nearest."""
    product = open_safe(safe_l2a_offset)
    bands = [b for b in product.files if b != "SCL"]
    src = open_band_source(safe_l2a_offset, bands, 20)
    grid = src.grid
    truth = src.read_raw(Window(0, 0, grid.width, grid.height))
    src.close()
    coarse = np.zeros((grid.height // 2, grid.width // 2), np.uint8)
    coarse[40:70, 100:160] = 1
    coarse[:, :10] = 255                       # no data in the mask: not filled
    t = grid.transform
    mask = write_classes(tmp_path / "mask40.tif", coarse, grid.crs, Affine(40, 0, t.c, 0, -40, t.f))
    hole = np.kron(coarse == 1, np.ones((2, 2), bool))
    result = reconstruct(safe_l2a_offset, mask, tmp_path / "rec.tif", tmp_path / "src.tif")
    with rasterio.open(tmp_path / "rec.tif") as ds, rasterio.open(tmp_path / "src.tif") as s:
        rec, codes = ds.read(), s.read(1)
        assert ds.descriptions == tuple(bands) and ds.dtypes[0] == "uint16" and ds.transform == grid.transform
    assert len(bands) == 12 and result.filled_pixels == int(hole.sum())
    np.testing.assert_array_equal(rec[:, ~hole], truth[:, ~hole])
    np.testing.assert_array_equal(codes == FROM_NETWORK, hole)
    network = [i for i, b in enumerate(bands) if b in load_inpaint_card().bands]
    err, mean_err = mae_against_mean_fill(truth, rec, hole, network)
    assert err < 0.9 * mean_err                 # a 2.4 x 1.2 km hole: little to gain over a good mean
    assert rec[network][:, hole].min() > 1000   # DN keep the +1000 offset of baseline 04.00+


def test_a_plain_raster_refuses_a_resolution(tall_raster, holes, tmp_path):
    with rasterio.open(tall_raster) as ds:
        mask = write_classes(tmp_path / "m.tif", holes.astype(np.uint8), ds.crs, ds.transform)
    with pytest.raises(InputError, match="own grid"):
        reconstruct(tall_raster, mask, tmp_path / "rec.tif", resolution_m=10)
