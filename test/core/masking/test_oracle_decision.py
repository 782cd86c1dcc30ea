"""decide_classes against classes worked out by hand: a plurality contest of clear, cloud and shadow.

Cloud is thick + thin; it wins a pixel when it beats both clear and shadow,
even with less than half of the probability (a plurality, not a majority).
Ties go to clear (over cloud and shadow), to shadow (over cloud) and to thick
(over thin), since every comparison that makes a pixel cloud or shadow is strict.
"""
import numpy as np
import pytest

from cloudfree.core.masking.class_raster import decide_classes

# (clear, thick, thin, shadow) -> class, each worked out by hand in the comment
CASES = [
    ((0.30, 0.20, 0.20, 0.30), 1),  # cloud 0.40 beats 0.30 and 0.30 without a majority; thick = thin -> thick
    ((0.35, 0.15, 0.25, 0.25), 2),  # cloud 0.40 > clear 0.35 > shadow 0.25; thin 0.25 > thick 0.15
    ((0.25, 0.10, 0.28, 0.37), 2),  # cloud 0.38 > shadow 0.37 > clear 0.25
    ((0.30, 0.26, 0.00, 0.44), 3),  # shadow 0.44 > clear 0.30 > cloud 0.26
    ((0.45, 0.05, 0.10, 0.40), 0),  # clear 0.45 > shadow 0.40 > cloud 0.15
    ((0.375, 0.25, 0.125, 0.25), 0),   # cloud 0.375 = clear 0.375: clear keeps it (exact binary fractions)
    ((0.375, 0.125, 0.125, 0.375), 0),  # shadow 0.375 = clear 0.375: clear keeps it
    ((0.25, 0.25, 0.125, 0.375), 3),   # cloud 0.375 = shadow 0.375: shadow keeps it
    ((0.10, 0.45, 0.45, 0.00), 1),  # a majority of cloud, split evenly: thick
    ((0.05, 0.40, 0.50, 0.05), 2),
]


def test_plurality_not_majority_decides_cloud():
    probs = np.array([p for p, _ in CASES], np.float32).T          # (4, n)
    expected = [c for _, c in CASES]
    np.testing.assert_array_equal(decide_classes(probs), expected)
    cloud = probs[1] + probs[2]
    assert np.any((decide_classes(probs) > 0) & (decide_classes(probs) < 3) & (cloud < 0.5))  # won without a majority


def test_the_class_axis_and_a_2d_raster():
    probs = np.array([p for p, _ in CASES[:8]], np.float32).reshape(2, 4, 4)   # (h, w, 4)
    expected = np.array([c for _, c in CASES[:8]]).reshape(2, 4)
    np.testing.assert_array_equal(decide_classes(probs, axis=2), expected)
    np.testing.assert_array_equal(decide_classes(np.moveaxis(probs, 2, 0)), expected)
    batch = np.stack([np.moveaxis(probs, 2, 0)] * 3)                             # (n, 4, h, w), as the models give
    np.testing.assert_array_equal(decide_classes(batch, axis=1), np.stack([expected] * 3))


@pytest.mark.parametrize("probs,weights,expected", [
    ((0.50, 0.10, 0.10, 0.30), (2.0, 3.0), 3),    # cloud 0.4, shadow 0.9 > clear 0.5
    ((0.50, 0.10, 0.10, 0.30), (3.0, 1.0), 1),    # cloud 0.6 > clear 0.5 > shadow 0.3
    ((0.50, 0.125, 0.125, 0.25), (2.0, 1.0), 0),  # cloud 0.5 = clear 0.5: clear
    ((0.50, 0.125, 0.125, 0.25), (2.5, 1.0), 1),  # cloud 0.625 > 0.5
    ((0.50, 0.05, 0.05, 0.40), (1.0, 1.3), 3),    # shadow 0.52 > clear 0.5
    ((0.50, 0.05, 0.05, 0.40), (1.3, 1.0), 0),    # the same weight on cloud: 0.13, shadow 0.4 < 0.5
    ((0.30, 0.20, 0.20, 0.30), (1.0, 0.5), 1),    # shadow 0.15; cloud 0.4 > clear 0.3
    ((0.29, 0.05, 0.25, 0.41), (1.0, 0.5), 2),    # shadow 0.205; cloud 0.30 > clear 0.29: thin
])
def test_decision_weights_scale_cloud_and_shadow_against_clear(probs, weights, expected):
    p = np.array(probs, np.float64)[:, None]
    assert decide_classes(p, weights=weights).tolist() == [expected]


def test_the_shipped_shadow_weight_turns_a_cloud_pixel_into_shadow():
    # cloudfree_s2's card states (1.0, 10.079): shadow 0.05 x 10.079 = 0.504 beats cloud 0.50 and clear 0.45
    p = np.array([0.45, 0.25, 0.25, 0.05])[:, None]
    assert decide_classes(p).tolist() == [1]                          # unweighted: cloud 0.50 > clear 0.45
    assert decide_classes(p, weights=(1.0, 10.079)).tolist() == [3]
    assert decide_classes(p, weights=(1.0, 9.0)).tolist() == [1]      # 0.45 < 0.50: cloud
