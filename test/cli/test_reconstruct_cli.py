"""The reconstruct command as a user runs it, on a real L1C raster with a block of cloud.

Nothing here depends on the exact values the network paints, only on what is kept and what is filled.
"""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from single_image_fixture import build_block_mask, build_l1c_raster


@pytest.fixture(scope="module")
def scene(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("reconstruct_cli")
    image = build_l1c_raster(folder / "t33uuu_l1c.tif")
    mask, hole = build_block_mask(folder / "mask.tif", image)
    return image, mask, hole


def _run(*args):
    return subprocess.run([sys.executable, "-m", "cloudfree", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_reconstruct_fills_the_block_and_keeps_clear_pixels(scene, tmp_path):
    image, mask, hole = scene
    out, source = tmp_path / "filled.tif", tmp_path / "src.tif"
    proc = _run("reconstruct", image, "--mask", mask, "-o", out, "--source-output", source, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["output"] == str(out) and report["source"] == str(source)
    assert report["filled_pixels"] == int(hole.sum()) == 32 * 40
    assert report["model"] == "cloudfree_inpaint_s2"
    with rasterio.open(image) as a, rasterio.open(out) as b, rasterio.open(source) as s:
        truth, filled, codes = a.read(), b.read(), s.read(1)
        assert (b.crs, b.transform, b.count, b.dtypes[0], b.shape) == (a.crs, a.transform, 13, "uint16", a.shape)
    np.testing.assert_array_equal(filled[:, ~hole], truth[:, ~hole])
    assert (filled[:, hole] != truth[:, hole]).any(axis=0).mean() > 0.9  # filled pixels changed
    np.testing.assert_array_equal(codes, hole.astype(np.uint8))
    assert out.with_suffix(".qml").is_file() and source.with_suffix(".qml").is_file()


def test_plain_output_names_the_files_and_the_count(scene, tmp_path):
    image, mask, hole = scene
    out = tmp_path / "filled.tif"
    proc = _run("reconstruct", image, "--mask", mask, "-o", out, "--mask-classes", "1", "--buffer", "1")
    assert proc.returncode == 0, proc.stderr
    assert f"Reconstruction written: {out}" in proc.stdout
    filled = re.search(r"^(\d+) pixels filled by cloudfree_inpaint_s2", proc.stdout, re.MULTILINE)
    assert filled and int(filled.group(1)) > hole.sum()  # the buffer grew the block
    assert not (tmp_path / "filled_source.tif").exists()


def test_bad_arguments_give_a_message_exit_2_and_no_output(scene, tmp_path):
    image, mask, _ = scene
    out = tmp_path / "filled.tif"
    proc = _run("reconstruct", image, "--mask", mask, "-o", out, "--band-mapping", "B02=2, B03=3, B04=4")
    assert proc.returncode == 2
    assert "cloudfree: error:" in proc.stderr and "needs B02" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run("reconstruct", image, "--mask", mask, "-o", out, "--mask-classes", "0,1")
    assert proc.returncode == 2 and "Mask classes '0,1'" in proc.stderr
    assert list(tmp_path.iterdir()) == []
