"""Reconstruction metrics on masked pixels, checked against their definitions on real reflectance."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.errors import InputError
from cloudfree.core.evaluation.recon_metrics import box_mean, reconstruction_scores, ssim_map

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def truth(data_dir):
    folder = data_dir / "s2_l1c_t33uuu_jp2"
    out = []
    for b in BANDS:
        with rasterio.open(next(folder.glob(f"*_{b}.jp2"))) as ds:
            out.append(ds.read(1, window=((200, 264), (100, 164))).astype(np.float64) / 1e4)
    return np.stack(out)


def test_an_offset_gives_its_own_mae_rmse_and_psnr_and_no_spectral_angle_for_a_scale(truth):
    mask = np.zeros(truth.shape[1:], bool)
    mask[10:30, 5:50] = True
    scores = reconstruction_scores(truth + 0.01, truth, mask, BANDS)
    assert scores["overall"]["mae"] == pytest.approx(0.01) and scores["overall"]["rmse"] == pytest.approx(0.01)
    assert scores["overall"]["psnr"] == pytest.approx(40.0)
    assert scores["overall"]["pixels"] == 900
    scaled = reconstruction_scores(truth * 1.5, truth, mask, BANDS)["overall"]
    assert scaled["sam_deg"] == pytest.approx(0.0, abs=1e-5) and scaled["mae"] > 0.01
    same = reconstruction_scores(truth, truth, mask, BANDS)["overall"]
    assert same["ssim"] == pytest.approx(1.0) and same["mae"] == 0.0


def test_only_masked_pixels_count(truth):
    estimate = truth.copy()
    estimate[:, :, :32] += 0.2        # outside the mask: must not matter
    mask = np.zeros(truth.shape[1:], bool)
    mask[:, 40:] = True
    estimate[0, :, 40:] += 0.05       # inside, one band
    scores = reconstruction_scores(estimate, truth, mask, BANDS)
    assert scores["B02"]["mae"] == pytest.approx(0.05) and scores["B03"]["mae"] == 0.0
    assert scores["overall"]["mae"] == pytest.approx(0.05 / 4)


def test_ssim_matches_its_definition_at_a_pixel(truth):
    x, y = truth[3], truth[3] * 0.8 + 0.02 * np.sin(np.arange(64))[None, :]
    r = 3
    window = (slice(20 - r, 20 + r + 1), slice(30 - r, 30 + r + 1))
    a, b = x[window], y[window]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    cov = (a * b).mean() - a.mean() * b.mean()
    expected = ((2 * a.mean() * b.mean() + c1) * (2 * cov + c2)) / \
        ((a.mean() ** 2 + b.mean() ** 2 + c1) * (a.var() + b.var() + c2))
    assert ssim_map(x, y, r)[20, 30] == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(box_mean(np.ones((9, 9)), 3), 1.0)


def test_shapes_and_empty_masks_are_refused(truth):
    with pytest.raises(InputError, match="same raster"):
        reconstruction_scores(truth[:3], truth, np.ones(truth.shape[1:], bool), BANDS)
    with pytest.raises(InputError, match="no pixel"):
        reconstruction_scores(truth, truth, np.zeros(truth.shape[1:], bool), BANDS)
