"""Patch placement and blending weights written out by hand, and a blended prediction computed by hand."""
import numpy as np
import pytest

from cloudfree.core.errors import InputError
from cloudfree.core.model.tiling import MIN_WEIGHT, fit_patch_size, patch_starts, patch_weights, predict_blended, ramp


@pytest.mark.parametrize("length,patch,overlap,starts", [
    (10, 4, 1, [0, 3, 6]),          # stride 3, the last patch ends at 10 exactly
    (11, 4, 1, [0, 3, 6, 7]),       # the last one pulled back to end at 11
    (4, 4, 0, [0]),
    (9, 4, 0, [0, 4, 5]),
    (8, 4, 2, [0, 2, 4]),
])
def test_patch_starts(length, patch, overlap, starts):
    assert patch_starts(length, patch, overlap) == starts


def test_patch_starts_refuse_what_cannot_tile():
    with pytest.raises(InputError, match="does not fit"):
        patch_starts(3, 4, 0)
    with pytest.raises(InputError, match="less than the patch size"):
        patch_starts(10, 4, 4)
    with pytest.raises(InputError, match="at least 0"):
        patch_starts(10, 4, -1)


def test_ramps_rise_over_the_overlap_at_inner_borders_only():
    # r = (i + 0.5) / 4 for i < 4: 0.125 0.375 0.625 0.875
    np.testing.assert_allclose(ramp(8, 4, False, False), [0.125, 0.375, 0.625, 0.875, 0.875, 0.625, 0.375, 0.125])
    np.testing.assert_allclose(ramp(8, 4, True, False), [1, 1, 1, 1, 0.875, 0.625, 0.375, 0.125])
    np.testing.assert_allclose(ramp(8, 4, False, True), [0.125, 0.375, 0.625, 0.875, 1, 1, 1, 1])
    np.testing.assert_allclose(ramp(6, 4, False, False), [0.125, 0.375, 0.625, 0.625, 0.375, 0.125])
    np.testing.assert_array_equal(ramp(5, 0, False, False), np.ones(5))
    assert ramp(3000, 1000, False, False)[0] == pytest.approx(MIN_WEIGHT)   # 0.5 / 1000 is raised to 1e-3
    assert MIN_WEIGHT == 1e-3


def test_patch_weights_are_the_outer_product_of_the_row_and_column_ramps():
    w = patch_weights(4, 2, top=True, bottom=False, left=False, right=True)
    rows = [1, 1, 0.75, 0.25]          # top edge flat, bottom ramps down: r = 0.25, 0.75
    cols = [0.25, 0.75, 1, 1]
    np.testing.assert_allclose(w, np.outer(rows, cols))
    assert w[3, 0] == pytest.approx(0.0625) and w[0, 3] == 1.0


def test_fit_patch_size():
    assert fit_patch_size(512, 300, 200, 16) == 192          # shrunk to the short side, a multiple of 16
    assert fit_patch_size(128, 300, 200, 16) == 128
    assert fit_patch_size(200, 300, 200, 16) == 200
    assert fit_patch_size(512, 16, 40, 16) == 16
    with pytest.raises(InputError, match="smaller than the 16 px"):
        fit_patch_size(512, 15, 40, 16)


def computed_pixels(patch, overlap, width, height):
    return len(patch_starts(width, patch, overlap)) * len(patch_starts(height, patch, overlap)) * patch * patch


def test_the_patch_is_fitted_so_that_the_last_stride_wastes_little():
    # 1024 px in patches of 512 overlapping by 64: starts 0, 448, 512 per axis, 2.36 Mpx computed for 1.05;
    # 544: starts 0, 480 per axis (overlap 64 kept), 1.18 Mpx
    assert computed_pixels(512, 64, 1024, 1024) == 9 * 512 * 512
    assert fit_patch_size(512, 1024, 1024, 32, overlap=64) == 544
    assert computed_pixels(544, 64, 1024, 1024) == 4 * 544 * 544
    # a raster the requested size tiles without waste keeps it
    assert fit_patch_size(512, 512, 512, 32, overlap=64) == 512
    assert fit_patch_size(512, 960, 960, 32, overlap=64) == 512            # starts 0, 448: exact
    # 135 px, patches of 128 overlapping by 64: 2 x 2 patches.  2 x 2 patches of 96 px would compute fewer
    # pixels only by overlapping 48 px; the overlap asked for is kept
    assert fit_patch_size(128, 135, 135, 32, overlap=64) == 128


@pytest.mark.parametrize("width,height", [(700, 700), (1024, 1024), (1500, 900), (5490, 5490), (10980, 10980)])
def test_the_fitted_patch_never_computes_more_and_keeps_the_overlap(width, height):
    patch = fit_patch_size(512, width, height, 32, overlap=64)
    assert patch % 32 == 0 and 256 <= patch <= 640 and patch >= 2 * 64
    assert computed_pixels(patch, 64, width, height) <= computed_pixels(512, 64, width, height)


def test_blended_prediction_is_the_weighted_mean_of_overlapping_patches():
    # one row of 6 px in patches of 4 with overlap 2: [0..3] and [2..5]; each patch predicts a constant,
    # its first input value (0 and 2).  Column weights: [1, 1, 0.75, 0.25] and [0.25, 0.75, 1, 1].
    data = np.tile(np.arange(6, dtype=np.float32), (1, 4, 1))       # (1 band, 4 rows, 6 cols): value = column

    def predict(batch):
        return np.broadcast_to(batch[:, :1, :1, :1] * 1.0, batch.shape).copy()

    out = predict_blended(predict, data, 4, 2, batch=1)
    expected = [0, 0, (0 * 0.75 + 2 * 0.25) / 1.0, (0 * 0.25 + 2 * 0.75) / 1.0, 2, 2]
    np.testing.assert_allclose(out[0], np.tile(expected, (4, 1)), rtol=1e-6)
    assert out.shape == (1, 4, 6)
    np.testing.assert_allclose(predict_blended(predict, data, 4, 2, batch=4), out)   # batching does not matter


def test_blending_divides_by_the_weights_where_a_pulled_back_patch_adds_to_them():
    # 7 px in patches of 4 with overlap 2: starts 0, 2 and 3 (the last pulled back to end at 7), predicting
    # 0, 2 and 3.  Column weights: [1, 1, .75, .25] at 0-3, [.25, .75, .75, .25] at 2-5, [.25, .75, 1, 1] at 3-6;
    # column 3: (0 x .25 + 2 x .75 + 3 x .25) / 1.25 = 1.8; column 4: (2 x .75 + 3 x .75) / 1.5 = 2.5;
    # column 5: (2 x .25 + 3 x 1) / 1.25 = 2.8
    data = np.tile(np.arange(7, dtype=np.float32), (1, 4, 1))

    def predict(batch):
        return np.broadcast_to(batch[:, :1, :1, :1] * 1.0, batch.shape).copy()

    out = predict_blended(predict, data, 4, 2)
    np.testing.assert_allclose(out[0, 0], [0, 0, 0.5, 1.8, 2.5, 2.8, 3], rtol=1e-6)
