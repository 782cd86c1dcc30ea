"""Inputs whose description cannot be trusted: damaged product metadata, a scaling that makes no sense, values
that cannot be reflectance.  A model fed such data still answers, with every sign of success, so each is
refused before a pixel is computed, with a message that says what to change (core.io.safe, core.io.input_checks).
"""
import math
import re
import zipfile
from pathlib import Path

import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import InputError, SafeProductError

from reliability_kit import (assert_api_error, assert_cli_error, assert_no_temporaries, assert_unchanged, cli,
                             edit_mtd, mtd_path, raised, snapshot, write_raster_like)


def _mtd(edit):
    """Damage that rewrites the MTD text through `edit(text) -> text`."""
    def damage(product: Path) -> None:
        edit_mtd(product, edit)
    return damage


def _sub(pattern: str, repl: str, count: int = 0):
    return _mtd(lambda text: re.sub(pattern, repl, text, count=count))


def _l1c_offsets(bands):
    """Baseline 04.00 with RADIO_ADD_OFFSET for `bands` (band ids) only."""
    def edit(text):
        text = text.replace("<PROCESSING_BASELINE>03.01</PROCESSING_BASELINE>",
                            "<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>")
        offsets = "".join(f'<RADIO_ADD_OFFSET band_id="{b}">-1000</RADIO_ADD_OFFSET>' for b in bands)
        return text.replace("</QUANTIFICATION_VALUE>",
                            f"</QUANTIFICATION_VALUE><Radiometric_Offset_List>{offsets}</Radiometric_Offset_List>", 1)
    return edit


def _image_file(new: str):
    """The B02 IMAGE_FILE entry replaced by `new` (the band name kept, so the entry is still read as B02)."""
    return _sub(r"<IMAGE_FILE>[^<]*_B02</IMAGE_FILE>", f"<IMAGE_FILE>{new}</IMAGE_FILE>", 1)


def _huge_mtd(product: Path) -> None:
    """The MTD made a 40 MB file (sparse: the real XML, then zeros), over the 32 MB limit."""
    mtd = mtd_path(product)
    text = mtd.read_bytes()
    mtd.unlink()
    with open(mtd, "wb") as fh:
        fh.write(text)
        fh.truncate(40 << 20)


def _truncated_mtd(product: Path) -> None:
    mtd = mtd_path(product)
    text = mtd.read_bytes()
    mtd.unlink()
    mtd.write_bytes(text[: len(text) // 2])


def _zip_bomb(product: Path) -> Path:
    """A .zip of the product whose MTD member inflates to 40 MB of spaces (a few kB compressed)."""
    target = product.with_name(product.name.replace(".SAFE", ".zip"))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{product.name}/manifest.safe", (product / "manifest.safe").read_bytes())
        with zf.open(f"{product.name}/{mtd_path(product).name}", "w", force_zip64=True) as fh:
            block = b" " * (1 << 20)
            for _ in range(40):
                fh.write(block)
    return target


# case id -> (product kind, damage(product) -> None, or the input to give instead (a .zip), parts of the message)
L1C, L2A = "l1c", "l2a"
METADATA = {
    "quantification-zero": (L1C, _sub(r">10000</QUANTIFICATION_VALUE>", ">0</QUANTIFICATION_VALUE>"),
                            ["QUANTIFICATION_VALUE 0", "must be positive"]),
    "quantification-negative": (L1C, _sub(r">10000</QUANTIFICATION_VALUE>", ">-10000</QUANTIFICATION_VALUE>"),
                                ["QUANTIFICATION_VALUE -10000", "must be positive"]),
    "quantification-not-a-number": (L1C, _sub(r">10000</QUANTIFICATION_VALUE>", ">abc</QUANTIFICATION_VALUE>"),
                                    ["QUANTIFICATION_VALUE 'abc'", "not a number"]),
    "quantification-nan": (L1C, _sub(r">10000</QUANTIFICATION_VALUE>", ">NaN</QUANTIFICATION_VALUE>"),
                           ["QUANTIFICATION_VALUE", "finite"]),
    "l2a-quantification-zero": (L2A, _sub(r">10000</BOA_QUANTIFICATION_VALUE>", ">0</BOA_QUANTIFICATION_VALUE>"),
                                ["BOA_QUANTIFICATION_VALUE 0", "must be positive"]),
    "l1c-offset-for-some-bands-only": (L1C, _mtd(_l1c_offsets(range(4))),
                                       ["radiometric offset for some bands but not for B05", "download the product again"]),
    "l1c-baseline-04-without-offsets": (L1C, _sub(r">03\.01</PROCESSING_BASELINE>", ">04.00</PROCESSING_BASELINE>"),
                                        ["baseline 04.00", "lists none"]),
    "l2a-offset-for-some-bands-only": (L2A, _sub(r'<BOA_ADD_OFFSET band_id="(?:[5-9]|1[0-2])">-1000</\w+>', ""),
                                       ["radiometric offset for some bands but not for", "B06"]),
    "l2a-offset-not-a-number": (L2A, _sub(r'(<BOA_ADD_OFFSET band_id="3">)-1000<', r"\1abc<"),
                                ["BOA_ADD_OFFSET 'abc'", "not a number"]),
    "baseline-not-a-number": (L1C, _sub(r">03\.01</PROCESSING_BASELINE>", ">N/A</PROCESSING_BASELINE>"),
                              ["baseline 'N/A'", "cannot be read safely"]),
    "image-file-with-dotdot": (L1C, _image_file("GRANULE/../../elsewhere/T33UUU_20210908T042701_B02"),
                               ["lies outside the product", "../"]),
    "image-file-absolute": (L1C, _image_file("/tmp/elsewhere/T33UUU_20210908T042701_B02"),
                            ["lies outside the product", "/tmp/elsewhere"]),
    "image-file-windows-drive": (L1C, _image_file("C:/data/T33UUU_20210908T042701_B02"),
                                 ["lies outside the product", "C:/data"]),
    "product-type-unknown": (L1C, _sub(r">S2MSI1C</PRODUCT_TYPE>", ">S2MSI3X</PRODUCT_TYPE>"),
                             ["S2MSI3X", "only S2MSI1C and S2MSI2A"]),
    "mtd-larger-than-32mb": (L1C, _huge_mtd, ["larger than 32 MB", "not Sentinel-2 product metadata"]),
    "mtd-truncated": (L1C, _truncated_mtd, ["not valid XML"]),
    "zip-bomb-mtd": (L1C, _zip_bomb, ["inflates to more than 32 MB"]),
}


def _damaged(case: str, work: Path, products: dict) -> Path:
    kind, damage, _parts = METADATA[case]
    product = products[kind]
    return damage(product) or product


def _params():
    return list(METADATA)


@pytest.fixture
def products(request, work):
    kind = METADATA[request.node.callspec.params["case"]][0]
    name = "product" if kind == L1C else "product_l2a"
    return {kind: request.getfixturevalue(name)}


@pytest.mark.parametrize("case", _params())
def test_cli_refuses_misdescribed_product(case, work, products):
    """Damaged product metadata would scale every band wrongly (or read outside the product); the CLI refuses it."""
    target = _damaged(case, work, products)
    before = snapshot(work)
    proc = cli("cloudmask", target.name, "-o", "m.tif", "--resolution", "60", cwd=work)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_cli_error(proc, *METADATA[case][2], target.name)


@pytest.mark.parametrize("case", _params())
def test_api_refuses_misdescribed_product(case, work, products):
    """The Python API raises SafeProductError for the same products, before any output exists."""
    target = _damaged(case, work, products)
    before = snapshot(work)
    exc = raised(cloud_mask, target, work / "m.tif", resolution_m=60)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_api_error(exc, SafeProductError, *METADATA[case][2], target.name)


def test_cli_refuses_quantification_that_leaves_dn_unscaled(work, product):
    """QUANTIFICATION_VALUE 1 is positive but turns DN into 'reflectance' of thousands: refused after a sample read."""
    _sub(r">10000</QUANTIFICATION_VALUE>", ">1</QUANTIFICATION_VALUE>")(product)
    before = snapshot(work)
    proc = cli("cloudmask", product.name, "-o", "m.tif", "--resolution", "60", cwd=work)
    assert_cli_error(proc, product.name, "does not hold reflectance", "QUANTIFICATION_VALUE")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


# --- scaling given on the command line --------------------------------------------------------------

SCALING = {
    "dn-scale-zero": (["--dn-scale", "0"], ["DN scale must be a positive number", "not 0.0"]),
    "dn-scale-nan": (["--dn-scale", "nan"], ["DN scale must be a positive number", "not nan"]),
    "dn-scale-negative": (["--dn-scale=-5"], ["DN scale must be a positive number", "not -5.0"]),
    "dn-scale-infinite": (["--dn-scale", "inf"], ["DN scale must be a positive number", "not inf"]),
    "dn-offset-nan": (["--dn-offset", "nan"], ["DN offset must be a finite number", "not nan"]),
    "dn-offset-infinite": (["--dn-offset=-inf"], ["DN offset must be a finite number", "not -inf"]),
    "dn-scale-too-small": (["--dn-scale", "100"], ["does not hold reflectance", "--dn-scale 10000", "x.tif"]),
}


@pytest.mark.parametrize("case", list(SCALING))
def test_cli_refuses_senseless_scaling(case, work, sample):
    """A DN scale of 0/NaN/negative or a NaN offset gives an all-clear or all-cloud mask that looks like success."""
    flags, parts = SCALING[case]
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "m.tif", "--resolution", "60", *flags, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("scale,offset", [(0.0, 0.0), (math.nan, 0.0), (-5.0, 0.0), (10000.0, math.nan),
                                          (10000.0, math.inf)],
                         ids=["scale-zero", "scale-nan", "scale-negative", "offset-nan", "offset-inf"])
def test_api_refuses_senseless_scaling(scale, offset, work, sample):
    """cloud_mask checks dn_scale/dn_offset itself: scripts calling the API get the same refusal as the CLI."""
    before = snapshot(work)
    exc = raised(cloud_mask, sample, work / "m.tif", resolution_m=60, dn_scale=scale, dn_offset=offset)
    what = "DN scale must be a positive number" if not (scale > 0) else "DN offset must be a finite number"
    assert_api_error(exc, InputError, what)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


# --- values that cannot be reflectance -----------------------------------------------------------------

VALUES = {
    "all-negative-int16": ("int16", -5000, [], ["values are negative", "--dn-offset", "odd.tif"]),
    "float-50-scale-1": ("float32", 50.0, ["--dn-scale", "1"], ["not scaled", "--dn-scale 10000", "odd.tif"]),
    "float-50-default-scale": ("float32", 50.0, [], ["not scaled", "--dn-scale 10000", "odd.tif"]),
}


@pytest.mark.parametrize("case", list(VALUES))
def test_cli_refuses_values_that_cannot_be_reflectance(case, work, sample):
    """Negative or absurd values come from a wrong export or offset; masking them would return confident nonsense."""
    dtype, fill, flags, parts = VALUES[case]
    write_raster_like(sample, work / "odd.tif", fill, dtype)
    before = snapshot(work)
    proc = cli("cloudmask", "odd.tif", "-o", "m.tif", "--resolution", "60", *flags, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("case", ["all-negative-int16", "float-50-scale-1"])
def test_api_refuses_values_that_cannot_be_reflectance(case, work, sample):
    """The API refuses the same rasters with InputError naming the band and the likely cause."""
    dtype, fill, flags, parts = VALUES[case]
    write_raster_like(sample, work / "odd.tif", fill, dtype)
    before = snapshot(work)
    exc = raised(cloud_mask, work / "odd.tif", work / "m.tif", resolution_m=60,
                 dn_scale=float(flags[1]) if flags else None)
    assert_api_error(exc, InputError, *parts, "band B02")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


RECON_SCALING = {
    "dn-scale-zero": (["--dn-scale", "0"], ["DN scale", "must be positive"]),
    "dn-scale-negative": (["--dn-scale=-5"], ["DN scale", "must be positive"]),
    "dn-scale-nan": (["--dn-scale", "nan"], ["DN scale", "nan"]),
    "dn-scale-infinite": (["--dn-scale", "inf"], ["DN scale", "inf"]),
    "dn-offset-nan": (["--dn-offset", "nan"], ["DN offset", "nan"]),
}


@pytest.mark.parametrize("case", list(RECON_SCALING))
def test_reconstruct_refuses_senseless_scaling(case, work, sample, mask60):
    """Reconstruction writes DN back with the same scale: a NaN scale or offset fills the holes with garbage."""
    flags, parts = RECON_SCALING[case]
    before = snapshot(work)
    proc = cli("reconstruct", "x.tif", "--mask", "mask.tif", "-o", "r.tif", *flags, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
