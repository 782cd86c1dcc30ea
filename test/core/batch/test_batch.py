"""Batch masking of real .SAFE products here: outputs, summary, resuming, failures, inputs."""
import csv
import json

import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.batch.jobs import (BUSY, DONE, DONE_BEFORE, FAILED, SUMMARY_COLUMNS, BatchOptions, ScenePaths,
                                       find_products, scene_name)
from cloudfree.core.batch.runner import run_batch
from cloudfree.core.errors import InputError
from cloudfree.core.progress import Feedback
from batch_fixture import copies_of


@pytest.fixture(scope="module")
def products(safe_l1c, tmp_path_factory):
    return copies_of(safe_l1c, tmp_path_factory.mktemp("batch") / "products", dates=("20210908T042701",
                                                                                         "20210918T042701"))


def test_a_folder_is_masked_scene_by_scene_with_a_summary_and_resumes(products, safe_l1c, tmp_path):
    out = tmp_path / "out"
    result = run_batch(products[0].parent, out)
    assert [r["scene"] for r in result.rows] == [scene_name(p) for p in products]
    assert [r["status"] for r in result.rows] == [DONE, DONE]
    reference = cloud_mask(safe_l1c, tmp_path / "one.tif")             # the same product masked alone
    with rasterio.open(tmp_path / "one.tif") as ds:
        expected = ds.read(1)
    for row in result.rows:
        paths = ScenePaths(out, row["scene"])
        with rasterio.open(paths.mask) as ds:
            np.testing.assert_array_equal(ds.read(1), expected)
        assert paths.mask.with_suffix(".qml").is_file() and paths.record.is_file()
        assert not paths.claim.exists()
        assert row["tile"] == "33UUU" and row["date"] == "2021-09-08"
        assert row["cloud_percent"] == pytest.approx(reference.cloud_percent, abs=1e-3)
        assert row["shadow_percent"] == pytest.approx(reference.shadow_percent, abs=1e-3)
        assert row["seconds"] > 0
    with open(result.summary_csv, newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == SUMMARY_COLUMNS and [t["status"] for t in table] == [DONE, DONE]
    assert json.loads(result.summary_json.read_text())["scenes"][1]["scene"] == scene_name(products[1])
    assert not list(out.glob(".*"))                                      # no temporaries left

    # Run again: nothing is redone; a scene whose mask went missing is.
    ScenePaths(out, scene_name(products[1])).mask.unlink()
    before = ScenePaths(out, scene_name(products[0])).mask.stat().st_mtime_ns
    again = run_batch(products, out)
    assert [r["status"] for r in again.rows] == [DONE_BEFORE, DONE]
    assert ScenePaths(out, scene_name(products[0])).mask.stat().st_mtime_ns == before


def test_a_broken_product_fails_alone_and_leaves_nothing(products, tmp_path):
    broken = tmp_path / "S2B_MSIL1C_20211008T042701_N0301_R133_T33UUU_20211008T070248.SAFE"
    broken.mkdir()
    (broken / "manifest.safe").write_text("<xml/>")
    out = tmp_path / "out"
    result = run_batch([products[0], broken], out)
    assert [r["status"] for r in result.rows] == [DONE, FAILED]
    assert "MTD" in result.rows[1]["error"] or "metadata" in result.rows[1]["error"].lower()
    assert result.counts == {DONE: 1, FAILED: 1}
    assert not list(out.glob(f"{scene_name(broken)}*")) and not list(out.glob(".*"))


def test_reconstruction_is_written_per_scene_when_asked(products, tmp_path):
    out = tmp_path / "out"
    result = run_batch([products[0]], out, BatchOptions(reconstruct=True, confidence=True))
    row = result.rows[0]
    paths = ScenePaths(out, row["scene"])
    with rasterio.open(paths.mask) as m, rasterio.open(paths.reconstruction) as r, \
            rasterio.open(paths.confidence) as c:
        assert r.count == 13 and r.dtypes[0] == "uint16" and r.transform == m.transform and c.count == 4
    cover = row["cloud_percent"] + row["shadow_percent"]
    assert row["reconstruction"] == str(paths.reconstruction) if 0 < cover < 99.99 else row["reconstruction"]


def test_cancel_stops_before_the_next_scene(products, tmp_path):
    class CancelAfterFirst(Feedback):
        def __init__(self):
            self.started = 0

        def info(self, message):
            self.started += message.startswith("[")

        def is_cancelled(self):
            return self.started >= 2

    result = run_batch(products, tmp_path / "out", feedback=CancelAfterFirst())
    assert [r["status"] for r in result.rows] == [DONE, "cancelled"]
    assert not ScenePaths(tmp_path / "out", scene_name(products[1])).mask.exists()


def test_inputs_from_a_glob_and_a_list_file_and_bad_inputs(products, tmp_path):
    folder = products[0].parent
    assert find_products(str(folder / "S2*_MSIL1C_*.SAFE")) == products
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# my scenes\n{products[1]}\n{products[0]}\n{products[1]}\n")
    assert find_products(listing) == [products[1], products[0]]
    with pytest.raises(InputError, match="matches no product"):
        find_products(str(folder / "*.zip"))
    with pytest.raises(InputError, match="No Sentinel-2 product"):
        find_products(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else None)
    with pytest.raises(InputError, match="does not exist"):
        find_products([folder / "missing.SAFE"])
    with pytest.raises(InputError, match="create it first"):
        run_batch(products, tmp_path / "no" / "such" / "out")


def test_the_command_line_prints_the_summary_and_fails_on_a_failed_scene(products, tmp_path, capsys):
    from cloudfree.cli.main import main
    assert main(["batch", str(products[0].parent / "*.SAFE"), "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert all(scene_name(p) in printed for p in products) and "2 done" in printed
    assert (tmp_path / "out" / "summary.csv").is_file()
    missing_mtd = tmp_path / "S2B_MSIL1C_20211008T000000_N0301_R133_T33UUU_20211008T000000.SAFE"
    missing_mtd.mkdir()
    assert main(["batch", str(missing_mtd), "-o", str(tmp_path / "out2"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {FAILED: 1} and report["scenes"][0]["error"]


def test_other_options_redo_a_scene_and_a_live_claim_is_respected(products, tmp_path):
    out = tmp_path / "out"
    run_batch([products[0]], out)
    again = run_batch([products[0]], out, BatchOptions(buffer_px=2))
    assert again.rows[0]["status"] == DONE                                  # the buffer changed: done again
    paths = ScenePaths(out, scene_name(products[1]))
    import os
    import socket
    paths.claim.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))  # a live process
    result = run_batch([products[1]], out)
    assert result.rows[0]["status"] == BUSY and "being processed" in result.rows[0]["error"]  # skipped, not failed
    assert "failed" not in result.counts
    paths.claim.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 12345}))  # a dead one
    assert run_batch([products[1]], out).rows[0]["status"] == DONE
