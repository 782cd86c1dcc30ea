"""Confusion counts with unequal false positives and false negatives, scored by hand.

With fp != fn, producer's accuracy (tp / reference) and user's accuracy
(tp / mask) differ, so swapping them, or specificity for one of them, shows.
"""
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cloudfree.core.evaluation.masks import (ANY_CLOUD, NOT_CLOUD, Evaluation, evaluate_rasters, format_table, groups_for,
                                       parse_scheme, write_scores)
from cloudfree.core.evaluation.metrics import binary_counts, scores_from_counts


def test_scores_of_6_tp_2_fp_4_fn_8_tn():
    s = scores_from_counts(6, 2, 4, 8)
    assert s["producers_accuracy"] == pytest.approx(6 / 10)     # tp / (tp + fn)
    assert s["users_accuracy"] == pytest.approx(6 / 8)          # tp / (tp + fp)
    assert s["balanced_accuracy"] == pytest.approx((6 / 10 + 8 / 10) / 2)   # specificity tn / (tn + fp) = 0.8
    assert s["f1"] == pytest.approx(12 / 18)                    # 2 tp / (2 tp + fp + fn)
    assert s["iou"] == pytest.approx(6 / 12)                    # tp / (tp + fp + fn)
    assert s["reference_pixels"] == 10 and s["pixels"] == 20


def test_scores_of_a_class_the_mask_overcalls():
    s = scores_from_counts(3, 9, 1, 7)
    assert (s["producers_accuracy"], s["users_accuracy"]) == (pytest.approx(0.75), pytest.approx(0.25))
    assert s["balanced_accuracy"] == pytest.approx((0.75 + 7 / 16) / 2)
    assert s["f1"] == pytest.approx(6 / 16) and s["iou"] == pytest.approx(3 / 13)
    assert s["reference_pixels"] == 4 and s["pixels"] == 20


def test_empty_denominators_give_nan_not_zero():
    s = scores_from_counts(0, 0, 0, 5)
    assert np.isnan(s["producers_accuracy"]) and np.isnan(s["users_accuracy"]) and np.isnan(s["f1"])
    assert np.isnan(s["iou"]) and np.isnan(s["balanced_accuracy"])
    s = scores_from_counts(0, 2, 0, 0)           # the mask calls a class the reference never has
    assert s["users_accuracy"] == 0.0 and np.isnan(s["producers_accuracy"])


def test_binary_counts_in_tp_fp_fn_tn_order():
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0], bool)
    ref = np.array([1, 0, 0, 1, 1, 1, 0, 1, 0], bool)
    assert binary_counts(pred, ref).tolist() == [2, 2, 3, 2]
    scores = scores_from_counts(*binary_counts(pred, ref))
    assert scores["producers_accuracy"] == pytest.approx(2 / 5)
    assert scores["users_accuracy"] == pytest.approx(2 / 4)


def _asymmetric_pair():
    """A mask and a CloudFree-coded reference: per class group, tp/fp/fn/tn worked out below."""
    ref = np.array([1, 1, 2, 2, 1, 0, 0, 0, 0, 3, 3, 3, 0, 0, 2, 255], np.uint8)
    pred = np.array([1, 2, 2, 0, 0, 1, 0, 0, 0, 3, 0, 0, 3, 3, 2, 1], np.uint8)
    # valid: the first 15 pixels (the last reference pixel is no data)
    # cloud (1, 2): ref {0,1,2,3,4,14}, pred {0,1,2,5,14} -> tp 4, fp 1 (5), fn 2 (3,4), tn 8
    # thick (1):    ref {0,1,4},       pred {0,5}        -> tp 1, fp 1, fn 2, tn 11
    # thin (2):     ref {2,3,14},      pred {1,2,14}     -> tp 2, fp 1, fn 1, tn 11
    # shadow (3):   ref {9,10,11},     pred {9,12,13}    -> tp 1, fp 2, fn 2, tn 10
    # clear (0):    ref {5..8,12,13},  pred {3,4,6,7,8,10,11} -> tp 3 (6,7,8), fp 4, fn 3 (5,12,13), tn 5
    return pred, ref


EXPECTED_COUNTS = {"clear": [3, 4, 3, 5], "cloud": [4, 1, 2, 8], "thick cloud": [1, 1, 2, 11],
                   "thin cloud": [2, 1, 1, 11], "shadow": [1, 2, 2, 10]}


def test_evaluation_counts_every_class_group_by_hand():
    pred, ref = _asymmetric_pair()
    scheme = parse_scheme("cloudfree")
    ev = Evaluation(groups_for(scheme))
    ev.add(pred, ref, scheme)
    assert {g: c.tolist() for g, c in ev.counts.items()} == EXPECTED_COUNTS
    s = ev.scores()
    assert s["cloud"]["producers_accuracy"] == pytest.approx(4 / 6)
    assert s["cloud"]["users_accuracy"] == pytest.approx(4 / 5)
    assert s["cloud"]["balanced_accuracy"] == pytest.approx((4 / 6 + 8 / 9) / 2)
    assert s["cloud"]["f1"] == pytest.approx(8 / 11) and s["cloud"]["iou"] == pytest.approx(4 / 7)
    assert s["thick cloud"]["producers_accuracy"] == pytest.approx(1 / 3)
    assert s["thick cloud"]["users_accuracy"] == pytest.approx(1 / 2)
    assert s["clear"]["users_accuracy"] == pytest.approx(3 / 7)
    assert s["clear"]["producers_accuracy"] == pytest.approx(3 / 6)
    assert s["shadow"]["pixels"] == 15


def test_a_second_scene_is_pooled_by_counts():
    pred, ref = _asymmetric_pair()
    scheme = parse_scheme("cloudfree")
    ev = Evaluation(["cloud", "shadow"])
    ev.add(pred, ref, scheme)
    ev.add(np.array([1, 1, 1, 0], np.uint8), np.array([1, 0, 0, 0], np.uint8), scheme)   # tp 1, fp 2, tn 1
    assert ev.counts["cloud"].tolist() == [5, 3, 2, 9] and ev.scenes == 2
    assert ev.scores()["cloud"]["users_accuracy"] == pytest.approx(5 / 8)
    assert ev.scores()["cloud"]["producers_accuracy"] == pytest.approx(5 / 7)


def test_ukis_coding_and_values_outside_the_scheme():
    scheme = parse_scheme("ukis")        # 0 shadow, 1 water, 2 snow, 3 land, 4 cloud
    assert groups_for(scheme) == ["clear", "cloud", "shadow"]
    ref = np.array([4, 4, 4, 0, 0, 1, 2, 3, 3, 7], np.uint8)     # 7 is not a ukis class: not scored
    pred = np.array([1, 2, 0, 3, 0, 3, 0, 1, 0, 1], np.uint8)
    ev = Evaluation(groups_for(scheme))
    ev.add(pred, ref, scheme)
    assert ev.counts["cloud"].tolist() == [2, 1, 1, 5]
    assert ev.counts["shadow"].tolist() == [1, 1, 1, 6]
    assert ev.counts["clear"].tolist() == [2, 2, 2, 3]
    assert ANY_CLOUD in scheme.values() and NOT_CLOUD not in scheme.values()


def test_written_schemes_and_their_groups():
    assert parse_scheme("0=5, 1=4; 9=3") == {0: NOT_CLOUD, 1: ANY_CLOUD, 9: 3}
    assert groups_for({0: 0, 1: 1, 2: 2}) == ["clear", "cloud", "thick cloud", "thin cloud"]
    assert groups_for({0: 0, 1: 1, 2: ANY_CLOUD}) == ["clear", "cloud"]
    # thick and thin are scored only when no reference value says "cloud, thickness unknown"
    assert groups_for({0: 0, 1: 1, 2: 2, 3: ANY_CLOUD}) == ["clear", "cloud"]
    assert groups_for({1: 6, 2: 3}) == ["shadow"]


def test_rasters_on_the_same_grid_give_the_hand_counts(tmp_path):
    pred, ref = _asymmetric_pair()
    for name, a, nodata in (("m.tif", pred, 255), ("r.tif", ref, None)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                           crs="EPSG:32633", transform=from_origin(500000, 6000000, 20, 20), nodata=nodata) as ds:
            ds.write(a.reshape(4, 4), 1)
    ev = evaluate_rasters([tmp_path / "m.tif"], [tmp_path / "r.tif"], "cloudfree")
    assert {g: c.tolist() for g, c in ev.counts.items()} == EXPECTED_COUNTS
    scores = ev.scores()
    table = format_table(scores).splitlines()
    assert table[2].split()[:3] == ["cloud", "0.667", "0.800"]       # PA before UA
    written = json.loads(write_scores(scores, tmp_path / "s.json").read_text())
    assert written["shadow"]["users_accuracy"] == pytest.approx(1 / 3)
    rows = write_scores(scores, tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "class,producers_accuracy,users_accuracy,balanced_accuracy,f1,iou,reference_pixels,pixels"
    assert rows[2].startswith("cloud,0.666") and ",0.8," in rows[2] and rows[2].endswith(",6,15")


def test_negative_reference_values_are_not_scored(tmp_path):
    ref = np.array([[1, 1, -1, -1], [0, 0, 0, 1]], np.int16)       # -1: outside the labelled area
    mask = np.array([[1, 0, 0, 0], [0, 1, 0, 1]], np.uint8)
    for name, a in (("m.tif", mask), ("r.tif", ref)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=4, height=2, count=1, dtype=a.dtype,
                           crs="EPSG:32633", transform=from_origin(500000, 6000000, 20, 20)) as ds:
            ds.write(a, 1)
    ev = evaluate_rasters([tmp_path / "m.tif"], [tmp_path / "r.tif"], "cloudfree")
    # 6 scored pixels; cloud: ref {0,1,7}, mask {0,5,7} -> tp 2, fp 1, fn 1, tn 2
    assert ev.counts["cloud"].tolist() == [2, 1, 1, 2]
    assert ev.counts["clear"].tolist() == [2, 1, 1, 2]
