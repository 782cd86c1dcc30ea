"""cloudmask picks the bundled model that fits the bands the input has, and says which."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.errors import BandMappingError
from cloudfree.core.model.card import BUNDLED_MODELS, choose_bundled_model, load_card
from conftest import SAMPLE


def test_every_bundled_model_is_present_small_and_carded():
    for name in BUNDLED_MODELS:
        for variant in (name, f"{name}_fp16"):
            card = load_card(variant)  # checks the sha256 against the file
            assert card.onnx_path.stat().st_size < 5e6
            assert card.raw["metrics"] and card.raw["training_data"]
            assert card.torch_weights.is_file()


@pytest.mark.parametrize("bands, expected", [
    (ALL_BANDS, "cloudfree_s2"),
    ([b for b in ALL_BANDS if b != "B10"], "cloudfree_s2"),
    (["B02", "B03", "B04", "B08", "B11"], "cloudfree_bgrn"),
    (["B04", "B03", "B02"], "cloudfree_rgb"),
])
def test_the_richest_model_the_bands_allow_is_chosen(bands, expected):
    assert choose_bundled_model(bands) == expected


def test_too_few_bands_name_what_is_missing():
    with pytest.raises(BandMappingError, match="B02, B03 and B04"):
        choose_bundled_model(["B08", "B11"])


def subset(tmp_path, indexes, name):
    with rasterio.open(SAMPLE) as src:
        profile = src.profile
        data = src.read([i + 1 for i in indexes])
    profile.update(count=len(indexes))
    with rasterio.open(tmp_path / name, "w", **profile) as dst:
        dst.write(data)
    return tmp_path / name


def test_cloudmask_reports_the_model_it_chose_for_each_input(tmp_path):
    full = cloud_mask(SAMPLE, tmp_path / "full.tif")
    assert full.model == "cloudfree_s2"
    bgrn = cloud_mask(subset(tmp_path, [1, 2, 3, 7], "bgrn.tif"), tmp_path / "bgrn_mask.tif")
    assert bgrn.model == "cloudfree_bgrn"
    rgb = cloud_mask(subset(tmp_path, [3, 2, 1], "rgb.tif"), tmp_path / "rgb_mask.tif")  # R, G, B order
    assert rgb.model == "cloudfree_rgb"
    with rasterio.open(tmp_path / "full.tif") as m, rasterio.open(SAMPLE) as src:
        visible = src.read([2, 3, 4], out_shape=(3, m.height, m.width)).mean(axis=0) / 1e4
    bright = visible > 0.3  # white, bright pixels: thick cloud in this scene, whatever the bands
    assert bright.sum() > 500
    for name in ("full", "bgrn_mask", "rgb_mask"):
        with rasterio.open(tmp_path / f"{name}.tif") as m:
            assert np.isin(m.read(1)[bright], (1, 2)).mean() > 0.95, name
