"""Training end to end on real data, small enough for CI: labels, loop, resume, cancel, export parity."""
import numpy as np
import pytest
import rasterio

from cloudfree.cli.main import main as cli_main
from cloudfree.core.errors import Cancelled, InputError
from cloudfree.core.training.label_sources import scene_from_label_raster, scene_from_scl
from cloudfree.core.model.card import load_card
from cloudfree.core.progress import Feedback
from cloudfree.core.model.runtime import make_predictor
from cloudfree.core.masking.scl import SCL_TO_CLASS
from cloudfree.core.training.synthetic import IGNORE, TRAIN_BANDS
from cloudfree.core.training.train_model import train_model
from cloudfree.core.training.trainer import TrainConfig, Trainer
from cloudfree.core.training.data import Scene, SceneRecord, load_scenes, save_scenes

BGRN = ["B02", "B03", "B04", "B08"]


def tiny_config(**kw):
    base = dict(bands=BGRN, patch=64, batch_size=4, steps_per_epoch=3, max_epochs=2, validation_patches=8,
                device="cpu", architecture={"arch": "Unet", "encoder": "tu-mobilenetv3_small_100",
                                            "kwargs": {"encoder_depth": 4, "decoder_channels": [16, 16, 8, 8]}})
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def scl_scene(safe_l2a_old):
    return scene_from_scl(safe_l2a_old, 20)


@pytest.fixture(scope="module")
def training_set(tmp_path_factory, scl_scene, data_dir):
    """One real L2A product labelled by its SCL, and a real clear crop that gets synthetic clouds."""
    folder = data_dir / "s2_l1c_t33uuu_jp2"
    bands = []
    for b in TRAIN_BANDS:
        with rasterio.open(next(folder.glob(f"*_{b}.jp2"))) as ds:
            bands.append(ds.read(1, out_shape=(768, 384))[:160, :160].astype(np.float32) / 1e4)
    clear = Scene(SceneRecord("t33uuu_crop", "T33UUU", "synthetic", 20, "L1C", "MIT"), np.stack(bands),
                  np.zeros((160, 160), np.uint8))
    return save_scenes(tmp_path_factory.mktemp("set") / "scenes.npz", [scl_scene, clear])


def test_scl_labels_follow_the_products_own_scl(scl_scene, safe_l2a_old):
    scl_file = next(safe_l2a_old.rglob("*SCL_20m.jp2"))
    with rasterio.open(scl_file) as ds:
        scl = ds.read(1)
    expected = SCL_TO_CLASS[scl]
    expected[expected == 255] = IGNORE
    np.testing.assert_array_equal(scl_scene.label, expected)
    assert scl_scene.record.label_source == "scl" and scl_scene.record.place == "T33UUU"
    b02 = scl_scene.image[TRAIN_BANDS.index("B02")]
    assert 0.0 < np.nanmedian(b02) < 0.3 and np.isfinite(scl_scene.image).all()


def test_label_rasters_are_resampled_and_recoded(tmp_path, safe_l2a_old, scl_scene):
    scl_file = next(safe_l2a_old.rglob("*SCL_20m.jp2"))
    with rasterio.open(scl_file) as ds:
        profile, scl = ds.profile, ds.read(1)
    labels = np.where(scl == 8, 7, 0).astype(np.uint8)  # paint "7" where SCL says cloud
    profile.update(driver="GTiff", dtype="uint8", count=1)
    with rasterio.open(tmp_path / "labels.tif", "w", **profile) as ds:
        ds.write(labels, 1)
    scene = scene_from_label_raster(safe_l2a_old, tmp_path / "labels.tif", 20, "0=0,7=1")
    np.testing.assert_array_equal(scene.label == 1, scl == 8)
    np.testing.assert_array_equal(scene.image, scl_scene.image)
    with pytest.raises(InputError, match="thick or thin"):
        scene_from_label_raster(safe_l2a_old, tmp_path / "labels.tif", 20, "cloud_binary")


def test_train_export_and_run_in_both_engines(training_set, tmp_path):
    model = train_model([training_set], tmp_path / "models", "tiny", tiny_config(), workdir=tmp_path / "work")
    card = load_card(str(model.onnx_fp32))
    card16 = load_card(str(model.onnx_fp16))
    assert card.bands == BGRN and card.raw["precision"] == "fp32" and card16.raw["precision"] == "fp16"
    assert card.raw["onnx_parity_max_abs_diff"] <= 1e-4 and card16.raw["onnx_parity_max_abs_diff"] <= 2e-2
    assert {d["place"] for d in card.raw["training_data"]} == {"T33UUU"}
    assert card.raw["training"]["epochs_run"] == 2
    rng = np.random.default_rng(0)
    batch = rng.normal(0, 1, (2, 4, 64, 64)).astype(np.float32)
    onnx_probs = make_predictor(card, "onnx", "cpu")(batch)
    torch_probs = make_predictor(card, "torch", "cpu")(batch)
    np.testing.assert_allclose(onnx_probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
    half = make_predictor(card16, "onnx", "cpu")(batch)
    np.testing.assert_allclose(half, onnx_probs, atol=2e-2)


def test_a_run_resumes_from_its_checkpoint_and_cancel_keeps_it(training_set, tmp_path):
    class CancelAtOnce(Feedback):
        def is_cancelled(self):
            return True

    scenes = load_scenes([training_set])
    with pytest.raises(Cancelled, match="resume"):
        Trainer(tiny_config(), scenes, tmp_path, CancelAtOnce()).fit()
    assert (tmp_path / "checkpoint.pt").is_file()
    first = Trainer(tiny_config(max_epochs=1), scenes, tmp_path / "b")
    first.fit()
    again = Trainer(tiny_config(max_epochs=1), scenes, tmp_path / "b")
    assert again.resume() and again.epoch == 1 and again.history == first.history
    with pytest.raises(InputError, match="other settings"):
        Trainer(tiny_config(max_epochs=1, seed=5), scenes, tmp_path / "b").resume()


def test_fine_tuning_needs_the_base_models_bands(training_set, tmp_path):
    base = train_model([training_set], tmp_path, "base", tiny_config(max_epochs=1), workdir=tmp_path / "w1")
    with pytest.raises(InputError, match="same bands"):
        train_model([training_set], tmp_path, "ft", tiny_config(bands=["B02", "B03", "B04"]),
                    init_model=str(base.onnx_fp32))
    tuned = train_model([training_set], tmp_path, "ft", tiny_config(max_epochs=1), workdir=tmp_path / "w2",
                        init_model=str(base.onnx_fp32))
    assert load_card(str(tuned.onnx_fp32)).raw["training"]["fine_tuned_from"] == str(base.onnx_fp32)


def test_cli_prepares_from_scl_and_refuses_a_bad_output(safe_l2a_old, tmp_path, capsys):
    assert cli_main(["prepare", "--scl", str(safe_l2a_old), "-o", str(tmp_path / "set.npz")]) == 0
    scenes = load_scenes([tmp_path / "set.npz"])
    assert len(scenes) == 1 and scenes[0].record.label_source == "scl"
    assert cli_main(["train", str(tmp_path / "set.npz"), "-o", str(tmp_path / "model.txt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert not list(tmp_path.glob("model*"))
