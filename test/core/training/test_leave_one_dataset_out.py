"""Leave-one-dataset-out: a fold never trains on the human-labelled set it is scored on; calibration."""
import numpy as np
import pytest

from cloudfree.core.training.calibration import CalibrationSample, balanced_accuracies, calibrate
from cloudfree.core.masking.class_raster import decide_classes
from cloudfree.core.errors import ModelCardError
from cloudfree.core.model.card import load_card, write_card
from cloudfree.core.training.synthetic import IGNORE, TRAIN_BANDS
from cloudfree.core.training.trainer import TrainConfig, Trainer
from cloudfree.core.training.data import Scene, SceneRecord, without_datasets
from cloudfree.models.human_labelled import load_set, training_labels, training_scenes

BGRN = ["B02", "B03", "B04", "B08"]


def scene(name, source, dataset="", seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.02, 0.4, (len(TRAIN_BANDS), 96, 96)).astype(np.float32)
    label = rng.integers(0, 4, (96, 96)).astype(np.uint8)
    return Scene(SceneRecord(name, name, source, 20, "L1C", "test", dataset=dataset), image, label)


@pytest.fixture
def scenes():
    return [scene("synthetic_a", "synthetic", seed=1), scene("synthetic_b", "synthetic", seed=2),
            scene("human_x", "human", "set_x", 3), scene("human_y", "human", "set_y", 4)]


def test_a_fold_trainer_never_draws_from_the_set_it_is_scored_on(scenes, tmp_path):
    pytest.importorskip("torch")
    config = TrainConfig(bands=BGRN, patch=64, batch_size=2, steps_per_epoch=1, max_epochs=1, validation_patches=4,
                         device="cpu", validation_places=["synthetic_b"], exclude_datasets=["set_x"],
                         human_fraction=0.5,
                         architecture={"arch": "Unet", "encoder": "tu-mobilenetv3_small_100",
                                       "kwargs": {"encoder_depth": 4, "decoder_channels": [16, 16, 8, 8]}})
    trainer = Trainer(config, scenes, tmp_path)
    drawn = {s.record.name for s in trainer.sampler.scenes}
    assert "human_x" not in drawn and "human_y" in drawn
    # the human scene that stays gets half of the draws, whatever its size
    weight = dict(zip([s.record.name for s in trainer.sampler.scenes], trainer.sampler.weights))
    assert weight["human_y"] == pytest.approx(0.5)


def test_without_datasets_keeps_scenes_of_no_dataset(scenes):
    kept = without_datasets(scenes, ["set_y"])
    assert [s.record.name for s in kept] == ["synthetic_a", "synthetic_b", "human_x"]


def test_the_real_human_sets_become_training_scenes_tagged_with_their_set():
    ukis = load_set("ukis_s2")
    made = training_scenes(ukis)
    assert {s.record.dataset for s in made} == {"ukis_s2"} and made[0].record.label_source == "human"
    label = made[0].label
    # ukis codes 0 shadow, 1 water, 3 land, 4 cloud; a 20 m pixel is labelled only where its 2x2 label pixels agree
    ref = ukis.scenes[0].reference.reshape(256, 2, 256, 2).transpose(0, 2, 1, 3).reshape(256, 256, 4)
    agree = (ref == ref[..., :1]).all(-1)
    assert np.all(label[~agree] == IGNORE)
    assert np.all(label[agree & (ref[..., 0] == 0)] == 3)
    assert np.all(np.isin(label[agree & (ref[..., 0] == 4)], (1, 2)))
    assert np.all(label[agree & (ref[..., 0] == 1)] == 0)  # water is clear, not shadow: a hard negative


def test_the_10m_sets_load_at_10m_for_scoring_with_one_label_per_pixel():
    ukis10, ukis20 = load_set("ukis_s2", resolution_m=10), load_set("ukis_s2")
    s10, s20 = ukis10.scenes[0], ukis20.scenes[0]
    assert (s10.factor, s10.pixel_m, s20.factor, s20.pixel_m) == (1, 10, 2, 20)
    assert s10.bands["B02"].shape == s10.reference.shape == (512, 512)
    # the 20 m grid is the 2x2 mean of the 10 m one
    assert np.allclose(s10.bands["B11"].reshape(256, 2, 256, 2).mean(axis=(1, 3)), s20.bands["B11"], atol=1e-6)
    label = training_labels(ukis10, s10)
    ref = s10.reference
    assert (label == 3).sum() == (ref == 0).sum() and np.isin(label[ref == 4], (1, 2)).all()
    chips = load_set("drivendata", limit=1, resolution_m=10).scenes[0]
    assert chips.bands["B08"].shape == chips.reference.shape and chips.factor == 1


def test_layton_leaves_sen2cor_clouds_unknown_rather_than_clear():
    layton = load_set("layton", limit=1)
    s = layton.scenes[0]
    label = training_labels(layton, s)
    assert np.all(label[np.isin(s.scl, (8, 9, 10))] == IGNORE)
    assert np.all(label[(s.reference == 1) & ~np.isin(s.scl, (8, 9, 10)) & s.valid
                        & (np.max([s.bands[b] for b in ("B02", "B03", "B04")], axis=0) < 0.39)] == 3)


def under_confident_shadow(seed=0):
    """Shadow pixels whose network probability of shadow is only 0.3 (clear 0.6): argmax misses them."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 3], size=(64, 64), p=[0.6, 0.2, 0.2]).astype(np.uint8)
    probs = np.zeros((4, 64, 64), np.float32)
    probs[0] = 0.9
    probs[3] = 0.1
    shadow = labels == 3
    probs[0][shadow], probs[3][shadow] = 0.6, 0.3
    cloud = labels == 1
    probs[0][cloud], probs[1][cloud], probs[3][cloud] = 0.1, 0.9, 0.0
    probs[2] = 1 - probs[0] - probs[1] - probs[3]
    return CalibrationSample("set", probs, labels)


def test_calibration_raises_the_weight_of_an_under_confident_class():
    sample = under_confident_shadow()
    before = balanced_accuracies([sample], (1.0, 1.0))
    cloud_w, shadow_w = calibrate([sample])
    after = balanced_accuracies([sample], (cloud_w, shadow_w))
    assert before[1] == pytest.approx(0.5)          # no shadow found without calibration
    assert 2.0 < shadow_w <= 6.0                   # 0.3 * w must beat 0.6, and 0.1 * w must not beat 0.9
    assert after[1] == pytest.approx(1.0) and after[0] == pytest.approx(1.0)


def test_calibration_without_samples_or_need_keeps_the_argmax():
    assert calibrate([]) == (1.0, 1.0)
    labels = np.array([[0, 3], [1, IGNORE]], np.uint8)
    probs = np.zeros((4, 2, 2), np.float32)
    probs[0, 0, 0] = probs[3, 0, 1] = probs[1, 1, 0] = probs[0, 1, 1] = 1.0
    assert calibrate([CalibrationSample("s", probs, labels)]) == (1.0, 1.0)


def test_decision_weights_move_pixels_between_clear_and_shadow_only_as_far_as_asked():
    p = np.array([[0.55], [0.05], [0.05], [0.35]], np.float32)[:, :, None]  # (4, 1, 1)
    assert decide_classes(p)[0, 0] == 0
    assert decide_classes(p, weights=(1.0, 1.5))[0, 0] == 0      # 0.525 < 0.55
    assert decide_classes(p, weights=(1.0, 2.0))[0, 0] == 3      # 0.70 > 0.55
    assert decide_classes(p, weights=(8.0, 2.0))[0, 0] == 3      # cloud 0.8 < 0.9 (clear + shadow): shadow
    assert decide_classes(p, weights=(10.0, 2.0))[0, 0] == 1     # cloud 1.0 > 0.9


@pytest.mark.parametrize("value", [float("nan"), -1.0, 0.0, 1000.0, "2"])
def test_a_card_with_a_senseless_decision_weight_is_refused(tmp_path, value):
    src = load_card("cloudfree_bgrn")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(src.onnx_path.read_bytes())
    raw = dict(src.raw)
    raw.pop("sha256")
    raw["decision"] = {"cloud_weight": 1.0, "shadow_weight": value}
    raw["architecture"] = {k: v for k, v in raw["architecture"].items() if k not in ("weights_file", "weights_sha256")}
    write_card(onnx, raw)
    with pytest.raises(ModelCardError, match="shadow_weight"):
        load_card(str(onnx))
