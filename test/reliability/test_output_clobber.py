"""Outputs that would clobber an input or each other are refused before anything is written (core.io.output_guard).

Paths are compared as files: a symbolic link, `..`, `./`, a doubled slash or
a hard link that reaches an input is that input, and a file inside a .SAFE
product touches the product.  Each case runs the command line in a folder
holding the inputs (and any pre-existing output), and checks that the
folder is byte-identical afterwards.
"""
import os
from pathlib import Path

import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.reconstruct import reconstruct
from cloudfree.core.masking.scl import scl_mask

from reliability_kit import (assert_api_error, assert_cli_error, assert_no_temporaries, assert_unchanged, cli,
                             raised, snapshot)

OVERWRITE = "would overwrite the input"
TWO_OUTPUTS = "Two outputs of this run resolve to the same file"


def _link(work: Path, name: str, target: str) -> str:
    os.symlink(target, work / name)
    return name


def _hardlink(work: Path, name: str, target: str) -> str:
    os.link(work / target, work / name)
    return name


def _dir(work: Path, name: str) -> str:
    (work / name).mkdir()
    return name


def _copy_as(work: Path, name: str) -> str:
    (work / name).write_bytes((work / "x.tif").read_bytes())
    return name


# case id -> (arguments after `cloudmask`, given the work folder; parts of the message)
CLOUDMASK = {
    "output-is-input": (lambda w: ["x.tif", "-o", "x.tif"], [OVERWRITE, "x.tif"]),
    "output-symlink-to-input": (lambda w: ["x.tif", "-o", _link(w, "link.tif", "x.tif")], [OVERWRITE, "link.tif"]),
    "output-dotdot": (lambda w: [_dir(w, "sub") and "x.tif", "-o", "sub/../x.tif"], [OVERWRITE, "x.tif"]),
    "output-dot-slash": (lambda w: ["x.tif", "-o", "./x.tif"], [OVERWRITE, "x.tif"]),
    "output-doubled-slash": (lambda w: ["x.tif", "-o", f"{w}//x.tif"], [OVERWRITE, "x.tif"]),
    "output-absolute-input-relative": (lambda w: ["x.tif", "-o", str(w / "x.tif")], [OVERWRITE, "x.tif"]),
    "output-hard-link-to-input": (lambda w: ["x.tif", "-o", _hardlink(w, "hard.tif", "x.tif")],
                                  [OVERWRITE, "hard.tif"]),
    "output-via-symlinked-folder": (lambda w: ["x.tif", "-o", _link(w, "alias", ".") + "/x.tif"],
                                    [OVERWRITE, "alias/x.tif"]),
    "confidence-is-input": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "x.tif"], [OVERWRITE, "x.tif"]),
    "confidence-symlink-to-input": (lambda w: ["x.tif", "-o", "m.tif", "--confidence",
                                               _link(w, "c.tif", "x.tif")], [OVERWRITE, "c.tif"]),
    "confidence-is-output": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "m.tif"], [TWO_OUTPUTS, "m.tif"]),
    "confidence-is-output-dot-slash": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "./m.tif"],
                                       [TWO_OUTPUTS, "m.tif"]),
    "styles-collide-tif-tiff": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "m.tiff"],
                                [TWO_OUTPUTS, "m.qml"]),
    "style-overwrites-input": (lambda w: [_copy_as(w, "x.qml"), "-o", "x.tif"],
                               [OVERWRITE, "its style file x.qml"]),
    "output-is-existing-folder": (lambda w: ["x.tif", "-o", _dir(w, "masks.tif")], ["is a folder", "masks.tif"]),
    "output-is-folder-without-suffix": (lambda w: ["x.tif", "-o", _dir(w, "masks")], ["ending in .tif", "masks"]),
    # a missing output folder is created (test/core/io/test_output_folders.py); one that is a file cannot be
    "output-folder-is-a-file": (lambda w: ["x.tif", "-o", "x.tif/m.tif"], ["is a file, not a folder", "x.tif"]),
    "output-without-tif-suffix": (lambda w: ["x.tif", "-o", "m.png"], ["ending in .tif", "m.png"]),
    "confidence-without-tif-suffix": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "c.jpg"],
                                      ["ending in .tif", "c.jpg"]),
    "confidence-folder-is-a-file": (lambda w: ["x.tif", "-o", "m.tif", "--confidence", "x.tif/c.tif"],
                                    ["is a file, not a folder", "x.tif"]),
}


@pytest.mark.parametrize("case", list(CLOUDMASK))
def test_cloudmask_refuses_clobbering_output(case, work, sample):
    """A mask or confidence path that reaches the input (or the other output) must never replace it."""
    make_args, parts = CLOUDMASK[case]
    args = make_args(work)
    before = snapshot(work)
    proc = cli("cloudmask", *args, "--resolution", "60", cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def _mtd(product: Path) -> str:
    return next(p.name for p in product.iterdir() if p.name.upper().startswith("MTD_MSIL"))


# case id -> (arguments after `cloudmask`, given the work folder and the product name; message parts)
IN_PRODUCT = {
    "output-in-product-folder": (lambda w, p: [p, "-o", f"{p}/m.tif"], [OVERWRITE]),
    "output-deep-in-product": (lambda w, p: [p, "-o", str(next((w / p).rglob("IMG_DATA")) / "m.tif")], [OVERWRITE]),
    "output-in-product-given-by-mtd": (lambda w, p: [f"{p}/{_mtd(w / p)}", "-o", f"{p}/m.tif"], [OVERWRITE]),
    "confidence-in-product": (lambda w, p: [p, "-o", "m.tif", "--confidence", f"{p}/GRANULE/c.tif"], [OVERWRITE]),
    "output-in-product-via-symlink": (lambda w, p: [p, "-o", _link(w, "alias", p) + "/m.tif"], [OVERWRITE]),
}


@pytest.mark.parametrize("case", list(IN_PRODUCT))
def test_cloudmask_refuses_output_inside_product(case, work, product):
    """Writing into a .SAFE folder changes the product a user archived; it is refused whatever the spelling."""
    make_args, parts = IN_PRODUCT[case]
    args = make_args(work, product.name)
    before = snapshot(work)
    proc = cli("cloudmask", *args, "--resolution", "60", cwd=work)
    assert_cli_error(proc, *parts, product.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


SCLMASK = {
    "output-is-input": (lambda w: ["scl.tif", "-o", "scl.tif"], [OVERWRITE, "scl.tif"]),
    "output-symlink-to-input": (lambda w: ["scl.tif", "-o", _link(w, "m.tif", "scl.tif")], [OVERWRITE, "m.tif"]),
    "output-dotdot": (lambda w: [_dir(w, "d") and "scl.tif", "-o", "d/../scl.tif"], [OVERWRITE, "scl.tif"]),
    "output-hard-link": (lambda w: ["scl.tif", "-o", _hardlink(w, "h.tif", "scl.tif")], [OVERWRITE, "h.tif"]),
    "output-without-tif-suffix": (lambda w: ["scl.tif", "-o", "mask.img"], ["ending in .tif", "mask.img"]),
}


@pytest.mark.parametrize("case", list(SCLMASK))
def test_sclmask_refuses_clobbering_output(case, work, scl_raster):
    """The SCL band a user derived the mask from must survive a mistyped -o."""
    make_args, parts = SCLMASK[case]
    args = make_args(work)
    before = snapshot(work)
    proc = cli("sclmask", *args, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


RECONSTRUCT = {
    "output-is-input": (["x.tif", "--mask", "mask.tif", "-o", "x.tif"], [OVERWRITE, "x.tif"]),
    "output-is-mask": (["x.tif", "--mask", "mask.tif", "-o", "mask.tif"], [OVERWRITE, "mask.tif"]),
    "source-is-input": (["x.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "x.tif"],
                        [OVERWRITE, "x.tif"]),
    "source-is-mask": (["x.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "./mask.tif"],
                       [OVERWRITE, "mask.tif"]),
    "source-is-output": (["x.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "r.tif"],
                         [TWO_OUTPUTS, "r.tif"]),
    "source-is-output-dotdot": (["x.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "../work/r.tif"],
                                [TWO_OUTPUTS, "r.tif"]),
    "output-without-tif-suffix": (["x.tif", "--mask", "mask.tif", "-o", "r.png"], ["ending in .tif", "r.png"]),
    "source-folder-is-a-file": (["x.tif", "--mask", "mask.tif", "-o", "r.tif", "--source-output", "x.tif/s.tif"],
                                ["is a file, not a folder", "x.tif"]),
}


@pytest.mark.parametrize("case", list(RECONSTRUCT))
def test_reconstruct_refuses_clobbering_output(case, work, sample, mask60):
    """Reconstruction writes two rasters; neither may land on the image, its mask, or the other."""
    args, parts = RECONSTRUCT[case]
    before = snapshot(work)
    proc = cli("reconstruct", *args, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_reconstruct_refuses_output_inside_product(work, product, mask60):
    """A reconstruction written into the .SAFE it reconstructs would alter the product."""
    before = snapshot(work)
    proc = cli("reconstruct", product.name, "--mask", "mask.tif", "-o", f"{product.name}/r.tif", cwd=work)
    assert_cli_error(proc, OVERWRITE, product.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def _two_dates(work: Path) -> None:
    (work / "a.tif").write_bytes((work / "x.tif").read_bytes())
    (work / "b.tif").write_bytes((work / "x.tif").read_bytes())
    (work / "ma.tif").write_bytes((work / "mask.tif").read_bytes())


SERIES = {
    "gapfill-output-is-input": (["gapfill", "a.tif", "b.tif", "-o", "a.tif", "--target", "1"], [OVERWRITE, "a.tif"]),
    "gapfill-source-is-mask": (["gapfill", "a.tif", "b.tif", "--mask", "ma.tif", "--mask", "auto", "-o", "g.tif",
                                "--target", "1", "--source-output", "ma.tif"], [OVERWRITE, "ma.tif"]),
    "composite-default-source-is-input": (["composite", "a.tif", "g_source.tif", "-o", "g.tif"],
                                          [OVERWRITE, "g_source.tif"]),
    "composite-source-is-output": (["composite", "a.tif", "b.tif", "-o", "g.tif", "--source-output", "./g.tif"],
                                   [TWO_OUTPUTS, "g.tif"]),
}


@pytest.mark.parametrize("case", list(SERIES))
def test_series_commands_refuse_clobbering_output(case, work, sample, mask60):
    """Gap-filling and compositing read many dates; none of them, nor a mask, may become an output."""
    _two_dates(work)
    (work / "g_source.tif").write_bytes((work / "x.tif").read_bytes())
    args, parts = SERIES[case]
    before = snapshot(work)
    proc = cli(*args, "--dates", "2020-06-01,2020-06-11", cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


EVALUATE = {
    "table-is-mask": (lambda w: ["--table", "mask.tif"], [OVERWRITE, "mask.tif"]),
    "table-is-reference": (lambda w: ["--table", "ref.tif"], [OVERWRITE, "ref.tif"]),
    "table-symlink-to-mask": (lambda w: ["--table", _link(w, "scores.csv", "mask.tif")], [OVERWRITE, "scores.csv"]),
    "table-hard-link-to-reference": (lambda w: ["--table", _hardlink(w, "scores.json", "ref.tif")],
                                     [OVERWRITE, "scores.json"]),
}


@pytest.mark.parametrize("case", list(EVALUATE))
def test_evaluate_refuses_table_over_a_raster(case, work, mask60):
    """A scores table written over the mask or reference would destroy what was being scored."""
    (work / "ref.tif").write_bytes(mask60.read_bytes())
    make_args, parts = EVALUATE[case]
    args = make_args(work)
    before = snapshot(work)
    proc = cli("evaluate", "--mask", "mask.tif", "--reference", "ref.tif", *args, cwd=work)
    assert_cli_error(proc, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_prepare_refuses_training_set_over_a_label_raster(work, sample, mask60):
    """A label raster named .npz (GDAL reads it by content) must not be replaced by the training set."""
    (work / "labels.npz").write_bytes(mask60.read_bytes())
    before = snapshot(work)
    proc = cli("prepare", "--image", "x.tif", "--labels", "labels.npz", "-o", "labels.npz", cwd=work)
    assert_cli_error(proc, OVERWRITE, "labels.npz")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_prepare_refuses_training_set_over_the_image(work, sample, mask60):
    """`prepare -o x.tif` with x.tif as the image would turn the imagery into an .npz."""
    before = snapshot(work)
    proc = cli("prepare", "--image", "x.tif", "--labels", "mask.tif", "-o", "x.tif", cwd=work)
    assert_cli_error(proc, ".npz", "x.tif")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_prepare_refuses_training_set_inside_product(work, product_l2a):
    """A training set written into the L2A product it labels from would alter that product."""
    before = snapshot(work)
    proc = cli("prepare", "--scl", product_l2a.name, "-o", f"{product_l2a.name}/train.npz", cwd=work)
    assert_cli_error(proc, OVERWRITE, product_l2a.name)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("training_set", ["m.pt", "m.json", "m_fp16.onnx", "m_fp16.json"])
def test_train_refuses_model_files_over_the_training_set(training_set, work):
    """train writes <name>.onnx/.json/.pt/_fp16.*; a training set of one of those names is refused before training."""
    (work / training_set).write_bytes(b"PK\x03\x04 a training set that must survive")
    before = snapshot(work)
    proc = cli("train", training_set, "-o", "m.onnx", "--epochs", "1", "--steps", "1", cwd=work)
    assert_cli_error(proc, OVERWRITE, training_set)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_train_refuses_missing_output_folder(work):
    """A model path in a folder that does not exist is refused before minutes of training, not after."""
    (work / "set.npz").write_bytes(b"PK\x03\x04 placeholder")
    before = snapshot(work)
    proc = cli("train", "set.npz", "-o", "models/m.onnx", cwd=work)
    assert_cli_error(proc, "does not exist", "models")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_batch_refuses_output_folder_inside_a_product(work, product):
    """A batch output folder inside a .SAFE would add files to the archived product."""
    (work / "in").mkdir()
    moved = work / "in" / product.name
    product.rename(moved)
    before = snapshot(work)
    proc = cli("batch", "in", "-o", f"in/{product.name}", "--resolution", "60", cwd=work)
    assert_no_temporaries(work)
    assert_unchanged(before, snapshot(work))
    assert_cli_error(proc, OVERWRITE, product.name)


def test_batch_refuses_output_folder_that_is_a_file(work, product):
    """`-o` naming an existing file must not replace it with a folder or write beside it."""
    (work / "in").mkdir()
    product.rename(work / "in" / product.name)
    (work / "results").write_text("a file the user keeps\n")
    before = snapshot(work)
    proc = cli("batch", "in", "-o", "results", "--resolution", "60", cwd=work)
    assert_cli_error(proc, "results")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)



API = {
    "cloud_mask-output-is-input": (lambda w: cloud_mask(w / "x.tif", w / "x.tif", resolution_m=60),
                                   [OVERWRITE, "x.tif"]),
    "cloud_mask-confidence-is-output": (lambda w: cloud_mask(w / "x.tif", w / "m.tif", w / "sub/../m.tif",
                                                             resolution_m=60), [TWO_OUTPUTS, "m.tif"]),
    "scl_mask-output-is-input": (lambda w: scl_mask(w / "scl.tif", w / "./scl.tif"), [OVERWRITE, "scl.tif"]),
    "reconstruct-output-is-mask": (lambda w: reconstruct(w / "x.tif", w / "mask.tif", w / "mask.tif"),
                                   [OVERWRITE, "mask.tif"]),
    "reconstruct-source-is-input": (lambda w: reconstruct(w / "x.tif", w / "mask.tif", w / "r.tif",
                                                          source=w / "x.tif"), [OVERWRITE, "x.tif"]),
}


@pytest.mark.parametrize("case", list(API))
def test_api_refuses_clobbering_output(case, work, sample, mask60, scl_raster):
    """Scripts calling the Python API get the same protection as the CLI: InputError, nothing written."""
    (work / "sub").mkdir()
    call, parts = API[case]
    before = snapshot(work)
    exc = raised(call, work)
    assert_api_error(exc, InputError, *parts)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
