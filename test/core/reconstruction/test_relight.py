"""Shadows relit: a real clear scene with a synthetic cloud shadow comes back with its own texture."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cloudfree.core.reconstruction.reconstruct import FROM_NETWORK, KEPT, RELIT, reconstruct
from cloudfree.core.reconstruction.relight import relight_shadows
from conftest import DATA

#: Diffuse-light fractions of a cloud shadow (more blue survives than red or NIR), as in core/training/synthetic.py.
SHADE = {"B02": 0.45, "B03": 0.38, "B04": 0.33, "B05": 0.31, "B06": 0.29, "B07": 0.28, "B08": 0.28, "B8A": 0.28,
         "B11": 0.25, "B12": 0.25}
ORDER = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


@pytest.fixture(scope="module")
def clear_scene():
    """The real clear L1C crop T33UUB (DSen2), all ten 10/20 m bands at 20 m, reflectance."""
    z = np.load(DATA / "s2_l1c_dsen2" / "S2A_MSIL1C_20170527_T33UUB.npz")
    ten = z["im10"].reshape(4, 300, 2, 300, 2).mean(axis=(2, 4))
    bands = dict(zip(z["im10_bands"], ten)) | dict(zip(z["im20_bands"], z["im20"]))
    return np.stack([bands[b] for b in ORDER]).astype(np.float32) / 10000


def shadow_blob(shape, centre=(150, 120), axes=(40, 25)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return ((yy - centre[0]) / axes[0]) ** 2 + ((xx - centre[1]) / axes[1]) ** 2 < 1


def shaded(scene, shadow):
    factors = np.array([SHADE[b] for b in ORDER], np.float32)[:, None, None]
    return np.where(shadow, scene * factors, scene)


def test_relighting_restores_a_real_scene_within_two_hundredths(clear_scene):
    shadow = shadow_blob(clear_scene.shape[1:])
    dark = shaded(clear_scene, shadow)
    relit = relight_shadows(dark, shadow, ~shadow)
    for b, name in enumerate(ORDER):
        truth, got, before = clear_scene[b][shadow], relit[b][shadow], dark[b][shadow]
        error = np.abs(got - truth).mean()
        assert error < 0.02, name                             # the stated error: MAE below 0.02 reflectance
        assert error < 0.3 * np.abs(before - truth).mean(), name
        assert np.corrcoef(got, truth)[0, 1] > 0.85, name     # its own texture, not a smooth guess
    assert np.array_equal(relit[:, ~shadow], dark[:, ~shadow])  # nothing outside the shadow changes


def test_reconstruct_relights_shadow_and_fills_cloud(clear_scene, tmp_path):
    bands, h, w = clear_scene.shape
    shadow = shadow_blob((h, w))
    cloud = shadow_blob((h, w), centre=(60, 220), axes=(20, 20))
    image = tmp_path / "scene.tif"
    profile = dict(driver="GTiff", width=w, height=h, count=bands, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(300000, 5600000, 20, 20), nodata=0)
    with rasterio.open(image, "w", **profile) as dst:
        dst.write(np.round(shaded(clear_scene, shadow) * 10000).astype(np.uint16))
        for i, b in enumerate(ORDER):
            dst.set_band_description(i + 1, b)
    mask = tmp_path / "mask.tif"
    with rasterio.open(mask, "w", **{**profile, "count": 1, "dtype": "uint8", "nodata": 255}) as dst:
        dst.write(np.where(cloud, 1, np.where(shadow, 3, 0)).astype(np.uint8), 1)
    result = reconstruct(image, mask, tmp_path / "out.tif", tmp_path / "src.tif")
    with rasterio.open(tmp_path / "out.tif") as out, rasterio.open(tmp_path / "src.tif") as src:
        refl, codes = out.read().astype(np.float32) / 10000, src.read(1)
    assert (codes[shadow] == RELIT).all() and (codes[cloud] == FROM_NETWORK).all()
    assert (codes[~shadow & ~cloud] == KEPT).all() and result.filled_pixels == int(cloud.sum())
    error = np.abs(refl[:, shadow] - clear_scene[:, shadow]).mean()
    assert error < 0.02
    off = reconstruct(image, mask, tmp_path / "filled.tif", relight=False, max_masked_percent=100)
    with rasterio.open(tmp_path / "filled.tif") as out:
        filled = out.read().astype(np.float32) / 10000
    assert error < np.abs(filled[:, shadow] - clear_scene[:, shadow]).mean()  # relit beats painting it over
    assert off.filled_pixels == int((cloud | shadow).sum())
