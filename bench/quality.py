"""How well the default study learns the cough rather than the recording channel.

Runs the default study on the covid19-cough set (``../shared/data/covid19-cough``: call-centre
phone clips at 8 kHz and Telegram voice notes at 48 kHz, whose source is confounded with the
label) with the real runner and prints, per model:

* the in-distribution test AUC (the run's own participant-disjoint test part);
* the AUC within each source on that test part (the channel cannot help there);
* the two cross-source AUCs: train on one source (train + validation parts from it), test on
  every clip of the other (leave-one-source-out);

each as the mean over seeds with the seeds' 95% bootstrap interval (averaged bound by bound),
beside the logistic-regression baseline of the same run. It is a yardstick, not a test: it
has no thresholds.

A second table gives the numbers a user acts on, per model, on the in-distribution test
part: the share called positive, sensitivity and specificity at the run's operating point
(``--operating-point``, chosen on out-of-fold predictions of the refit recipe), beside what
those predictions promised ("exp") and beside what the former scheme gave ("before": the
threshold chosen on the first fit's validation outputs, applied to the refit model); then the
Brier score before and after calibration and the ECE.

    python bench/quality.py --reuse RUN_DIR              # only the tables, from a finished run

    python bench/quality.py                              # default models, 2 seeds, 15 epochs
    python bench/quality.py --models logreg,ann,cnn --seeds 2 --epochs 15 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import numpy as np

from common import data_arguments  # bench/common.py (run as python bench/NAME.py)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    data_arguments(p)
    p.add_argument("--models", default="logreg,ann,cnn")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--preset", default="default")
    p.add_argument("--feature-set", default=None, help="paper, extended or mel_stats")
    p.add_argument("--config", type=Path, help="a config.toml to start from (flags override)")
    p.add_argument("--device", default="auto")
    p.add_argument("--runs-dir", type=Path, help="where the runs go (default: a temp dir)")
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    p.add_argument("--no-cross", action="store_true", help="only the in-distribution run")
    p.add_argument("--operating-point", default=None,
                   help="youden, sensitivity=0.8, specificity=0.95 (default: the config's)")
    p.add_argument("--opensmile", default="",
                   help="also run these baselines on openSMILE ComParE 2016 functionals "
                        "(e.g. logreg_cv,svm; needs coughscope[opensmile]): extra rows "
                        "'MODEL+compare'")
    p.add_argument("--reuse", type=Path, metavar="RUN_DIR",
                   help="read a finished in-distribution run instead of training one "
                        "(implies --no-cross)")
    return p.parse_args()


def base_config(args: argparse.Namespace) -> Any:
    from engine.config import ExperimentConfig

    config = (ExperimentConfig.from_toml(args.config) if args.config else ExperimentConfig())
    recipe = config.recipe.__class__(**{**config.recipe.__dict__, "preset": args.preset,
                                        "epochs": args.epochs})
    if args.operating_point:
        recipe = recipe.__class__(**{**recipe.__dict__,
                                     "operating_point": args.operating_point})
    preprocess = config.preprocess
    if args.feature_set:
        preprocess = preprocess.__class__(**{**preprocess.__dict__,
                                             "feature_set": args.feature_set})
    return config.replace(data=args.data, models=tuple(args.models.split(",")),
                          seeds=args.seeds, device=args.device, recipe=recipe,
                          preprocess=preprocess)


def run_one(config: Any, runs_dir: Path, name: str) -> Path:
    from engine.runner import run_experiment
    from engine.runs import RunDir

    run = RunDir(runs_dir / name)
    t = time.perf_counter()
    run_experiment(config, run)
    print(f"  {name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return run.path


def seed_metrics(run_path: Path, model: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((run_path / model).glob("*/metrics.json"))]


def mean_auc(entries: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Mean AUC over seeds and the mean of the seeds' interval bounds."""
    entries = [e for e in entries if e and e.get("roc_auc") is not None]
    if not entries:
        return None
    cis = [e["roc_auc_ci"] for e in entries if e.get("roc_auc_ci")]
    return {"auc": float(np.mean([e["roc_auc"] for e in entries])),
            "ci": [float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))]
            if cis else None,
            "n": entries[0].get("n")}


def main() -> int:
    args = parse_args()
    if not Path(args.data).exists():
        sys.exit(f"{args.data} not found: pass --data MANIFEST (a manifest with a "
                 f"'{args.column}' column)")
    import csv

    with open(args.data, newline="", encoding="utf-8") as fh:
        values = sorted({row[args.column] for row in csv.DictReader(fh)})
    config = base_config(args)
    if args.reuse:
        from engine.config import ExperimentConfig

        config = ExperimentConfig.from_toml(args.reuse / "config.toml")
        args.no_cross = True
        models = [m for m in config.models or sorted(
            p.parent.name for p in args.reuse.glob("*/0/metrics.json"))]
    runs_dir = args.runs_dir or Path(mkdtemp(prefix="coughscope-quality-"))
    models = list(config.models) if not args.reuse else models
    print(f"runs in {runs_dir}", file=sys.stderr)
    started = time.perf_counter()
    table: dict[str, dict[str, Any]] = {m: {} for m in models}

    ind = args.reuse or run_one(config, runs_dir, "in-distribution")
    for m in models:
        per_seed = seed_metrics(ind, m)
        table[m]["test"] = mean_auc([r["test"] for r in per_seed])
        for v in values:
            table[m][f"within {v}"] = mean_auc(
                [r["by_group"].get(args.column, {}).get(v) for r in per_seed])
    if not args.no_cross:
        for held in values:
            train_on = "+".join(v for v in values if v != held)
            cross = cross_source_run(config, runs_dir, args.column, held)
            for m in models:
                table[m][f"{train_on} -> {held}"] = mean_auc(
                    [r.get("ood") or r["test"] for r in seed_metrics(cross, m)])
    decisions = {m: decision_row(ind, m) for m in models}
    if args.opensmile:
        smile_models = [m.strip() for m in args.opensmile.split(",") if m.strip()]
        preprocess = config.preprocess.__class__(**{**config.preprocess.__dict__,
                                                    "feature_set": "compare"})
        smile = run_one(config.replace(models=tuple(smile_models), preprocess=preprocess),
                        runs_dir, "in-distribution-compare")
        for m in smile_models:
            per_seed = seed_metrics(smile, m)
            row = table.setdefault(f"{m}+compare", {})
            row["test"] = mean_auc([r["test"] for r in per_seed])
            for v in values:
                row[f"within {v}"] = mean_auc(
                    [r["by_group"].get(args.column, {}).get(v) for r in per_seed])
            decisions[f"{m}+compare"] = decision_row(smile, m)
    seconds = time.perf_counter() - started
    print_table(table, baseline="logreg" if "logreg" in models else models[0])
    print_decisions(decisions)
    print(f"\n{len(models)} models x {config.seeds} seeds x {config.recipe.epochs} epochs, "
          f"{1 + (0 if args.no_cross else len(values))} runs: {seconds:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "decisions": decisions,
                                         "seconds": seconds,
                                         "config": config.to_dict()}, indent=1))
    return 0


def cross_source_run(config: Any, runs_dir: Path, column: str, held: str) -> Path:
    """Train on every other value of ``column``, test on all clips with ``column == held``."""
    from engine.config import SplitConfig

    if "test_group" in SplitConfig.__dataclass_fields__:
        split = config.split.__class__(**{**config.split.__dict__,
                                          "test_group": f"{column}={held}"})
        return run_one(config.replace(split=split), runs_dir, f"test-{held}")
    return _cross_source_before(config, runs_dir, column, held)


def _cross_source_before(config: Any, runs_dir: Path, column: str, held: str) -> Path:
    """The same protocol for a code base without ``--test-group``: the runner's own
    ``train_one`` on a hand-made split (test = the held-out source, train/validation a
    participant-disjoint stratified split of the rest)."""
    from engine import runner
    from engine.runs import EventLog, RunDir
    from engine.splits import Split, _GroupTable
    from engine.devices import precision_for, resolve_device
    from engine.models import get_spec

    prepared = runner.prepare_data(config)
    ds = prepared.dataset
    test_mask = ds.meta(column).astype(str) == held
    table = _GroupTable.build(ds.y, ds.groups)
    rest_groups = np.zeros(table.n_groups, bool)
    rest_groups[np.unique(table.row_group[~test_mask])] = True
    rng = np.random.default_rng([config.split.seed, 3])
    assign = table.assign(np.array([1.0 - config.split.val, config.split.val]), rng,
                          subset=rest_groups)
    assign = np.where(rest_groups, assign, 2)
    split = table.split_from(assign, seed=config.split.seed)
    prepared.splits = [Split(train=split.train, val=split.val,
                             test=np.flatnonzero(test_mask), seed=split.seed)]
    run = RunDir(runs_dir / f"test-{held}")
    run.path.mkdir(parents=True)
    device, _ = resolve_device(config.device)
    announce = runner.Announcer(EventLog(run.events_path))
    t = time.perf_counter()
    for name in config.models:
        for seed in range(config.seeds):
            runner.train_one(get_spec(name), seed, prepared, config, run, announce,
                             runner.StopFlag(), device, precision_for(device))
    print(f"  test-{held}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return run.path


def decision_row(run_path: Path, model: str) -> dict[str, Any]:
    """Mean over seeds, on the test part, of what a user acts on: at the recorded operating
    point (and what its out-of-fold predictions promised), and at the former threshold (the
    same rule on the first fit's validation outputs -- ``predictions.csv``'s validation rows
    -- applied to the refit model); Brier raw and calibrated, ECE."""
    import csv

    from engine.metrics import OperatingPoint, operating_threshold, rates_with_intervals

    rows: dict[str, list[float]] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, (int, float)):
            rows.setdefault(key, []).append(float(value))

    for seed_dir in sorted((run_path / model).glob("*/metrics.json")):
        m = json.loads(seed_dir.read_text())
        op = m.get("operating_point")
        if not op:
            continue
        with open(seed_dir.parent / "predictions.csv", newline="", encoding="utf-8") as fh:
            preds = list(csv.DictReader(fh))
        y = np.array([r["label"] == "positive" for r in preds], dtype=int)
        p = np.array([float(r["probability"]) for r in preds])
        part = np.array([r["split"] for r in preds])
        test, val = part == "test", part == "val"
        old = operating_threshold(y[val], p[val], OperatingPoint.parse(op["rule"]))
        before = rates_with_intervals(y[test], p[test], old)
        now = rates_with_intervals(y[test], p[test], m["threshold"])
        for key in ("positive_share", "sensitivity", "specificity"):
            add(f"{key} before", before[key])
            add(f"{key} now", now[key])
            add(f"{key} expected", op["expected"][key])
        add("positive true", float(y[test].mean()))
        add("brier raw", m["test"].get("brier_uncalibrated"))
        add("brier", m["test"].get("brier"))
        add("ece", m["test"].get("ece"))
        rows.setdefault("rule", []).append(op["rule"])  # type: ignore[arg-type]
    out: dict[str, Any] = {k: float(np.mean(v)) for k, v in rows.items() if k != "rule"}
    out["rule"] = (rows.get("rule") or ["-"])[0]
    return out


def print_decisions(decisions: dict[str, dict[str, Any]]) -> None:
    rule = next((d["rule"] for d in decisions.values() if d.get("rule")), "-")
    print(f"\nAt the operating point ({rule}), test part, mean over seeds: now [expected from "
          "out-of-fold] (before: the first fit's validation threshold on the refit model)")
    head = ["model", "called positive", "sensitivity", "specificity", "Brier raw -> cal.",
            "ECE"]
    rows = [head]
    for m, d in decisions.items():
        if "positive_share now" not in d:
            rows.append([m, "-", "-", "-", "-", "-"])
            continue
        cells = [m]
        for key in ("positive_share", "sensitivity", "specificity"):
            cells.append(f"{d[key + ' now']:.2f} [{d[key + ' expected']:.2f}] "
                         f"(before {d[key + ' before']:.2f})")
        cells.append(f"{d.get('brier raw', float('nan')):.3f} -> {d.get('brier', float('nan')):.3f}")
        cells.append(f"{d.get('ece', float('nan')):.3f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)))
    truth = next((d["positive true"] for d in decisions.values() if "positive true" in d), None)
    if truth is not None:
        print(f"(the test part is {truth:.2f} positive)")


def fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "-"
    ci = cell.get("ci")
    return f"{cell['auc']:.3f} [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else f"{cell['auc']:.3f}"


def print_table(table: dict[str, dict[str, Any]], baseline: str) -> None:
    columns = list(dict.fromkeys(c for row in table.values() for c in row))
    rows = [["model", *columns]]
    for m, row in table.items():
        cells = [fmt(row.get(c)) for c in columns]
        if m != baseline:
            cells = [f"{x} ({_delta(row.get(c), table[baseline].get(c))})"
                     for x, c in zip(cells, columns)]
        rows.append([m, *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"AUC, mean over seeds [95% bootstrap interval] (difference to {baseline})")
    for r in rows:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)))


def _delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b:
        return "-"
    return f"{a['auc'] - b['auc']:+.3f}"


if __name__ == "__main__":
    sys.exit(main())
