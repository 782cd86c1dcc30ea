"""DN to reflectance and back, worked out by hand: plain rasters (scale, offset, no data, band order,
resampling to the processing grid) and the codec reconstructions write with."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from cloudfree.core.io.dn import DnCodec
from cloudfree.core.io.sources import RasterLayerSource

BANDS = ["B02", "B03", "B04"]


def _raster(path, bands, dtype="uint16", nodata=None, pixel=10.0):
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs="EPSG:32633", transform=from_origin(500000, 6000000, pixel, pixel),
                       nodata=nodata) as ds:
        ds.write(bands.astype(dtype))
    return str(path)


def _read(source):
    try:
        return source.read(Window(0, 0, source.grid.width, source.grid.height))
    finally:
        source.close()


def test_dn_over_10000_in_the_mapped_band_order(tmp_path):
    dn = np.zeros((3, 2, 2))
    dn[0] = [[400, 0], [1234, 65535]]      # raster band 1 holds B04 (a true-colour order)
    dn[1] = [[300, 0], [1, 2]]             # band 2: B03
    dn[2] = [[200, 0], [10000, 3]]         # band 3: B02
    path = _raster(tmp_path / "rgb.tif", dn)
    refl, valid = _read(RasterLayerSource(path, {"B04": 1, "B03": 2, "B02": 3}, BANDS))
    np.testing.assert_allclose(refl[:, 0, 0], [0.02, 0.03, 0.04], rtol=1e-6)       # B02, B03, B04
    np.testing.assert_allclose(refl[:, 1, 0], [1.0, 0.0001, 0.1234], rtol=1e-6)
    assert refl[2, 1, 1] == pytest.approx(6.5535)
    assert valid.tolist() == [[True, False], [True, True]]     # no no-data value: all bands 0 is no data
    assert refl[:, 0, 1].tolist() == [0.0, 0.0, 0.0]


def test_an_offset_and_a_scale_given_by_the_user(tmp_path):
    dn = np.array([[[1000, 3000]], [[2234, 1]], [[11000, 999]]])
    path = _raster(tmp_path / "x.tif", dn)
    refl, valid = _read(RasterLayerSource(path, {"B02": 1, "B03": 2, "B04": 3}, BANDS, dn_scale=20000, dn_offset=-1000))
    # (DN - 1000) / 20000
    np.testing.assert_allclose(refl[:, 0, 0], [0.0, 0.0617, 0.5], rtol=1e-6)
    np.testing.assert_allclose(refl[:, 0, 1], [0.1, -0.04995, -0.00005], rtol=1e-5)
    assert valid.all()


def test_a_no_data_value_in_any_band_marks_the_pixel_and_floats_are_reflectance(tmp_path):
    dn = np.array([[[0.25, -9999.0, 0.5]], [[0.125, 0.2, np.nan]], [[0.0, 0.3, 0.1]]])
    path = _raster(tmp_path / "f.tif", dn, dtype="float32", nodata=-9999.0)
    refl, valid = _read(RasterLayerSource(path, {"B02": 1, "B03": 2, "B04": 3}, BANDS))
    assert valid.tolist() == [[True, False, False]]            # -9999 in B02; NaN in B03
    np.testing.assert_allclose(refl[:, 0, 0], [0.25, 0.125, 0.0])   # scale 1 for float rasters
    assert refl[:, 0, 1].tolist() == [0.0, 0.0, 0.0] and refl[:, 0, 2].tolist() == [0.0, 0.0, 0.0]


def test_a_10_m_raster_read_at_20_m_averages_2x2_blocks(tmp_path):
    dn = np.zeros((3, 4, 6))
    dn[0] = [[1000, 2000, 100, 100, 0, 0],
             [3000, 4000, 100, 500, 0, 0],
             [1, 1, 2, 2, 3, 3],
             [1, 1, 2, 2, 3, 3]]
    dn[1:] = 5000
    path = _raster(tmp_path / "10m.tif", dn)
    source = RasterLayerSource(path, {"B02": 1, "B03": 2, "B04": 3}, BANDS, resolution_m=20)
    assert (source.grid.width, source.grid.height, source.grid.transform.a) == (3, 2, 20.0)
    refl, _ = _read(source)
    np.testing.assert_allclose(refl[0], [[0.25, 0.02, 0.0], [0.0001, 0.0002, 0.0003]], rtol=1e-6)
    np.testing.assert_allclose(refl[1], 0.5)


@pytest.mark.parametrize("offset,dn,reflectance", [(0.0, 1234, 0.1234), (-1000.0, 2234, 0.1234),
                                                   (-1000.0, 1000, 0.0), (-1000.0, 500, -0.05)])
def test_codec_decodes_and_encodes_by_the_formula(offset, dn, reflectance):
    codec = DnCodec("uint16", (offset,), (10000.0,), 0.0)
    assert codec.decode(np.array([[dn]], np.uint16))[0, 0] == pytest.approx(reflectance, abs=1e-7)
    assert codec.encode(np.array([[reflectance]]))[0, 0] == dn
    assert codec.dn_of(reflectance) == pytest.approx((float(dn),))


def test_codec_per_band_scales_clipping_and_validity():
    codec = DnCodec("uint16", (0.0, -1000.0), (10000.0, 2.0), 0.0)
    dn = np.array([[[100, 0, 7]], [[1004, 9, 0]]], np.uint16)
    np.testing.assert_allclose(codec.decode(dn)[:, 0, 0], [0.01, 2.0])         # 100 / 10000, (1004 - 1000) / 2
    assert codec.valid(dn).tolist() == [[True, False, False]]                   # a 0 in any band is no data
    out = codec.encode(np.array([[[-0.5, 7.0, 0.0]], [[-600.0, 1.0, 40000.0]]]))
    # band 1: -5000 -> 0 is no data -> 1; 70000 -> 65535; 0 -> 1.  band 2: 2 x -600 + 1000 = -200 -> 0 -> 1;
    # 1002; 81000 -> 65535
    assert out[:, 0].tolist() == [[1, 65535, 1], [1, 1002, 65535]]
    floats = DnCodec("float32", (0.0, 0.0), (1.0, 1.0), None)
    two_bands = np.array([[[0.1, np.nan, 0.2]], [[0.3, 0.4, np.inf]]], np.float32)   # NaN or inf in one band
    assert floats.valid(two_bands).tolist() == [[True, False, False]]
    signed = DnCodec("int16", (0.0,), (1.0,), 32767.0)
    assert signed.encode(np.array([[[40000.0, -3.4]]])).tolist() == [[[32766, -3]]]
