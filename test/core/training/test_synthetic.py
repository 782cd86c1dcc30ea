"""Synthetic clouds and shadows on a real clear scene obey the physics they claim."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.training.synthetic import (IGNORE, THICK_ALPHA, TRAIN_BANDS, CloudScene, composite_clouds,
                                      fractal_field, shift_image)


@pytest.fixture(scope="module")
def clear_surface(data_dir):
    """A 192 x 192 px crop of the real T33UUU L1C scene at 20 m, in TRAIN_BANDS order."""
    folder = data_dir / "s2_l1c_t33uuu_jp2"
    bands = []
    for b in TRAIN_BANDS:
        with rasterio.open(next(folder.glob(f"*_{b}.jp2"))) as ds:
            bands.append(ds.read(1, out_shape=(768, 384))[300:492, 100:292].astype(np.float32) / 1e4)
    return np.stack(bands)


def scene(**kw):
    base = dict(cover=0.3, thin_cover=0.0, cloud_height_m=1500.0, sun_zenith_deg=45.0, sun_azimuth_deg=0.0,
                brightness=1.0)
    base.update(kw)
    return CloudScene(**base)


def test_thick_cloud_is_bright_and_darker_in_swir(clear_surface):
    image, label = composite_clouds(clear_surface, 20.0, np.random.default_rng(1), scene=scene())
    thick = label == 1
    assert thick.mean() > 0.1
    b02, b12 = TRAIN_BANDS.index("B02"), TRAIN_BANDS.index("B12")
    assert image[b02][thick].mean() > 0.45 > clear_surface[b02].mean()
    assert image[b12][thick].mean() < 0.6 * image[b02][thick].mean()  # ice/water absorb at 2.2 um


def test_shadow_is_cast_away_from_the_sun_by_height_times_tan_zenith(clear_surface):
    # Sun in the north (azimuth 0): shadows fall south, i.e. further down the rows.
    s = scene(cover=0.12, cloud_height_m=1200.0, sun_zenith_deg=45.0, sun_azimuth_deg=0.0)
    image, label = composite_clouds(clear_surface, 20.0, np.random.default_rng(3), scene=s)
    shadow = label == 3
    assert shadow.sum() > 200
    assert np.all(image[:, shadow] < clear_surface[:, shadow])  # darker in every band
    b08 = TRAIN_BANDS.index("B08")
    ratio = image[b08][shadow] / clear_surface[b08][shadow]
    assert ratio.max() <= 1.0 - 0.3 + 1e-6  # at least SHADOW_DEPTH of the direct beam removed
    # The shadow is the opaque field moved 60 px (1200 m * tan 45 / 20 m) down: it must cover
    # most of the cloud mask shifted by that amount, where no cloud hides it.
    cloud = np.isin(label, (1, 2))
    shifted = shift_image(cloud.astype(np.float32), 60, 0) > 0
    visible = shifted & ~cloud & (label != IGNORE)
    assert (label[visible] == 3).mean() > 0.6
    wrong_way = shift_image(cloud.astype(np.float32), -60, 0) > 0
    assert (label[wrong_way & ~shifted & ~cloud] == 3).mean() < 0.1


def test_pixels_labelled_clear_are_the_real_surface(clear_surface):
    image, label = composite_clouds(clear_surface, 20.0, np.random.default_rng(5), scene=scene(cover=0.2))
    clear = label == 0
    assert clear.mean() > 0.3
    same = np.all(image[:, clear] == clear_surface[:, clear], axis=0)
    assert same.mean() > 0.97  # untouched, bit for bit
    # the rest carry at most an imperceptible haze edge (opacity < FAINT_ALPHA) or faint shade
    assert np.abs(image[:, clear] - clear_surface[:, clear]).max() < 0.04


def test_thin_cloud_is_semi_transparent(clear_surface):
    image, label = composite_clouds(clear_surface, 20.0, np.random.default_rng(7),
                                    scene=scene(cover=0.0, thin_cover=0.4))
    thin = label == 2
    assert thin.mean() > 0.02 and not (label == 1).any()
    b04 = TRAIN_BANDS.index("B04")
    # Brighter than the ground, yet the ground still shows through: correlation with it stays high.
    assert image[b04][thin].mean() > clear_surface[b04][thin].mean()
    assert np.corrcoef(image[b04][thin], clear_surface[b04][thin])[0, 1] > 0.5


def test_same_seed_same_scene_and_fields_are_spatially_coherent(clear_surface):
    a = composite_clouds(clear_surface, 20.0, np.random.default_rng(11))
    b = composite_clouds(clear_surface, 20.0, np.random.default_rng(11))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    field = fractal_field((128, 128), np.random.default_rng(0))
    assert 0.0 == field.min() and field.max() == 1.0
    neighbour = np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1]
    assert neighbour > 0.95  # red noise, not white: clouds are blobs, not speckle
    assert THICK_ALPHA > 0.5
