"""ONNX Runtime and PyTorch engines on the same smp U-Net; provider choice."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import RuntimeUnavailableError
from cloudfree.core.model.card import sha256_of, write_card
from cloudfree.core.model.runtime import choose_providers
from onnx_models import CLASSES, conv_model

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def smp_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    smp = pytest.importorskip("segmentation_models_pytorch")
    folder = tmp_path_factory.mktemp("smp")
    torch.manual_seed(0)
    kwargs = {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}
    model = smp.create_model("Unet", encoder_name="resnet18", encoder_weights=None, in_channels=4, classes=4, **kwargs).eval()
    torch.save(model.state_dict(), folder / "unet.pt")
    onnx_path = folder / "unet.onnx"
    torch.onnx.export(model, torch.zeros(1, 4, 64, 64), onnx_path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)
    write_card(onnx_path, {
        "name": "test-unet", "bands": BANDS, "resolution_m": 10,
        "normalisation": {"mean": [0.1] * 4, "std": [0.05] * 4}, "classes": CLASSES, "output": "logits",
        "patch_size": 128, "overlap": 32, "input_multiple": 8,
        "architecture": {"arch": "Unet", "encoder": "resnet18", "weights_file": "unet.pt",
                         "weights_sha256": sha256_of(folder / "unet.pt"), "kwargs": kwargs}})
    return onnx_path


def test_onnx_and_pytorch_engines_agree(smp_model, data_dir, tmp_path):
    scene = data_dir / "s2_l2a_drivendata_chips" / "chip_id_1"
    stack = tmp_path / "chip.tif"
    with rasterio.open(scene / "B02.tif") as ref:
        profile = dict(ref.profile, count=4)
    with rasterio.open(stack, "w", **profile) as dst:
        for i, b in enumerate(BANDS, 1):
            with rasterio.open(scene / f"{b}.tif") as src:
                dst.write(src.read(1), i)
    results = {}
    for engine in ("onnx", "torch"):
        res = cloud_mask(stack, tmp_path / f"{engine}.tif", tmp_path / f"{engine}_c.tif", model=str(smp_model),
                         resolution_m=10, engine=engine, device="cpu", band_preset="bgrn")
        with rasterio.open(tmp_path / f"{engine}_c.tif") as c:
            results[engine] = c.read().astype(int)
        assert res.runtime.startswith("ONNX Runtime" if engine == "onnx" else "PyTorch")
    assert np.abs(results["onnx"] - results["torch"]).max() <= 1  # percent rounding only
    assert len(np.unique(results["onnx"].argmax(axis=0))) > 1  # a model that says something


def test_provider_order_and_cuda_errors():
    avail = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", avail) == avail
    assert choose_providers("cpu", avail) == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeUnavailableError, match="onnxruntime-gpu"):
        choose_providers("cuda", ["CPUExecutionProvider"])


def test_fp16_model_runs_and_matches_its_fp32_twin(tmp_path):
    """fp16 exports take half-precision input; the engine casts to what the model declares."""
    from conftest import SAMPLE
    conf = {}
    for fp16 in (False, True):
        model = conv_model(tmp_path / f"m{int(fp16)}.onnx", BANDS, kernel=3, seed=1, fp16=fp16)
        cloud_mask(SAMPLE, tmp_path / f"m{int(fp16)}.tif", tmp_path / f"c{int(fp16)}.tif", model=str(model),
                   resolution_m=20, device="cpu")
        with rasterio.open(tmp_path / f"c{int(fp16)}.tif") as c:
            conf[fp16] = c.read().astype(int)
    assert np.abs(conf[True] - conf[False]).max() <= 2
    assert (conf[True].argmax(axis=0) == conf[False].argmax(axis=0)).mean() > 0.99
