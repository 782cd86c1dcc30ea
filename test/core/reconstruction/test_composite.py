"""Best-pixel composites of the real eo-learn series with its real s2cloudless masks."""
from datetime import date

import numpy as np
import pytest
import rasterio

from cloudfree.core.reconstruction.composite import composite_rasters, preference_order
from cloudfree.core.errors import InputError
from timeseries_fixture import build_series, write_raster


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir):
    s = build_series(tmp_path_factory.mktemp("series"))
    s["stack"] = np.stack([rasterio.open(p).read() for p in s["images"]])
    s["clear"] = np.stack([rasterio.open(m).read(1) == 0 for m in s["masks"]])
    return s


def test_each_pixel_is_the_clear_date_nearest_the_middle_copied_unchanged(series, tmp_path):
    result = composite_rasters(series["images"], series["masks"], tmp_path / "c.tif", dates=series["dates"])
    with rasterio.open(tmp_path / "c.tif") as ds, rasterio.open(series["images"][0]) as first:
        out = ds.read()
        assert (ds.dtypes[0], ds.count, ds.crs, ds.transform) == ("uint16", 4, first.crs, first.transform)
    index = rasterio.open(tmp_path / "c_source.tif").read(1)
    assert result.centre == "2015-08-10"                 # middle of 2015-07-11 ... 09-09
    clear, stack = series["clear"], series["stack"]
    rows, cols = np.indices(index.shape)
    assert clear[index, rows, cols].all()                # only clear observations are used
    np.testing.assert_array_equal(out, np.moveaxis(stack[index, :, rows, cols], -1, 0))
    # nothing clear is nearer in time to the centre than what was taken
    distance = np.abs(np.array([(date.fromisoformat(d) - date(2015, 8, 10)).days for d in series["dates"]]))
    nearest_clear = np.where(clear, distance[:, None, None], 999).min(axis=0)
    np.testing.assert_array_equal(distance[index], nearest_clear)
    # 07-31 (10 days) has only its 15 real clear pixels; 08-20 is all cloud; 08-30 (20 days) gives the rest
    assert result.counts == {"2015-07-11": int((clear[0] & ~clear[1] & ~clear[3]).sum()), "2015-07-31": 15,
                             "2015-08-20": 0, "2015-08-30": int((clear[3] & ~clear[1]).sum()), "2015-09-09": 0,
                             "none clear": 0}
    assert 'label="4: 2015-09-09"' in (tmp_path / "c_source.qml").read_text()


def test_a_centre_date_and_pixels_clear_on_no_date(series, tmp_path):
    masks = []
    for i, m in enumerate(series["masks"]):
        classes = rasterio.open(m).read(1)
        classes[:10, :10] = 2                             # thin cloud on every date there
        masks.append(write_raster(tmp_path / f"m{i}.tif", classes, nodata=255))
    result = composite_rasters(series["images"], masks, tmp_path / "c.tif", dates=series["dates"],
                               centre="2015-09-09")
    out = rasterio.open(tmp_path / "c.tif").read()
    index = rasterio.open(tmp_path / "c_source.tif").read(1)
    assert (index[:10, :10] == 255).all() and (out[:, :10, :10] == 0).all()
    rest = np.ones(index.shape, bool)
    rest[:10, :10] = False
    assert (index[rest] == 4).all()                       # 09-09 is clear everywhere else
    np.testing.assert_array_equal(out[:, rest], series["stack"][4][:, rest])
    assert result.counts["none clear"] == 100 and result.empty_percent == pytest.approx(100 * 100 / 10100)


def test_preference_ties_go_to_the_earlier_date_and_no_clear_pixel_is_refused(series, tmp_path):
    assert preference_order([0.0, 10.0, 20.0], 10.0) == [1, 0, 2]
    assert preference_order([0.0, 20.0], 10.0) == [0, 1]
    cloudy = [series["masks"][i] for i in (1, 2)]         # 07-31 and 08-20 are (almost) all cloud
    all_cloud = write_raster(tmp_path / "all.tif", np.ones((101, 100), np.uint8), nodata=255)
    with pytest.raises(InputError, match="No pixel is clear on any date"):
        composite_rasters([series["images"][2], series["images"][1]], [cloudy[1], all_cloud],
                          tmp_path / "c.tif", dates=["2015-08-20", "2015-07-31"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.tif"]
