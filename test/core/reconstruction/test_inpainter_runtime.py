"""The inpainter on the model layer the masks use: one session type (providers, devices), one tiled prediction."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.errors import RuntimeUnavailableError
from cloudfree.core.model.tiling import patch_starts, predict_blended
from cloudfree.core.reconstruction.inpainter import load_inpaint_card, open_inpaint_session
from cloudfree.core.reconstruction.reconstruct import reconstruct
from single_image_fixture import build_l1c_raster


def test_the_inpainter_session_runs_where_it_is_asked_to():
    ort = pytest.importorskip("onnxruntime")
    card = load_inpaint_card()
    assert "CPUExecutionProvider" in open_inpaint_session(card, "cpu").description
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert "CUDA" in open_inpaint_session(card, "cuda").description
    else:  # CUDA asked for and impossible: an error that says so, never a silent CPU run
        with pytest.raises(RuntimeUnavailableError, match="CUDA was requested"):
            open_inpaint_session(card, "cuda")


def test_reconstruct_on_an_impossible_device_fails_before_writing(tmp_path, data_dir):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine's ONNX Runtime has CUDA")
    image = build_l1c_raster(tmp_path / "l1c.tif", size=96)
    with rasterio.open(image) as src:
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform, nodata=255)
    classes = np.zeros((96, 96), np.uint8)
    classes[30:60, 30:60] = 1
    with rasterio.open(tmp_path / "mask.tif", "w", **profile) as dst:
        dst.write(classes, 1)
    with pytest.raises(RuntimeUnavailableError):
        reconstruct(image, tmp_path / "mask.tif", tmp_path / "out.tif", device="cuda")
    assert not (tmp_path / "out.tif").exists()


def test_predict_blended_keeps_only_the_patches_asked_for():
    rng = np.random.default_rng(0)
    data = rng.random((2, 100, 90)).astype(np.float32)
    calls = []

    def double(batch):
        calls.append(len(batch))
        return batch * 2

    full = predict_blended(double, data, 32, 8)
    n_all = sum(calls)
    assert n_all == len(patch_starts(100, 32, 8)) * len(patch_starts(90, 32, 8))
    assert np.allclose(full, data * 2, atol=1e-5)  # blending weights sum to one wherever patches overlap
    calls.clear()
    part = predict_blended(double, data, 32, 8, keep=lambda y, x: y == 0 and x == 0)
    assert sum(calls) == 1
    assert np.allclose(part[:, :24, :24], data[:, :24, :24] * 2, atol=1e-5)  # inside the one patch, off its ramp
    assert (part[:, 40:, :] == 0).all() and (part[:, :, 40:] == 0).all()   # never predicted: 0, not NaN
