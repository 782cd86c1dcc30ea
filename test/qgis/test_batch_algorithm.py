"""cloudfree:batch through processing.run, on a folder of small real L1C .SAFE products."""
import csv

import numpy as np
import pytest
import rasterio

from batch_fixture import copies_of
from cloudfree.core.io.safe import open_safe

pytestmark = pytest.mark.usefixtures("cloudfree_provider")
RES_20M = 1  # index of "20 m" in the RESOLUTION enum


@pytest.fixture(scope="module")
def products(safe_l1c, tmp_path_factory):
    return copies_of(safe_l1c, tmp_path_factory.mktemp("qgis_batch") / "products",
                     dates=("20210908T042701", "20210918T042701"))


def run(parameters: dict) -> dict:
    import processing
    return processing.run("cloudfree:batch", parameters)


def test_batch_masks_every_product_of_the_folder_and_resumes(products, safe_l1c, tmp_path):
    out = tmp_path / "out"
    parameters = {"INPUT": str(products[0].parent), "RESOLUTION": RES_20M, "OUTPUT_FOLDER": str(out)}
    result = run(parameters)
    assert (result["DONE"], result["FAILED"], result["SKIPPED"]) == (2, 0, 0)
    assert result["OUTPUT_FOLDER"] == str(out)
    with open(result["SUMMARY"], newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert result["SUMMARY"] == str(out / "summary.csv")
    assert [row["scene"] for row in table] == [p.name[:-len(".SAFE")] for p in products]
    assert [row["status"] for row in table] == ["done", "done"]

    with rasterio.open(open_safe(safe_l1c).files["B05"][20]) as band:
        crs, transform, shape = band.crs, band.transform, (band.height, band.width)
    for row in table:
        mask = out / f"{row['scene']}_mask.tif"
        assert mask.is_file() and row["mask"] == str(mask)
        with rasterio.open(mask) as ds:
            assert ds.crs == crs and ds.transform == transform and (ds.height, ds.width) == shape
            classes = ds.read(1)
        assert set(np.unique(classes)) <= {0, 1, 2, 3, 255}
        assert float(row["cloud_percent"]) + float(row["shadow_percent"]) <= 100.0

    again = run(parameters)
    assert (again["DONE"], again["FAILED"], again["SKIPPED"]) == (0, 0, 2)
    with open(again["SUMMARY"], newline="", encoding="utf-8") as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["done before", "done before"]


def test_a_folder_without_products_is_refused(tmp_path):
    from qgis.core import QgsProcessingException

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no product here")
    with pytest.raises(QgsProcessingException, match="No Sentinel-2 product"):
        run({"INPUT": str(empty), "RESOLUTION": RES_20M, "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()
