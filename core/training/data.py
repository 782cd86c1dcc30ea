"""Training scenes on disk and the patches a training run draws from them.

A training set is one compressed .npz: each scene is a reflectance cube in
`TRAIN_BANDS` order (NaN for a band the source lacks), a label raster
(0 clear, 1 thick, 2 thin, 3 shadow, 255 unknown), optionally the teachers'
soft targets (class probabilities and a per-pixel weight), and a record
saying where it comes from.  Keeping the place of every scene lets training hold out
whole places for validation, so that early stopping rewards generalisation
rather than memorising a scene.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .synthetic import IGNORE, TRAIN_BANDS, composite_clouds

LABEL_SOURCES = ("human", "scl", "teacher", "synthetic")
SOFT_SCALE = 250  # soft targets are stored as uint8, 0-250


@dataclass
class SceneRecord:
    name: str
    place: str          # scenes of one place are never split between training and validation
    label_source: str   # one of LABEL_SOURCES; "synthetic" scenes get clouds composited at draw time
    pixel_m: float
    level: str = ""     # L1C or L2A, for the record
    licence: str = ""
    dataset: str = ""   # the human-labelled set a scene belongs to: the unit of leave-one-dataset-out


@dataclass
class Scene:
    record: SceneRecord
    image: np.ndarray   # (len(TRAIN_BANDS), H, W) float32 reflectance, NaN where a band is missing
    label: np.ndarray   # (H, W) uint8
    soft: Optional[np.ndarray] = None  # (5, H, W): teachers' probabilities of the 4 classes and a weight, 0-1

    def has_bands(self, bands: Sequence[str]) -> bool:
        idx = [TRAIN_BANDS.index(b) for b in bands]
        return bool(np.isfinite(self.image[idx, 0, 0]).all())


def save_scenes(path: Path, scenes: Sequence[Scene]) -> Path:
    arrays: Dict[str, np.ndarray] = {}
    for i, s in enumerate(scenes):
        if s.image.shape[0] != len(TRAIN_BANDS) or s.image.shape[1:] != s.label.shape:
            raise InputError(f"Scene {s.record.name}: image {s.image.shape} and label {s.label.shape} disagree.")
        arrays[f"image_{i}"] = s.image.astype(np.float16)
        arrays[f"label_{i}"] = s.label.astype(np.uint8)
        if s.soft is not None:
            if s.soft.shape != (5,) + s.label.shape:
                raise InputError(f"Scene {s.record.name}: soft targets {s.soft.shape} do not fit its labels.")
            arrays[f"soft_{i}"] = np.round(np.clip(s.soft, 0, 1) * SOFT_SCALE).astype(np.uint8)
    records = [asdict(s.record) for s in scenes]
    arrays["records"] = np.frombuffer(json.dumps({"bands": TRAIN_BANDS, "scenes": records}).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")  # replaced whole or not at all
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_scenes(paths: Sequence[Path]) -> List[Scene]:
    scenes: List[Scene] = []
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"No training set at {path}; build one with 'cloudfree prepare' or models/prepare_training_data.py.")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["records"]).decode())
                if meta["bands"] != TRAIN_BANDS:
                    raise InputError(f"{path} was written for bands {meta['bands']}, not {TRAIN_BANDS}.")
                for i, rec in enumerate(meta["scenes"]):
                    soft = z[f"soft_{i}"].astype(np.float32) / SOFT_SCALE if f"soft_{i}" in z.files else None
                    scene = Scene(SceneRecord(**rec), z[f"image_{i}"].astype(np.float32), z[f"label_{i}"], soft)
                    if scene.image.shape != (len(TRAIN_BANDS),) + scene.label.shape:
                        raise InputError(f"Scene {i} of {path} has an image {scene.image.shape} that does not fit "
                                         f"its labels {scene.label.shape}.")
                    scenes.append(scene)
        except InputError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path} is not a CloudFree training set ({type(exc).__name__}: {exc}); build one "
                             "with 'cloudfree prepare'.") from exc
    return scenes


def without_datasets(scenes: Sequence[Scene], excluded: Sequence[str]) -> List[Scene]:
    """The scenes a leave-one-dataset-out fold may see: none of an excluded human-labelled set."""
    drop = set(excluded)
    return [s for s in scenes if not (s.record.dataset and s.record.dataset in drop)]


def split_by_place(scenes: Sequence[Scene], validation_places: Sequence[str]) -> Tuple[List[Scene], List[Scene]]:
    held = set(validation_places)
    unknown = held - {s.record.place for s in scenes}
    if unknown:
        raise InputError(f"Validation place(s) {', '.join(sorted(unknown))} are not in the training set.")
    train = [s for s in scenes if s.record.place not in held]
    val = [s for s in scenes if s.record.place in held]
    if not train:
        raise InputError("Every scene is held out for validation; leave at least one place for training.")
    return train, val


class PatchSampler:
    """Draws augmented, class-balanced training patches from scenes.

    Synthetic scenes get a fresh cloud field at every draw, composited on a
    crop larger than the patch so that shadows of clouds outside the patch
    fall into it.  Half of the draws are centred on a pixel of a rare class
    (thin cloud or shadow) when the crop has one.
    """

    def __init__(self, scenes: Sequence[Scene], bands: Sequence[str], patch: int, seed: int,
                 synthetic_fraction: float = 0.7, augment: bool = True, human_fraction: float = 0.0,
                 coarse_fraction: float = 0.0) -> None:
        self.band_index = [TRAIN_BANDS.index(b) for b in bands]
        self.scenes = [s for s in scenes if s.has_bands(bands)]
        if not self.scenes:
            raise InputError(f"No training scene has all of the bands {', '.join(bands)}.")
        self.patch, self.augment = patch, augment
        self.synthetic_fraction = synthetic_fraction
        self.coarse_fraction = coarse_fraction
        self.rng = np.random.default_rng(seed)
        area = np.sqrt(np.array([s.label.size for s in self.scenes], np.float64))  # small scenes are not drowned out
        human = np.array([s.record.label_source == "human" for s in self.scenes])
        if human.any() and not human.all() and human_fraction > 0:
            # Human labels are few pixels but the best ones: give them a fixed share of the draws.
            area = np.where(human, human_fraction * area / area[human].sum(),
                            (1 - human_fraction) * area / area[~human].sum())
        self.weights = area / area.sum()

    def _crop(self, scene: Scene, size: int) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        _, h, w = scene.image.shape
        image, label, soft = scene.image, scene.label, scene.soft
        if h < size or w < size:  # pad small scenes; padding is unknown (soft weight 0)
            ph, pw = max(0, size - h), max(0, size - w)
            image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect")
            label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE)
            if soft is not None:
                soft = np.pad(soft, ((0, 0), (0, ph), (0, pw)), constant_values=0.0)
            h, w = label.shape
        rare = np.argwhere(np.isin(label, (2, 3))) if self.rng.random() < 0.5 else None
        if rare is not None and len(rare):
            cy, cx = rare[self.rng.integers(len(rare))]
            y0 = int(np.clip(cy - size // 2, 0, h - size))
            x0 = int(np.clip(cx - size // 2, 0, w - size))
        else:
            y0, x0 = int(self.rng.integers(0, h - size + 1)), int(self.rng.integers(0, w - size + 1))
        window = np.s_[y0:y0 + size, x0:x0 + size]
        return (image[(slice(None),) + window].copy(), label[window].copy(),
                None if soft is None else soft[(slice(None),) + window].copy())

    def draw(self) -> Tuple[np.ndarray, np.ndarray]:
        """One (bands, patch, patch) reflectance patch and its (patch, patch) labels."""
        image, label, _ = self.draw_targets()
        return image, label

    def draw_targets(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A patch, its hard labels and its targets (5, patch, patch): class probabilities and a weight.

        The targets are the teachers' soft ones where the scene has them and
        the pixel was not changed by a synthetic cloud or shadow; elsewhere the
        hard label as a one-hot target, weight 1 (0 where the label is unknown).
        """
        scene = self.scenes[self.rng.choice(len(self.scenes), p=self.weights)]
        synthetic = scene.record.label_source == "synthetic" and self.rng.random() < self.synthetic_fraction
        coarse = self.augment and self.rng.random() < self.coarse_fraction
        patch = self.patch * 3 // 2 if coarse else self.patch
        size = int(patch * 1.5) if synthetic else patch
        image, label, soft = self._crop(scene, size)
        if synthetic:
            clear_image = image
            image, label = composite_clouds(image, scene.record.pixel_m, self.rng, base_label=label)
            if soft is not None:  # where a synthetic cloud or shadow changed the pixel, the teachers did not see it
                changed = np.any(np.abs(image - clear_image) > 1e-4, axis=0)
                soft[4][changed] = 0.0
            m = (size - patch) // 2
            image, label = image[:, m:m + patch, m:m + patch], label[m:m + patch, m:m + patch]
            soft = None if soft is None else soft[:, m:m + patch, m:m + patch]
        target = hard_targets(label)
        if soft is not None:
            use = soft[4] > 0
            target[:, use] = soft[:, use]
        if coarse:
            image, label, target = coarsen(image, label, target)
        image = image[self.band_index]
        if self.augment:
            image, label, target = self._augment(image, label, target)
        return (np.ascontiguousarray(image, np.float32), np.ascontiguousarray(label),
                np.ascontiguousarray(target, np.float32))

    def _augment(self, image: np.ndarray, label: np.ndarray,
                 target: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = int(self.rng.integers(4))
        image, label, target = np.rot90(image, k, axes=(1, 2)), np.rot90(label, k), np.rot90(target, k, axes=(1, 2))
        if self.rng.random() < 0.5:
            image, label, target = image[:, :, ::-1], label[:, ::-1], target[:, :, ::-1]
        gain = self.rng.uniform(0.88, 1.12) * self.rng.uniform(0.97, 1.03, size=(image.shape[0], 1, 1))
        contrast = self.rng.uniform(0.85, 1.15)
        mean = image.mean(axis=(1, 2), keepdims=True)
        image = ((image - mean) * contrast + mean) * gain
        return image.astype(np.float32), label, target

    def batches(self, batch_size: int) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Batches of patches, hard labels and targets (see draw_targets)."""
        while True:
            drawn = [self.draw_targets() for _ in range(batch_size)]
            yield tuple(np.stack([d[k] for d in drawn]) for k in range(3))


def coarsen(image: np.ndarray, label: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A patch seen 1.5 times coarser (20 m as 30 m, the pixel of Landsat and of the Layton dates).

    Image and targets are area means over 1.5 x 1.5 pixels (each pixel split
    in 2 x 2, then 3 x 3 blocks averaged); the label is the one nearest each
    coarse pixel's centre.  Sides must be multiples of 3.
    """
    def area_mean(a: np.ndarray) -> np.ndarray:
        fine = np.repeat(np.repeat(a, 2, axis=-2), 2, axis=-1)
        c, h, w = fine.shape
        return fine.reshape(c, h // 3, 3, w // 3, 3).mean(axis=(2, 4))
    h, w = label.shape
    rows, cols = (np.arange(h * 2 // 3) * 3 + 1) // 2, (np.arange(w * 2 // 3) * 3 + 1) // 2
    return area_mean(image), label[np.ix_(rows, cols)], area_mean(target)


def hard_targets(label: np.ndarray) -> np.ndarray:
    """(5, H, W) one-hot class targets of a label raster and a weight: 1, or 0 where the label is unknown."""
    known = label != IGNORE
    target = np.zeros((5,) + label.shape, np.float32)
    for cls in range(4):
        target[cls] = label == cls
    target[4] = known
    return target


def fixed_patches(sampler: PatchSampler, count: int) -> Tuple[np.ndarray, np.ndarray]:
    """A reproducible validation set: `count` patches drawn once, without augmentation."""
    sampler.augment = False
    pairs = [sampler.draw() for _ in range(count)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def band_statistics(scenes: Sequence[Scene], bands: Sequence[str], seed: int = 0,
                    samples: Optional[int] = 200_000) -> Tuple[List[float], List[float]]:
    """Per-band mean and std over labelled pixels, for the model card's normalisation."""
    rng = np.random.default_rng(seed)
    idx = [TRAIN_BANDS.index(b) for b in bands]
    values = []
    for s in scenes:
        if not s.has_bands(bands):
            continue
        flat = s.image[idx].reshape(len(idx), -1)
        take = rng.choice(flat.shape[1], size=min(flat.shape[1], (samples or flat.shape[1]) // max(len(scenes), 1)),
                          replace=False)
        values.append(flat[:, take])
    v = np.concatenate(values, axis=1)
    return [round(float(x), 5) for x in v.mean(axis=1)], [round(float(x), 5) for x in v.std(axis=1) + 1e-4]
