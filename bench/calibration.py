"""Which calibration method to use: measured by cross-validation on out-of-fold predictions.

A refit model's probabilities are calibrated on the out-of-fold predictions of its recipe
(train + validation only; ``engine.calibration``). This script asks which method generalises
from those predictions to clips the calibrator has not seen, without the test part: for every
model and seed of finished runs it splits the out-of-fold predictions (``predictions.csv``'s
``oof`` column) into participant-disjoint folds, fits each method on the other folds and
scores the held-out fold (Brier score, log-loss, ECE), then averages over folds, seeds and
models. The raw output ("none") is the baseline.

    python bench/calibration.py RUN_DIR [RUN_DIR...] [--folds 5]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def oof_sets(run: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per model: one (labels, out-of-fold probabilities, groups) per seed."""
    out: dict[str, list] = {}
    for path in sorted(run.glob("*/*/predictions.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if (r.get("oof") or "").strip()]
        if len(rows) < 20:
            continue
        y = np.array([r["label"] == "positive" for r in rows], dtype=int)
        p = np.array([float(r["oof"]) for r in rows])
        g = np.array([r["group"] for r in rows])
        out.setdefault(path.parent.parent.name, []).append((y, p, g))
    return out


def cross_validate(y: np.ndarray, p: np.ndarray, g: np.ndarray, folds: int
                   ) -> dict[str, dict[str, float]]:
    from engine.calibration import METHODS, fit_calibrator
    from engine.metrics import brier, expected_calibration_error, log_loss
    from engine.splits import inner_folds

    fold_of = inner_folds(y, g, folds, seed=0)
    scores: dict[str, dict[str, list[float]]] = {m: {} for m in METHODS}
    for f in range(int(fold_of.max()) + 1):
        held = fold_of == f
        if y[held].min() == y[held].max():
            continue
        for method in METHODS:
            q = fit_calibrator(method, y[~held], p[~held]).apply(p[held])
            for name, value in (("brier", brier(y[held], q)), ("log_loss", log_loss(y[held], q)),
                                ("ece", expected_calibration_error(y[held], q))):
                scores[method].setdefault(name, []).append(value)
    return {m: {k: float(np.mean(v)) for k, v in s.items()} for m, s in scores.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished run directories (refit)")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    from engine.calibration import METHODS

    per_model: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in args.runs:
        for model, seeds in oof_sets(run).items():
            for y, p, g in seeds:
                for method, s in cross_validate(y, p, g, args.folds).items():
                    for k, v in s.items():
                        per_model.setdefault(model, {}).setdefault(method, {}).setdefault(
                            k, []).append(v)
    if not per_model:
        sys.exit("no out-of-fold predictions found: pass finished runs made with refit on")
    print(f"held-out calibration of out-of-fold predictions, {args.folds} participant-disjoint "
          "folds, mean over seeds (lower is better)")
    print(f"{'model':<10}" + "".join(f"{m + ' Brier/ECE':>24}" for m in METHODS))
    totals: dict[str, list[float]] = {m: [] for m in METHODS}
    for model, by_method in sorted(per_model.items()):
        cells = []
        for m in METHODS:
            b, e = np.mean(by_method[m]["brier"]), np.mean(by_method[m]["ece"])
            totals[m].append(float(b))
            cells.append(f"{b:.4f} / {e:.3f}")
        print(f"{model:<10}" + "".join(f"{c:>24}" for c in cells))
    means = {m: float(np.mean(v)) for m, v in totals.items()}
    print(f"{'mean Brier':<10}" + "".join(f"{means[m]:>24.4f}" for m in METHODS))
    best = min(means, key=means.get)
    print(f"lowest mean held-out Brier: {best} (ratio to uncalibrated "
          f"{means[best] / means['none']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
