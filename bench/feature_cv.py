"""Compare feature sets x baselines without looking at the test part.

``bench/recipe_cv.py`` compares training recipes of one model; this script compares the
feature models' *inputs*: every baseline (default ``logreg``, ``logreg_cv``, ``svm``,
``gbm``) on every feature set (default ``paper``, ``mel_stats``, ``egemaps``, ``compare``),
on the same data and split as ``bench/quality.py`` (split seed 0) with the test part dropped,
by a participant-disjoint K-fold cross-validation of the rest (train + validation; folds
seed 123, as recipe_cv).

Every outer fold is trained the way a default-preset run trains (:mod:`engine.runner`):
a *selection* fit on the fold's training part, with the fold's own group-disjoint validation
part for what a baseline chooses on validation (``logreg``'s ``C``, within each source as the
runner does when the source is confounded; ``gbm``'s rounds), then a *refit* on training +
validation with those choices (:func:`engine.refit.chosen_of`). ``logreg_cv`` and ``svm``
choose ``C`` by their inner CV on the training part. The held-out fold is predicted by the
refit model only, so every number below is out of fold. Reported per combination, over the
out-of-fold predictions of every train + validation clip:

* ``overall`` -- the ROC-AUC over all clips (rewards the channel: the source predicts the
  label), with its 95% bootstrap interval;
* ``within`` -- the AUC over pairs recorded the same way (within each source, pooled;
  :func:`engine.metrics.stratified_auc`), with its interval, and within each source alone.

    python bench/feature_cv.py                                   # the whole table
    python bench/feature_cv.py --feature-sets paper,egemaps --models svm

The clips are the same for every feature set (checked), so the rows are paired. The first
run of ``compare`` extracts 6,373 openSMILE functionals per clip (about a minute on two
cores); the preprocessing cache makes reruns fast. It is a yardstick, not a test.
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
    p.add_argument("--feature-sets", default="paper,mel_stats,egemaps,compare")
    p.add_argument("--models", default="logreg,logreg_cv,svm,gbm")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="the models' seed")
    p.add_argument("--sample-rate", type=int, default=22050)
    p.add_argument("--json", type=Path, help="append each result as one JSON line here")
    return p.parse_args()


def fit_fold(spec, X, y, groups, strata, train, val, held, seed, work):
    """Selection fit on ``train`` (choices on ``val``), refit on train + val with those
    choices; returns the refit model's probabilities on ``held`` and what was chosen."""
    from engine.config import TrainRecipe
    from engine.models import FitContext, Part, TrainData, fit
    from engine.refit import chosen_of

    recipe = TrainRecipe()
    val_part = Part(X[val], y[val], groups[val], strata[val])
    ctx = FitContext(recipe=recipe, seed=seed, workdir=work / "selection")
    first = fit(spec, TrainData(Part(X[train], y[train], groups[train]), val_part), ctx)
    chosen = chosen_of(first, getattr(first, "best_epoch", None))
    both = np.sort(np.concatenate([train, val]))
    ctx = FitContext(recipe=recipe, seed=seed, workdir=work / "refit", refit=True,
                     chosen=chosen)
    final = fit(spec, TrainData(Part(X[both], y[both], groups[both]), val_part), ctx)
    return final.predict_proba(X[held]), chosen


def main() -> int:
    args = parse_args()
    if not Path(args.data).exists():
        sys.exit(f"{args.data} not found: pass --data MANIFEST (a manifest with a "
                 f"'{args.column}' column)")
    import sklearn.ensemble  # noqa: F401 -- load its OpenMP runtime so the limit below applies
    from threadpoolctl import threadpool_limits

    from engine.config import ExperimentConfig, PreprocessConfig, SplitConfig
    from engine.metrics import bootstrap_auc_ci, roc_auc, stratified_auc
    from engine.models import get_spec
    from engine.runner import prepare_data
    from engine.splits import make_folds

    sets = [s.strip() for s in args.feature_sets.split(",") if s.strip()]
    specs = [get_spec(m.strip()) for m in args.models.split(",") if m.strip()]
    work = Path(mkdtemp(prefix="coughscope-feature-cv-"))
    results, clips_of_first = [], None
    folds = None
    for feature_set in sets:
        started = time.perf_counter()
        preprocess = PreprocessConfig(sample_rate=args.sample_rate, feature_set=feature_set,
                                      pad="repeat")
        prepared = prepare_data(ExperimentConfig(data=args.data, preprocess=preprocess))
        ds, split = prepared.dataset, prepared.split
        print(f"{feature_set}: {ds.features.shape[1]} features, {len(ds)} clips, "
              f"{time.perf_counter() - started:.0f} s to preprocess", file=sys.stderr,
              flush=True)
        dev = split.train_val  # the test part is never used
        clips = [str(ds.clips[i].path) for i in dev]
        if clips_of_first is None:
            clips_of_first = clips
        elif clips != clips_of_first:
            sys.exit(f"{feature_set} keeps other clips than {sets[0]}: the rows would not be "
                     "paired (see coughscope data summary for the exclusions)")
        y, groups, strata = ds.y, ds.groups, ds.meta(args.column)
        if folds is None:
            folds = make_folds(y[dev], groups[dev], SplitConfig(folds=args.folds, seed=123))
        for spec in specs:
            X = prepared.inputs(spec)
            t0 = time.perf_counter()
            p = np.full(len(y), np.nan)
            chosen = []
            with threadpool_limits(limits=1):  # small fits: one thread each is fastest here
                for k, fold in enumerate(folds):
                    p[dev[fold.test]], c = fit_fold(
                        spec, X, y, groups, strata, dev[fold.train], dev[fold.val],
                        dev[fold.test], args.seed, work / feature_set / spec.name / str(k))
                    chosen.append(c)
            yd, pd, sd = y[dev], p[dev], strata[dev]
            within = stratified_auc(yd, pd, sd)
            result = {
                "feature_set": feature_set, "model": spec.name, "features": int(X.shape[1]),
                "overall": roc_auc(yd, pd), "overall_ci": list(bootstrap_auc_ci(yd, pd)),
                "within": within["roc_auc"], "within_ci": within["roc_auc_ci"],
                "by_value": {v: d["roc_auc"] for v, d in within["by_value"].items()},
                "chosen": chosen, "seconds": time.perf_counter() - t0,
                "clips": int(len(dev)), "folds": len(folds),
            }
            results.append(result)
            print(f"  {spec.name:<9} overall {result['overall']:.3f}  within "
                  f"{result['within']:.3f}  ({result['seconds']:.0f} s)", file=sys.stderr,
                  flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(result) + "\n")
    print_table(results, args)
    return 0


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    values = sorted({v for r in results for v in r["by_value"]})
    head = (f"{'features':<10} {'model':<9} {'n':>5}  {'overall AUC':<20} "
            f"{'within-' + args.column + ' AUC':<20} "
            + " ".join(f"{'within ' + v:<18}" for v in values) + "  seconds")
    print(f"out-of-fold AUC, {results[0]['folds']}-fold participant-disjoint CV on train + "
          f"validation ({results[0]['clips']} clips; the test part unused), "
          "[95% bootstrap interval]")
    print(head)
    for r in results:
        lo, hi = r["overall_ci"]
        wlo, whi = r["within_ci"] or (float("nan"), float("nan"))
        cells = " ".join(f"{r['by_value'].get(v, float('nan')):<18.3f}" for v in values)
        print(f"{r['feature_set']:<10} {r['model']:<9} {r['features']:>5}  "
              f"{r['overall']:.3f} [{lo:.2f}-{hi:.2f}]   {r['within']:.3f} [{wlo:.2f}-{whi:.2f}]"
              f"   {cells}  {r['seconds']:.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
