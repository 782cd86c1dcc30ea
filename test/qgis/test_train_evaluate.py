"""cloudfree:evaluate and cloudfree:train run headless through processing.run, on real data."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[2]
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
RES_20M = 1  # index of "20 m" in the RESOLUTION enum
BANDS_BGRN = 1  # index of "Blue, green, red, NIR" in the BANDS enum
#: The SCL reference scheme written out independently of core.evaluation: SCL value -> CloudFree class.
SCL_REFERENCE = {2: 0, 3: 3, 4: 0, 5: 0, 6: 0, 7: 0, 8: 1, 9: 1, 10: 2, 11: 0}

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


def run(algorithm: str, parameters: dict) -> dict:
    import processing
    return processing.run(f"cloudfree:{algorithm}", parameters)


def scheme_index(name: str) -> int:
    from cloudfree.algorithms.evaluate import SCHEME_KEYS
    return SCHEME_KEYS.index(name)


def scl_of(product: Path) -> Path:
    (scl,) = product.glob("GRANULE/*/IMG_DATA/R20m/*SCL_20m.jp2")
    return scl


def expected_counts(mask: np.ndarray, scl: np.ndarray, mask_classes, ref_classes):
    """tp, fp, fn, tn of one class group, over pixels valid in both rasters, computed here from the arrays."""
    lut = np.full(256, 255, np.uint8)
    for value, cls in SCL_REFERENCE.items():
        lut[value] = cls
    ref = lut[scl]
    valid = (ref != 255) & (mask != 255)
    p, r = np.isin(mask[valid], mask_classes), np.isin(ref[valid], ref_classes)
    return int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum()), int((~p & ~r).sum())


@pytest.fixture(scope="module")
def scl_mask(tmp_path_factory, safe_l2a_old):
    """The CloudFree mask that cloudfree:sclmask derives from the product, at 20 m."""
    out = tmp_path_factory.mktemp("sclmask") / "scl_mask.tif"
    run("sclmask", {"SAFE": str(safe_l2a_old), "RESOLUTION": RES_20M, "OUTPUT": str(out)})
    return out


def test_evaluate_mask_against_its_own_scl_then_a_damaged_copy(tmp_path, safe_l2a_old, scl_mask):
    reference = scl_of(safe_l2a_old)
    table = tmp_path / "scores.csv"
    result = run("evaluate", {"MASK": str(scl_mask), "REFERENCE": str(reference),
                              "REFERENCE_CLASSES": scheme_index("scl"), "OUTPUT_TABLE": str(table)})

    with rasterio.open(scl_mask) as m, rasterio.open(reference) as r:
        assert (m.width, m.height, m.transform) == (r.width, r.height, r.transform)  # same grid: no resampling
        mask, scl, profile = m.read(1), r.read(1), m.profile
    present = {"clear": (0,), "cloud": (1, 2), "thick cloud": (1,), "thin cloud": (2,), "shadow": (3,)}
    scored = 0
    for group, classes in present.items():
        key = group.upper().replace(" ", "_")
        tp, fp, fn, tn = expected_counts(mask, scl, classes, classes)
        assert fp == fn == 0  # the mask is its own reference
        assert result[f"{key}_REFERENCE_PIXELS"] == tp
        if tp and tn:
            assert result[f"{key}_BALANCED_ACCURACY"] == 1.0
            assert result[f"{key}_F1"] == 1.0 and result[f"{key}_IOU"] == 1.0
            scored += 1
    assert scored >= 3  # clear, cloud and shadow at least are in the real SCL
    assert result["SHADOW_REFERENCE_PIXELS"] > 0
    assert result["PIXELS"] == int(((mask != 255) & np.isin(scl, list(SCL_REFERENCE))).sum())
    assert Path(result["OUTPUT_TABLE"]) == table
    with open(table, newline="") as fh:
        rows = {row["class"]: row for row in csv.DictReader(fh)}
    assert set(rows) == set(present)
    assert float(rows["shadow"]["balanced_accuracy"]) == 1.0
    assert int(rows["shadow"]["reference_pixels"]) == result["SHADOW_REFERENCE_PIXELS"]

    # A copy with a known block of clear pixels turned into shadow: the shadow user's accuracy drops by
    # exactly those false positives, its producer's accuracy stays 1, and clear loses as many pixels.
    damaged = mask.copy()
    rows_idx, cols_idx = np.nonzero(mask == 0)
    block = slice(0, 500)
    damaged[rows_idx[block], cols_idx[block]] = 3
    changed = int((damaged != mask).sum())
    assert changed == 500
    damaged_path = tmp_path / "damaged.tif"
    with rasterio.open(damaged_path, "w", **profile) as dst:
        dst.write(damaged, 1)
    json_table = tmp_path / "scores.json"
    result = run("evaluate", {"MASK": str(damaged_path), "REFERENCE": str(reference),
                              "REFERENCE_CLASSES": scheme_index("scl"), "OUTPUT_TABLE": str(json_table)})
    tp, fp, fn, tn = expected_counts(damaged, scl, (3,), (3,))
    new_fp = int(np.isin(scl[rows_idx[block], cols_idx[block]], list(SCL_REFERENCE)).sum())
    assert (fp, fn) == (new_fp, 0) and new_fp > 0
    assert result["SHADOW_USERS_ACCURACY"] == pytest.approx(tp / (tp + fp), abs=1e-12)
    assert result["SHADOW_USERS_ACCURACY"] < 1.0
    assert result["SHADOW_PRODUCERS_ACCURACY"] == 1.0
    assert result["SHADOW_BALANCED_ACCURACY"] == pytest.approx((1.0 + tn / (tn + fp)) / 2, abs=1e-12)
    assert result["SHADOW_F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    assert result["SHADOW_IOU"] == pytest.approx(tp / (tp + fp + fn), abs=1e-12)
    ctp, cfp, cfn, _ = expected_counts(damaged, scl, (0,), (0,))
    assert (cfp, cfn) == (0, new_fp)
    assert result["CLEAR_PRODUCERS_ACCURACY"] == pytest.approx(ctp / (ctp + cfn), abs=1e-12)
    assert result["CLOUD_BALANCED_ACCURACY"] == 1.0  # cloud pixels were not touched
    scores = json.loads(json_table.read_text())
    assert scores["shadow"]["users_accuracy"] == pytest.approx(result["SHADOW_USERS_ACCURACY"])


def test_evaluate_binary_reference_leaves_shadow_unscored(tmp_path, safe_l2a_old, scl_mask):
    """A cloud-only reference (written with explicit codes) scores cloud, and shadow gives no value."""
    reference = scl_of(safe_l2a_old)
    result = run("evaluate", {"MASK": str(scl_mask), "REFERENCE": str(reference),
                              "REFERENCE_CODES": "2=5, 4=5, 5=5, 6=5, 7=5, 11=5, 3=5, 8=4, 9=4, 10=4"})
    assert result["CLOUD_BALANCED_ACCURACY"] == 1.0
    for key in ("SHADOW_BALANCED_ACCURACY", "SHADOW_F1", "SHADOW_IOU", "CLEAR_BALANCED_ACCURACY",
                "THICK_CLOUD_F1"):
        value = result[key]
        assert value is None or math.isnan(value), key
    assert not result.get("OUTPUT_TABLE")


def test_evaluate_refuses_reference_without_crs_on_another_grid(tmp_path, scl_mask):
    from qgis.core import QgsProcessingException

    reference = tmp_path / "no_crs.tif"
    labels = np.zeros((50, 70), np.uint8)
    labels[10:20, 10:30] = 1
    with rasterio.open(reference, "w", driver="GTiff", width=70, height=50, count=1, dtype="uint8",
                       transform=rasterio.Affine(1, 0, 0, 0, -1, 50)) as dst:
        dst.write(labels, 1)
    table = tmp_path / "scores.csv"
    with pytest.raises(QgsProcessingException, match="no CRS"):
        run("evaluate", {"MASK": str(scl_mask), "REFERENCE": str(reference),
                         "REFERENCE_CLASSES": scheme_index("cloud_binary"), "OUTPUT_TABLE": str(table)})
    assert not table.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_crs.tif"]


def test_train_on_scl_labels_then_mask_with_the_model(tmp_path, safe_l2a_old):
    from cloudfree.core.model.card import load_card

    out = tmp_path / "models" / "my_bgrn.onnx"
    result = run("train", {"L2A_PRODUCTS": [str(safe_l2a_old)], "BANDS": BANDS_BGRN, "RESOLUTION": RES_20M,
                           "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "SEED": 3, "DEVICE": 1, "OUTPUT_MODEL": str(out)})
    assert Path(result["OUTPUT_MODEL"]) == out
    assert Path(result["OUTPUT_MODEL_FP16"]) == out.with_name("my_bgrn_fp16.onnx")
    assert (result["EPOCHS_RUN"], result["BEST_EPOCH"]) == (1, 1)
    assert math.isfinite(result["VALIDATION_LOSS"]) and result["VALIDATION_LOSS"] > 0
    assert 0.0 <= result["VALIDATION_CLOUD_BA"] <= 1.0
    # the model, its fp16 twin, their cards and the weights; no training leftovers (set, work folder)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "my_bgrn.json", "my_bgrn.onnx", "my_bgrn.pt", "my_bgrn_fp16.json", "my_bgrn_fp16.onnx"]

    card = load_card(str(out))
    assert card.bands == ["B02", "B03", "B04", "B08"]
    assert card.resolution_m == 20 and card.name == "my_bgrn"
    assert card.torch_weights == out.with_suffix(".pt")
    assert card.raw["training"]["config"]["max_epochs"] == 1
    assert card.raw["training"]["config"]["steps_per_epoch"] == 2
    assert card.raw["training_data"] == [{"place": "T33UUU", "scenes": 1, "label_sources": ["scl"],
                                          "licences": ["user data"]}]
    assert load_card(str(result["OUTPUT_MODEL_FP16"])).bands == card.bands

    mask_path = tmp_path / "mask.tif"
    masked = run("cloudmask", {"SAFE": str(safe_l2a_old), "MODEL": str(out), "RESOLUTION": RES_20M,
                               "PATCH_SIZE": 256, "OVERLAP": 32, "OUTPUT": str(mask_path)})
    with rasterio.open(mask_path) as m:
        assert (m.width, m.height) == (768, 384)
        classes = m.read(1)
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 255}
    valid = classes != 255
    assert valid.mean() > 0.5
    assert masked["CLOUD_PERCENT"] == pytest.approx(100.0 * np.isin(classes[valid], (1, 2)).mean(), abs=1e-6)


def test_train_refuses_unpaired_images_and_labels(tmp_path, layton_scl):
    from qgis.core import QgsProcessingException

    out = tmp_path / "model.onnx"
    with pytest.raises(QgsProcessingException, match="one label raster per image.*2 images but 1 label"):
        run("train", {"IMAGES": [str(SAMPLE_L1C), str(SAMPLE_L1C)], "LABELS": [str(layton_scl)],
                      "EPOCHS": 1, "STEPS_PER_EPOCH": 1, "OUTPUT_MODEL": str(out)})
    with pytest.raises(QgsProcessingException, match="No training data"):
        run("train", {"EPOCHS": 1, "STEPS_PER_EPOCH": 1, "OUTPUT_MODEL": str(out)})
    assert not list(tmp_path.iterdir())


def test_train_failure_leaves_no_model_behind(tmp_path, layton_scl):
    """Labels that do not overlap the image: the run fails in the engine, and nothing is left in the folder."""
    from qgis.core import QgsProcessingException

    out = tmp_path / "model.onnx"
    with pytest.raises(QgsProcessingException, match="no labelled pixel"):
        run("train", {"IMAGES": [str(SAMPLE_L1C)], "LABELS": [str(layton_scl)], "LABEL_CLASSES": "4=0, 8=1, 3=3",
                      "EPOCHS": 1, "STEPS_PER_EPOCH": 1, "OUTPUT_MODEL": str(out)})
    assert not list(tmp_path.iterdir())


def test_cancelled_training_keeps_the_older_model_and_leaves_nothing_else(tmp_path, safe_l2a_old):
    """Cancelled after the first training step: the model of the same name already there is untouched."""
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    out = tmp_path / "model.onnx"
    out.write_bytes(b"an older model")
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda percent: feedback.cancel() if percent > 10.5 else None)
    import processing
    with pytest.raises(QgsProcessingException, match="cancelled; no model was written"):
        processing.run("cloudfree:train", {"L2A_PRODUCTS": [str(safe_l2a_old)], "BANDS": 2, "EPOCHS": 1,
                                           "STEPS_PER_EPOCH": 3, "DEVICE": 1, "OUTPUT_MODEL": str(out)},
                       feedback=feedback)
    assert feedback.isCanceled()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    assert out.read_bytes() == b"an older model"
