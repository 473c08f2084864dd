"""List run directories: status, date, data, models, best test AUC.

  coughscope runs [--runs-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import paths
from ..runs import RunDir, list_runs, read_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", metavar="DIR", help="where runs are (default ./runs)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def describe_run(run: RunDir) -> dict[str, Any]:
    """One row about a run, readable while it is still being written."""
    status = run.status()
    row: dict[str, Any] = {"id": run.id, "path": str(run.path), "state": status.get("state"),
                           "started": status.get("started"), "ended": status.get("ended")}
    try:
        import tomllib

        cfg = tomllib.loads(run.config_path.read_text(encoding="utf-8"))
        row["data"] = cfg.get("data")
        row["models"] = cfg.get("models") or []
    except (OSError, ValueError):
        row["data"], row["models"] = None, []
    best = None
    if run.summary_path.exists():
        try:
            summary = read_json(run.summary_path)
            row["models"] = list(summary.get("models", {})) or row["models"]
            aucs = [(m["metrics"].get("roc_auc") or {}).get("mean")
                    for m in summary.get("models", {}).values()]
            aucs = [a for a in aucs if a is not None]
            best = max(aucs) if aucs else None
        except Exception:  # a damaged summary must not hide the run
            pass
    row["best_auc"] = best
    return row


def run(args: argparse.Namespace) -> int:
    rows = [describe_run(r) for r in list_runs(paths.runs_dir(args.runs_dir))]
    if args.json:
        print(json.dumps({"runs": rows}))
        return 0
    if not rows:
        print("no runs yet; start one with: coughscope --headless")
        return 0
    print(f"{'run':<26}{'state':<13}{'best AUC':>9}  models / data")
    for r in rows:
        auc = f"{r['best_auc']:.3f}" if r["best_auc"] is not None else "-"
        print(f"{r['id']:<26}{r['state'] or '?':<13}{auc:>9}  "
              f"{','.join(r['models']) or '(default)'} / {r['data']}")
    return 0
