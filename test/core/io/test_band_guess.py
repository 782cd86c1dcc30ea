"""Auto band order: trusted only when band names or the pixels confirm it; otherwise a question, not a guess."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from cloudfree.core.api import cloud_mask
from cloudfree.core.io.band_guess import _band_of
from cloudfree.cli.main import main
from cloudfree.core.errors import BandMappingError
from cloudfree.core.io.inputs import available_bands
from conftest import DATA, SAMPLE

L1C_INDEX = {b: i + 1 for i, b in enumerate(["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                                             "B10", "B11", "B12"])}


def write(path, bands, descriptions=None, photometric=None):
    """A GeoTIFF of the sample's bands in the given order (real top-of-atmosphere DN)."""
    with rasterio.open(SAMPLE) as src:
        profile = src.profile
        data = src.read([L1C_INDEX[b] for b in bands])
    profile.update(count=len(bands))
    if photometric:
        profile.update(photometric=photometric, interleave="pixel")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return path


@pytest.mark.parametrize("text, band", [("B2", "B02"), ("B02", "B02"), ("b8a", "B8A"), ("Blue", "B02"),
                                        ("NIR", "B08"), ("near infrared (B8)", "B08"), ("Red", "B04"),
                                        ("Red edge 1", None), ("Band 1", None), ("", None), ("SWIR 1", None)])
def test_band_names_are_read_from_descriptions(text, band):
    assert _band_of(text) == band


def test_rgbn_without_names_is_refused_not_read_as_bgrn(tmp_path):
    """The issue's case: R, G, B, NIR with Auto was read as B, G, R, NIR (cloud 0.7 % instead of 4.0 %)."""
    path = write(tmp_path / "rgbn.tif", ["B04", "B03", "B02", "B08"])
    with pytest.raises(BandMappingError, match=r"do not confirm the usual order B02/B03/B04/B08.*darkest 2 %"):
        available_bands(path)
    assert main(["cloudmask", str(path), "-o", str(tmp_path / "m.tif")]) == 2
    assert not (tmp_path / "m.tif").exists()


def test_rgbn_with_band_names_runs_as_its_explicit_mapping(tmp_path):
    named = write(tmp_path / "named.tif", ["B04", "B03", "B02", "B08"], ["Red", "Green", "Blue", "NIR"])
    assert available_bands(named) == ["B04", "B03", "B02", "B08"]
    auto = cloud_mask(named, tmp_path / "auto.tif", resolution_m=20)
    explicit = cloud_mask(named, tmp_path / "explicit.tif", resolution_m=20, band_mapping="B04=1,B03=2,B02=3,B08=4")
    with rasterio.open(tmp_path / "auto.tif") as a, rasterio.open(tmp_path / "explicit.tif") as b:
        assert np.array_equal(a.read(1), b.read(1))
    assert auto.model == "cloudfree_bgrn" and auto.cloud_percent == explicit.cloud_percent


def test_bgrn_top_of_atmosphere_is_confirmed_by_its_pixels(tmp_path):
    path = write(tmp_path / "bgrn.tif", ["B02", "B03", "B04", "B08"])
    assert available_bands(path) == ["B02", "B03", "B04", "B08"]


def test_rgb_file_with_colour_interpretation_is_read_as_rgb(tmp_path):
    path = write(tmp_path / "rgb.tif", ["B04", "B03", "B02"], photometric="RGB")
    with rasterio.open(path) as src:
        assert src.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    assert available_bands(path) == ["B04", "B03", "B02"]


def test_surface_reflectance_without_names_asks_and_the_preset_answers(tmp_path):
    """A real L2A DrivenData chip (B, G, R, NIR) whose darkest blue is darker than its darkest red."""
    chip = DATA / "s2_l2a_drivendata_chips" / "chip_id_3"
    bands = [rasterio.open(chip / f"{b}.tif") for b in ("B02", "B03", "B04", "B08")]
    profile = bands[0].profile
    profile.update(count=4)
    path = tmp_path / "chip.tif"
    with rasterio.open(path, "w", **profile) as dst:
        for i, src in enumerate(bands):
            dst.write(src.read(1), i + 1)
            src.close()
    with pytest.raises(BandMappingError, match="band 1 .*band 3"):
        available_bands(path)
    assert available_bands(path, band_preset="bgrn") == ["B02", "B03", "B04", "B08"]
