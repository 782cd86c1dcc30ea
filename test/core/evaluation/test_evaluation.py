"""Per-class scores: exact counts on hand-made rasters, reference codings, and grids."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cloudfree.core.errors import InputError
from cloudfree.core.evaluation.masks import Evaluation, evaluate_rasters, groups_for, parse_scheme, write_scores


def write(path, array, transform, crs="EPSG:32633", nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(array, 1)
    return path


def test_counts_and_scores_match_hand_computation():
    ref = np.array([0, 0, 0, 0, 1, 1, 2, 3, 3, 255], np.uint8)
    pred = np.array([0, 0, 3, 1, 1, 2, 0, 3, 0, 1], np.uint8)
    ev = Evaluation(groups_for(parse_scheme("cloudfree")))
    ev.add(pred, ref, parse_scheme("cloudfree"))
    s = ev.scores()
    # cloud (1 or 2) over the 9 labelled pixels: ref cloud = {4,5,6}; pred cloud = {3,4,5}
    assert s["cloud"]["producers_accuracy"] == pytest.approx(2 / 3)
    assert s["cloud"]["users_accuracy"] == pytest.approx(2 / 3)
    assert s["cloud"]["balanced_accuracy"] == pytest.approx((2 / 3 + 5 / 6) / 2)
    assert s["cloud"]["iou"] == pytest.approx(2 / 4) and s["cloud"]["f1"] == pytest.approx(2 / 3)
    # thick alone: ref {4,5}, pred {3,4}
    assert s["thick cloud"]["producers_accuracy"] == pytest.approx(0.5)
    # shadow: ref {7,8}, pred {2,7}
    assert s["shadow"]["producers_accuracy"] == pytest.approx(0.5)
    assert s["shadow"]["users_accuracy"] == pytest.approx(0.5)
    assert s["shadow"]["pixels"] == 9  # the 255 reference pixel is not scored


def test_a_binary_cloud_reference_scores_cloud_only_and_shadow_is_not_called_clear():
    scheme = parse_scheme("cloud_binary")
    assert groups_for(scheme) == ["cloud"]
    ev = Evaluation(groups_for(scheme))
    ev.add(np.array([3, 1, 2, 0], np.uint8), np.array([0, 1, 1, 0], np.uint8), scheme)
    s = ev.scores()["cloud"]
    assert s["producers_accuracy"] == 1.0 and s["users_accuracy"] == 1.0  # the shadow pixel is "not cloud": right
    assert groups_for(parse_scheme("shadow_binary")) == ["shadow"]
    assert groups_for(parse_scheme("scl")) == ["clear", "cloud", "thick cloud", "thin cloud", "shadow"]


def test_scores_pool_pixels_over_scenes_rather_than_average_ratios():
    scheme = parse_scheme("cloudfree")
    ev = Evaluation(["shadow"])
    ev.add(np.array([3, 0, 0, 0], np.uint8), np.array([3, 0, 0, 0], np.uint8), scheme)        # 1/1 found
    ev.add(np.array([0] * 8 + [3], np.uint8), np.array([3] * 8 + [3], np.uint8), scheme)      # 1/9 found
    assert ev.scores()["shadow"]["producers_accuracy"] == pytest.approx(2 / 10)


@pytest.mark.parametrize("text", ["", "1=9", "cloud", "a=1"])
def test_bad_reference_codings_say_how_to_write_them(text):
    with pytest.raises(InputError, match="scheme|value=class|empty"):
        parse_scheme(text)


def test_a_20_m_mask_is_scored_on_the_10_m_reference_grid(tmp_path):
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1            # one 20 m cloud pixel = four 10 m pixels
    mask[3, 3] = 255          # no data: not scored
    ref = np.zeros((8, 8), np.uint8)
    ref[0:2, 0:2] = 1
    ref[2, 2] = 1             # a cloud the mask misses
    write(tmp_path / "m.tif", mask, from_origin(500000, 6000000, 20, 20), nodata=255)
    write(tmp_path / "r.tif", ref, from_origin(500000, 6000000, 10, 10))
    s = evaluate_rasters([tmp_path / "m.tif"], [tmp_path / "r.tif"], "cloud_binary").scores()["cloud"]
    assert s["pixels"] == 64 - 4
    assert s["producers_accuracy"] == pytest.approx(4 / 5) and s["users_accuracy"] == 1.0
    out = write_scores({"cloud": s}, tmp_path / "scores.csv")
    rows = out.read_text().splitlines()
    assert rows[0].startswith("class,producers_accuracy") and rows[1].startswith("cloud,0.8,1.0")


def test_a_mask_that_is_not_a_class_raster_or_off_grid_without_crs_is_refused(tmp_path):
    write(tmp_path / "ndvi.tif", np.full((4, 4), 40, np.uint8), from_origin(0, 40, 10, 10))
    write(tmp_path / "r.tif", np.zeros((4, 4), np.uint8), from_origin(0, 40, 10, 10))
    with pytest.raises(InputError, match="not a CloudFree mask"):
        evaluate_rasters([tmp_path / "ndvi.tif"], [tmp_path / "r.tif"])
    with rasterio.open(tmp_path / "nocrs.tif", "w", driver="GTiff", width=3, height=3, count=1, dtype="uint8") as ds:
        ds.write(np.zeros((3, 3), np.uint8), 1)
    with pytest.raises(InputError, match="no CRS"):
        evaluate_rasters([tmp_path / "r.tif"], [tmp_path / "nocrs.tif"])
    with pytest.raises(InputError, match="one reference per mask"):
        evaluate_rasters([tmp_path / "r.tif"], [])


def test_cli_scores_a_model_on_a_labelled_image_and_a_mask_against_itself(tmp_path, capsys):
    from cloudfree.cli.main import main
    from conftest import SAMPLE
    assert main(["cloudmask", str(SAMPLE), "-o", str(tmp_path / "m.tif")]) == 0
    capsys.readouterr()
    # A model scored against its own mask: every class it finds is found exactly.
    assert main(["evaluate", "--image", str(SAMPLE), "--reference", str(tmp_path / "m.tif"),
                 "--table", str(tmp_path / "s.json"), "--json"]) == 0
    scores = __import__("json").loads(capsys.readouterr().out)
    assert scores["cloud"]["balanced_accuracy"] == 1.0 and scores["cloud"]["reference_pixels"] > 0
    assert (tmp_path / "s.json").is_file()
    assert main(["evaluate", "--reference", str(tmp_path / "m.tif")]) == 2
    assert "either --mask" in capsys.readouterr().err
