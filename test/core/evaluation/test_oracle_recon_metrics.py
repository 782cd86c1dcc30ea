"""Reconstruction metrics on tiny cases worked out by hand: SAM in degrees, MAE, RMSE, PSNR, SSIM."""
import math

import numpy as np
import pytest

from cloudfree.core.evaluation.recon_metrics import box_mean, reconstruction_scores, ssim_map


def _cube(*pixels):
    """(bands, 1, n) from n spectra."""
    return np.array(pixels, np.float64).T[:, None, :]


def test_spectral_angle_is_in_degrees_and_averaged_per_pixel():
    estimate = _cube([1.0, 0.0], [1.0, 0.0], [0.1, 0.2])
    truth = _cube([1.0, 1.0], [0.0, 1.0], [0.2, 0.4])
    mask = np.ones((1, 3), bool)
    s = reconstruction_scores(estimate, truth, mask, ["B04", "B08"])["overall"]
    # 45 degrees, 90 degrees and 0 degrees (same direction): mean 45, not 0.785 (radians)
    # nor the angle of the mean cosine (arccos((0.7071 + 0 + 1) / 3) = 55.3)
    assert s["sam_deg"] == pytest.approx(45.0, abs=1e-9)
    assert s["pixels"] == 3


def test_sam_of_three_bands_at_a_known_angle():
    estimate, truth = _cube([0.1, 0.2, 0.3]), _cube([0.3, 0.2, 0.1])
    # cos = (0.03 + 0.04 + 0.03) / (|e| |t|) = 0.10 / 0.14
    expected = math.degrees(math.acos(0.10 / 0.14))
    assert expected == pytest.approx(44.4153, abs=1e-4)
    s = reconstruction_scores(estimate, truth, np.ones((1, 1), bool), ["B02", "B03", "B04"])["overall"]
    assert s["sam_deg"] == pytest.approx(expected, abs=1e-9)


def test_mae_rmse_psnr_from_signed_errors_on_masked_pixels_only():
    truth = np.zeros((2, 1, 4))
    estimate = np.zeros((2, 1, 4))
    estimate[0, 0, :] = [0.1, -0.3, 0.5, 9.0]      # the last pixel is not masked
    estimate[1, 0, :] = [0.0, 0.0, 0.2, 9.0]
    mask = np.array([[True, True, True, False]])
    s = reconstruction_scores(estimate, truth, mask, ["B02", "B03"])
    # B02: errors 0.1, -0.3, 0.5 -> MAE 0.3, RMSE sqrt(0.35 / 3)
    assert s["B02"]["mae"] == pytest.approx(0.3)
    assert s["B02"]["rmse"] == pytest.approx(math.sqrt(0.35 / 3))
    assert s["B02"]["psnr"] == pytest.approx(20 * math.log10(1 / math.sqrt(0.35 / 3)))
    # B03: 0, 0, 0.2 -> MAE 0.2 / 3, RMSE sqrt(0.04 / 3)
    assert s["B03"]["mae"] == pytest.approx(0.2 / 3)
    assert s["B03"]["rmse"] == pytest.approx(math.sqrt(0.04 / 3))
    # overall pools the 6 errors: MAE 1.1 / 6, RMSE sqrt(0.39 / 6) = 0.2550, PSNR 11.87 dB
    assert s["overall"]["mae"] == pytest.approx(1.1 / 6)
    assert s["overall"]["rmse"] == pytest.approx(math.sqrt(0.39 / 6))
    assert s["overall"]["psnr"] == pytest.approx(11.8709, abs=1e-4)
    assert s["overall"]["pixels"] == 3
    perfect = reconstruction_scores(truth + 0.25, truth + 0.25, mask, ["B02", "B03"])["overall"]
    assert perfect["psnr"] == pytest.approx(240.0)   # error 0 is capped at 1e-12: 20 log10(1e12)


def test_box_mean_at_a_corner_reflects_without_the_edge():
    a = np.arange(9, dtype=np.float64).reshape(3, 3)
    m = box_mean(a, 1)
    assert m[1, 1] == pytest.approx(4.0)
    # reflected 3x3 around (0, 0): rows 1,0,1 and columns 1,0,1 -> 4 3 4 / 1 0 1 / 4 3 4 = 24 / 9
    assert m[0, 0] == pytest.approx(24 / 9)
    assert m[0, 1] == pytest.approx((3 + 4 + 5 + 0 + 1 + 2 + 3 + 4 + 5) / 9)


def test_ssim_of_flat_bands_depends_only_on_their_means():
    x, y = np.full((9, 9), 0.2), np.full((9, 9), 0.4)
    c1 = 0.01 ** 2
    expected = (2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1)     # variances and covariance are 0
    assert expected == pytest.approx(0.80010, abs=1e-5)
    np.testing.assert_allclose(ssim_map(x, y), expected, rtol=1e-9)


def test_ssim_of_equal_means_depends_only_on_the_structure():
    x = np.tile([0.1, 0.3], (8, 4))                 # columns alternate: every 7x7 window mixes both values
    y = np.full((8, 8), 0.2)
    c2 = 0.03 ** 2
    m = ssim_map(x, y)[4, 4]
    # 7x7 window around (4, 4): columns 1..7 -> four 0.3 and three 0.1; mean 1.5/7, variance of x
    mx = (4 * 0.3 + 3 * 0.1) / 7
    vx = (4 * 0.09 + 3 * 0.01) / 7 - mx * mx
    c1 = 0.01 ** 2
    expected = ((2 * mx * 0.2 + c1) * c2) / ((mx * mx + 0.04 + c1) * (vx + c2))
    assert m == pytest.approx(expected, rel=1e-9)
    assert m < 0.1
