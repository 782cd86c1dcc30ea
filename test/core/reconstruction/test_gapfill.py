"""Multi-date gap-filling on a real eo-learn stack with a real cloud mask."""
import numpy as np
import pytest

from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.gapfill import (FALLBACK, FROM_OTHER_DATES, ORIGINAL, gapfill, linear_in_time, mean_fill,
                                    nearest_date)


@pytest.fixture(scope="module")
def series(data_dir):
    """Three clear real dates (2015-07-11, 08-30, 09-09), bands B02 B03 B04 B08, and a real 39 % cloud mask."""
    folder = data_dir / "s2_l1c_timeseries_eolearn"
    frames = np.load(folder / "REFERENCE_SCENES.npy")[[4, 3, 2]][..., [1, 2, 3, 7]]
    stack = np.moveaxis(frames, -1, 1).astype(np.float64)
    cloud = np.load(folder / "CLM_S2C.npy")[14, ..., 0]
    return stack, cloud, [0.0, 50.0, 60.0]


def test_clear_pixels_are_kept_bit_for_bit_and_sources_are_coded(series):
    stack, cloud, days = series
    clear = np.ones((3,) + cloud.shape, bool)
    clear[1] = ~cloud
    filled, source = gapfill(stack, clear, days, target=1)
    np.testing.assert_array_equal(filled[:, ~cloud], stack[1][:, ~cloud])
    assert 0.3 < cloud.mean() < 0.5
    np.testing.assert_array_equal(source, np.where(cloud, FROM_OTHER_DATES, ORIGINAL))


def test_a_seasonal_change_is_corrected_where_other_methods_copy_it(series):
    stack, cloud, days = series
    seasonal = stack.copy()
    seasonal[2] = stack[1] * 1.3 + 0.02            # the next date: same ground, greener, brighter
    seasonal[0] = stack[1] * 0.8                    # the earlier date: darker
    clear = np.ones((3,) + cloud.shape, bool)
    clear[1] = ~cloud
    truth = stack[1][:, cloud]
    filled, _ = gapfill(seasonal, clear, days, target=1)
    nearest = nearest_date(seasonal, clear, days, target=1)
    linear = linear_in_time(seasonal, clear, days, target=1)
    err = lambda est: np.abs(est[:, cloud] - truth).mean()  # noqa: E731
    assert err(filled) < 0.005 and err(filled) < 0.2 * err(nearest)
    assert err(filled) < 0.2 * err(linear)
    # linear interpolation is exactly the time-weighted mix of the two raw dates
    np.testing.assert_allclose(linear[:, cloud], (seasonal[0] + 50 / 60 * (seasonal[2] - seasonal[0]))[:, cloud])


def test_pixels_no_other_date_sees_fall_back_to_single_image_fill(series):
    stack, cloud, days = series
    clear = np.ones((3,) + cloud.shape, bool)
    clear[1] = ~cloud
    clear[0] = clear[2] = ~cloud                    # every other date is cloudy where the target is
    filled, source = gapfill(stack, clear, days, target=1)
    assert (source[cloud] == FALLBACK).all()
    np.testing.assert_allclose(filled[:, cloud], mean_fill(stack, clear, 1)[:, cloud])


def test_bad_stacks_are_refused_with_what_to_change(series):
    stack, cloud, days = series
    clear = np.ones((3,) + cloud.shape, bool)
    with pytest.raises(InputError, match="do not match"):
        gapfill(stack, clear[:2], days, 1)
    with pytest.raises(InputError, match="distinct date"):
        gapfill(stack, clear, [0.0, 0.0, 5.0], 1)
    clear[1] = False
    with pytest.raises(InputError, match="another target date"):
        gapfill(stack, clear, days, 1)


def test_a_real_cloudy_donor_left_unmasked_does_not_whiten_the_fill(data_dir):
    """2015-08-20 is cloud over the whole eo-learn area; its mask is 'forgotten' (all clear) and it is a donor."""
    folder = data_dir / "s2_l1c_timeseries_eolearn"
    frames = np.load(folder / "REFERENCE_SCENES.npy")[[4, 0, 3, 2]][..., [1, 2, 3, 7]]  # 07-11 08-20 08-30 09-09
    stack = np.moveaxis(frames, -1, 1).astype(np.float64)
    hole = np.load(folder / "CLM_S2C.npy")[14, ..., 0]
    clear = np.ones((4,) + hole.shape, bool)
    clear[2] = ~hole                                    # target 2015-08-30 with a real cloud shape cut out
    days = [0.0, 40.0, 50.0, 60.0]                      # the cloudy donor is the nearest date but one
    red = 2
    assert np.median(stack[1, red][hole]) > 5 * np.median(stack[2, red][hole])  # the donor is white there
    out, _ = gapfill(stack, clear, days, 2)
    truth, got = stack[2][:, hole], out[:, hole]
    assert abs(np.median(got[red]) / np.median(truth[red]) - 1) < 0.15
    assert np.abs(got - truth).mean() < 0.01
