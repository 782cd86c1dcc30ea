"""Scoring a cloud mask against a reference: per class, pooled over scenes.

References come in many codings (CloudSEN12's 0-3, a binary cloud label, a
hand-painted shadow layer, SCL, ukis-csmask's classes), so each is mapped to
CloudFree classes first.  A reference that only knows "cloud" (not thick or
thin) scores the cloud class as a whole; one that has no shadow class does
not score shadow at all, rather than counting every shadow as clear.
The mask is resampled (nearest) onto the reference grid, so that scores are
at the resolution the reference was drawn at.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, cast

import numpy as np

from ..errors import InputError
from .metrics import scores_from_counts
from ..model.card import NODATA_CLASS

ANY_CLOUD = 4   # a reference pixel that is cloud, thick or thin not said
NOT_CLOUD = 5   # a reference pixel that is not cloud (clear or shadow, not said)
NOT_SHADOW = 6  # a reference pixel that is not shadow (clear or cloud, not said)

#: reference value -> CloudFree class (ANY_CLOUD for unspecified cloud); unlisted values are ignored.
REFERENCE_SCHEMES: Dict[str, Dict[int, int]] = {
    "cloudfree": {0: 0, 1: 1, 2: 2, 3: 3},          # also CloudSEN12's coding
    "cloud_binary": {0: NOT_CLOUD, 1: ANY_CLOUD},    # 1 = cloud (e.g. the DrivenData labels)
    "shadow_binary": {0: NOT_SHADOW, 1: 3},          # 1 = cloud shadow, 0 = anything else
    "scl": {2: 0, 3: 3, 4: 0, 5: 0, 6: 0, 7: 0, 8: 1, 9: 1, 10: 2, 11: 0},
    "ukis": {0: 3, 1: 0, 2: 0, 3: 0, 4: ANY_CLOUD},  # ukis-csmask: shadow, water, snow, land, cloud
}
SCHEME_LABELS = {
    "cloudfree": "CloudFree / CloudSEN12 classes (0 clear, 1 thick, 2 thin, 3 shadow)",
    "cloud_binary": "Binary cloud (0 not cloud, 1 cloud)",
    "shadow_binary": "Binary shadow (0 not shadow, 1 shadow; cloud counts as not shadow)",
    "scl": "Sentinel-2 Scene Classification Layer (SCL)",
    "ukis": "ukis-csmask classes (0 shadow, 1 water, 2 snow, 3 land, 4 cloud)",
}
#: class group -> (mask classes, reference classes)
GROUPS: Dict[str, tuple] = {
    "clear": ((0,), (0,)),
    "cloud": ((1, 2), (1, 2, ANY_CLOUD)),
    "thick cloud": ((1,), (1,)),
    "thin cloud": ((2,), (2,)),
    "shadow": ((3,), (3,)),
}


def parse_scheme(text: str) -> Dict[int, int]:
    """A scheme by name, or written out as 'value=class, ...' (class 4 = cloud of either kind)."""
    if text in REFERENCE_SCHEMES:
        return REFERENCE_SCHEMES[text]
    scheme: Dict[int, int] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text or ""))):
        m = re.fullmatch(r"(\d+)\s*[=:]\s*(\d+)", part)
        if not m or int(m.group(2)) > NOT_SHADOW:
            raise InputError(f"Cannot read '{part}' in the reference classes; use a scheme name "
                             f"({', '.join(REFERENCE_SCHEMES)}) or 'value=class' pairs with class 0 clear, "
                             "1 thick, 2 thin, 3 shadow, 4 cloud (thick or thin), 5 not cloud, 6 not shadow.")
        scheme[int(m.group(1))] = int(m.group(2))
    if not scheme:
        raise InputError("The reference classes are empty; give a scheme name or value=class pairs.")
    return scheme


def groups_for(scheme: Dict[int, int]) -> List[str]:
    """The class groups a reference coded this way can score."""
    coded = set(scheme.values())
    groups = ["clear"] if 0 in coded else []
    if coded & {1, 2, ANY_CLOUD}:
        groups.append("cloud")
    if {1, 2} <= coded and ANY_CLOUD not in coded:
        groups += ["thick cloud", "thin cloud"]
    if 3 in coded:
        groups.append("shadow")
    return groups


@dataclass
class Evaluation:
    """Pooled counts per class group; add scenes, then read scores."""

    groups: List[str]
    counts: Dict[str, np.ndarray] = field(default_factory=dict)
    scenes: int = 0

    def add(self, mask: np.ndarray, reference: np.ndarray, scheme: Dict[int, int]) -> None:
        if mask.shape != reference.shape:
            raise InputError(f"Mask {mask.shape} and reference {reference.shape} differ in size.")
        lut = np.full(max(int(reference.max(initial=0)) + 1, max(scheme) + 1, NODATA_CLASS + 1), NODATA_CLASS,
                      np.uint8)
        for value, cls in scheme.items():
            lut[value] = cls
        if NODATA_CLASS not in scheme:
            lut[NODATA_CLASS] = NODATA_CLASS
        ref = lut[reference.astype(np.int64)]
        valid = (ref != NODATA_CLASS) & (mask != NODATA_CLASS)
        ref, pred = ref[valid], mask[valid]
        for group in self.groups:
            pred_classes, ref_classes = GROUPS[group]
            p, r = np.isin(pred, pred_classes), np.isin(ref, ref_classes)
            c = np.array([np.sum(p & r), np.sum(p & ~r), np.sum(~p & r), np.sum(~p & ~r)], np.int64)
            self.counts[group] = self.counts.get(group, np.zeros(4, np.int64)) + c
        self.scenes += 1

    def scores(self) -> Dict[str, Dict[str, float]]:
        return {g: scores_from_counts(*map(float, self.counts[g])) for g in self.groups if g in self.counts}


def read_on_grid(path: str | Path, like: str | Path) -> np.ndarray:
    """Band 1 of `path` resampled (nearest) onto the grid of `like`."""
    import rasterio

    from ..io.sources import checked_read
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    with rasterio.open(like) as ref, rasterio.open(path) as src:
        if src.crs == ref.crs and src.transform == ref.transform and src.shape == ref.shape:
            return checked_read(src, 1)
        if src.crs is None or ref.crs is None:
            raise InputError(f"{Path(path).name} and {Path(like).name} have different grids and at least one "
                             "has no CRS; give rasters on the same grid or with a georeference.")
        with WarpedVRT(src, crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height,
                       resampling=Resampling.nearest, nodata=NODATA_CLASS) as vrt:
            return checked_read(vrt, 1, name=src.name)


def evaluate_rasters(masks: Sequence[str | Path], references: Sequence[str | Path],
                     reference_classes: str = "cloudfree") -> Evaluation:
    """Score class rasters (CloudFree masks) against reference rasters, pooled over all pairs."""
    import rasterio

    from ..io.sources import checked_read
    if len(masks) != len(references) or not masks:
        raise InputError(f"Give one reference per mask ({len(masks)} masks, {len(references)} references).")
    scheme = parse_scheme(reference_classes)
    result = Evaluation(groups_for(scheme))
    for mask_path, ref_path in zip(masks, references):
        for p in (mask_path, ref_path):
            if not Path(p).is_file():
                raise InputError(f"The raster {p} does not exist.")
        with rasterio.open(ref_path) as ref:
            raw = cast(np.ma.MaskedArray, checked_read(ref, 1, masked=True))  # masked=True: a MaskedArray
        if np.issubdtype(raw.dtype, np.floating):
            finite = raw.compressed()[np.isfinite(raw.compressed())]
            if finite.size and np.any(finite != np.round(finite)):
                raise InputError(f"{Path(ref_path).name} holds fractional values; a reference must hold class codes.")
            raw = np.ma.masked_invalid(raw)
        reference = np.where(np.ma.getmaskarray(raw), NODATA_CLASS, raw.filled(0)).astype(np.int64)
        reference[reference < 0] = NODATA_CLASS
        mask = read_on_grid(mask_path, ref_path)
        if mask.size and int(mask[mask != NODATA_CLASS].max(initial=0)) > 3:
            raise InputError(f"{Path(mask_path).name} holds values above 3; it is not a CloudFree mask "
                             "(0 clear, 1 thick, 2 thin, 3 shadow, 255 no data).")
        overlap = (mask != NODATA_CLASS) & np.isin(reference, list(scheme))
        if not overlap.any():
            raise InputError(f"{Path(mask_path).name} and {Path(ref_path).name} share no valid pixel: they do not "
                             "overlap, or one of them is all no data. Give a reference of the same area.")
        result.add(mask, reference, scheme)
    return result


def format_table(scores: Dict[str, Dict[str, float]], title: str = "") -> str:
    rows = [title] if title else []
    rows.append(f"{'class':<12} {'PA':>6} {'UA':>6} {'BA':>6} {'F1':>6} {'IoU':>6} {'ref px':>10}")
    for group, s in scores.items():
        rows.append(f"{group:<12} {s['producers_accuracy']:6.3f} {s['users_accuracy']:6.3f} "
                    f"{s['balanced_accuracy']:6.3f} {s['f1']:6.3f} {s['iou']:6.3f} {s['reference_pixels']:>10}")
    return "\n".join(rows)


def write_table(scores: Dict[str, Dict[str, float]], path: str | Path, first_column: str,
                keys: Sequence[str]) -> Path:
    """A table of scores as CSV (one row per entry) or JSON, chosen by the file's extension."""
    path = Path(path)
    if path.suffix.lower() not in (".json", ".csv"):
        raise InputError(f"The scores table must be a .csv or .json file, not {path.name}.")
    if path.is_dir() or not path.parent.is_dir():
        raise InputError(f"Cannot write the table {path}: give a file name in an existing folder.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow([first_column] + list(keys))
                for name, s in scores.items():
                    writer.writerow([name] + [s.get(k, "") for k in keys])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_scores(scores: Dict[str, Dict[str, float]], path: str | Path) -> Path:
    """Class scores as CSV (one row per class) or JSON."""
    keys = ["producers_accuracy", "users_accuracy", "balanced_accuracy", "f1", "iou", "reference_pixels", "pixels"]
    return write_table(scores, path, "class", keys)
