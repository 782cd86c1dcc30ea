"""L1C at processing baseline 04.00+: RADIO_ADD_OFFSET, the path every L1C product since 2022 takes.

The real metadata trees on hand have L1C only at 02.09 and 03.01 (no offset);
test/fixtures/MTD_MSIL1C_N0509.xml is an L1C 05.09 product metadata written
from the format's specification (see the comment inside it).  Real T33UUU DN
are written under it with the +1000 that such products store; reading must give
reflectance = (DN + offset) / quantification = (stored - 1000) / 10000.
"""
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.io.dn import DnCodec
from cloudfree.core.errors import SafeProductError
from cloudfree.core.io.safe import open_safe
from cloudfree.core.io.sources import SafeSource

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "MTD_MSIL1C_N0509.xml"
NAME = "S2B_MSIL1C_20230612T101609_N0509_R065_T33UUU_20230612T122024.SAFE"
JP2 = Path(__file__).resolve().parents[4] / "shared" / "data" / "s2_l1c_t33uuu_jp2"
ROW, COL, SIDE = 300, 600, 60      # a 60 x 60 px window of the 10 m bands (30 px at 20 m, 10 px at 60 m)
STORED_B04 = 2234                  # written at B04 [0, 0]: reflectance (2234 - 1000) / 10000 = 0.1234


def _product(folder: Path, mtd_text: str) -> Path:
    product = folder / NAME
    product.mkdir(parents=True)
    (product / "MTD_MSIL1C.xml").write_text(mtd_text, encoding="utf-8")
    return product


def _original_dn(band: str, res: int) -> tuple:
    """The real DN of the window at the band's native resolution (the same ground at 10, 20 and 60 m)."""
    k = res // 10
    with rasterio.open(JP2 / f"T33UUU_20170216T102101_{band}.jp2") as ds:
        window = Window(COL // k, ROW // k, SIDE // k, SIDE // k)
        return ds.read(1, window=window), ds.crs, ds.window_transform(window)


@pytest.fixture(scope="module")
def l1c_n0509(tmp_path_factory, data_dir):
    """A small .SAFE with the fixture metadata and real JP2 bands storing DN + 1000 (0 stays no data)."""
    product = _product(tmp_path_factory.mktemp("l1c_n0509"), FIXTURE.read_text(encoding="utf-8"))
    originals = {}
    for band, options in open_safe(product).files.items():
        for res, path in options.items():
            dn, crs, transform = _original_dn(band, res)
            stored = np.where(dn > 0, dn.astype(np.int32) + 1000, 0).astype(np.uint16)
            if band == "B04":
                stored[0, 0], dn = STORED_B04, dn.copy()
                dn[0, 0] = STORED_B04 - 1000
            originals[band] = dn
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(path, "w", driver="JP2OpenJPEG", width=stored.shape[1], height=stored.shape[0],
                               count=1, dtype="uint16", crs=crs, transform=transform,
                               QUALITY=100, REVERSIBLE="YES") as out:
                out.write(stored, 1)
    return product, originals


def test_the_fixture_is_an_l1c_at_baseline_05_09_with_an_offset_of_minus_1000_in_every_band(l1c_n0509):
    product = open_safe(l1c_n0509[0])
    assert (product.level, product.baseline, product.quantification) == ("L1C", "05.09", 10000.0)
    assert product.offsets == {b: -1000.0 for b in ALL_BANDS}
    assert product.bands == ALL_BANDS
    assert product.reflectance_scale("B04") == (-1000.0, 10000.0)
    assert product.reflectance_scale("B10") == (-1000.0, 10000.0)
    assert product.band_file("B11", 20)[1] == 20 and product.band_file("B01", 10)[1] == 60


def test_reflectance_is_stored_dn_plus_offset_over_quantification(l1c_n0509):
    path, originals = l1c_n0509
    bands = ["B02", "B04", "B08"]
    src = SafeSource(open_safe(path), bands, 10)
    try:
        refl, valid = src.read(Window(0, 0, SIDE, SIDE))
        stored = src.read_raw(Window(0, 0, SIDE, SIDE))
        codec = DnCodec.of(src)
    finally:
        src.close()
    assert refl.shape == (3, SIDE, SIDE) and valid.all()
    assert refl[1, 0, 0] == pytest.approx(0.1234, abs=1e-7)     # (2234 - 1000) / 10000, by hand
    assert int(stored[1, 0, 0]) == 2234
    for i, band in enumerate(bands):
        np.testing.assert_allclose(refl[i], originals[band].astype(np.float64) / 10000, rtol=0, atol=1e-7)
    # writing reflectance back (reconstructions keep the input's scale) gives the stored DN, offset included
    assert codec.offsets == (-1000.0,) * 3 and codec.divisors == (10000.0,) * 3 and codec.nodata == 0.0
    np.testing.assert_array_equal(codec.encode(refl), stored)
    assert codec.dn_of(0.1234) == pytest.approx((2234.0,) * 3)


def test_20_m_bands_read_at_20_m_take_the_offset_too(l1c_n0509):
    path, originals = l1c_n0509
    src = SafeSource(open_safe(path), ["B11", "B12"], 20)
    try:
        refl, _ = src.read(Window(0, 0, SIDE // 2, SIDE // 2))
    finally:
        src.close()
    np.testing.assert_allclose(refl[0], originals["B11"] / 10000, rtol=0, atol=1e-7)
    np.testing.assert_allclose(refl[1], originals["B12"] / 10000, rtol=0, atol=1e-7)


def test_offsets_are_matched_to_bands_through_band_id(tmp_path):
    """band_id 3 is B04 (Spectral_Information bandId 3, physicalBand B4): a distinct offset lands on B04 only."""
    text = FIXTURE.read_text(encoding="utf-8").replace(
        '<RADIO_ADD_OFFSET band_id="3">-1000<', '<RADIO_ADD_OFFSET band_id="3">-1200<')
    product = open_safe(_product(tmp_path, text))
    assert product.offsets["B04"] == -1200.0
    assert product.reflectance_scale("B04") == (-1200.0, 10000.0)
    assert {b: o for b, o in product.offsets.items() if b != "B04"} == {b: -1000.0 for b in ALL_BANDS if b != "B04"}


def test_an_l1c_offset_must_be_read_from_radio_add_offset(tmp_path):
    """Without its Radiometric_Offset_List the product is refused; an L2A tag in an L1C does not stand in for it."""
    text = FIXTURE.read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if "RADIO_ADD_OFFSET" not in line)
    with pytest.raises(SafeProductError, match="radiometric offset"):
        open_safe(_product(tmp_path / "a", without))
    boa = text.replace("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET")
    with pytest.raises(SafeProductError, match="radiometric offset"):
        open_safe(_product(tmp_path / "b", boa))


def test_a_missing_offset_for_one_band_is_refused(tmp_path):
    text = "\n".join(line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if 'band_id="12"' not in line)
    with pytest.raises(SafeProductError, match="not for B12"):
        open_safe(_product(tmp_path, text))


def test_the_quantification_value_is_read_from_the_l1c_tag(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace(
        '<QUANTIFICATION_VALUE unit="none">10000<', '<QUANTIFICATION_VALUE unit="none">20000<')
    product = open_safe(_product(tmp_path, text))
    assert product.quantification == 20000.0
    assert product.reflectance_scale("B02") == (-1000.0, 20000.0)   # (2234 - 1000) / 20000 = 0.0617
