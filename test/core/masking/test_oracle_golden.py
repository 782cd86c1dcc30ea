"""Golden figures of the shipped cloudfree_s2 on real data: class counts of the repository's sample and of two
dates of the eo-learn series (../shared/data), and the cloud accuracy on a human-labelled patch.

The counts pin what the whole chain gives (reading, scaling, band mapping,
tiling and blending, class decision, shadow geometry, buffering, writing) for
one model: its weights file (sha256) and what its card says about deciding
classes (decision weights, normalisation, tiling).  When the model is retrained
or recalibrated the test says so and asks for the figures to be recorded again;
when the figures change with the same model, behaviour changed: find out why
before recording again.

To re-record (after a retrained model, or a change meant to change masks):

    OMP_NUM_THREADS=1 .venv/bin/python test/core/masking/test_oracle_golden.py

and paste the dict it prints over GOLDEN below.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
CARD = REPO / "models" / "cloudfree_s2.json"

# ---- recorded figures: regenerate with `python test/core/masking/test_oracle_golden.py` (see the docstring) ----
GOLDEN = {
    "model": {
        "sha256": "1b3e9162cb2c7bae14850b5a33a53ad9210691eb3a45b76c3f0ec0b112a8d1b4",
        "decision": [2.52, 16.0],
        "mean": [0.26347, 0.25033, 0.26246, 0.35999, 0.26946, 0.19483],
        "std": [0.25957, 0.24399, 0.26284, 0.23696, 0.14012, 0.11666],
        "patch_size": 512,
        "overlap": 64,
    },
    "counts": {
        "sample": {"0": 1793, "1": 1718, "2": 10082, "3": 2791, "255": 0},
        "sample_buffer_3": {"0": 1200, "1": 1718, "2": 10387, "3": 3079, "255": 0},
        "eolearn_20150820": {"0": 1, "1": 1549, "2": 950, "3": 0, "255": 0},
        "eolearn_20150909": {"0": 2491, "1": 0, "2": 0, "3": 9, "255": 0},
    },
    "ukis_s2_cloud_balanced_accuracy": 0.9509,
}
# -------------------------------------------------------------------------------------------------------
#: a class count may move by this share of the patch's valid pixels (a few pixels at a class border can flip
#: between machines: other CPU instructions, another onnxruntime build) and no more
TOLERANCE = 0.002
#: the least cloud balanced accuracy on the labelled ukis-csmask Sentinel-2 patch, whatever the model
ACCURACY_FLOOR = 0.85

#: eo-learn REFERENCE_SCENES frames (../shared/data/README.md): 0 is 2015-08-20, cloudy; 2 is 2015-09-09, clear
EOLEARN_FRAMES = {"eolearn_20150820": 0, "eolearn_20150909": 2}
CASES = {  # name -> (input, cloud_mask keyword arguments)
    "sample": ("sample", {}),
    "sample_buffer_3": ("sample", {"buffer_px": 3}),
    "eolearn_20150820": ("eolearn_20150820", {}),
    "eolearn_20150909": ("eolearn_20150909", {}),
}


def model_pin() -> dict:
    """What of models/cloudfree_s2.json decides the classes: the weights file (its sha256), the decision
    weights, the normalisation and the tiling; not the figures a card also carries."""
    card = json.loads(CARD.read_text(encoding="utf-8"))
    decision = card.get("decision", {})
    return {"sha256": card["sha256"],
            "decision": [decision.get("cloud_weight", 1.0), decision.get("shadow_weight", 1.0)],
            "mean": card["normalisation"]["mean"], "std": card["normalisation"]["std"],
            "patch_size": card["patch_size"], "overlap": card["overlap"]}


def eolearn_patch(folder: Path, name: str) -> Path:
    """A frame of the eo-learn series (13 bands, TOA reflectance, 100 x 101 px) as a GeoTIFF on its EPSG:32633 bbox."""
    path = folder / f"{name}.tif"
    if path.exists():
        return path
    cube = np.load(DATA / "s2_l1c_timeseries_eolearn" / "REFERENCE_SCENES.npy")[EOLEARN_FRAMES[name]]   # (h, w, 13)
    ring = json.loads((DATA / "s2_l1c_timeseries_eolearn" / "bbox.geojson").read_text())["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    h, w = cube.shape[:2]
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=13, dtype="float32", crs="EPSG:32633",
                       transform=from_bounds(min(xs), min(ys), max(xs), max(ys), w, h)) as ds:
        ds.write(np.moveaxis(cube, -1, 0).astype(np.float32))
    return path


def inputs(folder: Path) -> dict:
    paths = {name: eolearn_patch(folder, name) for name in EOLEARN_FRAMES}
    paths["sample"] = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
    return paths


def class_counts(source: Path, out: Path, kwargs: dict) -> dict:
    from cloudfree.core.api import cloud_mask
    result = cloud_mask(source, out, model="cloudfree_s2", resolution_m=20, device="cpu", **kwargs)
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    counts = {str(c): int((classes == c).sum()) for c in (0, 1, 2, 3, 255)}
    assert {int(c): n for c, n in counts.items() if c != "255"} == result.stats.counts  # the file says what the run said
    return counts


def ukis_cloud_balanced_accuracy(folder: Path) -> float:
    """Cloud BA of `cloudfree cloudmask` at 20 m on ukis-csmask's labelled Sentinel-2 patch, scored on its labels.

    The patch (512 x 512, six TOA bands, no georeference) is written as a 10 m GeoTIFF on an arbitrary UTM
    grid; the 20 m mask is repeated 2 x 2 back onto the labels (0 shadow, 1 water, 3 land, 4 cloud).
    """
    from cloudfree.core.api import cloud_mask
    from cloudfree.core.evaluation.masks import Evaluation, groups_for, parse_scheme

    npz = np.load(DATA / "s2_labelled_ukis" / "sentinel2.npz")
    img, labels = npz["img"].astype(np.float32), npz["msk"][..., 0]
    src = folder / "ukis_s2.tif"
    with rasterio.open(src, "w", driver="GTiff", width=img.shape[1], height=img.shape[0], count=6, dtype="float32",
                       crs="EPSG:32632", transform=from_bounds(500000, 5000000, 505120, 5005120, 512, 512)) as ds:
        ds.write(np.moveaxis(img, -1, 0))
    cloud_mask(src, folder / "ukis_s2_mask.tif", model="cloudfree_s2", resolution_m=20, device="cpu",
               band_mapping="B02=1, B03=2, B04=3, B08=4, B11=5, B12=6")
    with rasterio.open(folder / "ukis_s2_mask.tif") as ds:
        classes = np.repeat(np.repeat(ds.read(1), 2, axis=0), 2, axis=1)
    scheme = parse_scheme("ukis")
    ev = Evaluation(groups_for(scheme))
    ev.add(classes, labels, scheme)
    return float(ev.scores()["cloud"]["balanced_accuracy"])


def record(folder: Path) -> dict:
    paths = inputs(folder)
    counts = {name: class_counts(paths[src], folder / f"mask_{name}.tif", kwargs)
              for name, (src, kwargs) in CASES.items()}
    return {"model": model_pin(), "counts": counts,
            "ukis_s2_cloud_balanced_accuracy": round(ukis_cloud_balanced_accuracy(folder), 4)}


# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pinned():
    pin = model_pin()
    changed = {k: v for k, v in pin.items() if v != GOLDEN["model"].get(k)}
    if changed:
        what = ", ".join(f"{k} {str(GOLDEN['model'].get(k))[:16]} -> {str(v)[:16]}" for k, v in changed.items())
        pytest.fail(f"The model changed (models/cloudfree_s2.json: {what}): the golden figures are of the "
                    "previous one. Re-record them: OMP_NUM_THREADS=1 .venv/bin/python test/core/masking/test_oracle_golden.py "
                    "(then paste its output over GOLDEN)", pytrace=False)
    return GOLDEN


@pytest.fixture(scope="module")
def patches(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("golden")
    return folder, inputs(folder)


@pytest.mark.parametrize("name", sorted(CASES))
def test_class_counts_of_the_pinned_model_on_real_patches(pinned, patches, name):
    folder, paths = patches
    src, kwargs = CASES[name]
    got = class_counts(paths[src], folder / f"mask_{name}.tif", kwargs)
    want = pinned["counts"][name]
    valid = sum(n for c, n in want.items() if c != "255")
    assert got["255"] == want["255"], f"{name}: the no-data pixels changed: {got} != {want}"
    off = {c: got[c] - want[c] for c in want if abs(got[c] - want[c]) > TOLERANCE * valid}
    assert not off, (f"{name}: class counts {got} differ from the recorded {want} by {off} pixels (more than "
                     f"{TOLERANCE:.1%} of {valid}) with the same model: the masks changed. If that is intended, "
                     "re-record (see the module docstring).")


@pytest.fixture(scope="module")
def ukis_ba(patches):
    return ukis_cloud_balanced_accuracy(patches[0])


def test_cloud_accuracy_on_a_human_labelled_patch_is_above_the_floor(ukis_ba):
    """Whatever the model: the shipped one must find the clouds of ukis-csmask's labelled Sentinel-2 patch."""
    assert ukis_ba >= ACCURACY_FLOOR, f"cloud balanced accuracy {ukis_ba:.4f} on ukis_s2 is below {ACCURACY_FLOOR}"


def test_cloud_accuracy_of_the_pinned_model_is_the_recorded_one(pinned, ukis_ba):
    assert ukis_ba == pytest.approx(pinned["ukis_s2_cloud_balanced_accuracy"], abs=0.002), (
        "the accuracy changed with the same model: the chain from probabilities to classes changed")


def format_golden(figures: dict) -> str:
    lines = ["GOLDEN = {", '    "model": {']
    lines += [f'        "{k}": {json.dumps(v)},' for k, v in figures["model"].items()]
    lines += ["    },", '    "counts": {']
    lines += [f'        "{name}": {json.dumps(c)},' for name, c in figures["counts"].items()]
    lines += ["    },", f'    "ukis_s2_cloud_balanced_accuracy": {figures["ukis_s2_cloud_balanced_accuracy"]},', "}"]
    return "\n".join(lines)


if __name__ == "__main__":  # print the figures to paste over GOLDEN
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(format_golden(record(Path(tmp))))
