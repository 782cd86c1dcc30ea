"""One card reader with kinds: a model of the other kind is refused with what to give instead."""
import pytest

from cloudfree.core.errors import ModelCardError
from cloudfree.core.model.card import card_kind, load_card, read_card
from cloudfree.core.reconstruction.inpainter import load_inpaint_card


def test_the_bundled_cards_have_the_kind_of_their_task():
    assert card_kind(read_card("cloudfree_s2", "mask")[2]) == "mask"
    assert card_kind(read_card("cloudfree_inpaint_s2", "inpaint")[2]) == "inpaint"


def test_a_reconstruction_model_given_for_masking_is_named_as_such():
    with pytest.raises(ModelCardError, match="cloudfree_inpaint_s2.onnx is a reconstruction model.*not a cloud-mask"):
        load_card("cloudfree_inpaint_s2")


def test_a_mask_model_given_for_reconstruction_is_named_as_such():
    with pytest.raises(ModelCardError, match="cloudfree_rgb.onnx is a cloud-mask model.*not a reconstruction"):
        load_inpaint_card("cloudfree_rgb")
    assert load_inpaint_card().name == "cloudfree_inpaint_s2"


def test_both_kinds_are_one_card_type_checked_the_same_way(tmp_path):
    import shutil
    from cloudfree.core.model.card import MODELS_DIR, ModelCard
    mask, inpaint = load_card("cloudfree_s2"), load_inpaint_card()
    assert type(mask) is type(inpaint) is ModelCard
    assert (mask.kind, inpaint.kind) == ("mask", "inpaint")
    assert len(mask.mean) == len(mask.bands) == 6 and inpaint.mean == [] and inpaint.classes == {}
    assert inpaint.patch_size == 256 and inpaint.input_multiple == 16
    # a reconstruction model swapped on disk is refused by the same hash check as a mask model
    for suffix in (".onnx", ".json"):
        shutil.copyfile(MODELS_DIR / f"cloudfree_inpaint_s2{suffix}", tmp_path / f"inpaint{suffix}")
    with open(tmp_path / "inpaint.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelCardError, match="belongs to another file"):
        load_inpaint_card(str(tmp_path / "inpaint.onnx"))
