"""Pseudo-labels from established cloud masks installed as packages.

ukis-csmask (a U-Net with cloud and shadow classes) and s2cloudless (a
gradient-boosted cloud classifier) are used as teachers on real cloudy
imagery that has no human labels.  Where both can run they must agree;
pixels where they disagree are left unlabelled rather than guessed.
Neither package is needed to run CloudFree, only to prepare training data
and to benchmark against them (`make teachers` installs them).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .errors import RuntimeUnavailableError
from .synthetic import IGNORE

UKIS_BANDS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22"}
S2CLOUDLESS_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
THICK_BRIGHTNESS = 0.28  # mean visible reflectance above which a teacher's cloud is taken as thick


def _missing(package: str, exc: ImportError) -> RuntimeUnavailableError:
    return RuntimeUnavailableError(f"The teacher {package} is not installed ({exc}); install it with "
                                   f"'make teachers' or 'pip install {package}'.")


def ukis_classes(refl: np.ndarray, bands: Sequence[str], level: str = "l1c", threads: int = 0) -> np.ndarray:
    """ukis-csmask classes (0 clear, 1 cloud, 2 shadow) of a (bands, H, W) reflectance cube."""
    try:
        from ukis_csmask.mask import CSmask
    except ImportError as exc:
        raise _missing("ukis-csmask", exc) from exc
    use = [b for b in UKIS_BANDS if b in bands]
    img = np.stack([refl[list(bands).index(b)] for b in use], axis=-1).astype(np.float32)
    img = np.nan_to_num(np.clip(img, 0.0, 1.5))
    mask = CSmask(img, [UKIS_BANDS[b] for b in use], product_level=level.lower(),
                  intra_op_num_threads=threads, inter_op_num_threads=1)
    return mask.csm[..., 0]


def s2cloudless_probability(refl: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """s2cloudless cloud probability of a (bands, H, W) L1C reflectance cube with its 10 bands."""
    try:
        from s2cloudless import S2PixelCloudDetector
    except ImportError as exc:
        raise _missing("s2cloudless", exc) from exc
    data = np.stack([refl[list(bands).index(b)] for b in S2CLOUDLESS_BANDS], axis=-1)[None].astype(np.float32)
    detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    return detector.get_cloud_probability_maps(np.nan_to_num(data))[0]


def teacher_labels(refl: np.ndarray, bands: Sequence[str], level: str = "l1c",
                   s2cloudless_prob: Optional[np.ndarray] = None) -> np.ndarray:
    """CloudFree labels (0-3, IGNORE) from ukis-csmask, checked by s2cloudless where given.

    Thickness is not something the teachers say; a teacher cloud whose visible
    reflectance is high is called thick, a dimmer one thin.
    """
    csm = ukis_classes(refl, bands, level)
    visible = np.mean([refl[list(bands).index(b)] for b in ("B02", "B03", "B04")], axis=0)
    label = np.zeros(csm.shape, np.uint8)
    cloud = csm == 1
    label[cloud] = np.where(visible[cloud] >= THICK_BRIGHTNESS, 1, 2)
    label[csm == 2] = 3
    if s2cloudless_prob is not None:
        disagree = (cloud & (s2cloudless_prob < 0.2)) | (~cloud & (csm != 2) & (s2cloudless_prob > 0.7))
        label[disagree] = IGNORE
    label[~np.isfinite(visible)] = IGNORE
    return label
