"""Patches seen 1.5 times coarser: 20 m training scenes drawn as the 30 m Landsat and Layton sets look."""
import numpy as np

from cloudfree.core.training.data import PatchSampler, Scene, SceneRecord, coarsen
from cloudfree.core.training.synthetic import TRAIN_BANDS


def test_coarsen_takes_area_means_and_the_label_nearest_each_centre():
    image = np.arange(36, dtype=np.float64).reshape(1, 6, 6)
    label = np.arange(36).reshape(6, 6)
    out, labels, target = coarsen(image, label, image.copy())
    # the first coarse pixel covers [0, 1.5) x [0, 1.5): weights 1, 1/2, 1/2, 1/4 on pixels 0, 1, 6, 7
    assert out[0, 0, 0] == (0 + 0.5 * 1 + 0.5 * 6 + 0.25 * 7) / 2.25
    assert out.shape == (1, 4, 4) and out.mean() == image.mean()           # area means keep the mean
    assert labels[0].tolist() == [0, 2, 3, 5] and labels[:, 0].tolist() == [0, 12, 18, 30]
    np.testing.assert_array_equal(target, out)


def ramp_scene(size: int = 400) -> Scene:
    """A teacher-labelled scene whose reflectance grows by 0.001 per pixel to the east, label 0 west, 1 east."""
    image = np.broadcast_to(np.arange(size, dtype=np.float32) * 0.001, (len(TRAIN_BANDS), size, size)).copy()
    label = np.zeros((size, size), np.uint8)
    label[:, size // 2:] = 1
    return Scene(SceneRecord("ramp", "ramp", "teacher", 20), image, label)


def test_a_coarse_draw_spans_one_and_a_half_times_the_ground():
    steps = {}
    for fraction in (0.0, 1.0):
        sampler = PatchSampler([ramp_scene()], ["B02"], 96, seed=3, coarse_fraction=fraction)
        sampler._augment = lambda image, label, target: (image, label, target)   # no flip or gain: keep the ramp
        image, label, target = sampler.draw_targets()
        assert image.shape == (1, 96, 96) and label.shape == (96, 96) and target.shape == (5, 96, 96)
        steps[fraction] = float(np.diff(image[0, 0]).mean())
    # coarse steps alternate 4/3 and 5/3 of a pixel (pixels split unevenly), 1.5 on average
    assert abs(steps[0.0] - 0.001) < 1e-6 and abs(steps[1.0] - 0.0015) < 1e-5


def test_validation_patches_are_never_coarse():
    sampler = PatchSampler([ramp_scene()], ["B02"], 96, seed=3, coarse_fraction=1.0, augment=False)
    image, _, _ = sampler.draw_targets()
    assert abs(float(np.diff(image[0, 0]).mean()) - 0.001) < 1e-6
