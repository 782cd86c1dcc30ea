"""Train the three bundled models from the prepared training set.

    .venv/bin/python -m cloudfree.models.prepare_training_data out/training/scenes.npz
    .venv/bin/python -m cloudfree.models.train_bundled out/training/scenes.npz [--steps 100 --epochs 8 --patience 8 --minutes 15]

Writes models/cloudfree_{s2,bgrn,rgb}{,_fp16}.onnx with cards and fp16
PyTorch weights.  Places T49JGM (Australia) and eolearn are held out for
early stopping; the human-labelled test sets never enter (see
models/evaluate_bundled.py).  Seeded: the same command gives the same model
on the same machine and library versions.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cloudfree.core.model_card import MODELS_DIR
from cloudfree.core.train_model import train_model
from cloudfree.core.training import BAND_SETS, TrainConfig

BUNDLED = {f"cloudfree_{key}": bands for key, (_, bands) in BAND_SETS.items()}
VALIDATION_PLACES = ["T49JGM", "eolearn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training_set", type=Path)
    parser.add_argument("--only", choices=sorted(BUNDLED), action="append")
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=8, help="epochs without a better validation score")
    parser.add_argument("--minutes", type=float, default=None, help="time budget per model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, default=MODELS_DIR)
    parser.add_argument("--workdir", type=Path, default=Path("out/training"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.only or BUNDLED:
        config = TrainConfig(bands=list(BUNDLED[name]), steps_per_epoch=args.steps, max_epochs=args.epochs, patience=args.patience,
                             validation_places=VALIDATION_PLACES, device=args.device, max_minutes=args.minutes)
        train_model([args.training_set], args.output, name, config, workdir=args.workdir / name)


if __name__ == "__main__":
    main()
