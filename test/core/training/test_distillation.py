"""Soft teacher targets: how teachers are combined, stored, drawn into patches and weighted in the loss."""
from pathlib import Path

import numpy as np
import pytest

from cloudfree.models import teachers
from cloudfree.core.training.synthetic import IGNORE, TRAIN_BANDS
from cloudfree.core.training.data import PatchSampler, Scene, SceneRecord, hard_targets, load_scenes, save_scenes

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def _uniform(h, w, clear, cloud, shadow):
    return np.stack([np.full((h, w), clear), np.full((h, w), cloud), np.full((h, w), shadow)]).astype(np.float32)


def _refl(h=4, w=4, visible=0.1):
    refl = np.full((len(TRAIN_BANDS), h, w), 0.2, np.float32)
    for b in ("B02", "B03", "B04"):
        refl[TRAIN_BANDS.index(b)] = visible
    return refl


def test_two_ukis_models_against_s2cloudless(monkeypatch):
    # Both ukis-csmask models: clear 0.9 / cloud 0.05 / shadow 0.05; s2cloudless: cloud 0.9.
    monkeypatch.setattr(teachers, "ukis_probabilities", lambda refl, bands, level, n: _uniform(4, 4, 0.9, 0.05, 0.05))
    out = teachers.teacher_targets(_refl(), TRAIN_BANDS, "l1c", np.full((4, 4), 0.9, np.float32))
    cloud = (0.05 + 0.05 + 0.9) / 3
    # clear and shadow share 1 - cloud as the ukis mean does (0.9 : 0.05)
    assert np.allclose(out[0], (1 - cloud) * 0.9 / 0.95)
    assert np.allclose(out[3], (1 - cloud) * 0.05 / 0.95)
    # visible 0.1 is far below the thick ramp: all of the cloud is thin
    assert np.allclose(out[1], 0.0) and np.allclose(out[2], cloud)
    # the mean says clear; two of three teachers say so
    assert np.allclose(out[4], 2 / 3)


def test_agreeing_teachers_full_weight_and_thick_bright_cloud(monkeypatch):
    monkeypatch.setattr(teachers, "ukis_probabilities", lambda refl, bands, level, n: _uniform(4, 4, 0.1, 0.8, 0.1))
    refl = _refl(visible=0.5)
    refl[:, 0, 0] = np.nan  # no data: weight 0
    out = teachers.teacher_targets(refl, TRAIN_BANDS, "l1c", np.full((4, 4), 0.7, np.float32))
    assert np.allclose(out[:4].sum(axis=0), 1.0)
    assert np.allclose(out[1, 1:, 1:], (0.8 + 0.8 + 0.7) / 3) and np.allclose(out[2, 1:, 1:], 0.0)
    assert out[4, 0, 0] == 0.0 and np.allclose(out[4, 1:, 1:], 1.0)


def test_shadow_decision_and_s2cloudless_not_cloud_agrees(monkeypatch):
    probs = {6: _uniform(4, 4, 0.2, 0.1, 0.7), 4: _uniform(4, 4, 0.6, 0.1, 0.3)}
    monkeypatch.setattr(teachers, "ukis_probabilities", lambda refl, bands, level, n: probs[n])
    out = teachers.teacher_targets(_refl(), TRAIN_BANDS, "l1c", np.full((4, 4), 0.1, np.float32))
    # mean: clear 0.4, shadow 0.5, cloud 0.1 -> shadow; the 6-band model and s2cloudless ("not cloud") agree
    assert np.argmax(out[:4, 0, 0]) == 3
    assert np.allclose(out[4], 2 / 3)


def test_soft_targets_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(1)
    soft = rng.dirichlet(np.ones(4), size=(6, 5)).transpose(2, 0, 1).astype(np.float32)
    soft = np.concatenate([soft, np.full((1, 6, 5), 2 / 3, np.float32)])
    scene = Scene(SceneRecord("a", "p", "teacher", 20), np.zeros((len(TRAIN_BANDS), 6, 5), np.float32),
                  np.zeros((6, 5), np.uint8), soft)
    plain = Scene(SceneRecord("b", "q", "teacher", 20), np.zeros((len(TRAIN_BANDS), 6, 5), np.float32),
                  np.zeros((6, 5), np.uint8))
    loaded = load_scenes([save_scenes(tmp_path / "s.npz", [scene, plain])])
    assert np.abs(loaded[0].soft - soft).max() <= 0.5 / 250 + 1e-6  # uint8 storage, 0-250
    assert loaded[1].soft is None


def _teacher_scene(label_value, soft_weight, source="teacher", size=32):
    rng = np.random.default_rng(0)
    image = (0.05 + 0.1 * rng.random((len(TRAIN_BANDS), size, size))).astype(np.float32)
    soft = np.zeros((5, size, size), np.float32)
    soft[0], soft[3], soft[4] = 0.3, 0.7, soft_weight
    return Scene(SceneRecord("s", "p", source, 20), image, np.full((size, size), label_value, np.uint8), soft)


def test_sampler_uses_soft_targets_where_the_teachers_saw_the_pixel():
    sampler = PatchSampler([_teacher_scene(IGNORE, 0.5)], ["B02", "B03", "B04"], 16, seed=0)
    image, label, target = sampler.draw_targets()
    assert (label == IGNORE).all()  # the hard label is unknown, the soft one still teaches
    assert np.allclose(target[0], 0.3) and np.allclose(target[3], 0.7) and np.allclose(target[4], 0.5)


def test_sampler_hard_targets_where_a_synthetic_cloud_changed_the_pixel():
    sampler = PatchSampler([_teacher_scene(0, 1.0, source="synthetic", size=48)], ["B02", "B03", "B04"], 24,
                           seed=3, synthetic_fraction=1.0, augment=False)
    saw_change = False
    for _ in range(12):
        image, label, target = sampler.draw_targets()
        soft = np.isclose(target[3], 0.7)
        # every pixel is either the teachers' (unchanged surface) or the synthetic label's one-hot target
        hard = np.isclose(target[:4].max(axis=0), 1.0) | (target[4] == 0)
        assert (soft | hard).all()
        changed = label != 0
        if changed.any():
            saw_change = True
            known = changed & (label != IGNORE)
            assert np.allclose(target[4][known], 1.0)
            assert (np.argmax(target[:4], axis=0)[known] == label[known]).all()
            assert not soft[changed].any()
    assert saw_change


def test_loss_of_one_hot_targets_is_the_weighted_hard_label_loss_and_weight_zero_is_ignored():
    torch = pytest.importorskip("torch")
    from cloudfree.core.training.trainer import Trainer

    class Bare:  # the loss needs only torch and the class weights
        pass
    bare = Bare()
    bare.torch = torch
    bare.loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 1.0, 1.5, 2.0]), ignore_index=IGNORE)
    labels = np.random.default_rng(0).choice([0, 1, 2, 3, IGNORE], size=(2, 8, 8)).astype(np.uint8)
    targets = torch.from_numpy(np.stack([hard_targets(x) for x in labels]))
    logits = torch.randn(2, 4, 8, 8)
    expected = bare.loss_fn(logits, torch.from_numpy(labels.astype(np.int64)))
    assert float(Trainer.target_loss(bare, logits, targets)) == pytest.approx(float(expected), rel=1e-5)
    # a pixel of weight 0 does not move the loss, whatever the network says there
    ignored = np.argwhere(labels == IGNORE)[0]
    moved = logits.clone()
    moved[ignored[0], :, ignored[1], ignored[2]] = torch.tensor([9.0, -9.0, 9.0, -9.0])
    assert float(Trainer.target_loss(bare, moved, targets)) == pytest.approx(float(expected), rel=1e-5)


def test_ukis_probabilities_decide_as_csmask_on_a_real_patch():
    pytest.importorskip("ukis_csmask")
    rasterio = pytest.importorskip("rasterio")
    from cloudfree.core.io.bands import ALL_BANDS
    path = next((DATA / "s2_l1c_cloudy_sen12mscr").glob("*.tif"))
    with rasterio.open(path) as ds:
        refl = ds.read().astype(np.float32) / 1e4
    probs = teachers.ukis_probabilities(refl, ALL_BANDS, "l1c", 6)
    assert np.allclose(probs.sum(axis=0), 1.0, atol=1e-4)
    assert (probs.argmax(axis=0) == teachers.ukis_classes(refl, ALL_BANDS, "l1c")).mean() == 1.0
    assert 0.05 < (probs.argmax(axis=0) == 1).mean() < 0.95  # the patch has cloud and more than cloud
