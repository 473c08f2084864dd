"""List run directories, show one, or compare two.

  coughscope runs [--runs-dir DIR] [--json]      newest first (by recorded start time)
  coughscope runs --filter 'model:cnn auc>.8'    only the runs the filter keeps (the app's
                                                 Runs filter: engine.runfilter)
  coughscope runs show RUN [--json]              config, environment (env.json), data, results
  coughscope runs diff RUN_A RUN_B [--json]      only what differs: config, environment,
                                                 data, results

  coughscope runs trust RUN [--yes]              sign a run made elsewhere so its models load
                                                 (see the README's "Security model")
  coughscope runs compare RUN... [--baseline RUN] [--json]
                                                 every model's AUCs side by side, differences
  coughscope runs export RUN... --out DIR        tables and figures: CSV, JSON, SVG, PNG, .tex
  coughscope runs tag RUN TAG... [--remove]      tag a run (kept in RUN/annotations.json)
  coughscope runs note RUN TEXT                  a note on a run ("" removes it)

RUN is a run directory, an id under --runs-dir, or `latest` (the newest run, running or not).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import paths
from ..annotations import read_annotations
from ..bounded import printable
from ..errors import RunError
from ..runfilter import RunFacts, facts_of, parse
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
    parser.add_argument("--filter", metavar="EXPR", default="",
                        help="keep only matching runs: model:cnn auc>.8 data:covid19 "
                             "status:running tag:x, free text; AND (default), OR, NOT, ( )")


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
        notes = read_annotations(run.path)
    except RunError as err:  # the tags are lost, not the run
        notes = None
        row["annotations_problem"] = err.describe()
    row["tags"], row["note"] = (list(notes.tags), notes.note) if notes else ([], "")
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    if summary is not None:
        row["models"] = list(summary.models) or row["models"]
        best = summary.best()
        if best:
            row["best_model"], row["best_auc"] = best
        row["trusted_auc"] = best_trusted(summary)
    return row


def facts(row: dict[str, Any], run: RunDir) -> RunFacts:
    """What the filter reads of a listed run (the app builds the same from its rows)."""
    trusted = row.get("trusted_auc") or {}
    return facts_of(row["id"], "damaged" if row.get("problem") else str(row["state"] or "?"),
                    read_config(run), best_auc=row["best_auc"],
                    trusted_auc=trusted.get("roc_auc") if isinstance(trusted, dict) else None,
                    tags=tuple(row["tags"]), note=row["note"], models=tuple(row["models"]))


def trusted_cell(t: dict[str, Any] | None) -> str:
    """The list's "AUC to trust" cell: the AUC, its interval, the model and what it is."""
    if not t:
        return "-"
    if t.get("kind") == "test":
        return "= best (no confound found)"
    ci = t.get("roc_auc_ci")
    return (f"{t['roc_auc']:.3f}" + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else "")
            + f" {t['model']}, {t['label']}")


def best_trusted(summary: Any) -> dict[str, Any] | None:
    """The model with the highest AUC the recording channel cannot inflate
    (:func:`engine.runs.trusted_auc`), with that AUC, its kind, label and interval; the
    majority baseline left out. None when no model has one."""
    from ..runs import trusted_auc

    best = None
    for name, m in summary.models.items():
        t = trusted_auc(m.raw) if name != "majority" else None
        if t and t.get("roc_auc") is not None and (best is None or t["roc_auc"] > best["roc_auc"]):
            best = {"model": name, **t}
    return best


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
    keep = parse(args.filter)  # a bad filter is refused before any run is read
    rows = [row for row, r in ((describe_run(r), r) for r in list_runs(root))
            if keep.matches(facts(row, r))]
    if args.json:
        print(dumps({"runs_dir": str(root), "filter": args.filter, "runs": rows}))
        return 0
    why = paths.runs_dir_reason(args.runs_dir)  # which rule picked the folder
    if not rows and args.filter:
        print(f"no run in {root} matches the filter {printable(args.filter)!r}")
        return 0
    if not rows:
        print(f"no runs in {root} ({why}); start one with: coughscope --headless "
              "(or point --runs-dir / $COUGHSCOPE_RUNS_DIR at your runs)")
        return 0
    print(f"runs in {root} ({why}), newest first"
          + (f", filter {printable(args.filter)!r}" if args.filter else ""))
    cells = [trusted_cell(r.get("trusted_auc")) for r in rows]
    width = max([len("AUC to trust"), *map(len, cells)]) + 2
    print(f"{'run':<26}{'state':<13}{'best AUC':>9}  {'AUC to trust':<{width}}{'data':<20}models")
    for r, trusted in zip(rows, cells):
        auc = f"{r['best_auc']:.3f}" if r["best_auc"] is not None else "-"
        name = r["data_name"] + (" (synthetic)" if r["synthetic"] else "")
        state = "damaged" if r.get("problem") else (r["state"] or "?")
        print(f"{r['id']:<26}{state:<13}{auc:>9}  {trusted:<{width}}{name:<20}"
              f"{','.join(r['models']) or '(default)'}")
    if any((r.get("trusted_auc") or {}).get("kind") not in (None, "test") for r in rows):
        print("AUC to trust: within the confounded column, or on the held-out group "
              "(--test-group): the recording channel cannot inflate it")
    for r in rows:
        if r["tags"] or r["note"]:
            print(f"{r['id']}: " + " ".join(f"#{t}" for t in r["tags"])
                  + (" " if r["tags"] and r["note"] else "")
                  + printable(r["note"].replace("\n", " ")))
    for r in rows:
        if r.get("problem"):
            print(f"damaged: {r['id']}: {r['problem']}")
        if r.get("annotations_problem"):
            print(f"tags and note of {r['id']} unreadable: {r['annotations_problem']}",
                  file=sys.stderr)
    return 0


def show(run: RunDir, as_json: bool) -> int:
    info = describe(run)
    if as_json:
        print(dumps({**info, "annotations": read_annotations(run.path).to_dict()}))
        return 0
    print(f"run {info['id']}  ({info['status'].get('state')})  {info['path']}")
    notes = read_annotations(run.path)
    if notes.tags:
        print("tags: " + " ".join(notes.tags))
    if notes.note:
        print("note: " + "\n      ".join(printable(line) for line in notes.note.split("\n")))
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
    for line in reliability_lines(info.get("reliability") or {}):
        print(line)
    if info["problem"]:
        print(f"\nproblem: {info['problem']}", file=sys.stderr)
    return 0


def reliability_lines(reliability: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The reliability diagram as text, per model: for each probability bin the clips, the
    mean calibrated probability and the share that were positive (test part, seeds pooled).
    A calibrated model's two columns agree within the interval."""
    if not reliability:
        return []
    lines = ["\n[reliability (test part, calibrated P(positive), seeds pooled)]"]
    for model, bins in reliability.items():
        lines.append(f"  {model}")
        lines.append(f"    {'bin':<11}{'clips':>6}{'predicted':>11}{'observed':>10}  95% interval")
        for b in bins:
            ci = b.get("observed_ci")
            span = (f"{ci[0]:.2f}–{ci[1]:.2f}" if isinstance(ci, list) and len(ci) == 2
                    else "")
            lines.append(f"    {b['lo']:.1f}–{b['hi']:.1f}    {b['n']:>6}{b['predicted']:>11.3f}"
                         f"{b['observed']:>10.3f}  {span}")
    return lines


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
                     "at the run's operating point; they all share that value, so "
                     "it cannot inflate ood.roc_auc. roc_auc is the other clips' test part "
                     "(in distribution).")
    if column:
        notes.append(f"confound_controlled: the test AUC within each {column}, pooled "
                     f"(positives ranked only against negatives of the same {column}). "
                     f"{column} alone predicts the label in this run: it can inflate roc_auc, "
                     "not this number; trust this one.")
    point = next((m["operating_point"] for m in results.values() if m.get("operating_point")),
                 None)
    if point:
        notes.append(f"operating_point: the threshold is put at {point.get('rule')} on "
                     f"{point.get('source')} predictions"
                     + (f" ({point.get('folds')} participant-disjoint folds of train + "
                        "validation, each fitted with the final model's recipe)"
                        if point.get("folds") else "")
                     + "; expected.* is what those predictions promise, measured.* what the "
                       "test part gave. calibration: P(positive) after calibration on the same "
                       "predictions; brier and ece are measured on the test part (lower is "
                       "better).")
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
