"""In QGIS an engine refusal names the dialog's fields (or says the dialog has none), never command-line flags."""
import numpy as np
import pytest
import rasterio
from single_image_fixture import build_display_image

pytestmark = pytest.mark.usefixtures("cloudfree_provider")


def test_an_8_bit_display_image_is_refused_in_the_dialogs_words(tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from cloudfree.algorithms.common import PRESET_KEYS

    path = build_display_image(tmp_path / "display.tif")
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("cloudfree:cloudmask", {"INPUT": str(path), "BAND_PRESET": PRESET_KEYS.index("rgb") + 1,
                                                "OUTPUT": str(tmp_path / "m.tif")})
    text = str(caught.value)
    assert "8-bit" in text and "Advanced > DN scale: 255" in text
    assert "dn_scale=" not in text and "Python" not in text
    assert not (tmp_path / "m.tif").exists()
    # ... and the field it names works: the same image with DN scale 255 x 2.5 is masked
    result = processing.run("cloudfree:cloudmask", {"INPUT": str(path), "BAND_PRESET": PRESET_KEYS.index("rgb") + 1,
                                                    "DN_SCALE": 255 * 2.5, "OUTPUT": str(tmp_path / "m.tif")})
    with rasterio.open(result["OUTPUT"]) as mask:
        assert set(np.unique(mask.read(1))) <= {0, 1, 2, 3}
