"""Band presets and mappings against the files they describe, written out by hand."""
import pytest
import rasterio
from rasterio.enums import ColorInterp

from cloudfree.core.io.bands import (ALL_BANDS, L2A_BANDS, NATIVE_RESOLUTION_M, canonical_band, check_mapping,
                                  parse_mapping, preset_mapping)
from cloudfree.core.errors import BandMappingError

# preset -> {band: 1-based raster band}, as the exports the presets name store them
EXPECTED = {
    "s2_l1c": {"B01": 1, "B02": 2, "B03": 3, "B04": 4, "B05": 5, "B06": 6, "B07": 7, "B08": 8, "B8A": 9,
               "B09": 10, "B10": 11, "B11": 12, "B12": 13},
    "s2_l2a": {"B01": 1, "B02": 2, "B03": 3, "B04": 4, "B05": 5, "B06": 6, "B07": 7, "B08": 8, "B8A": 9,
               "B09": 10, "B11": 11, "B12": 12},
    "bgrn": {"B02": 1, "B03": 2, "B04": 3, "B08": 4},
    "rgb": {"B04": 1, "B03": 2, "B02": 3},     # a true-colour (display) file: red, green, blue
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_preset_mappings(preset):
    assert preset_mapping(preset) == EXPECTED[preset]


def test_the_rgb_preset_matches_a_real_true_colour_export(data_dir):
    """Layton's RGB.tif is a display image of B04 B03 B02; its bands say so in their colour interpretation."""
    with rasterio.open(data_dir / "s2_l2a_shadow_layton" / "2020-06-15" / "RGB.tif") as ds:
        colour = ds.colorinterp
    mapping = preset_mapping("rgb")
    assert colour[mapping["B04"] - 1] == ColorInterp.red
    assert colour[mapping["B03"] - 1] == ColorInterp.green
    assert colour[mapping["B02"] - 1] == ColorInterp.blue


def test_band_lists_and_native_resolutions():
    assert ALL_BANDS == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    assert L2A_BANDS == [b for b in ALL_BANDS if b != "B10"] and len(L2A_BANDS) == 12
    assert {b for b, r in NATIVE_RESOLUTION_M.items() if r == 10} == {"B02", "B03", "B04", "B08"}
    assert {b for b, r in NATIVE_RESOLUTION_M.items() if r == 20} == {"B05", "B06", "B07", "B8A", "B11", "B12"}
    assert {b for b, r in NATIVE_RESOLUTION_M.items() if r == 60} == {"B01", "B09", "B10"}


def test_written_mappings_are_read_as_written():
    assert parse_mapping("b2=3; B8a:1, B12 = 2") == {"B02": 3, "B8A": 1, "B12": 2}
    assert canonical_band(" b8 ") == "B08" and canonical_band("B8A") == "B8A"
    assert parse_mapping("B04=1") == {"B04": 1}
    for bad, message in (("B02=0", "start at 1"), ("B02=1, B2=2", "twice"), ("B13=1", "not a Sentinel-2 band"),
                         ("B02", "BAND=INDEX"), ("", "empty")):
        with pytest.raises(BandMappingError, match=message):
            parse_mapping(bad)


def test_check_mapping_returns_the_raster_bands_in_the_models_order():
    mapping = {"B02": 4, "B03": 3, "B04": 2, "B08": 1}
    assert check_mapping(mapping, 4, ["B04", "B08", "B02"]) == [2, 1, 4]
    with pytest.raises(BandMappingError, match="has 3 band"):      # B02=4 on a 3-band raster
        check_mapping(mapping, 3, ["B02"])
    assert check_mapping(mapping, 3, ["B03", "B04"]) == [3, 2]     # the highest band asked for is the last one
    with pytest.raises(BandMappingError, match="has no B11"):
        check_mapping(mapping, 4, ["B02", "B11"])
    with pytest.raises(BandMappingError, match="Unknown band preset"):
        preset_mapping("RGB ")
