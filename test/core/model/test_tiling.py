"""Offset tiling: patch placement, blending, and tiled == untiled for equivariant models."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import InputError
from cloudfree.core.model.tiling import patch_starts, patch_weights
from onnx_models import conv_model

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.mark.parametrize("length,patch,overlap", [(256, 64, 16), (250, 64, 16), (64, 64, 8), (1000, 96, 32)])
def test_patches_cover_the_axis_inside_the_image(length, patch, overlap):
    starts = patch_starts(length, patch, overlap)
    covered = np.zeros(length, int)
    for s in starts:
        covered[s:s + patch] += 1
    assert starts[0] == 0 and starts[-1] + patch == length
    assert covered.min() >= 1
    assert all(b - a <= patch - overlap for a, b in zip(starts, starts[1:]))


def test_weights_ramp_inside_and_stay_flat_at_image_edges():
    w = patch_weights(64, 16, top=True, bottom=False, left=False, right=True)
    assert w[0, 32] == 1.0 and w[32, 63] == 1.0        # image edges: full weight
    assert w[63, 32] < 0.05 and w[32, 0] < 0.05          # inner borders: ramp foot
    assert np.all(np.diff(w[32, :16]) > 0)               # rising ramp


def test_overlap_must_be_smaller_than_patch():
    with pytest.raises(InputError, match="less than the patch size"):
        patch_starts(256, 64, 64)


def _probs(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(float), ds.read(1) != 255


@pytest.fixture(scope="module")
def square(tmp_path_factory, data_dir):
    """A real 384 x 384 px, 4-band (B02 B03 B04 B08) 10 m GeoTIFF cut from the T33UUU JP2s."""
    path = tmp_path_factory.mktemp("square") / "t33uuu_bgrn.tif"
    bands = []
    for b in BANDS:
        with rasterio.open(data_dir / "s2_l1c_t33uuu_jp2" / f"T33UUU_20170216T102101_{b}.jp2") as ds:
            bands.append(ds.read(1, window=((100, 484), (600, 984))))
            profile = dict(driver="GTiff", width=384, height=384, count=4, dtype="uint16", crs=ds.crs,
                           transform=ds.window_transform(((100, 484), (600, 984))))
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.stack(bands))
    return path


@pytest.mark.parametrize("kernel,tolerance", [(1, 1), (5, 3)])
def test_tiled_equals_untiled(square, tmp_path, kernel, tolerance):
    """A pointwise model gives identical results tiled and untiled; a 5x5 convolution
    (zero-padded at patch borders) differs only by what the ramp blending leaves."""
    model = conv_model(tmp_path / f"conv{kernel}.onnx", BANDS, kernel=kernel)
    runs = {}
    for name, patch, overlap in (("untiled", 384, 0), ("tiled", 96, 32)):
        conf = tmp_path / f"{name}_conf.tif"
        result = cloud_mask(square, tmp_path / f"{name}.tif", conf, model=str(model), resolution_m=10,
                            patch_size=patch, overlap=overlap)
        assert result.patch_size == patch
        runs[name] = _probs(conf)
    (untiled, _), (tiled, valid) = runs["untiled"], runs["tiled"]
    assert valid.all()
    diff = np.abs(tiled - untiled)
    assert diff.max() <= tolerance  # confidence in percent; 1 = rounding only
    if kernel > 1:  # the tolerance is needed: without blending the borders would show
        assert diff.max() >= 1


def test_no_seams_at_patch_borders(safe_l1c, tmp_path):
    """Class probabilities change no faster across patch borders than elsewhere."""
    model = conv_model(tmp_path / "conv5.onnx", BANDS, kernel=5)
    conf = tmp_path / "conf.tif"
    cloud_mask(safe_l1c, tmp_path / "m.tif", conf, model=str(model), resolution_m=20, patch_size=96, overlap=32)
    probs, _ = _probs(conf)
    step = np.abs(np.diff(probs, axis=2)).mean(axis=(0, 1))  # mean change between columns
    borders = [s + 96 - 1 for s in patch_starts(768, 96, 32)[:-1]] + list(patch_starts(768, 96, 32)[1:])
    assert step[borders].mean() <= 1.5 * step.mean() + 0.5
