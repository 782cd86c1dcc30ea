"""Measure a 4-band model on the labelled real chips in ../shared/data.

- s2_l2a_drivendata_chips: 5 chips with expert-checked cloud labels (no shadow class);
- s2_labelled_ukis: one 512 x 512 patch with cloud and cloud-shadow labels.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import numpy as np
import rasterio

from cloudfree.core.metrics import binary_scores
from cloudfree.core.model_card import load_card
from cloudfree.core.runtime import make_predictor

DATA = Path(os.environ.get("CLOUDFREE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _classes(predictor, refl: np.ndarray) -> np.ndarray:
    return predictor(refl[None].astype(np.float32)).argmax(axis=1)[0]


def measure(model: str, data: Path = DATA) -> Dict[str, Dict[str, float]]:
    card = load_card(model)
    predictor = make_predictor(card, device="cpu")
    preds, refs = [], []
    for chip in sorted((data / "s2_l2a_drivendata_chips").glob("chip_id_*")):
        refl = np.stack([rasterio.open(chip / f"{b}.tif").read(1) for b in card.bands]).astype(np.float32) / 1e4
        preds.append(_classes(predictor, refl).ravel())
        refs.append(rasterio.open(chip / "label.tif").read(1).ravel())
    pred, ref = np.concatenate(preds), np.concatenate(refs)
    out = {"drivendata_chips_cloud": binary_scores(np.isin(pred, (1, 2)), ref == 1)}
    z = np.load(data / "s2_labelled_ukis" / "sentinel2.npz")
    img = np.moveaxis(z["img"][..., :4], -1, 0)  # blue green red nir
    msk = z["msk"][..., 0]
    pred = _classes(predictor, img)
    out["ukis_patch_cloud"] = binary_scores(np.isin(pred, (1, 2)), msk == 4)
    out["ukis_patch_shadow"] = binary_scores(pred == 3, msk == 0)
    return {k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in s.items()} for k, s in out.items()}
