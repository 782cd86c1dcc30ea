"""Which processing resolution suits the 10 m band sets: the same fold models run at 20 m and at 10 m.

For each bundled model and each human-labelled set recorded at 10 m (DrivenData chips, the ukis-csmask
Sentinel-2 patch), the leave-one-dataset-out fold model that never saw the set runs on it twice: on
the 2x2-averaged 20 m grid (as the bundled models are trained and run by default) and on the native
10 m grid.  Scores are on the 10 m labels, with the fold card's decision weights; time is the
model's inference on the same arrays, so the ratio is the price of 10 m.

    .venv/bin/python bench/resolution_choice.py [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CLOUDFREE_THREADS"):
    os.environ.setdefault(_var, "2")


from cloudfree.core.model.card import BUNDLED_MODELS, load_card  # noqa: E402
from cloudfree.models.human_labelled import evaluate_classes, load_set  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from compare_masks import cloudfree_classes, fold_model  # noqa: E402

TEN_METRE_SETS = ("drivendata", "ukis_s2")


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(f"{'model':<16} {'set':<11} {'res':>4} {'cloud BA':>9} {'shadow BA':>10} {'infer s':>8}")
    for name in BUNDLED_MODELS:
        for set_name in TEN_METRE_SETS:
            fold = fold_model(name, set_name)
            if fold is None:
                continue
            card = load_card(str(fold))
            labelled = load_set(set_name)
            if not set(card.bands) <= set(labelled.bands):
                continue
            ten = load_set(set_name, resolution_m=10)
            for res, ds in ((20, labelled), (10, ten)):
                started = time.perf_counter()
                classes = [cloudfree_classes(fold, s.bands, s.pixel_m, s.sun) for s in ds.scenes]
                seconds = time.perf_counter() - started
                scores = {g: v for g, v in evaluate_classes(ds, classes).scores().items()}
                print(f"{name:<16} {set_name:<11} {res:>4} {scores.get('cloud', {}).get('balanced_accuracy', float('nan')):9.3f} "
                      f"{scores.get('shadow', {}).get('balanced_accuracy', float('nan')):10.3f} {seconds:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
