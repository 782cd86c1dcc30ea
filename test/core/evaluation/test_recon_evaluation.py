"""Scoring reconstructions against the real eo-learn reference on the filled pixels."""
import json

import numpy as np
import pytest
import rasterio

from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.gapfill_rasters import gapfill_rasters
from cloudfree.core.evaluation.reconstructions import evaluate_reconstruction, format_recon_table, write_recon_scores
from cloudfree.core.evaluation.recon_metrics import reconstruction_scores
from timeseries_fixture import build_series, write_raster

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def series(tmp_path_factory, data_dir):
    s = build_series(tmp_path_factory.mktemp("series"))
    s["reference"] = s["images"][3]                      # 2015-08-30 itself is clear: the truth
    return s


def test_a_perfect_reconstruction_scores_zero_error_and_ssim_one(series):
    scores = evaluate_reconstruction(series["reference"], series["reference"], series["masks"][3])
    assert set(scores) == set(BANDS) | {"overall"}
    overall = scores["overall"]
    assert overall["mae"] == 0 and overall["rmse"] == 0 and overall["sam_deg"] == pytest.approx(0, abs=1e-4)
    assert overall["ssim"] == pytest.approx(1.0) and overall["pixels"] == series["cloud"].sum() == 3909


def test_a_known_offset_gives_its_mae(series, tmp_path):
    with rasterio.open(series["reference"]) as ds:
        shifted = write_raster(tmp_path / "plus100.tif", ds.read() + np.uint16(100))
    scores = evaluate_reconstruction(shifted, series["reference"], series["masks"][3])
    for band in BANDS:
        assert scores[band]["mae"] == pytest.approx(0.01, abs=1e-6)           # 100 DN = 0.01 reflectance
        assert scores[band]["psnr"] == pytest.approx(40.0, abs=1e-4)
    assert scores["overall"]["rmse"] == pytest.approx(0.01, abs=1e-6)
    only_red = evaluate_reconstruction(shifted, series["reference"], series["masks"][3], bands=["b4"])
    assert list(only_red) == ["B04", "overall"]


def test_gapfill_scores_match_the_array_metrics_in_strips_and_with_the_source_raster(series, tmp_path):
    out = tmp_path / "f.tif"
    gapfill_rasters(series["images"], out, 3, masks=series["masks"], dates=series["dates"])
    scores = evaluate_reconstruction(out, series["reference"], series["masks"][3])
    est = rasterio.open(out).read().astype(np.float32) / 10000
    truth = series["truth"].astype(np.float32) / 10000
    expected = reconstruction_scores(est, truth, series["cloud"], BANDS)
    for key in ("overall", "B08"):
        for metric, value in expected[key].items():
            assert scores[key][metric] == pytest.approx(value, rel=1e-9, abs=1e-12)
    strips = evaluate_reconstruction(out, series["reference"], series["masks"][3], max_memory_mb=0.01)
    by_source = evaluate_reconstruction(out, series["reference"], tmp_path / "f_source.tif", mask_classes="source")
    for other in (strips, by_source):
        for metric, value in expected["overall"].items():
            assert other["overall"][metric] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert 0.004 < scores["overall"]["mae"] < 0.008       # 64 DN; mean fill is 162 DN

    table = format_recon_table(scores, "gap-fill")
    assert table.splitlines()[0] == "gap-fill" and "overall" in table.splitlines()[-1]
    rows = write_recon_scores(scores, tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "band,mae,rmse,psnr,ssim,sam_deg,pixels" and rows[-1].startswith("overall,")
    assert json.loads(write_recon_scores(scores, tmp_path / "s.json").read_text())["overall"]["pixels"] == 3909


def test_binary_masks_bad_grids_and_empty_masks_are_handled(series, tmp_path):
    binary = write_raster(tmp_path / "binary.tif", np.where(series["cloud"], 255, 0).astype(np.uint8))
    scores = evaluate_reconstruction(series["reference"], series["images"][4], binary, mask_classes="nonzero")
    assert scores["overall"]["pixels"] == 3909 and scores["overall"]["mae"] > 0.005   # 07-11 is not 08-30
    empty = write_raster(tmp_path / "empty.tif", np.zeros((101, 100), np.uint8))
    with pytest.raises(InputError, match="marks no pixel as filled"):
        evaluate_reconstruction(series["reference"], series["reference"], empty)
    with rasterio.open(series["reference"]) as ds:
        moved = write_raster(tmp_path / "moved.tif", ds.read(), transform=ds.transform * ds.transform.translation(0, 3))
    with pytest.raises(InputError, match="different grids"):
        evaluate_reconstruction(moved, series["reference"], series["masks"][3])
    with pytest.raises(InputError, match="Unknown mask classes"):
        evaluate_reconstruction(series["reference"], series["reference"], binary, mask_classes="binary")
    with pytest.raises(InputError, match=r"\.csv or \.json"):
        write_recon_scores(scores, tmp_path / "s.txt")
