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
