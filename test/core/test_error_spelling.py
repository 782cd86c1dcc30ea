"""Each front end names an option its own way: the command line's flag, Python's keyword, QGIS's field."""
import pytest
from single_image_fixture import build_display_image

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import InputError, describe_error, option, render_message


def test_an_option_is_spelled_per_front_end():
    text = f"give the DN scale ({option('dn_scale', '255')})."
    assert render_message(text, "cli") == "give the DN scale (--dn-scale 255)."
    assert render_message(text, "python") == "give the DN scale (dn_scale=255)."
    assert render_message(text, "qgis") == "give the DN scale (Advanced > DN scale: 255)."
    assert "this dialog has no such field" in render_message(f"({option('max_memory', '512')})", "qgis")
    assert render_message(text) == "give the DN scale (--dn-scale 255 (Python: dn_scale=255))."
    shown = render_message(f"raise the limit ({option('max_masked', '95')})", "qgis")
    assert shown == "raise the limit (Advanced > Largest masked share (%): 95)"
    with pytest.raises(KeyError):
        option("no_such_option")


def test_a_real_refusal_names_no_command_line_flag_in_qgis(tmp_path):
    path = build_display_image(tmp_path / "display.tif")
    with pytest.raises(InputError) as caught:
        cloud_mask(path, tmp_path / "m.tif", band_preset="rgb")
    assert "--dn-scale 255" in describe_error(caught.value, "cli") and "dn_scale=" not in describe_error(caught.value, "cli")
    qgis = caught.value.render("qgis")
    assert "8-bit" in qgis and "dn_scale=" not in qgis and "\x1e" not in qgis
    assert "\x1e" not in str(caught.value) and "--dn-scale 255" in str(caught.value)
