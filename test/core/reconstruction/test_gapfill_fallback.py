"""Gap-filling where no date is clear: the single-image U-Net fills from the gap-filled surroundings.

The target is the real T33UUU L1C crop; the other date is the same crop with
its DN scaled by 0.95 (a stand-in for a second date, so that what no date
sees is known exactly).
"""
import numpy as np
import pytest
import rasterio

from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.reconstruction.gapfill import FALLBACK, FROM_OTHER_DATES, ORIGINAL
from cloudfree.core.reconstruction.gapfill_rasters import gapfill_rasters
from cloudfree.core.reconstruction.inpainter import load_inpaint_card
from cloudfree.core.progress import Feedback
from single_image_fixture import build_l1c_raster

SIZE = 128
SEEN = (slice(10, 40), slice(10, 50))      # cloudy on the target only
UNSEEN = (slice(70, 110), slice(60, 110))  # cloudy on both dates


def write_like(path, like, array, dtype, nodata=None):
    with rasterio.open(like) as src:
        profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=array.shape[0], dtype=dtype, crs=src.crs,
                       transform=src.transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return path


@pytest.fixture(scope="module")
def two_dates(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("fallback")
    target = build_l1c_raster(folder / "target.tif", SIZE)
    with rasterio.open(target) as ds:
        truth = ds.read()
    other = write_like(folder / "other.tif", target, np.rint(truth * 0.95).astype(np.uint16), "uint16")
    m_target, m_other = np.zeros((2, 1, SIZE, SIZE), np.uint8)
    m_target[0][SEEN] = m_target[0][UNSEEN] = 1
    m_other[0][UNSEEN] = 1
    masks = [write_like(folder / f"{n}_mask.tif", target, m, "uint8", 255)
             for n, m in (("target", m_target), ("other", m_other))]
    return dict(images=[target, other], masks=masks, truth=truth, dates=["2017-02-16", "2017-03-08"])


def test_pixels_no_date_sees_are_filled_by_the_unet(two_dates, tmp_path):
    out = tmp_path / "filled.tif"
    result = gapfill_rasters(two_dates["images"], out, 0, masks=two_dates["masks"], dates=two_dates["dates"])
    with rasterio.open(out) as ds, rasterio.open(tmp_path / "filled_source.tif") as s:
        filled, codes = ds.read(), s.read(1)
    unseen = np.zeros((SIZE, SIZE), bool)
    unseen[UNSEEN] = True
    seen = np.zeros((SIZE, SIZE), bool)
    seen[SEEN] = True
    expected = np.full((SIZE, SIZE), ORIGINAL)
    expected[seen], expected[unseen] = FROM_OTHER_DATES, FALLBACK
    np.testing.assert_array_equal(codes, expected)
    assert result.counts["no clear date: single-image fill"] == unseen.sum()
    truth = two_dates["truth"]
    np.testing.assert_array_equal(filled[:, ~(seen | unseen)], truth[:, ~(seen | unseen)])
    network = [ALL_BANDS.index(b) for b in load_inpaint_card().bands]
    t = truth[:, unseen].astype(float)[network]
    err = np.abs(filled[:, unseen].astype(float)[network] - t).mean()
    mean_err = np.abs(truth[:, ~unseen].astype(float).mean(axis=1)[network, None] - t).mean()
    assert err < 0.8 * mean_err


def test_without_the_unet_bands_the_target_mean_stays(two_dates, tmp_path):
    out = tmp_path / "filled4.tif"
    messages = []

    class Log(Feedback):
        def info(self, message):
            messages.append(message)

    gapfill_rasters(two_dates["images"], out, 0, masks=two_dates["masks"], dates=two_dates["dates"],
                    band_mapping="B02=2, B03=3, B04=4, B08=8", feedback=Log())
    with rasterio.open(out) as ds:
        filled = ds.read()
    block = filled[:, UNSEEN[0], UNSEEN[1]].reshape(4, -1)
    assert (block == block[:, :1]).all()                   # one value per band: the mean fill
    assert any("keep the target's mean" in m and "B05" in m for m in messages)
