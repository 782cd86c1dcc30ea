"""Choosing the shipped variant: held-out accuracy on the human sets and false alarms on held-out clear scenes."""
import numpy as np
import pytest

from cloudfree.models.clear_scenes import false_alarms, load_clear_scenes
from cloudfree.models.train_bundled import selection_score


def lodo(*bas):
    return {f"set{i}": {"scores": {"cloud": {"balanced_accuracy": ba}}} for i, ba in enumerate(bas)}


def test_a_variant_that_calls_a_clear_scene_shadow_loses_to_one_slightly_less_accurate_on_cloudy_sets():
    accurate_but_alarming = selection_score(lodo(0.96, 0.93, 0.90, 0.79), {"cloud": 0.0, "shadow": 0.36})
    quieter = selection_score(lodo(0.95, 0.96, 0.92, 0.56), {"cloud": 0.0, "shadow": 0.04})
    assert quieter > accurate_but_alarming
    assert selection_score(lodo(0.8, 0.9), {"cloud": 0.0, "shadow": 0.0}) == pytest.approx((0.8 + 0.9 + 1 + 1) / 4)


def test_the_landsat_patch_is_reported_but_does_not_choose():
    sentinel2 = lodo(0.9, 0.8)
    with_good_landsat = dict(sentinel2, landsat={"scores": {"cloud": {"balanced_accuracy": 0.99}}})
    with_poor_landsat = dict(sentinel2, landsat={"scores": {"cloud": {"balanced_accuracy": 0.51}}})
    alarms = {"cloud": 0.0, "shadow": 0.1}
    assert selection_score(with_good_landsat, alarms) == selection_score(with_poor_landsat, alarms) \
        == pytest.approx((0.9 + 0.8 + 1.0 + 0.9) / 4)


def test_a_missing_score_is_left_out_not_counted_as_zero():
    scores = lodo(0.9)
    scores["set1"] = {"scores": {"shadow": {"balanced_accuracy": float("nan")}}}
    assert selection_score(scores, {"cloud": 0.1, "shadow": 0.0}) == pytest.approx((0.9 + 0.9 + 1.0) / 3)


@pytest.fixture(scope="module")
def clear(data_dir):
    return load_clear_scenes()


def test_the_clear_scenes_are_the_three_clear_eolearn_dates(clear):
    assert sorted(s.name for s in clear) == ["eolearn 2015-07-11", "eolearn 2015-08-30", "eolearn 2015-09-09"]
    for scene in clear:
        assert scene.reflectance.shape == (13, 101, 100) and scene.bands[1] == "B02"
        assert 0.01 < float(np.median(scene.reflectance[3])) < 0.1  # red of summer vegetation, TOA


def test_false_alarms_count_what_a_model_calls_cloud_or_shadow_on_clear_scenes(clear):
    # the RGB model leaves these scenes (nearly) clear; weights that make shadow win anywhere call it everywhere
    quiet = false_alarms(["cloudfree_rgb"], (1.0, 1.0), clear)
    assert quiet["cloud"] < 0.01 and quiet["shadow"] < 0.02
    loud = false_alarms(["cloudfree_rgb"], (1.0, 99.0), clear)
    assert loud["shadow"] > quiet["shadow"] + 0.2


def test_a_set_left_out_of_fine_tuning_is_left_out_of_every_fold_and_the_final(monkeypatch, tmp_path, data_dir):
    """--fine-tune-without landsat: no fine-tune trains on it; the fold that scores a set still leaves that set out."""

    from cloudfree.models import train_bundled

    seen = []

    class Recording:
        def __init__(self, config, scenes, workdir, init_weights=None):
            seen.append((workdir.name, sorted(config.exclude_datasets)))
            raise RuntimeError("recorded")

    monkeypatch.setattr(train_bundled, "Trainer", Recording)
    monkeypatch.setattr(train_bundled.BandSetTraining, "_scenes", lambda self, with_human: [])
    args = train_bundled.build_parser().parse_args(  # the script's own options, defaults included
        ["scenes.npz", "human.npz", "--workdir", str(tmp_path), "--steps", "1", "--epochs", "1", "--patience", "1",
         "--device", "cpu", "--ft-steps", "1", "--ft-epochs", "1", "--fine-tune-without", "landsat"])
    training = train_bundled.BandSetTraining("cloudfree_bgrn", args)
    base = {"mean": [0.0] * 4, "std": [1.0] * 4}
    for folder, exclude in (("fold_drivendata", ["drivendata"]), ("fold_landsat", ["landsat"]), ("final", [])):
        with pytest.raises(RuntimeError, match="recorded"):
            training.fine_tune(folder, exclude, base, tmp_path, "x", {})
    assert seen == [("fold_drivendata", ["drivendata", "landsat"]), ("fold_landsat", ["landsat"]),
                    ("final", ["landsat"])]
