"""Hostile or broken model cards (core.model.card): a card is trusted for bands, normalisation, patching,
class decision and the weights file, so each field that could feed the model wrong data, read a file outside
the model's folder, or run weights nobody checked is refused with ModelCardError / exit 2.
"""
import builtins
import io
import json
import math
import os
from pathlib import Path

import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import ModelCardError
from cloudfree.core.model.card import load_card

from reliability_kit import (assert_api_error, assert_cli_error, assert_no_temporaries, assert_unchanged, cli,
                             copy_model, raised, snapshot)

MODEL = "cloudfree_bgrn"


def _field(edit):
    """A card change made on the parsed JSON (written back with json.dumps: NaN stays the token NaN)."""
    def damage(onnx: Path) -> None:
        card = onnx.with_suffix(".json")
        raw = json.loads(card.read_text(encoding="utf-8"))
        edit(raw)
        card.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return damage


def _text(text: str):
    def damage(onnx: Path) -> None:
        onnx.with_suffix(".json").write_text(text, encoding="utf-8")
    return damage


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(raw):
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[keys[-1]] = value
    return edit


def _altered_onnx(onnx: Path) -> None:
    with open(onnx, "ab") as fh:
        fh.write(b"\0")


def _no_card(onnx: Path) -> None:
    onnx.with_suffix(".json").unlink()


def _std(i, value):
    return lambda raw: raw["normalisation"]["std"].__setitem__(i, value)


# case id -> (damage, parts of the message)
CARDS = {
    "std-nan": (_field(_std(0, math.nan)), ["normalisation.std", "NaN or infinity"]),
    "std-infinite": (_field(_std(3, math.inf)), ["normalisation.std", "NaN or infinity"]),
    "std-zero": (_field(_std(1, 0.0)), ["one positive std per band"]),
    "mean-too-short": (_field(lambda raw: raw["normalisation"].__setitem__("mean", raw["normalisation"]["mean"][:2])),
                       ["one mean and one positive std per band", "it has 2 and 4"]),
    "mean-strings": (_field(_set("normalisation", "mean", ["0.2", "0.2", "0.2", "0.3"])),
                     ["normalisation.mean", "must be a list of numbers"]),
    "normalisation-not-an-object": (_field(_set("normalisation", [0.2, 0.2])), ["'normalisation'", "mean and std"]),
    "bands-not-a-list": (_field(_set("bands", "B02,B03,B04,B08")), ["'bands'", "non-empty list of band names"]),
    "bands-empty": (_field(_set("bands", [])), ["'bands'", "non-empty list of band names"]),
    "classes-not-a-dict": (_field(_set("classes", ["clear", "thick cloud", "thin cloud", "cloud shadow"])),
                           ["'classes'", "must map class numbers to names"]),
    "classes-without-shadow": (_field(_set("classes", {"0": "clear", "1": "thick cloud", "2": "thin cloud"})),
                               ["lists classes [0, 1, 2]", "3 cloud shadow"]),
    "patch-size-zero": (_field(_set("patch_size", 0)), ["patch_size 0", "16 <= patch_size <= 4096"]),
    "patch-size-huge": (_field(_set("patch_size", 100000)), ["patch_size 100000", "16 <= patch_size <= 4096"]),
    "patch-size-not-multiple": (_field(_set("patch_size", 500)), ["patch_size 500", "not a multiple"]),
    "resolution-15": (_field(_set("resolution_m", 15)), ["resolution_m must be 10, 20 or 60", "not 15"]),
    "output-unknown": (_field(_set("output", "softmax")), ["'output' must be 'probabilities' or 'logits'", "softmax"]),
    "architecture-not-an-object": (_field(_set("architecture", "Unet")), ["'architecture'", "must be an object"]),
    "weights-file-etc-passwd": (_field(_set("architecture", "weights_file", "/etc/passwd")),
                                ["'/etc/passwd'", "plain file name beside the card"]),
    "weights-file-dotdot": (_field(_set("architecture", "weights_file", "../x.pt")),
                            ["'../x.pt'", "plain file name beside the card"]),
    "weights-file-subfolder": (_field(_set("architecture", "weights_file", "sub/x.pt")),
                               ["'sub/x.pt'", "plain file name beside the card"]),
    "weights-file-backslash": (_field(_set("architecture", "weights_file", "..\\x.pt")),
                               ["plain file name beside the card"]),
    "cloud-weight-nan": (_field(_set("decision", "cloud_weight", math.nan)), ["decision.cloud_weight", "nan"]),
    "cloud-weight-negative": (_field(_set("decision", "cloud_weight", -1)), ["decision.cloud_weight", "-1"]),
    "shadow-weight-string": (_field(_set("decision", "shadow_weight", "2")), ["decision.shadow_weight", "'2'"]),
    "sha256-of-another-file": (_field(_set("sha256", "0" * 64)), ["belongs to another file", "000000000000"]),
    "onnx-altered-after-card": (_altered_onnx, ["belongs to another file", f"{MODEL}.onnx hashes to"]),
    "card-not-json": (_text("{ this is not json"), ["Cannot read the model card"]),
    "card-is-a-json-list": (_text('["B02", "B03", "B04", "B08"]'), ["is not a JSON object"]),
    "card-missing": (_no_card, ["has no model card", f"{MODEL}.json"]),
}


def _model(work: Path, case: str) -> Path:
    onnx = copy_model(MODEL, work / "models")
    CARDS[case][0](onnx)
    return onnx


@pytest.mark.parametrize("case", list(CARDS))
def test_load_card_refuses_hostile_card(case, work):
    """load_card is the one gate every engine (ONNX, torch, QGIS, batch) passes: it must refuse the card itself."""
    onnx = _model(work, case)
    before = snapshot(work)
    exc = raised(load_card, str(onnx))
    parts = CARDS[case][1] + ([] if case == "onnx-altered-after-card" else [f"{MODEL}.json"])
    assert_api_error(exc, ModelCardError, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("case", list(CARDS))
def test_cli_refuses_hostile_card(case, work, sample):
    """`cloudmask --model` with a hostile card exits 2 with the card named, before the input is masked."""
    onnx = _model(work, case)
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "m.tif", "--model", onnx.relative_to(work), "--resolution", "60", cwd=work)
    assert_cli_error(proc, *CARDS[case][1], MODEL)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def _without_weights_sha(onnx: Path) -> None:
    _field(lambda raw: raw["architecture"].pop("weights_sha256"))(onnx)


def _zeroed_weights(onnx: Path) -> None:
    pt = onnx.with_suffix(".pt")
    size = pt.stat().st_size
    pt.unlink()
    pt.write_bytes(b"\0" * size)


TORCH = {
    "no-weights-sha256": (_without_weights_sha, ["gives no weights_sha256", f"{MODEL}.pt"]),
    "zeroed-weights": (_zeroed_weights, [f"{MODEL}.pt does not match the weights_sha256"]),
}


@pytest.mark.parametrize("case", list(TORCH))
def test_torch_weights_are_verified_before_loading(case, work):
    """torch.load of unchecked weights runs whatever the file holds; the card's weights_sha256 must match first."""
    onnx = copy_model(MODEL, work / "models")
    TORCH[case][0](onnx)
    card = load_card(str(onnx))  # the ONNX side is intact
    before = snapshot(work)
    exc = raised(card.verified_torch_weights)
    assert_api_error(exc, ModelCardError, *TORCH[case][1])
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("case", list(TORCH))
def test_cli_torch_engine_refuses_unverified_weights(case, work, sample):
    """`--engine torch` with weights the card cannot vouch for exits 2 and writes no mask."""
    onnx = copy_model(MODEL, work / "models")
    TORCH[case][0](onnx)
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "m.tif", "--model", onnx.relative_to(work), "--engine", "torch",
               "--device", "cpu", "--resolution", "60", cwd=work)
    assert_cli_error(proc, *TORCH[case][1])
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("weights_file", ["/etc/passwd", "../outside.pt"])
def test_weights_outside_the_model_folder_are_never_opened(weights_file, work, sample, monkeypatch):
    """A card must not be a way to make CloudFree read (or torch.load) any file on the machine."""
    onnx = copy_model(MODEL, work / "models")
    _field(_set("architecture", "weights_file", weights_file))(onnx)
    outside = (onnx.parent / weights_file).resolve()
    if weights_file.startswith("../"):
        outside.write_bytes((onnx.with_suffix(".pt")).read_bytes())
    forbidden = {os.path.realpath(outside), os.path.realpath(weights_file) if weights_file.startswith("/") else ""}
    opened = []

    def spy(real):
        def wrapper(file, *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)):
                opened.append(os.path.realpath(os.fsdecode(file)))
            return real(file, *args, **kwargs)
        return wrapper

    before = snapshot(work)  # hashing reads every file: taken before the spy starts
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(io, "open", spy(io.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    exc_card = raised(load_card, str(onnx))
    exc_run = raised(cloud_mask, sample, work / "m.tif", model=str(onnx), engine="torch", device="cpu",
                     resolution_m=60)
    monkeypatch.undo()
    for exc in (exc_card, exc_run):
        assert_api_error(exc, ModelCardError, repr(weights_file), "plain file name beside the card")
    assert not forbidden & set(opened), f"{weights_file} was opened"
    assert opened, "the spy saw no file opened at all (it did not work)"
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
