"""End-to-end masking on real data: outputs, georeference, cover figures, and every bad input."""
import json
import shutil

import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.masking.class_raster import decide_classes
from cloudfree.core.model.card import load_card
from cloudfree.core.errors import BandMappingError, Cancelled, InputError, ModelCardError, UnreadableFileError
from cloudfree.core.progress import Feedback
from conftest import SAMPLE
from onnx_models import conv_model


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_sample_mask_is_a_georeferenced_cog_with_style(tmp_path):
    out, conf = tmp_path / "mask.tif", tmp_path / "conf.tif"
    result = cloud_mask(SAMPLE, out, conf, resolution_m=20)
    with rasterio.open(SAMPLE) as src, rasterio.open(out) as m, rasterio.open(conf) as c:
        assert m.crs == src.crs and m.nodata == 255 and m.dtypes == ("uint8",)
        assert (m.transform.a, m.transform.c, m.transform.f) == (20.0, src.transform.c, src.transform.f)
        assert (m.width, m.height) == (128, 128)
        classes = m.read(1)
        assert m.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        probs = c.read()
    counts = {k: int((classes == k).sum()) for k in range(4)}
    assert set(np.unique(classes)) <= {0, 1, 2, 3}
    assert result.stats.counts == counts
    assert result.cloud_percent == pytest.approx(100 * (counts[1] + counts[2]) / classes.size)
    assert result.cloud_percent > 5  # the sample is a visibly cloudy patch
    with rasterio.open(SAMPLE) as src:  # bright white pixels (visible reflectance > 0.3 at 20 m) are cloud
        visible = src.read([2, 3, 4], out_shape=(3, 128, 128)).mean(axis=0) / 1e4
    assert (visible > 0.3).sum() > 500 and np.isin(classes[visible > 0.3], (1, 2)).mean() > 0.95
    weights = load_card(result.model).decision_weights  # the card's calibrated decision
    assert (decide_classes(probs.astype(float), weights=weights) == classes).mean() > 0.98  # up to the rounding to %
    assert (tmp_path / "mask.qml").read_text().count("paletteEntry") == 4
    assert _leftovers(tmp_path) == ["conf.qml", "conf.tif", "mask.qml", "mask.tif"]


def test_nodata_pixels_become_255(tmp_path):
    src_path = tmp_path / "holes.tif"
    with rasterio.open(SAMPLE) as src:
        data, profile = src.read(), src.profile
    data[:, :, :64] = 0  # left half is no data
    with rasterio.open(src_path, "w", **profile) as dst:
        dst.write(data)
    result = cloud_mask(src_path, tmp_path / "m.tif", resolution_m=10, patch_size=64)
    with rasterio.open(tmp_path / "m.tif") as m:
        classes = m.read(1)
    assert (classes[:, :64] == 255).all() and (classes[:, 64:] != 255).all()
    assert result.stats.valid == 256 * 192


def test_buffer_grows_clouds_into_clear_pixels(tmp_path):
    plain = cloud_mask(SAMPLE, tmp_path / "a.tif", resolution_m=20)
    grown = cloud_mask(SAMPLE, tmp_path / "b.tif", resolution_m=20, buffer_px=3)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        before, after = a.read(1), b.read(1)
    assert grown.cloud_percent > plain.cloud_percent
    changed = before != after
    assert (before[changed] == 0).all() and np.isin(after[changed], (1, 2, 3)).all()


def test_missing_band_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(BandMappingError, match="B02, B03 and B04"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", band_mapping="B02=2, B03=3")  # no bundled model fits
    with pytest.raises(BandMappingError, match="B04, B08"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", model="cloudfree_bgrn", band_mapping="B02=2, B03=3")
    assert _leftovers(tmp_path) == []


def test_mapping_beyond_the_raster_is_refused(tmp_path):
    with pytest.raises(BandMappingError, match="13 band"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", band_mapping="B02=2, B03=3, B04=4, B08=20")


def test_unreadable_file_is_refused(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(UnreadableFileError, match="Cannot open"):
        cloud_mask(bad, tmp_path / "m.tif")
    assert _leftovers(tmp_path) == ["broken.tif"]


def test_all_nodata_raster_is_refused(tmp_path):
    empty = tmp_path / "empty.tif"
    with rasterio.open(SAMPLE) as src:
        profile = src.profile
    with rasterio.open(empty, "w", **profile) as dst:
        dst.write(np.zeros((13, 256, 256), np.uint16))
    with pytest.raises(InputError, match="no data"):
        cloud_mask(empty, tmp_path / "m.tif")
    assert _leftovers(tmp_path) == ["empty.tif"]


def test_raster_without_crs_is_refused(tmp_path):
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16") as dst:
        dst.write(np.full((4, 64, 64), 1000, np.uint16))
    with pytest.raises(InputError, match="coordinate reference system"):
        cloud_mask(bare, tmp_path / "m.tif")


def test_patch_larger_than_raster_is_refused(tmp_path):
    with pytest.raises(InputError, match="choose at most 128"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", resolution_m=20, patch_size=256)
    assert _leftovers(tmp_path) == []


def test_raster_smaller_than_the_model_minimum_is_refused(tmp_path):
    model = conv_model(tmp_path / "a.onnx", ["B02", "B03", "B04", "B08"], input_multiple=32, patch_size=64)
    tiny = tmp_path / "tiny.tif"
    with rasterio.open(SAMPLE) as src:
        profile = dict(src.profile, width=20, height=20)
        data = src.read(window=((0, 20), (0, 20)))
    with rasterio.open(tiny, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(InputError, match="smaller than the 32 px"):
        cloud_mask(tiny, tmp_path / "m.tif", model=str(model), resolution_m=10)


def test_card_of_another_model_is_refused(tmp_path):
    model = conv_model(tmp_path / "a.onnx", ["B02", "B03", "B04", "B08"])
    card = json.loads(model.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    model.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="belongs to another file"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", model=str(model))


def test_card_band_count_must_match_the_model(tmp_path):
    model = conv_model(tmp_path / "a.onnx", ["B02", "B03", "B04", "B08"])
    wrong = conv_model(tmp_path / "b.onnx", ["B02", "B03", "B04"])
    shutil.copyfile(wrong.with_suffix(".json"), model.with_suffix(".json"))
    card = json.loads(model.with_suffix(".json").read_text())
    from cloudfree.core.model.card import sha256_of
    card["sha256"] = sha256_of(model)
    model.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="takes 4 input channels"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", model=str(model))


def test_model_without_card_is_refused(tmp_path):
    model = conv_model(tmp_path / "a.onnx", ["B02", "B03", "B04", "B08"])
    model.with_suffix(".json").unlink()
    with pytest.raises(ModelCardError, match="has no model card"):
        cloud_mask(SAMPLE, tmp_path / "m.tif", model=str(model))


class CancelAfter(Feedback):
    def __init__(self, batches):
        self.left = batches

    def is_cancelled(self):
        self.left -= 1
        return self.left < 0


def test_cancel_leaves_no_output(safe_l1c, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Cancelled):
        cloud_mask(safe_l1c, out / "m.tif", out / "c.tif", resolution_m=10, patch_size=128, overlap=0,
                   batch_size=2, feedback=CancelAfter(5))
    assert _leftovers(out) == []


def test_safe_zip_gives_the_same_mask_as_the_folder(safe_l1c, tmp_path):
    archive = shutil.make_archive(str(tmp_path / safe_l1c.stem), "zip", safe_l1c.parent, safe_l1c.name)
    a = cloud_mask(safe_l1c, tmp_path / "a.tif", resolution_m=20)
    b = cloud_mask(archive, tmp_path / "b.tif", resolution_m=20)
    with rasterio.open(tmp_path / "a.tif") as x, rasterio.open(tmp_path / "b.tif") as y:
        assert np.array_equal(x.read(1), y.read(1)) and x.transform == y.transform
        assert x.crs.to_epsg() == 32633 and (x.width, x.height) == (768, 384)
    assert a.stats == b.stats


def test_l2a_layer_export_masks_like_its_safe(safe_l2a_offset, tmp_path):
    """A 12-band L2A export of a baseline-05.09 product (DN with +1000, so dn_offset -1000)
    gives the same mask as the product itself: band preset guessed from the band count."""
    from rasterio.windows import Window

    from cloudfree.core.io.bands import L2A_BANDS
    from cloudfree.core.io.safe import open_safe
    from cloudfree.core.io.sources import SafeSource

    src = SafeSource(open_safe(safe_l2a_offset), L2A_BANDS, 20)
    try:
        refl, _ = src.read(Window(0, 0, src.grid.width, src.grid.height))
        grid = src.grid
    finally:
        src.close()
    export = tmp_path / "l2a_export.tif"
    dn = np.rint(refl * 10000 + 1000).astype(np.uint16)
    with rasterio.open(export, "w", driver="GTiff", width=grid.width, height=grid.height, count=12,
                       dtype="uint16", crs=grid.crs, transform=grid.transform) as dst:
        dst.write(dn)
    a = cloud_mask(safe_l2a_offset, tmp_path / "safe.tif", resolution_m=20)
    b = cloud_mask(export, tmp_path / "layer.tif", resolution_m=20, dn_offset=-1000)
    with rasterio.open(tmp_path / "safe.tif") as x, rasterio.open(tmp_path / "layer.tif") as y:
        assert x.transform == y.transform and x.crs == y.crs
        agree = (x.read(1) == y.read(1)).mean()
    assert agree > 0.999  # DN rounding only
    assert abs(a.cloud_percent - b.cloud_percent) < 0.1
