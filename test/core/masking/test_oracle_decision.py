"""decide_classes against classes worked out by hand: cloud first by majority, then shadow against clear.

Cloud is thick + thin; it wins a pixel when it outweighs everything else
(clear + shadow together), so the cloud threshold is a plain probability
threshold.  Shadow is then decided against clear alone.  Ties go to "not
cloud", to clear (over shadow) and to thick (over thin), since every
comparison that makes a pixel cloud or shadow is strict.
"""
import numpy as np
import pytest

from cloudfree.core.masking.class_raster import decide_classes

# (clear, thick, thin, shadow) -> class, each worked out by hand in the comment
CASES = [
    ((0.30, 0.20, 0.20, 0.30), 0),  # cloud 0.40 < 0.60; shadow 0.30 = clear 0.30: clear keeps it
    ((0.10, 0.30, 0.30, 0.30), 1),  # cloud 0.60 > 0.40; thick = thin -> thick
    ((0.35, 0.15, 0.40, 0.10), 2),  # cloud 0.55 > 0.45; thin 0.40 > thick 0.15
    ((0.25, 0.10, 0.28, 0.37), 3),  # cloud 0.38, the most likely class, is no majority; shadow 0.37 > clear 0.25
    ((0.45, 0.05, 0.10, 0.40), 0),  # cloud 0.15; clear 0.45 > shadow 0.40
    ((0.25, 0.25, 0.25, 0.25), 0),  # cloud 0.5 = 0.5: not cloud; shadow = clear: clear (exact binary fractions)
    ((0.125, 0.25, 0.25, 0.375), 3),  # cloud 0.5 = 0.5: not cloud; shadow 0.375 > clear 0.125
    ((0.10, 0.45, 0.45, 0.00), 1),  # a majority of cloud, split evenly: thick
    ((0.05, 0.40, 0.50, 0.05), 2),
]


def test_cloud_needs_a_majority_then_shadow_beats_clear():
    probs = np.array([p for p, _ in CASES], np.float32).T          # (4, n)
    np.testing.assert_array_equal(decide_classes(probs), [c for _, c in CASES])


def test_the_class_axis_and_a_2d_raster():
    probs = np.array([p for p, _ in CASES[:8]], np.float32).reshape(2, 4, 4)   # (h, w, 4)
    expected = np.array([c for _, c in CASES[:8]]).reshape(2, 4)
    np.testing.assert_array_equal(decide_classes(probs, axis=2), expected)
    np.testing.assert_array_equal(decide_classes(np.moveaxis(probs, 2, 0)), expected)
    batch = np.stack([np.moveaxis(probs, 2, 0)] * 3)                             # (n, 4, h, w), as the models give
    np.testing.assert_array_equal(decide_classes(batch, axis=1), np.stack([expected] * 3))


@pytest.mark.parametrize("probs,weights,expected", [
    ((0.50, 0.10, 0.10, 0.30), (2.0, 3.0), 3),    # cloud 0.4 < 0.8; shadow 0.9 > clear 0.5
    ((0.50, 0.10, 0.10, 0.30), (5.0, 1.0), 1),    # cloud 1.0 > 0.8
    ((0.50, 0.125, 0.125, 0.25), (3.0, 1.0), 0),  # cloud 0.75 = 0.75: not cloud; shadow 0.25 < 0.5
    ((0.50, 0.125, 0.125, 0.25), (3.5, 1.0), 1),  # cloud 0.875 > 0.75
    ((0.50, 0.05, 0.05, 0.40), (1.0, 1.3), 3),    # shadow 0.52 > clear 0.5
    ((0.50, 0.05, 0.05, 0.40), (1.3, 1.0), 0),    # the same weight on cloud: 0.13 < 0.9
    ((0.30, 0.20, 0.20, 0.30), (1.6, 0.5), 1),    # cloud 0.64 > 0.60
    ((0.29, 0.05, 0.25, 0.41), (3.0, 0.5), 2),    # cloud 0.90 > 0.70: thin
])
def test_decision_weights_scale_cloud_and_shadow(probs, weights, expected):
    p = np.array(probs, np.float64)[:, None]
    assert decide_classes(p, weights=weights).tolist() == [expected]


def test_the_shadow_weight_cannot_take_a_pixel_that_is_mostly_cloud():
    # cloudfree_s2's shadow weight is about 10: shadow 0.15 x 10 = 1.5, yet cloud 0.55 is a majority
    p = np.array([0.30, 0.30, 0.25, 0.15])[:, None]
    assert decide_classes(p, weights=(1.0, 10.0)).tolist() == [1]
    assert decide_classes(p, weights=(0.8, 10.0)).tolist() == [3]    # 0.44 < 0.45: not cloud; 1.5 > 0.30


@pytest.mark.parametrize("cloud_weight", [0.4, 1.0, 2.52, 7.0])
def test_the_cloud_weight_is_a_threshold_on_the_cloud_probability(cloud_weight):
    # what ModelCard.weights_for promises: cloud exactly where P(cloud) > 1 / (1 + weight)
    probs = np.random.default_rng(3).dirichlet(np.ones(4), size=5000).T
    is_cloud = np.isin(decide_classes(probs, weights=(cloud_weight, 3.0)), (1, 2))
    np.testing.assert_array_equal(is_cloud, probs[1] + probs[2] > 1.0 / (1.0 + cloud_weight))
