"""Compare training recipes of one model without looking at the test part.

``bench/quality.py`` scores on the run's test part, so a recipe tuned against it would be
tuned on the test set. This script is how recipes are chosen instead: it takes the same data
and split as ``bench/quality.py`` (split seed 0), drops the test part, and runs a
participant-disjoint K-fold cross-validation on the rest (train + validation) with the real
trainer. Every fold trains for a fixed number of epochs and keeps the last (the trainer's
refit mode: no early stopping, no checkpoint choice, so nothing is chosen on the held-out
fold) and reports, per epoch, the held-out fold's AUC within each
source (pooled: the channel cannot raise it). It prints the mean curve over folds and the
mean of the last five epochs, so recipes are compared on the plateau, not on a lucky epoch.

    python bench/recipe_cv.py --model cnn                      # the default recipe
    python bench/recipe_cv.py --model cnn --pad zero --batch-size 64 --no-augment
    python bench/recipe_cv.py --model logreg --feature-set mel_stats

It is a yardstick, not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

import numpy as np

from common import data_arguments  # bench/common.py (run as python bench/NAME.py)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    data_arguments(p)
    p.add_argument("--model", default="cnn")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="the model's seed")
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's own")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--pad", choices=("repeat", "zero"), default="repeat")
    p.add_argument("--sample-rate", type=int, default=22050)
    p.add_argument("--feature-set", default="paper")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--json", type=Path, help="append the result as one JSON line here")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if not Path(args.data).exists():
        sys.exit(f"{args.data} not found: pass --data MANIFEST (a manifest with a "
                 f"'{args.column}' column)")
    from engine.augment import Augmentation
    from engine.config import (AugmentConfig, ExperimentConfig, PreprocessConfig, SplitConfig,
                               TrainRecipe)
    from engine.metrics import roc_auc, stratified_auc
    from engine.models import FitContext, Part, TrainData, fit, get_spec
    from engine.runner import prepare_data
    from engine.splits import make_folds

    preprocess = PreprocessConfig(sample_rate=args.sample_rate, pad=args.pad,
                                  feature_set=args.feature_set)
    prepared = prepare_data(ExperimentConfig(data=args.data, preprocess=preprocess))
    ds, split = prepared.dataset, prepared.split
    dev = split.train_val  # the test part is never used
    y, groups, strata = ds.y, ds.groups, ds.meta(args.column)
    folds = make_folds(y[dev], groups[dev], SplitConfig(folds=args.folds, seed=123))
    spec = get_spec(args.model)
    X = prepared.inputs(spec)
    names = list(ds.feature_names)[: X.shape[1]] if spec.input == "features" else []
    augment = Augmentation(AugmentConfig(), args.sample_rate) if args.augment else None
    recipe = TrainRecipe(epochs=args.epochs, early_stopping_patience=None,
                         batch_size=args.batch_size, lr=args.lr, refit=False)
    work = Path(mkdtemp(prefix="coughscope-recipe-cv-"))
    curves, last = [], np.full(len(y), np.nan)
    started = time.perf_counter()
    for k, fold in enumerate(folds):
        train, held = dev[np.concatenate([fold.train, fold.val])], dev[fold.test]
        records: list[dict] = []
        ctx = FitContext(recipe=recipe, seed=args.seed, workdir=work / str(k),
                         on_epoch=records.append, augment=augment, refit=True)
        ctx.workdir.mkdir(parents=True)
        data = TrainData(train=Part(X[train], y[train], groups[train]),
                         val=Part(X[held], y[held], groups[held], strata[held]),
                         feature_names=names)
        predictor = fit(spec, data, ctx)
        last[held] = predictor.predict_proba(X[held])
        curves.append([r.get("val_auc") for r in records])
        print(f"fold {k + 1}/{len(folds)}: {time.perf_counter() - started:.0f} s, held-out "
              f"within-{args.column} AUC at the last epoch {curves[-1][-1]:.3f}",
              file=sys.stderr, flush=True)
    n = min(len(c) for c in curves)
    curve = np.nanmean(np.array([[np.nan if v is None else v for v in c[:n]] for c in curves],
                                dtype=float), axis=0)
    within = {str(v): roc_auc(y[dev][strata[dev] == v], last[dev][strata[dev] == v])
              for v in sorted(set(strata[dev].tolist()))}
    result = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "curve": [round(float(v), 3) for v in curve],
        "plateau": float(np.mean(curve[-5:])),
        "stratified": stratified_auc(y[dev], last[dev], strata[dev]),
        "within": within,
        "seconds": time.perf_counter() - started,
    }
    print(f"{args.model}: mean held-out AUC within {args.column} over the last 5 epochs "
          f"{result['plateau']:.3f}; last epoch's predictions within each value: "
          + ", ".join(f"{v} {a:.3f}" for v, a in within.items())
          + f"\nper-epoch curve: {' '.join(f'{v:.2f}' for v in curve)}"
          f"\n{len(folds)} folds x {args.epochs} epochs: {result['seconds']:.0f} s")
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
