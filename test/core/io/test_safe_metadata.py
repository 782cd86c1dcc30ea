"""The real metadata trees of every processing baseline: level, baseline, offsets, band files."""
import shutil
import zipfile

import pytest

from cloudfree.core.io.bands import ALL_BANDS, L2A_BANDS
from cloudfree.core.errors import SafeProductError
from cloudfree.core.io.safe import open_safe

EXPECTED = {  # product folder prefix -> (level, baseline)
    "S2A_MSIL1C_20200717T221941_R029_T01LAC": ("L1C", "02.09"),
    "S2A_MSIL1C_20210908T042701_N0301": ("L1C", "03.01"),
    "S2A_MSIL2A_20180721T053721_N0212": ("L2A", "02.12"),
    "S2A_MSIL2A_20190212T192651_N0212": ("L2A", "02.12"),
    "S2B_MSIL2A_20191228T210519_N0212": ("L2A", "02.12"),
    "esa_S2B_MSIL2A_20210122T133229_N0214": ("L2A", "02.14"),
    "S2B_MSIL2A_20220413T150759_N0400": ("L2A", "04.00"),
    "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCP_20230626T022157": ("L2A", "05.09"),
    "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCP_20230626T022158": ("L2A", "05.09"),
    "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS": ("L2A", "05.09"),
    "S2A_MSIL2A_20230821T221941_N0509": ("L2A", "05.09"),
}


def _products(data_dir):
    return sorted(p for p in (data_dir / "safe_metadata").iterdir() if p.suffix == ".SAFE")


def test_every_metadata_tree_is_known(data_dir):
    names = [p.name for p in _products(data_dir)]
    assert len(names) == len(EXPECTED)
    assert all(any(n.startswith(prefix) for n in names) for prefix in EXPECTED)


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_level_baseline_and_offsets(data_dir, prefix):
    path = next(p for p in _products(data_dir) if p.name.startswith(prefix))
    product = open_safe(path)
    level, baseline = EXPECTED[prefix]
    assert (product.level, product.baseline) == (level, baseline)
    assert product.quantification == 10000.0
    if float(baseline) >= 4.0:
        assert product.offsets == {b: -1000.0 for b in ALL_BANDS}
        assert product.reflectance_scale("B04") == (-1000.0, 10000.0)
    else:
        assert product.offsets == {}
        assert product.reflectance_scale("B04") == (0.0, 10000.0)
    expected_bands = ALL_BANDS if level == "L1C" else L2A_BANDS
    assert product.bands == expected_bands
    if level == "L2A":
        assert set(product.files["SCL"]) == {20, 60}
        assert product.band_file("B05", 20)[1] == 20 and product.band_file("B08", 20)[1] == 10


def test_zip_and_mtd_file_give_the_same_product(data_dir, tmp_path):
    src = next(p for p in _products(data_dir) if "N0509" in p.name)
    archive = tmp_path / (src.stem + ".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.rglob("*"):
            if f.is_file():
                zf.write(f, f"{src.name}/{f.relative_to(src)}")
    from_zip, from_dir = open_safe(archive), open_safe(src / "MTD_MSIL2A.xml")
    assert (from_zip.level, from_zip.baseline, from_zip.offsets) == (from_dir.level, from_dir.baseline, from_dir.offsets)
    assert from_zip.band_file("B02", 10)[0].startswith(f"/vsizip/{archive}/{src.name}/GRANULE/")


def test_non_sentinel2_safe_is_refused(tmp_path):
    s1 = tmp_path / "S1A_IW_GRDH_1SDV_20230101T000000_20230101T000025_046000_058000_ABCD.SAFE"
    s1.mkdir()
    (s1 / "manifest.safe").write_text("<xfdu/>")
    with pytest.raises(SafeProductError, match="not a Sentinel-2 L1C or L2A"):
        open_safe(s1)


def test_offset_baseline_without_offsets_is_refused(data_dir, tmp_path):
    src = next(p for p in _products(data_dir) if "N0400" in p.name)
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    mtd = dst / "MTD_MSIL2A.xml"
    text = "\n".join(line for line in mtd.read_text().splitlines() if "BOA_ADD_OFFSET" not in line)
    mtd.write_text(text)
    with pytest.raises(SafeProductError, match="radiometric offset"):
        open_safe(dst)
