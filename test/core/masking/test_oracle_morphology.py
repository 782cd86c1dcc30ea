"""The octagonal buffer, pixel by pixel: radius 1 is the 3x3 cross, then square and cross steps alternate.

A radius-r buffer of one pixel is the set |dx| <= r, |dy| <= r, |dx| + |dy| <= c + 2s,
where c = ceil(r / 2) cross steps and s = floor(r / 2) square steps: 5, 21, 37 and 69 pixels
for radii 1 to 4 (a 3x3 square step first would give 9 at radius 1).
"""
import numpy as np
import pytest

from cloudfree.core.masking.morphology import buffer_classes, dilate

CROSS = np.array([[0, 1, 0],
                  [1, 1, 1],
                  [0, 1, 0]], bool)
OCTAGON_2 = np.array([[0, 1, 1, 1, 0],
                      [1, 1, 1, 1, 1],
                      [1, 1, 1, 1, 1],
                      [1, 1, 1, 1, 1],
                      [0, 1, 1, 1, 0]], bool)


def _grown(radius: int, size: int = 13) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[size // 2, size // 2] = True
    return dilate(mask, radius)


@pytest.mark.parametrize("radius,pixels", [(0, 1), (1, 5), (2, 21), (3, 37), (4, 69)])
def test_a_single_pixel_grows_into_the_octagon_of_its_radius(radius, pixels):
    grown = _grown(radius)
    assert int(grown.sum()) == pixels
    c = 13 // 2
    dy, dx = np.nonzero(grown)
    dy, dx = np.abs(dy - c), np.abs(dx - c)
    crosses, squares = (radius + 1) // 2, radius // 2
    assert dy.max() == radius and dx.max() == radius
    assert (dx + dy).max() == crosses + 2 * squares
    expected = np.zeros((13, 13), bool)
    yy, xx = np.abs(np.mgrid[:13, :13] - c)
    expected[(yy <= radius) & (xx <= radius) & (yy + xx <= crosses + 2 * squares)] = True
    np.testing.assert_array_equal(grown, expected)


def test_radius_1_is_the_cross_and_radius_2_the_5x5_without_corners():
    np.testing.assert_array_equal(_grown(1)[5:8, 5:8], CROSS)
    assert _grown(1).sum() == CROSS.sum()
    np.testing.assert_array_equal(_grown(2)[4:9, 4:9], OCTAGON_2)
    assert _grown(2).sum() == OCTAGON_2.sum()


def test_growth_stops_at_the_image_edge_without_wrapping():
    mask = np.zeros((6, 7), bool)
    mask[0, 0] = True
    grown = dilate(mask, 1)
    assert sorted(zip(*np.nonzero(grown))) == [(0, 0), (0, 1), (1, 0)]
    mask = np.zeros((6, 7), bool)
    mask[5, 6] = True
    grown = dilate(mask, 2)   # the 5x5 without corners, cut to the bottom-right quarter: 3 x 3 less a corner
    assert int(grown.sum()) == 8 and not grown[3, 4] and grown[3, 5] and grown[4, 4]
    assert not grown[:3].any() and not grown[:, :4].any()


def test_buffer_fills_clear_pixels_only_in_class_priority_and_leaves_no_data():
    classes = np.zeros((5, 9), np.uint8)
    classes[2, 2], classes[2, 4], classes[2, 6] = 3, 1, 2   # shadow, thick, thin, one clear pixel apart
    classes[1, 4] = 255                                      # no data above the thick cloud
    out = buffer_classes(classes, 1)
    # each class grows a cross from its original pixels; (2,3) and (2,5) are claimed by thick first
    expected = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
                         [0, 0, 3, 0, 255, 0, 2, 0, 0],
                         [0, 3, 3, 1, 1, 1, 2, 2, 0],
                         [0, 0, 3, 0, 1, 0, 2, 0, 0],
                         [0, 0, 0, 0, 0, 0, 0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(classes[2], [0, 0, 3, 0, 1, 0, 2, 0, 0])   # the input is not changed


def test_where_classes_compete_thick_wins_then_thin_then_shadow():
    classes = np.zeros((3, 5), np.uint8)
    classes[1, 0], classes[1, 2], classes[1, 4] = 3, 2, 1     # shadow, thin, thick one pixel apart
    out = buffer_classes(classes, 1)
    # (1,3): thin or thick -> thick; (1,1): shadow or thin -> thin
    expected = np.array([[3, 0, 2, 0, 1],
                         [3, 2, 2, 1, 1],
                         [3, 0, 2, 0, 1]], np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert buffer_classes(classes, 0) is classes and buffer_classes(classes, -1) is classes
