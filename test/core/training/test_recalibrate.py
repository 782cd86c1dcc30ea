"""Re-deriving a base-variant model's decision: what goes into its cards and the benchmark's per-set models."""
import json
import shutil

import numpy as np
import pytest

import cloudfree.models.recalibrate_bundled as recal
from cloudfree.core.model.card import load_card
from cloudfree.core.training.calibration import CalibrationSample, calibrate
from cloudfree.models.train_bundled import nested_lodo

RESULT = {"weights": (0.63, 6.35), "alarms": {"cloud": 0.0, "shadow": 0.02}, "selection_score": 0.9,
          "lodo": {"drivendata": {"scenes": 5, "decision_weights": [1.0, 8.0], "calibrated_on": ["ukis_s2"],
                                  "scores": {"cloud": {"balanced_accuracy": 0.8}}},
                   "ukis_s2": {"scenes": 1, "decision_weights": [2.0, 4.0], "calibrated_on": ["drivendata"],
                               "scores": {"cloud": {"balanced_accuracy": 0.9}}}}}


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    for path in recal.MODELS_DIR.glob("cloudfree_rgb*"):
        shutil.copy(path, folder / path.name)
    monkeypatch.setattr(recal, "MODELS_DIR", folder)
    return folder


def test_the_cards_take_the_weights_from_all_sets_and_each_benchmark_model_its_nested_ones(models_dir, tmp_path):
    recal.write("cloudfree_rgb", RESULT, tmp_path / "work")
    for name in ("cloudfree_rgb", "cloudfree_rgb_fp16"):
        card = load_card(str(models_dir / f"{name}.onnx"))          # still loads: sha256 and fields check out
        assert card.decision_weights == (0.63, 6.35)
        assert "cloud_weight x P(cloud)" in card.raw["decision"]["rule"]
        held_out = card.raw["metrics"][recal.METRICS_KEY]
        assert held_out["ukis_s2"]["scores"]["cloud"]["balanced_accuracy"] == 0.9
        assert card.raw["variant"]["selection_score"]["base"] == 0.9
    index = json.loads((tmp_path / "work" / "cloudfree_rgb" / "lodo_models.json").read_text())
    assert sorted(index) == ["drivendata", "ukis_s2"]
    assert load_card(index["drivendata"]).decision_weights == (1.0, 8.0)
    assert load_card(index["ukis_s2"]).decision_weights == (2.0, 4.0)


def test_a_fine_tuned_variant_is_refused(models_dir, tmp_path):
    card = json.loads((models_dir / "cloudfree_rgb.json").read_text())
    card["variant"]["chosen"] = "fine-tuned"
    (models_dir / "cloudfree_rgb.json").write_text(json.dumps(card))
    with pytest.raises(SystemExit) as stop:
        recal.main(["--only", "cloudfree_rgb", "--model", str(models_dir / "cloudfree_rgb.onnx")])
    assert stop.value.code == 2


def test_nested_calibration_never_sees_the_set_it_scores(monkeypatch):
    seen = []
    monkeypatch.setattr("cloudfree.models.train_bundled.calibrate",
                        lambda samples: seen.append(sorted({s.dataset for s in samples})) or calibrate(samples))
    monkeypatch.setattr("cloudfree.models.train_bundled.samples_of",
                        lambda labelled, probs: [CalibrationSample(labelled.name, p, p[0].astype("uint8"))
                                                 for p in probs])
    monkeypatch.setattr("cloudfree.models.train_bundled.score_set", lambda labelled, probs, weights: {})

    class Set:
        def __init__(self, name):
            self.name, self.scenes = name, [None]
    probs = {d: [np.zeros((4, 2, 2), np.float32)] for d in ("a", "b", "c")}
    lodo, _ = nested_lodo([Set("a"), Set("b"), Set("c")], probs)
    assert seen[:3] == [["b", "c"], ["a", "c"], ["a", "b"]] and seen[3] == ["a", "b", "c"]
    assert [lodo[d]["calibrated_on"] for d in "abc"] == [["b", "c"], ["a", "c"], ["a", "b"]]
