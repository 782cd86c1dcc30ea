"""Pseudo-labels from established cloud masks installed as packages.

ukis-csmask (U-Nets with cloud and shadow classes, a 4- and a 6-band model
for each of L1C and L2A) and s2cloudless (a gradient-boosted cloud
classifier) are used as teachers on real imagery that has no human labels.
Two forms: hard labels (`teacher_labels`: where the teachers disagree the
pixel is left unlabelled) and soft targets (`teacher_targets`: the
teachers' mean probabilities, each pixel weighted by how many teachers
agree with the mean's decision), which keep what a hard label throws away:
how sure the teachers are.
Neither package is needed to run CloudFree, only to prepare training data
and to benchmark against them (`make teachers` installs them).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..core.errors import RuntimeUnavailableError
from ..core.training.synthetic import IGNORE

UKIS_BANDS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22"}
S2CLOUDLESS_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
THICK_BRIGHTNESS = 0.28  # mean visible reflectance above which a teacher's cloud is taken as thick
THICK_RAMP = 0.08        # soft targets: thick share of a teacher cloud ramps over 0.28 +- 0.08
S2CLOUDLESS_THRESHOLD = 0.4  # s2cloudless's own default decision


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


def ukis_probabilities(refl: np.ndarray, bands: Sequence[str], level: str = "l1c", band_count: int = 6,
                       threads: int = 0) -> np.ndarray:
    """(3, H, W) blended softmax (clear, cloud, shadow) of one ukis-csmask model (4 or 6 bands).

    CSmask only returns the arg-max; its probabilities are kept by
    re-running its own tiling and blending on the normalised image.
    """
    try:
        from ukis_csmask.mask import CSmask
        from ukis_csmask.utils import tile_array, untile_array
    except ImportError as exc:
        raise _missing("ukis-csmask", exc) from exc
    use = [b for b in UKIS_BANDS if b in bands][:band_count]
    if len(use) != band_count:
        raise RuntimeUnavailableError(f"The {band_count}-band ukis-csmask model needs bands {list(UKIS_BANDS)[:band_count]}.")
    img = np.stack([refl[list(bands).index(b)] for b in use], axis=-1).astype(np.float32)
    img = np.nan_to_num(np.clip(img, 0.0, 1.5))
    mask = CSmask(img, [UKIS_BANDS[b] for b in use], product_level=level.lower(),
                  intra_op_num_threads=threads, inter_op_num_threads=1)
    size = mask.target_size
    tiles = np.moveaxis(tile_array(mask.img, xsize=size[0], ysize=size[1], overlap=0.2), -1, 1)
    probs = np.concatenate([mask.softmax(mask.session.run(None, {mask.input_names: tiles[i:i + 1]})[0])
                            for i in range(len(tiles))])
    probs = np.moveaxis(probs, 1, -1)
    blended = untile_array(probs, (img.shape[0], img.shape[1], probs.shape[-1]), overlap=0.2, smooth_blending=True)
    blended = np.clip(np.moveaxis(np.asarray(blended, np.float32), -1, 0), 0.0, None)
    return blended / np.maximum(blended.sum(axis=0, keepdims=True), 1e-6)


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


def teacher_targets(refl: np.ndarray, bands: Sequence[str], level: str = "l1c",
                    s2cloudless_prob: Optional[np.ndarray] = None) -> np.ndarray:
    """Soft targets (5, H, W) float32: CloudFree class probabilities (clear, thick, thin, shadow) and a weight.

    The teachers are every ukis-csmask model the bands allow at the
    product's level (6- and 4-band) and, for cloud, s2cloudless where
    given.  The cloud probability is the mean of every teacher's; clear
    and shadow share the rest as the ukis-csmask models' mean does.  The
    weight is the share of teachers whose own decision is the mean's
    (1/3 where three teachers split three ways), 0 where the image is not
    finite.  Thickness is not something the teachers say: a cloud's thick
    share ramps with visible brightness around THICK_BRIGHTNESS.
    """
    ukis = [ukis_probabilities(refl, bands, level, n) for n in (6, 4)
            if all(b in bands for b in list(UKIS_BANDS)[:n])
            and np.isfinite(refl[[list(bands).index(b) for b in list(UKIS_BANDS)[:n]]]).any()]
    if not ukis:
        raise RuntimeUnavailableError("The teachers need at least blue, green, red and NIR.")
    mean = np.mean(ukis, axis=0)
    clouds = [p[1] for p in ukis] + ([np.clip(s2cloudless_prob, 0, 1)] if s2cloudless_prob is not None else [])
    cloud = np.mean(clouds, axis=0)
    rest = np.maximum(mean[0] + mean[2], 1e-6)
    clear, shadow = (1 - cloud) * mean[0] / rest, (1 - cloud) * mean[2] / rest
    decided = np.argmax(np.stack([clear, cloud, shadow]), axis=0)
    votes = [np.argmax(p, axis=0) for p in ukis]
    if s2cloudless_prob is not None:  # s2cloudless only says cloud or not: "not" agrees with clear and shadow
        not_cloud = np.where(decided == 1, 0, decided)
        votes.append(np.where(s2cloudless_prob >= S2CLOUDLESS_THRESHOLD, 1, not_cloud))
    weight = np.mean([v == decided for v in votes], axis=0)
    visible = np.mean([refl[list(bands).index(b)] for b in ("B02", "B03", "B04")], axis=0)
    thick = np.clip((np.nan_to_num(visible) - THICK_BRIGHTNESS + THICK_RAMP) / (2 * THICK_RAMP), 0, 1)
    weight = np.where(np.isfinite(visible), weight, 0.0)
    return np.stack([clear, cloud * thick, cloud * (1 - thick), shadow, weight]).astype(np.float32)
