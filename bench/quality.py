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

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "covid19-cough" / "manifest.csv"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="manifest with a source column")
    p.add_argument("--column", default="source", help="the confounded metadata column")
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
    return p.parse_args()


def base_config(args: argparse.Namespace) -> Any:
    from engine.config import ExperimentConfig

    config = (ExperimentConfig.from_toml(args.config) if args.config else ExperimentConfig())
    recipe = config.recipe.__class__(**{**config.recipe.__dict__, "preset": args.preset,
                                        "epochs": args.epochs})
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
    runs_dir = args.runs_dir or Path(mkdtemp(prefix="coughscope-quality-"))
    config = base_config(args)
    models = list(config.models)
    print(f"runs in {runs_dir}", file=sys.stderr)
    started = time.perf_counter()
    table: dict[str, dict[str, Any]] = {m: {} for m in models}

    ind = run_one(config, runs_dir, "in-distribution")
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
    seconds = time.perf_counter() - started
    print_table(table, baseline="logreg" if "logreg" in models else models[0])
    print(f"\n{len(models)} models x {args.seeds} seeds x {args.epochs} epochs, "
          f"{1 + (0 if args.no_cross else len(values))} runs: {seconds:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"table": table, "seconds": seconds,
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
