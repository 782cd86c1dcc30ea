"""The array-level API gives the file-level engine's classes, whatever the band order, and refuses DN."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask, mask_array
from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.errors import InputError
from conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_reflectance():
    with rasterio.open(SAMPLE) as src:
        assert src.count == 13
        return src.read().astype(np.float32) / 10000, list(ALL_BANDS)


@pytest.fixture(scope="module")
def sample_file_mask(tmp_path_factory):
    out = tmp_path_factory.mktemp("file") / "mask.tif"
    cloud_mask(SAMPLE, out, resolution_m=10)
    with rasterio.open(out) as src:
        return src.read(1)


def test_array_classes_equal_the_file_engine(sample_reflectance, sample_file_mask):
    refl, names = sample_reflectance
    result = mask_array(refl, names, device="cpu")
    assert result.model == "cloudfree_s2"
    assert result.classes.shape == sample_file_mask.shape
    assert (result.classes == sample_file_mask).mean() > 0.999
    assert np.allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-3)
    cloud = np.isin(result.classes, (1, 2)).mean()
    assert 0.3 < cloud < 0.95  # the sample is a cloudy scene


def test_band_order_and_axis_do_not_matter(sample_reflectance):
    refl, names = sample_reflectance
    order = np.random.default_rng(1).permutation(len(names))
    shuffled = np.moveaxis(refl[order], 0, -1)  # bands last, in a random order
    a = mask_array(refl, names, device="cpu").classes
    b = mask_array(shuffled, [names[i] for i in order], band_axis=-1, device="cpu").classes
    assert np.array_equal(a, b)


def test_nan_pixels_are_no_data(sample_reflectance):
    refl, names = sample_reflectance
    holed = refl.copy()
    holed[names.index("B11"), 10:20, 30:40] = np.nan
    classes = mask_array(holed, names, device="cpu").classes
    assert (classes[10:20, 30:40] == 255).all() and (classes != 255).sum() == classes.size - 100


def test_dn_and_bad_band_names_are_refused(sample_reflectance):
    refl, names = sample_reflectance
    with pytest.raises(InputError, match="10000"):
        mask_array(refl * 10000, names, device="cpu")
    with pytest.raises(InputError, match="13 bands"):
        mask_array(refl, names[:12], device="cpu")
    with pytest.raises(InputError, match="no B08, B11, B12"):
        mask_array(refl[:4], ["B01", "B02", "B03", "B04"], "cloudfree_s2", device="cpu")
