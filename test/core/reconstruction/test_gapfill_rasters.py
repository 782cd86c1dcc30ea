"""Gap-filling rasters: a real eo-learn time series as GeoTIFFs with real s2cloudless masks."""
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.gapfill import FROM_OTHER_DATES, NO_DATA, ORIGINAL, gapfill, mean_fill
from cloudfree.core.reconstruction.gapfill_rasters import gapfill_rasters
from cloudfree.core.io.inputs import open_band_source
from timeseries_fixture import build_series, write_raster


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir):
    return build_series(tmp_path_factory.mktemp("series"))


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile


def test_output_keeps_grid_dtype_bands_and_clear_pixels_and_codes_sources(series, tmp_path):
    out = tmp_path / "filled.tif"
    result = gapfill_rasters(series["images"], out, "2015-08-30", masks=series["masks"], dates=series["dates"])
    filled, prof = read(out)
    original, src_prof = read(series["images"][3])
    codes, code_prof = read(tmp_path / "filled_source.tif")
    cloud = series["cloud"]
    assert result.target == 3 and result.target_date == "2015-08-30" and result.bands == ["B02", "B03", "B04", "B08"]
    assert (prof["dtype"], prof["count"], prof["width"], prof["height"]) == ("uint16", 4, 100, 101)
    assert prof["crs"] == src_prof["crs"] and prof["transform"] == src_prof["transform"]
    assert code_prof["dtype"] == "uint8" and code_prof["nodata"] == NO_DATA
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("B02", "B03", "B04", "B08")
    np.testing.assert_array_equal(filled[:, ~cloud], original[:, ~cloud])       # bit for bit
    # every cloudy pixel is clear on 2015-07-11 or 09-09, so all come from other dates
    np.testing.assert_array_equal(codes[0], np.where(cloud, FROM_OTHER_DATES, ORIGINAL))
    assert result.counts["filled from other dates"] == cloud.sum() == 3909
    assert result.filled_percent == pytest.approx(100 * cloud.mean())

    truth = series["truth"].astype(float)[:, cloud]
    err = np.abs(filled[:, cloud] - truth).mean()
    mean_err = np.abs(original[:, ~cloud].mean(axis=1)[:, None] - truth).mean()
    assert err < 80 and err < 0.5 * mean_err                                  # 64 DN against 162 DN

    qml = out.with_suffix(".qml").read_text()
    assert 'redBand="3" greenBand="2" blueBand="1"' in qml and "<maxValue>3000</maxValue>" in qml
    assert 'label="Filled from other dates"' in (tmp_path / "filled_source.qml").read_text()


def test_the_file_result_is_the_array_result(series, tmp_path):
    gapfill_rasters(series["images"], tmp_path / "f.tif", 3, masks=series["masks"], dates=series["dates"])
    stack = np.stack([read(p)[0] for p in series["images"]]).astype(np.float32) / 10000
    clear = np.stack([read(m)[0][0] == 0 for m in series["masks"]])
    days = [(date.fromisoformat(d) - date(2015, 7, 11)).days for d in series["dates"]]
    filled, source = gapfill(stack, clear, days, 3)
    np.testing.assert_array_equal(read(tmp_path / "f.tif")[0], np.rint(filled.astype(np.float64) * 10000))
    written = read(tmp_path / "f_source.tif")[0]
    np.testing.assert_array_equal(written[0], source)
    assert not np.allclose(filled, mean_fill(stack, clear, 3))
    # band 2: the evidence behind each filled pixel, the other dates clear there (every date here has a fit)
    others = np.stack([clear[i] for i in range(len(clear)) if i != 3])
    expected = np.where(clear[3], 0, others.sum(axis=0))
    np.testing.assert_array_equal(written[1], expected)
    assert written[1][~clear[3]].min() >= 1 and written[1][~clear[3]].max() >= 2  # one date or more behind each fill


def test_strips_give_the_whole_image_result_even_where_a_strip_is_all_cloud(series, tmp_path):
    cloud = series["cloud"].copy()
    cloud[:40] = True                                   # the first strips see no clear target pixel
    mask = write_raster(tmp_path / "mask.tif", cloud.astype(np.uint8), nodata=255)
    masks = list(series["masks"])
    masks[3] = str(mask)
    whole = gapfill_rasters(series["images"], tmp_path / "whole.tif", 3, masks=masks, dates=series["dates"])
    strips = gapfill_rasters(series["images"], tmp_path / "strips.tif", 3, masks=masks, dates=series["dates"],
                             max_memory_mb=2.5)          # 33-row strips of this 100 px wide series
    np.testing.assert_array_equal(read(tmp_path / "strips.tif")[0], read(tmp_path / "whole.tif")[0])
    np.testing.assert_array_equal(read(tmp_path / "strips_source.tif")[0], read(tmp_path / "whole_source.tif")[0])
    assert strips.counts == whole.counts and whole.counts["filled from other dates"] == cloud.sum()


def test_a_coarser_mask_is_read_by_nearest_and_the_buffer_grows_clouds(series, tmp_path):
    with rasterio.open(series["masks"][3]) as m:
        fine = m.read(1)
        coarse = fine[::2, ::2]
        transform = m.transform * m.transform.scale(2, 2)
    masks = list(series["masks"])
    masks[3] = str(write_raster(tmp_path / "coarse.tif", coarse, transform=transform, nodata=255))
    gapfill_rasters(series["images"], tmp_path / "c.tif", 3, masks=masks, dates=series["dates"], buffer_px=2)
    codes = read(tmp_path / "c_source.tif")[0][0]
    expected = np.repeat(np.repeat(coarse, 2, 0), 2, 1)[:101, :100] == 1
    assert (codes[expected] == FROM_OTHER_DATES).all()                # every nearest-read cloud pixel is filled
    assert (codes == FROM_OTHER_DATES).sum() > expected.sum() + 300   # and the 2 px buffer around them


def test_products_give_their_dates_and_radiometric_offsets_are_undone(safe_l2a_old, safe_l2a_offset, tmp_path):
    """Same imagery as baseline 02.12 (no offset) and 05.09 (DN + 1000): filling one from the other is near exact."""
    source = open_band_source(safe_l2a_old, ["B02"], 20)
    grid = source.grid
    source.close()
    rows = np.arange(grid.height)[:, None]
    cloud = ((rows // 48 + np.arange(grid.width)[None] // 64) % 2 == 0)
    mask = write_raster(tmp_path / "m.tif", cloud.astype(np.uint8), transform=grid.transform, crs=grid.crs, nodata=255)
    clear = write_raster(tmp_path / "c.tif", np.zeros_like(cloud, np.uint8), transform=grid.transform,
                         crs=grid.crs, nodata=255)
    result = gapfill_rasters([safe_l2a_offset, safe_l2a_old], tmp_path / "f.tif", "2019-02-12", masks=[clear, mask])
    assert result.dates == ["2023-08-21", "2019-02-12"] and result.target == 1
    assert len(result.bands) == 12 and "B10" not in result.bands
    filled, prof = read(tmp_path / "f.tif")
    assert prof["dtype"] == "uint16" and (prof["width"], prof["height"]) == (grid.width, grid.height)
    source = open_band_source(safe_l2a_old, result.bands, 20)
    raw = source.read_raw(Window(0, 0, grid.width, grid.height))
    source.close()
    np.testing.assert_array_equal(filled[:, ~cloud], raw[:, ~cloud])
    err = np.abs(filled[:, cloud].astype(float) - raw[:, cloud]).mean()
    assert err < 60                                     # a 1000 DN offset left in would show as ~1000


def test_grids_dates_and_an_all_cloud_target_are_refused_without_output(series, tmp_path, tmp_path_factory):
    out = tmp_path / "f.tif"
    shifted = tmp_path / "shifted.tif"
    with rasterio.open(series["images"][0]) as ds:
        write_raster(shifted, ds.read(), transform=ds.transform * ds.transform.translation(1, 0))
    images = [str(shifted)] + series["images"][1:]
    with pytest.raises(InputError, match="different grid.*resample and clip"):
        gapfill_rasters(images, out, 3, masks=series["masks"], dates=series["dates"])
    undated, folder = [], tmp_path_factory.mktemp("undated")
    for i, image in enumerate(series["images"]):  # the fixture's names carry their dates: hide them
        undated.append(str(folder / f"date_{chr(97 + i)}.tif"))
        shutil.copyfile(image, undated[-1])
    with pytest.raises(InputError, match="plain raster whose name states no date"):
        gapfill_rasters(undated, out, 3, masks=series["masks"])
    assert not out.exists()
    with pytest.raises(InputError, match="same date"):
        gapfill_rasters(series["images"][:2], out, 0, masks=series["masks"][:2], dates=["2015-07-11"] * 2)
    with pytest.raises(InputError, match="No input has the target date 2016-01-01"):
        gapfill_rasters(series["images"], out, "2016-01-01", masks=series["masks"], dates=series["dates"])
    # 2015-08-20 is cloud on every pixel in its real mask
    with pytest.raises(InputError, match="has no clear pixel.*choose another target date"):
        gapfill_rasters(series["images"], out, "2015-08-20", masks=series["masks"], dates=series["dates"])
    with pytest.raises(InputError, match="has no clear pixel"):
        gapfill_rasters(series["images"], out, "2015-08-20", masks=series["masks"], dates=series["dates"],
                        max_memory_mb=2.5)
    bad = write_raster(tmp_path / "bad.tif", np.full((101, 100), 7, np.uint8))
    with pytest.raises(InputError, match="value 7.*CloudFree"):
        gapfill_rasters(series["images"], out, 3, masks=series["masks"][:4] + [str(bad)], dates=series["dates"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tif", "shifted.tif"]


def test_cancelling_leaves_nothing(series, tmp_path):
    from cloudfree.core.errors import Cancelled
    from cloudfree.core.progress import Feedback

    class CancelLate(Feedback):
        calls = 0

        def is_cancelled(self):
            self.calls += 1
            return self.calls > 6

    with pytest.raises(Cancelled):
        gapfill_rasters(series["images"], tmp_path / "f.tif", 3, masks=series["masks"], dates=series["dates"],
                        max_memory_mb=2.5, feedback=CancelLate())
    assert list(tmp_path.iterdir()) == []


def test_masks_are_computed_on_the_fly_when_not_given(series, tmp_path):
    """The bundled BGRN model masks each date; the clear target pixels still come out unchanged."""
    images = [series["images"][i] for i in (0, 3, 4)]       # 07-11, 08-30, 09-09: all clear
    result = gapfill_rasters(images, tmp_path / "f.tif", 1, masks=[series["masks"][0], None, series["masks"][4]],
                             dates=["2015-07-11", "2015-08-30", "2015-09-09"])
    codes = read(tmp_path / "f_source.tif")[0][0]
    filled, original = read(tmp_path / "f.tif")[0], read(images[1])[0]
    kept = codes == ORIGINAL
    assert kept.mean() > 0.5                              # a clear date is mostly clear to the model
    np.testing.assert_array_equal(filled[:, kept], original[:, kept])
    assert Path(result.output).is_file() and sorted(p.suffix for p in tmp_path.iterdir()) == [".qml"] * 2 + [".tif"] * 2


def test_a_partial_band_mapping_keeps_the_input_band_order(series, tmp_path):
    result = gapfill_rasters(series["images"], tmp_path / "f.tif", 3, masks=series["masks"], dates=series["dates"],
                             band_mapping="B08=4, B04=3, B03=2")
    assert result.bands == ["B03", "B04", "B08"]
    filled, original = read(tmp_path / "f.tif")[0], read(series["images"][3])[0]
    cloud = series["cloud"]
    np.testing.assert_array_equal(filled[:, ~cloud], original[1:, ~cloud])
    assert not (tmp_path / "f.qml").exists() and (tmp_path / "f_source.qml").exists()   # no B02: no true colour


def test_dates_come_from_the_file_names_when_none_are_given(series, tmp_path):
    """s2_2015-08-30.tif says its date: the result equals the run with the dates typed in."""
    named = tmp_path / "named.tif"
    typed = tmp_path / "typed.tif"
    gapfill_rasters(series["images"], named, 3, masks=series["masks"])
    gapfill_rasters(series["images"], typed, 3, masks=series["masks"], dates=series["dates"])
    with rasterio.open(named) as a, rasterio.open(typed) as b:
        assert np.array_equal(a.read(), b.read())
    from cloudfree.core.io.dates import date_from_name
    assert [date_from_name(p).isoformat() for p in series["images"]] == list(series["dates"])
    assert date_from_name("T33UUU_20170216T102101_B02.jp2") == date(2017, 2, 16)
    assert date_from_name("S2A_MSIL2A_20200615T184921_N0214_R070_T10UEU_20200615T214453.SAFE") == date(2020, 6, 15)
    assert date_from_name("mosaic_2015-07-11_2015-08-01.tif") is None  # two dates: which one?
