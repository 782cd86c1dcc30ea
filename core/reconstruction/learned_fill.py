"""The learned multi-date fill at array level: gapfill's result corrected by a network, one band at a time.

Built, trained and measured, but not bundled: on the two stacks held out
from its training it did not beat gapfill on both (models/README.md), so
gap-filling uses the gain/offset fill unless a model is given.

The network (models/train_multidate.py) sees gapfill's result and the
evidence behind it (core.reconstruction.multidate_input) and adds a
correction; clear target pixels are never touched, and pixels gapfill could
not fill from any date keep gapfill's fallback (the network was not trained
to invent them).  Patches are tiled and blended as the masks are
(core.model.tiling.predict_blended), each normalised by its own clear pixels.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelCardError
from ..model.card import ModelCard, load_versioned_card
from ..model.runtime import OnnxSession
from ..model.tiling import fit_patch_size, predict_blended
from ..progress import Feedback
from .gapfill import FROM_OTHER_DATES, SceneFits
from .multidate_input import MULTIDATE_INPUT_VERSION, clear_statistics, multidate_features, normalise_features

NONE_BUNDLED = ("No learned multi-date fill is bundled: trained on the time series on hand, none beat the gain/offset "
                "fill on the stacks its training held out (models/README.md). Train one with "
                "models/train_multidate.py on your own series and give its .onnx, or use the gain/offset fill.")


def load_multidate_card(model: Optional[str]) -> ModelCard:
    """A multi-date fill model by .onnx path (core.model.card.load_card, kind "multidate"), refused when it
    was made for another version of the network input.  None is bundled (NONE_BUNDLED says why)."""
    if not model:
        raise ModelCardError(NONE_BUNDLED)
    return load_versioned_card(model, "multidate", MULTIDATE_INPUT_VERSION, "models/train_multidate.py")


def learned_gapfill(stack: np.ndarray, clear: np.ndarray, days: Sequence[float], target: int,
                    card: ModelCard, session: Optional[OnnxSession] = None, radius: int = 7,
                    scene: Optional[SceneFits] = None, feedback: Optional[Feedback] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Like gapfill (same arguments and source codes), with the pixels filled from other dates corrected."""
    feedback = feedback or Feedback()
    feats, out, source = multidate_features(stack, clear, days, target, radius, scene)
    hole = ~clear[target]
    filled_from_dates = source == FROM_OTHER_DATES
    if not filled_from_dates.any():
        return out, source
    bands, channels, h, w = feats.shape
    scene_statistics = clear_statistics(feats, hole)   # for patches with too few clear pixels of their own
    session = session or OnnxSession(card.onnx_path)
    patch = fit_patch_size(card.patch_size, w, h, card.input_multiple)
    overlap = min(card.overlap, patch // 2)

    def predict(batch: np.ndarray) -> np.ndarray:
        results = []
        for flat in batch:
            feedback.check()
            f = flat.reshape(bands, channels, patch, patch)
            x, mean, std = normalise_features(f, f[0, 1] > 0.5, scene_statistics)
            results.append(session.run(x)[:, 0] * std + mean)
        return np.stack(results)

    pred = predict_blended(predict, feats.reshape(bands * channels, h, w), patch, overlap, batch=1,
                           keep=lambda y, x: bool(filled_from_dates[y:y + patch, x:x + patch].any()))
    out[:, filled_from_dates] = pred[:, filled_from_dates].astype(out.dtype)
    return out, source
