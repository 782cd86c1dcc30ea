"""The gapfill, composite and evaluate-reconstruction commands as a user runs them."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from timeseries_fixture import build_series


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir):
    return build_series(tmp_path_factory.mktemp("series"))


def _run(*args):
    return subprocess.run([sys.executable, "-m", "cloudfree", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _masks(series):
    return [a for m in series["masks"] for a in ("--mask", m)]


def test_gapfill_then_evaluate_reconstruction(series, tmp_path):
    out = tmp_path / "filled.tif"
    proc = _run("gapfill", *series["images"], "-o", out, "--target", "4", "--dates", ",".join(series["dates"]),
                *_masks(series), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["target"] == 4 and report["target_date"] == "2015-08-30"
    assert report["pixels"]["filled from other dates"] == 3909
    assert report["source"] == str(tmp_path / "filled_source.tif")
    with rasterio.open(out) as ds, rasterio.open(series["images"][3]) as src:
        cloud = series["cloud"]
        np.testing.assert_array_equal(ds.read()[:, ~cloud], src.read()[:, ~cloud])

    table = tmp_path / "scores.csv"
    proc = _run("evaluate-reconstruction", out, "--reference", series["images"][3], "--mask", tmp_path /
                "filled_source.tif", "--mask-classes", "source", "--table", table, "--json")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)
    assert scores["overall"]["pixels"] == 3909 and 0.004 < scores["overall"]["mae"] < 0.008
    assert table.read_text().splitlines()[0].startswith("band,mae,rmse")


def test_composite_command(series, tmp_path):
    out = tmp_path / "c.tif"
    proc = _run("composite", *series["images"], "-o", out, "--dates", ",".join(series["dates"]), *_masks(series),
                "--centre", "2015-09-09")
    assert proc.returncode == 0, proc.stderr
    assert "Composite written" in proc.stdout and "2015-09-09: 10100" in proc.stdout
    with rasterio.open(out) as ds, rasterio.open(series["images"][4]) as last:
        np.testing.assert_array_equal(ds.read(), last.read())


def test_plain_rasters_without_dates_give_a_message_and_exit_2(series, tmp_path, tmp_path_factory):
    undated = tmp_path_factory.mktemp("undated")  # the fixture's names state their dates: hide them
    images = [shutil.copyfile(image, undated / f"date_{i}.tif") for i, image in enumerate(series["images"])]
    proc = _run("gapfill", *images, "-o", tmp_path / "f.tif", "--target", "2015-08-30", *_masks(series))
    assert proc.returncode == 2
    assert "cloudfree: error:" in proc.stderr and "--dates" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run("gapfill", *series["images"], "-o", tmp_path / "f.tif", "--target", "1", "--mask", series["masks"][0],
                "--dates", ",".join(series["dates"]))
    assert proc.returncode == 2 and "one --mask per input" in proc.stderr
    assert list(tmp_path.iterdir()) == []
