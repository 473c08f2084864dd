"""List run directories, show one, or compare two.

  coughscope runs [--runs-dir DIR] [--json]      newest first (by recorded start time)
  coughscope runs show RUN [--json]              config, environment (env.json), data, results
  coughscope runs diff RUN_A RUN_B [--json]      only what differs: config, environment,
                                                 data, results

  coughscope runs trust RUN [--yes]              sign a run made elsewhere so its models load
                                                 (see the README's "Security model")

RUN is a run directory, an id under --runs-dir, or `latest` (the newest run, running or not).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import paths
from ..errors import RunError
from ..runs import (RunDir, data_name, describe, diff_runs, dumps, list_runs, read_config,
                    read_summary, resolve_run, trained_on_synthetic)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "show", "diff"), default="list",
                        help="list (default), show RUN, or diff RUN_A RUN_B")
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="run directories, ids under --runs-dir, or latest")
    parser.add_argument("--runs-dir", metavar="DIR",
                        help=f"where runs are ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def describe_run(run: RunDir) -> dict[str, Any]:
    """One row about a run, readable while it is still being written."""
    status = run.status()
    cfg = read_config(run)
    row: dict[str, Any] = {"id": run.id, "path": str(run.path), "state": status.get("state"),
                           "started": status.get("started"), "ended": status.get("ended"),
                           "data": cfg.get("data"), "data_name": data_name(run),
                           "synthetic": trained_on_synthetic(run),
                           "models": list(cfg.get("models") or []), "best_auc": None,
                           "best_model": None}
    row["problem"] = run.problem()  # a damaged run is listed, with why; it hides no other
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    if summary is not None:
        row["models"] = list(summary.models) or row["models"]
        best = summary.best()
        if best:
            row["best_model"], row["best_auc"] = best
    return row


def run(args: argparse.Namespace) -> int:
    root = paths.runs_dir(args.runs_dir)
    if args.action == "show":
        if len(args.runs) != 1:
            raise RunError("runs show needs one RUN", "e.g. coughscope runs show latest")
        return show(resolve_run(args.runs[0], root), args.json)
    if args.action == "diff":
        if len(args.runs) != 2:
            raise RunError("runs diff needs two runs", "e.g. coughscope runs diff RUN_A RUN_B")
        a, b = (resolve_run(r, root) for r in args.runs)
        return diff(a, b, args.json)
    if args.runs:
        raise RunError(f"unexpected argument(s) {' '.join(args.runs)}",
                       "use: coughscope runs show RUN, or coughscope runs diff A B")
    rows = [describe_run(r) for r in list_runs(root)]
    if args.json:
        print(dumps({"runs_dir": str(root), "runs": rows}))
        return 0
    why = paths.runs_dir_reason(args.runs_dir)  # which rule picked the folder
    if not rows:
        print(f"no runs in {root} ({why}); start one with: coughscope --headless "
              "(or point --runs-dir / $COUGHSCOPE_RUNS_DIR at your runs)")
        return 0
    print(f"runs in {root} ({why}), newest first")
    print(f"{'run':<26}{'state':<13}{'best AUC':>9}  {'data':<18}models")
    for r in rows:
        auc = f"{r['best_auc']:.3f}" if r["best_auc"] is not None else "-"
        name = r["data_name"] + (" (synthetic)" if r["synthetic"] else "")
        state = "damaged" if r["problem"] else (r["state"] or "?")
        print(f"{r['id']:<26}{state:<13}{auc:>9}  {name:<18}"
              f"{','.join(r['models']) or '(default)'}")
    damaged = [r for r in rows if r["problem"]]
    for r in damaged:
        print(f"damaged: {r['id']}: {r['problem']}")
    return 0


def show(run: RunDir, as_json: bool) -> int:
    info = describe(run)
    if as_json:
        print(dumps(info))
        return 0
    print(f"run {info['id']}  ({info['status'].get('state')})  {info['path']}")
    for title, key in (("config", "config"), ("environment", "env"), ("data", "data"),
                       ("results (test, mean over seeds)", "results")):
        print(f"\n[{title}]")
        section = info[key]
        if not section:
            print("  (none recorded)")
            continue
        for k, v in _flat(section).items():
            print(f"  {k} = {_fmt(v)}")
    for line in headline_notes(info["results"]):
        print(line)
    if info["problem"]:
        print(f"\nproblem: {info['problem']}", file=sys.stderr)
    return 0


def headline_notes(results: dict[str, Any]) -> list[str]:
    """What ``ood`` and ``confound_controlled`` mean, and which number the recording channel
    cannot inflate (printed after the results when a model has them)."""
    import textwrap

    ood = next((m["ood"]["group"] for m in results.values() if m.get("ood")), None)
    column = next((m["confound_controlled"]["column"] for m in results.values()
                   if m.get("confound_controlled")), None)
    notes = []
    if ood:
        notes.append(f"ood: the held-out {ood} clips, never trained or validated on, scored "
                     "at the threshold chosen on validation; they all share that value, so "
                     "it cannot inflate ood.roc_auc. roc_auc is the other clips' test part "
                     "(in distribution).")
    if column:
        notes.append(f"confound_controlled: the test AUC within each {column}, pooled "
                     f"(positives ranked only against negatives of the same {column}). "
                     f"{column} alone predicts the label in this run: it can inflate roc_auc, "
                     "not this number; trust this one.")
    return [textwrap.fill(n, 92, initial_indent="  ", subsequent_indent="    ")
            for n in notes]


def diff(a: RunDir, b: RunDir, as_json: bool) -> int:
    sections = diff_runs(a, b)
    if as_json:
        print(dumps({"a": a.id, "b": b.id,
                     "differences": {s: {k: {"a": va, "b": vb} for k, (va, vb) in d.items()}
                                     for s, d in sections.items()}}))
        return 0
    print(f"a = {a.path}\nb = {b.path}")
    any_diff = False
    for section, d in sections.items():
        if not d:
            continue
        any_diff = True
        print(f"\n[{section}]")
        for k, (va, vb) in d.items():
            print(f"  {k}: {_fmt(va)}  ->  {_fmt(vb)}")
    if not any_diff:
        print("\nno differences in config, environment, data or results")
    return 0


def _flat(section: dict[str, Any]) -> dict[str, Any]:
    from ..runs import flatten

    return flatten(section)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and v and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"  # e.g. an interval
    if isinstance(v, (list, dict)):
        return json.dumps(v, allow_nan=False)
    return "(absent)" if v is None else str(v)
