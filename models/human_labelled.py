"""The human-labelled cloud and shadow sets on hand, for scoring and for leave-one-dataset-out training.

Each set is read once into `LabelledSet`: reflectance at a processing grid
(the 10 m sets at 10 m, the default of `cloudfree cloudmask`, for scoring;
2x2-averaged to 20 m, the models' training grid, for training), the reference labels on their
own grid, and which label pixels are valid.  The same objects feed the
benchmark (bench/compare_masks.py), the fold scores of models/train_bundled.py
and, through `training_scenes`, the training set: one reading of the data for
every use, so a set scored is exactly the set a fold left out.

  drivendata  5 L2A chips, B02 B03 B04 B08, 10 m, binary cloud labels (no shadow class)
  ukis_s2     ukis-csmask's Sentinel-2 test patch, 6 TOA bands, cloud + shadow labels
  landsat     ukis-csmask's Landsat-5 TM patch, the same 6 bands (Landsat equivalents), 30 m
  layton      6 L2A dates at ~30 m, hand-painted shadow only; RGB from an 8-bit display image
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import rasterio

from cloudfree.core.evaluation.masks import REFERENCE_SCHEMES, Evaluation, groups_for
from cloudfree.core.masking.shadow_geometry import SunAngles
from cloudfree.core.training.synthetic import IGNORE, TRAIN_BANDS
from cloudfree.models.teachers import THICK_BRIGHTNESS
from cloudfree.core.training.data import Scene, SceneRecord

DATA = Path(os.environ.get("CLOUDFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
UKIS_ORDER = ("B02", "B03", "B04", "B08", "B11", "B12")
Bands = Dict[str, np.ndarray]


@dataclass
class LabelledScene:
    name: str
    bands: Bands                  # float32 reflectance at the processing resolution
    factor: int                   # one processing pixel = factor x factor label pixels
    reference: np.ndarray         # labels on the label grid, in the set's own scheme
    valid: np.ndarray             # bool, label grid
    pixel_m: float                # processing pixel size
    scl: Optional[np.ndarray] = None
    sun: Optional[SunAngles] = None  # mean sun angles, where the set gives them


@dataclass
class LabelledSet:
    name: str
    scheme: str                   # a name in core.evaluation.masks.REFERENCE_SCHEMES
    level: str                    # product level (for ukis-csmask)
    licence: str
    scenes: List[LabelledScene]
    notes: List[str] = field(default_factory=list)

    @property
    def bands(self) -> List[str]:
        return list(self.scenes[0].bands)


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def to_20m(bands: Bands) -> Bands:
    """2x2 block average (10 m -> 20 m); an odd last row/column is dropped."""
    h, w = (s // 2 * 2 for s in next(iter(bands.values())).shape)
    return {b: a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32) for b, a in bands.items()}


def load_drivendata(root: Path, limit: int = 0, resolution_m: int = 20) -> LabelledSet:
    scenes = []
    for chip in sorted(root.glob("chip_id_*"))[:limit or None]:
        dn = {b: read(chip / f"{b}.tif")[0] for b in ("B02", "B03", "B04", "B08")}
        refl = {b: a.astype(np.float32) / 10000 for b, a in dn.items()}
        valid = np.all([a != 0 for a in dn.values()], axis=0)
        factor = _factor(resolution_m)
        scenes.append(LabelledScene(chip.name, to_20m(refl) if factor == 2 else refl, factor,
                                    read(chip / "label.tif")[0], valid, 10 * factor))
    return LabelledSet("drivendata", "cloud_binary", "l2a", "MIT (max-schaefer-dev/cloud-detection-demo)", scenes,
                       [f"L2A; run at {resolution_m} m, scored on the 10 m labels; cloud only"])


def _factor(resolution_m: int) -> int:
    """Label pixels per processing pixel side of a 10 m set run at `resolution_m` (10 or 20)."""
    if resolution_m not in (10, 20):
        raise ValueError(f"the 10 m labelled sets run at 10 or 20 m, not {resolution_m}")
    return resolution_m // 10


def _load_ukis_npz(path: Path, name: str, pixel_m: float, factor: int, note: str, limit: int) -> LabelledSet:
    npz = np.load(path)
    img = npz["img"].astype(np.float32)
    bands = {b: img[..., i] for i, b in enumerate(UKIS_ORDER)}
    if factor == 2:
        bands = to_20m(bands)
    scene = LabelledScene(path.name, bands, factor, npz["msk"][..., 0], np.all(np.isfinite(img), axis=-1), pixel_m)
    return LabelledSet(name, "ukis", "l1c", "Apache-2.0 (dlr-eoc/ukis-csmask test data)", [scene][:limit or None],
                       ["ukis-csmask's OWN test data: ukis-csmask may have an advantage here", note])


def load_ukis_s2(root: Path, limit: int = 0, resolution_m: int = 20) -> LabelledSet:
    factor = _factor(resolution_m)
    return _load_ukis_npz(root / "sentinel2.npz", "ukis_s2", 10 * factor, factor, limit=limit, note=(
        f"TOA; its pixel size is not stated: taken as 10 m, run at {resolution_m} m"))


def load_landsat(root: Path, limit: int = 0, resolution_m: int = 20) -> LabelledSet:
    return _load_ukis_npz(root / "landsat5.npz", "landsat", 30, 1, limit=limit, note=(
        "Landsat-5 TM TOA (30 m), run as is with its bands read as B02 B03 B04 B08 B11 B12"))


def load_layton(root: Path, limit: int = 0, resolution_m: int = 20) -> LabelledSet:
    scenes, saturated = [], 0
    for day in sorted(d for d in root.iterdir() if d.is_dir())[:limit or None]:
        rgb, nir = read(day / "RGB.tif"), read(day / "B08.tif")[0]
        refl = {b: rgb[i].astype(np.float32) / (2.5 * 255) for i, b in enumerate(("B04", "B03", "B02"))}
        refl["B08"] = nir.astype(np.float32) / 65535
        saturated += int(np.any(rgb == 255, axis=0).sum())
        scenes.append(LabelledScene(day.name, refl, 1, read(day / "shadow_mask_from_baseline.tif")[0],
                                    (nir > 0) | (rgb.max(axis=0) > 0), 30, scl=read(day / "SCL.tif")[0],
                                    sun=SunAngles(float(np.nanmean(read(day / "sunZenithAngles.tif"))),
                                                  float(np.nanmean(read(day / "sunAzimuthAngles.tif"))))))
    share = saturated / max(1, sum(s.valid.size for s in scenes))
    return LabelledSet("layton", "shadow_binary", "l2a", "MIT (JeffreyLayton/Cloud-Shadow-Detection-Result-Generation)",
                       scenes, [
                           "L2A, ~30 m, run as is; reference: hand-painted shadow (clouds count as not shadow)",
                           f"RGB from an 8-bit display image: {100 * share:.1f}% of pixels saturated "
                           "(~0.4 reflectance), kept"])


# The 30 m sets (Landsat, Layton) run on their own grid whatever the resolution asked for.
LOADERS: Dict[str, Callable[[Path, int, int], LabelledSet]] = {
    "drivendata": lambda data, n, r: load_drivendata(data / "s2_l2a_drivendata_chips", n, r),
    "ukis_s2": lambda data, n, r: load_ukis_s2(data / "s2_labelled_ukis", n, r),
    "landsat": lambda data, n, r: load_landsat(data / "landsat_labelled_ukis", n, r),
    "layton": lambda data, n, r: load_layton(data / "s2_l2a_shadow_layton", n, r),
}
HUMAN_SETS = tuple(LOADERS)


def load_set(name: str, data: Path = DATA, limit: int = 0, resolution_m: int = 20) -> LabelledSet:
    """A set at `resolution_m` (10 or 20 m; 20 m is the training grid, 10 m the masking default)."""
    return LOADERS[name](data, limit, resolution_m)


# -- scoring on the labels' own grid ----------------------------------------------------------
def evaluate_classes(labelled: LabelledSet, classes: Sequence[np.ndarray]) -> Evaluation:
    """Pooled scores of class maps (processing grid, one per scene) repeated back onto each label grid."""
    scheme = REFERENCE_SCHEMES[labelled.scheme]
    ev = Evaluation(groups_for(scheme))
    for scene, cls in zip(labelled.scenes, classes):
        cls = np.repeat(np.repeat(cls, scene.factor, axis=0), scene.factor, axis=1)
        mask = np.full(scene.reference.shape, 255, np.uint8)  # odd-sized labels: the last row/column stays 255
        mask[:cls.shape[0], :cls.shape[1]] = cls[:mask.shape[0], :mask.shape[1]]
        mask[~scene.valid] = 255
        ev.add(mask, scene.reference, scheme)
    return ev


# -- labels for training ----------------------------------------------------------------------
def _cloud_thickness(bands: Bands) -> np.ndarray:
    """Thick (1) where the visible reflectance is that of an opaque cloud, else thin (2): the teachers' rule."""
    visible = np.mean([bands[b] for b in ("B02", "B03", "B04")], axis=0)
    return np.where(visible >= THICK_BRIGHTNESS, 1, 2).astype(np.uint8)


def training_labels(labelled: LabelledSet, scene: LabelledScene) -> np.ndarray:
    """CloudFree classes (0-3, IGNORE) on the processing grid from a set's own labels.

    What a set does not say stays IGNORE: drivendata's 'not cloud' may be
    shadow, so its dark pixels are unknown; Layton's 'not shadow' may be
    cloud, so Sen2Cor's cloud classes and saturated display pixels are unknown.
    """
    ref, f = scene.reference, scene.factor
    h, w = next(iter(scene.bands.values())).shape
    ref, valid = ref[:h * f, :w * f], scene.valid[:h * f, :w * f]
    if f > 1:  # a processing pixel is labelled only where all its label pixels agree
        blocks = ref.reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h, w, f * f)
        agree = (blocks == blocks[..., :1]).all(-1) & valid.reshape(h, f, w, f).all(axis=(1, 3))
        ref, valid = blocks[..., 0], agree
    label = np.full((h, w), IGNORE, np.uint8)
    thickness = _cloud_thickness(scene.bands)
    if labelled.scheme == "ukis":   # 0 shadow, 1 water/dark, 3 clear land, 4 cloud
        label[(ref == 1) | (ref == 3)] = 0
        label[ref == 0] = 3
        label[ref == 4] = thickness[ref == 4]
    elif labelled.scheme == "cloud_binary":
        dark = np.mean([scene.bands[b] for b in ("B02", "B03", "B04")], axis=0) < 0.06
        label[(ref == 0) & ~dark] = 0
        label[ref == 1] = thickness[ref == 1]
    elif labelled.scheme == "shadow_binary":
        label[ref == 0] = 0
        label[ref == 1] = 3
        cloudy = np.isin(scene.scl, (8, 9, 10)) if scene.scl is not None else np.zeros_like(valid)
        saturated = np.max([scene.bands[b] for b in ("B02", "B03", "B04")], axis=0) >= 0.999 / 2.5
        label[cloudy | saturated] = IGNORE
    else:
        raise ValueError(f"no training labels for scheme {labelled.scheme}")
    label[~valid] = IGNORE
    return label


def training_scenes(labelled: LabelledSet) -> List[Scene]:
    """The set as training scenes (label source 'human', dataset = the set's name)."""
    scenes = []
    for s in labelled.scenes:
        h, w = next(iter(s.bands.values())).shape
        cube = np.full((len(TRAIN_BANDS), h, w), np.nan, np.float32)
        for b, a in s.bands.items():
            cube[TRAIN_BANDS.index(b)] = a
        record = SceneRecord(f"{labelled.name}_{s.name}", f"{labelled.name}:{s.name}", "human", s.pixel_m,
                             labelled.level.upper(), labelled.licence, dataset=labelled.name)
        scenes.append(Scene(record, cube, training_labels(labelled, s)))
    return scenes
