"""Wrong inputs a user really gives (a text file as training set, rasters of different places, a folder that is
not a product...) end as one 'cloudfree: error:' line and exit 2, never a Python traceback, and touch nothing.
"""
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from cloudfree.core.errors import InputError
from cloudfree.core.evaluation.masks import evaluate_rasters

from reliability_kit import (assert_api_error, assert_cli_error, assert_no_temporaries, assert_unchanged, cli, raised,
                             snapshot)


def _shifted_copy(src: Path, dst: Path, dx: float) -> Path:
    """The raster moved `dx` metres east: same pixels, another place."""
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    profile.update(transform=Affine.translation(dx, 0) * profile["transform"])
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
    return dst


def _rewritten(src: Path, dst: Path, change) -> Path:
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    profile, data = change(profile, data)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
    return dst


def _training_text(w):
    (w / "notes.npz").write_text("training notes, not arrays\n")
    return ["train", "notes.npz", "-o", "m.onnx"], ["notes.npz", "is not a CloudFree training set"]


def _training_empty(w):
    (w / "empty.npz").write_bytes(b"")
    return ["train", "empty.npz", "-o", "m.onnx"], ["empty.npz", "is not a CloudFree training set"]


def _training_foreign_zip(w):
    with zipfile.ZipFile(w / "other.npz", "w") as zf:
        zf.writestr("readme.txt", "a zip, but not a training set")
    return ["train", "other.npz", "-o", "m.onnx"], ["other.npz", "is not a CloudFree training set"]


def _training_missing(w):
    return ["train", "nowhere.npz", "-o", "m.onnx"], ["No training set at nowhere.npz", "cloudfree prepare"]


def _evaluate_elsewhere(w):
    _shifted_copy(w / "mask.tif", w / "far.tif", 1.0e6)
    return ["evaluate", "--mask", "mask.tif", "--reference", "far.tif"], ["share no valid pixel", "far.tif"]


def _evaluate_all_nodata(w):
    _rewritten(w / "mask.tif", w / "empty_ref.tif", lambda p, d: (p, np.full_like(d, 255)))
    return ["evaluate", "--mask", "mask.tif", "--reference", "empty_ref.tif"], ["share no valid pixel"]


def _evaluate_not_a_mask(w):
    return ["evaluate", "--mask", "x.tif", "--reference", "mask.tif"], ["x.tif holds values above 3",
                                                                        "not a CloudFree mask"]


def _evaluate_fractional_reference(w):
    _rewritten(w / "mask.tif", w / "prob.tif",
               lambda p, d: (dict(p, dtype="float32", nodata=None), (d.astype("float32") * 0.3)))
    return ["evaluate", "--mask", "mask.tif", "--reference", "prob.tif"], ["prob.tif holds fractional values"]


def _evaluate_counts_differ(w):
    return ["evaluate", "--mask", "mask.tif", "--mask", "mask.tif", "--reference", "mask.tif"], [
        "Give one reference per mask", "2 masks, 1 references"]


def _folder_not_product(w):
    (w / "photos").mkdir()
    (w / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    return ["cloudmask", "photos", "-o", "m.tif"], ["photos is not a Sentinel-2 .SAFE product", "MTD_MSIL"]


def _missing_input(w):
    return ["cloudmask", "gone.tif", "-o", "m.tif"], ["The input gone.tif does not exist"]


def _band_beyond_raster(w):
    return ["cloudmask", "x.tif", "-o", "m.tif", "--band-mapping", "B02=1,B03=2,B04=3,B08=99"], ["99"]


def _sclmask_not_scl(w):
    return ["sclmask", "x.tif", "-o", "m.tif"], ["SCL values run from 0 to 11"]


def _gapfill_one_date(w):
    return ["gapfill", "x.tif", "-o", "g.tif", "--target", "1", "--dates", "2020-06-01"], [
        "at least two dates"]


def _reconstruct_nothing_masked(w):
    _rewritten(w / "mask.tif", w / "clear.tif", lambda p, d: (p, np.zeros_like(d)))
    return ["reconstruct", "x.tif", "--mask", "clear.tif", "-o", "r.tif"], ["names no pixel of x.tif",
                                                                              "nothing to reconstruct"]


def _batch_empty_folder(w):
    (w / "empty").mkdir()
    return ["batch", "empty", "-o", "out"], ["No Sentinel-2 product found in empty"]


def _prepare_unpaired(w):
    return ["prepare", "--image", "x.tif", "--image", "x.tif", "--labels", "mask.tif", "-o", "t.npz"], [
        "Give one --labels per --image", "2 images, 1 label rasters"]


CASES = {f.__name__.lstrip("_").replace("_", "-"): f for f in (
    _training_text, _training_empty, _training_foreign_zip, _training_missing, _evaluate_elsewhere,
    _evaluate_all_nodata, _evaluate_not_a_mask, _evaluate_fractional_reference, _evaluate_counts_differ,
    _folder_not_product, _missing_input, _band_beyond_raster, _sclmask_not_scl, _gapfill_one_date,
    _reconstruct_nothing_masked, _batch_empty_folder, _prepare_unpaired)}


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistake_is_one_line_not_a_traceback(case, work, sample, mask60):
    """A traceback tells a user nothing about what to change; each of these gets one line saying it."""
    args, parts = CASES[case](work)
    before = snapshot(work)
    proc = cli(*args, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("case", ["evaluate-elsewhere", "evaluate-all-nodata"])
def test_api_evaluate_refuses_references_without_common_pixels(case, work, sample, mask60):
    """Scores over zero pixels are NaN or perfect; evaluate_rasters must refuse instead."""
    args, parts = CASES[case](work)
    reference = work / args[args.index("--reference") + 1]
    before = snapshot(work)
    exc = raised(evaluate_rasters, [mask60], [reference])
    assert_api_error(exc, InputError, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
