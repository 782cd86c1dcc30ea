"""Damaged input files: a truncated or altered JP2 band in a real .SAFE, a truncated GeoTIFF, an empty file, a
text file named .tif.  Each must end as exit 2 (or a CloudFreeError) naming the damaged file, never as a
traceback, a silent partial mask, or a batch scene recorded as done.
"""
import csv
import json
import random
import shutil
from pathlib import Path

import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import CloudFreeError, UnreadableFileError
from cloudfree.core.evaluation.masks import evaluate_rasters
from cloudfree.core.reconstruction.reconstruct import reconstruct
from cloudfree.core.masking.scl import scl_mask

from reliability_kit import (assert_api_error, assert_cli_error, assert_kept, assert_no_temporaries,
                             assert_unchanged, band_file, clone_product, cli, raised, snapshot,
                             truncate_to)


def _truncate(band: str, share: float = 0.6):
    def damage(product: Path) -> Path:
        path = band_file(product, band)
        truncate_to(path, share)
        return path
    return damage


def _empty(band: str):
    def damage(product: Path) -> Path:
        path = band_file(product, band)
        path.unlink()
        path.write_bytes(b"")
        return path
    return damage


def _missing(band: str):
    def damage(product: Path) -> Path:
        path = band_file(product, band)
        path.unlink()
        return path
    return damage


def _random_bytes(band: str, size: int = 65536):
    def damage(product: Path) -> Path:
        path = band_file(product, band)
        rng = random.Random(7)
        with open(path, "r+b") as fh:
            fh.seek(path.stat().st_size // 2)
            fh.write(bytes(rng.getrandbits(8) for _ in range(size)))
        return path
    return damage



# case id -> (damage of a real product, processing resolution, parts of the message besides the file name)
PRODUCTS = {
    "b02-truncated-60pc-at-60m": (_truncate("B02"), 60, ["Cannot read", "damaged or incomplete"]),
    "b02-truncated-60pc-at-20m": (_truncate("B02"), 20, ["Cannot read", "damaged or incomplete"]),
    "b11-truncated-30pc-at-20m": (_truncate("B11", 0.3), 20, ["Cannot read", "damaged or incomplete"]),
    "b04-empty-file": (_empty("B04"), 60, ["Cannot open", "the file is empty"]),
    "b08-missing": (_missing("B08"), 60, ["Cannot open", "missing"]),
    # OpenJPEG decodes these without an error: only the manifest.safe checksum catches them
    "b04-random-bytes-in-middle": (_random_bytes("B04"), 20, ["damaged", "checksum"]),
}


@pytest.mark.parametrize("case", list(PRODUCTS))
def test_cli_names_the_damaged_band_file(case, work, product_copy):
    """An interrupted download leaves one band short; the user must learn which file, not get a partial mask."""
    damage, resolution, parts = PRODUCTS[case]
    damaged = damage(product_copy)
    before = snapshot(work)
    proc = cli("cloudmask", product_copy.name, "-o", "m.tif", "--confidence", "c.tif",
               "--resolution", resolution, cwd=work)
    assert "Traceback" not in proc.stderr
    assert_no_temporaries(work)
    assert_unchanged(before, snapshot(work))
    assert_cli_error(proc, *parts, damaged.name)


@pytest.mark.parametrize("case", ["b02-truncated-60pc-at-20m", "b04-empty-file", "b08-missing"])
def test_api_names_the_damaged_band_file(case, work, product_copy):
    """The API raises UnreadableFileError naming the band file, so scripts can report and skip the product."""
    damage, resolution, parts = PRODUCTS[case]
    damaged = damage(product_copy)
    before = snapshot(work)
    exc = raised(cloud_mask, product_copy, work / "m.tif", resolution_m=resolution)
    assert_api_error(exc, UnreadableFileError, *parts, damaged.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def _half_geotiff(work: Path) -> Path:
    path = work / "half.tif"
    shutil.copyfile(work / "x.tif", path)
    truncate_to(path, 0.5)
    return path


def _empty_tif(work: Path) -> Path:
    path = work / "empty.tif"
    path.write_bytes(b"")
    return path


def _text_tif(work: Path) -> Path:
    path = work / "notes.tif"
    path.write_text("Field notes, 2021-09-08: clouds over the lake.\n")
    return path


RASTERS = {
    "geotiff-truncated-half": (_half_geotiff, ["Cannot read", "damaged or incomplete"]),
    "empty-file": (_empty_tif, ["Cannot open", "as a raster"]),
    "text-file-named-tif": (_text_tif, ["Cannot open", "as a raster"]),
}


@pytest.mark.parametrize("case", list(RASTERS))
def test_cli_names_the_damaged_raster(case, work, sample):
    """A half-copied or mislabelled raster must give one line naming it, whatever GDAL's own error."""
    make, parts = RASTERS[case]
    bad = make(work)
    before = snapshot(work)
    proc = cli("cloudmask", bad.name, "-o", "m.tif", "--confidence", "c.tif", "--resolution", "20", cwd=work)
    assert_cli_error(proc, *parts, bad.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("case", list(RASTERS))
def test_api_names_the_damaged_raster(case, work, sample):
    """cloud_mask raises UnreadableFileError (a CloudFreeError and an OSError) naming the raster."""
    make, parts = RASTERS[case]
    bad = make(work)
    before = snapshot(work)
    exc = raised(cloud_mask, bad, work / "m.tif", resolution_m=20)
    assert_api_error(exc, UnreadableFileError, *parts, bad.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_cli_sclmask_names_truncated_scl(work, scl_raster):
    """A truncated SCL raster must not give a mask of its readable half."""
    truncate_to(scl_raster, 0.5)
    before = snapshot(work)
    proc = cli("sclmask", "scl.tif", "-o", "m.tif", cwd=work)
    assert_cli_error(proc, "scl.tif", "damaged or incomplete")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_api_sclmask_names_truncated_scl(work, scl_raster):
    """scl_mask raises a CloudFreeError naming the SCL file, not rasterio's bare 'Read failed'."""
    truncate_to(scl_raster, 0.5)
    before = snapshot(work)
    exc = raised(scl_mask, scl_raster, work / "m.tif")
    assert_api_error(exc, UnreadableFileError, "scl.tif", "damaged or incomplete")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_cli_reconstruct_names_truncated_image(work, sample, mask60):
    """Reconstruction copies clear pixels bit for bit: from a truncated image it would copy zeros."""
    _half_geotiff(work)
    before = snapshot(work)
    proc = cli("reconstruct", "half.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "s.tif", cwd=work)
    assert_cli_error(proc, "half.tif", "damaged or incomplete")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_api_reconstruct_names_truncated_image(work, sample, mask60):
    """reconstruct raises UnreadableFileError naming the image."""
    half = _half_geotiff(work)
    before = snapshot(work)
    exc = raised(reconstruct, half, mask60, work / "r.tif")
    assert_api_error(exc, UnreadableFileError, "half.tif", "damaged or incomplete")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)




def _truncated_mask(work: Path, sample_masks: Path) -> Path:
    shutil.copyfile(sample_masks / "mask10.tif", work / "mask.tif")
    truncate_to(work / "mask.tif", 0.6)
    return work / "mask.tif"


def test_cli_reconstruct_names_truncated_mask(work, sample, sample_masks):
    """The mask decides which pixels are replaced; a truncated one must be named, not half applied."""
    _truncated_mask(work, sample_masks)
    before = snapshot(work)
    proc = cli("reconstruct", "x.tif", "--mask", "mask.tif", "-o", "r.tif", cwd=work)
    assert "Traceback" not in proc.stderr
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_cli_error(proc, "mask.tif", "damaged or incomplete")


def test_api_reconstruct_names_truncated_mask(work, sample, sample_masks):
    """reconstruct raises a CloudFreeError naming the truncated mask."""
    mask = _truncated_mask(work, sample_masks)
    before = snapshot(work)
    exc = raised(reconstruct, sample, mask, work / "r.tif")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_api_error(exc, CloudFreeError, "mask.tif", "damaged or incomplete")




@pytest.mark.parametrize("which", ["reference", "mask"])
def test_cli_evaluate_names_truncated_raster(which, work, sample_masks):
    """Scores from a half-read reference would be published as the model's accuracy."""
    shutil.copyfile(sample_masks / "mask10.tif", work / "mask.tif")
    shutil.copyfile(sample_masks / "mask10.tif", work / "ref.tif")
    bad = work / ("ref.tif" if which == "reference" else "mask.tif")
    truncate_to(bad, 0.6)
    before = snapshot(work)
    proc = cli("evaluate", "--mask", "mask.tif", "--reference", "ref.tif", "--table", "scores.csv", cwd=work)
    assert "Traceback" not in proc.stderr
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_cli_error(proc, bad.name, "damaged or incomplete")


def test_api_evaluate_names_truncated_reference(work, sample_masks):
    """evaluate_rasters raises a CloudFreeError naming the truncated reference."""
    shutil.copyfile(sample_masks / "mask10.tif", work / "mask.tif")
    shutil.copyfile(sample_masks / "mask10.tif", work / "ref.tif")
    truncate_to(work / "ref.tif", 0.6)
    before = snapshot(work)
    exc = raised(evaluate_rasters, [work / "mask.tif"], [work / "ref.tif"])
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_api_error(exc, CloudFreeError, "ref.tif", "damaged or incomplete")


def _batch_inputs(work: Path, safe_l1c: Path):
    """Two products of distinct scene names: one intact (bands hard-linked), one with B02 truncated to 60 %."""
    folder = work / "products"
    folder.mkdir()
    good = clone_product(safe_l1c, folder)
    bad = clone_product(safe_l1c, folder, name=safe_l1c.name.replace("20210908T042701", "20210918T042701"),
                        link=False)
    damaged = _truncate("B02")(bad)
    return folder, good, bad, damaged


def _summary(out: Path) -> dict:
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        return {row["scene"]: row for row in csv.DictReader(fh)}


@pytest.mark.parametrize("rerun", [False, True], ids=["first-run", "rerun"])
def test_batch_records_corrupt_product_as_failed(rerun, work, safe_l1c):
    """A batch must report the damaged product as failed (naming the band) and never mark it done, even on a rerun."""
    folder, good, bad, damaged = _batch_inputs(work, safe_l1c)
    out = work / "out"
    inputs_before = snapshot(folder)
    if rerun:
        first = cli("batch", "products", "-o", "out", "--resolution", "60", cwd=work)
        assert first.returncode == 1, first.stderr[-2000:]
    outputs_before = {k: v for k, v in (snapshot(out) if out.exists() else {}).items()
                      if not Path(k).name.startswith("summary.")}  # the summary is rewritten by every run
    proc = cli("batch", "products", "-o", "out", "--resolution", "60", "--json", cwd=work)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 1, f"exit {proc.returncode} (1: some scene failed):\n{proc.stderr[-2000:]}"
    rows = _summary(out)
    bad_scene, good_scene = bad.name[:-len(".SAFE")], good.name[:-len(".SAFE")]
    assert rows[bad_scene]["status"] == "failed"
    assert damaged.name in rows[bad_scene]["error"] and "damaged or incomplete" in rows[bad_scene]["error"]
    assert rows[good_scene]["status"] == ("done before" if rerun else "done")
    assert json.loads(proc.stdout)["counts"] == {"failed": 1, ("done before" if rerun else "done"): 1}
    assert not (out / f"{bad_scene}.done.json").exists() and not (out / f"{bad_scene}_mask.tif").exists()
    assert not list(out.glob("*.running.json"))
    assert_unchanged(inputs_before, snapshot(folder))
    assert_kept(outputs_before, snapshot(out))
    assert_no_temporaries(out)
