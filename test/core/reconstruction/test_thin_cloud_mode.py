"""Reconstruct's thin-cloud mode: thin cloud (class 2) is corrected by a remover, not filled, and said so."""
import numpy as np
import pytest
import rasterio

from cloudfree.core.errors import InputError
from cloudfree.core.reconstruction.reconstruct import FROM_NETWORK, KEPT, THIN_CORRECTED, reconstruct
from cloudfree.core.training.synthetic import TRAIN_BANDS
from onnx_models import identity_thin_model
from single_image_fixture import build_l1c_raster, write_class_raster as write_mask

SIZE = 128


@pytest.fixture(scope="module")
def scene(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("thin")
    raster = build_l1c_raster(folder / "l1c.tif", size=SIZE)
    classes = np.zeros((SIZE, SIZE), np.uint8)
    classes[20:50, 20:60] = 1   # thick cloud: filled
    classes[70:110, 30:100] = 2  # thin cloud: corrected
    return raster, write_mask(folder / "mask.tif", raster, classes), classes


def read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_thin_pixels_keep_their_own_values_through_an_identity_remover(scene, tmp_path):
    raster, mask, classes = scene
    remover = identity_thin_model(tmp_path / "identity_thin.onnx", TRAIN_BANDS)
    result = reconstruct(raster, mask, tmp_path / "rec.tif", tmp_path / "src.tif", thin_cloud="correct",
                         thin_model=str(remover))
    truth, rec, src = read(raster), read(tmp_path / "rec.tif"), read(tmp_path / "src.tif")[0]
    thin, thick = classes == 2, classes == 1
    np.testing.assert_array_equal(src, np.select([thick, thin], [FROM_NETWORK, THIN_CORRECTED], KEPT))
    assert result.filled_pixels == int(thick.sum())  # corrected pixels are not counted as invented
    # observed values back, within the DN rounding of the normalise / de-normalise round trip
    assert np.abs(rec[:, thin].astype(int) - truth[:, thin].astype(int)).max() <= 1
    np.testing.assert_array_equal(rec[:, classes == 0], truth[:, classes == 0])
    assert np.abs(rec[:, thick].astype(int) - truth[:, thick].astype(int)).mean() > 0  # thick was filled


def test_filling_thin_cloud_is_still_the_default(scene, tmp_path):
    raster, mask, classes = scene
    reconstruct(raster, mask, tmp_path / "rec.tif", tmp_path / "src.tif")
    assert set(np.unique(read(tmp_path / "src.tif")[0][classes == 2])) == {FROM_NETWORK}


def test_the_remover_moves_only_the_thin_pixels_by_what_it_predicts(scene, tmp_path):
    """A remover that lowers every band by one patch standard deviation: thin pixels darken, nothing else."""
    raster, mask, classes = scene
    remover = identity_thin_model(tmp_path / "darker.onnx", TRAIN_BANDS, shift=-1.0)
    reconstruct(raster, mask, tmp_path / "rec.tif", thin_cloud="correct", thin_model=str(remover))
    truth, rec = read(raster).astype(int), read(tmp_path / "rec.tif").astype(int)
    thin = classes == 2
    b04 = 3  # raster order B01 B02 B03 B04 ...: a band the remover knows
    assert (rec[b04][thin] < truth[b04][thin]).mean() > 0.95
    np.testing.assert_array_equal(rec[:, classes == 0], truth[:, classes == 0])
    b10 = 10  # a band the remover does not know keeps its observed value under thin cloud
    np.testing.assert_array_equal(rec[b10][thin], truth[b10][thin])


def test_a_bad_mode_or_a_mask_model_as_remover_is_refused(scene, tmp_path):
    raster, mask, _ = scene
    with pytest.raises(InputError, match="filled or corrected"):
        reconstruct(raster, mask, tmp_path / "rec.tif", thin_cloud="remove")
    from cloudfree.core.errors import ModelCardError
    with pytest.raises(ModelCardError, match="not a thin-cloud removal model"):
        reconstruct(raster, mask, tmp_path / "rec.tif", thin_cloud="correct", thin_model="cloudfree_s2")
    assert not list(tmp_path.glob("rec*"))
