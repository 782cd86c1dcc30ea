"""Class decision from probabilities: cloud as one class against clear and shadow, then thick vs thin."""
import numpy as np

from cloudfree.core.masking.class_raster import decide_classes


def test_split_cloud_probability_still_wins_over_clear():
    # columns: clear, thick, thin, shadow
    probs = np.array([[0.40, 0.30, 0.30, 0.00],   # argmax says clear; 60 % cloud says cloud (thick: tie -> thick)
                      [0.50, 0.20, 0.10, 0.20],   # clear beats 30 % cloud
                      [0.20, 0.10, 0.20, 0.50],   # shadow beats 30 % cloud
                      [0.10, 0.20, 0.40, 0.30],   # cloud, mostly thin
                      [0.30, 0.00, 0.00, 0.70]]).T
    np.testing.assert_array_equal(decide_classes(probs), [1, 0, 3, 2, 3])


def test_the_class_axis_can_be_anywhere():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(2, 5, 6))          # (n, h, w, 4)
    a = decide_classes(np.moveaxis(probs, -1, 1), axis=1)       # (n, 4, h, w)
    b = decide_classes(np.moveaxis(probs, -1, 0), axis=0)       # (4, n, h, w)
    np.testing.assert_array_equal(a, b)
    confident = probs.max(axis=-1) > 0.6                        # one class dominates: same as argmax
    np.testing.assert_array_equal(a[confident], probs.argmax(axis=-1)[confident])
