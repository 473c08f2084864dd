"""Compare runs: every model's AUCs side by side, differences to a baseline run, and only the
config, environment and data fields that differ.

For each model of each run, mean ± std over seeds with the 95% interval of five AUCs:
  test      the in-distribution test part
  within    the test AUC within each value of a metadata column (source...), pooled
  held-out  the held-out group of a --test-group run, never trained or validated on
  external  the newest `coughscope evaluate` result (RUN/evaluations/)
  shortcut  the metadata-only baseline: the label predicted from that column alone
A model that does not beat its run's shortcut may have learnt the recording channel, not
the cough. The baseline run (the first, or --baseline) gives every number a difference.
From --test-group runs it also prints a leave-one-source-out matrix (training sources ×
test source). Runs are labelled A, B, C... in the order given.

  coughscope runs compare RUN_A RUN_B [RUN_C...] [--baseline RUN] [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import paths
from ..bounded import printable
from ..runs import dumps, resolve_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, ids under --runs-dir, or latest")
    parser.add_argument("--baseline", metavar="RUN",
                        help="the run to take differences to: one of the RUNs (its id, path, "
                             "or its letter A, B...); default the first")
    parser.add_argument("--runs-dir", metavar="DIR",
                        help=f"where runs are ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def resolve_runs(specs: list[str], runs_dir: str | None, baseline: str | None
                 ) -> tuple[list[Any], Any]:
    """The runs named on the command line and the baseline among them (None: the first)."""
    from ..compare import LABELS

    root = paths.runs_dir(runs_dir)
    runs = [resolve_run(spec, root) for spec in specs]
    base = None
    if baseline is not None:
        if len(baseline) == 1 and baseline.upper() in LABELS[:len(runs)]:
            base = runs[LABELS.index(baseline.upper())]
        else:
            base = resolve_run(baseline, root)
    return runs, base


def run(args: argparse.Namespace) -> int:
    from ..compare import compare_runs

    runs, base = resolve_runs(args.runs, args.runs_dir, args.baseline)
    comparison = compare_runs(runs, base)
    if args.json:
        print(dumps(comparison.to_dict()))
        return 0
    for line in text_lines(comparison):
        print(printable(line))
    return 0


def text_lines(comparison: Any) -> list[str]:
    """The comparison as the command prints it."""
    from ..compare import (KIND_TITLES, KINDS, auc_cell, delta_cell, ordered_rows,
                           value_text)

    base = comparison.label_of(comparison.baseline)
    lines = [f"runs compared (differences are to {base}, the baseline)"]
    for info in comparison.runs:
        mark = "  ◆ baseline" if info.run.id == comparison.baseline else ""
        lines.append(f"  {info.label}  {info.run.id}  {info.state}  data {info.data}  "
                     f"models {','.join(info.models) or '?'}{mark}")
        if info.problem:
            lines.append(f"     {info.problem}")
        lines += [f"     note: {note}" for note in info.notes]
    rows = ordered_rows(comparison)
    lines.append("")
    lines.append("ROC-AUC, mean ± std over seeds [95% interval]; — : the run has no such number")
    heads = ["model", "run", *(KIND_TITLES[k] for k in KINDS)]
    table = [[r.model, r.label, *(auc_cell(r.aucs.get(k)) for k in KINDS)] for r in rows]
    lines += _table(heads, table)
    if len(comparison.runs) > 1:
        lines.append("")
        lines.append(f"differences to the baseline ({base}), same model")
        heads = ["model", "run", *(f"Δ {KIND_TITLES[k]}" for k in KINDS)]
        table = [[r.model, r.label, *(delta_cell(r.delta.get(k)) for k in KINDS)]
                 for r in rows if r.run != comparison.baseline]
        lines += _table(heads, table)
    lines.append("")
    lines.append("what each number measured:")
    for kind in KINDS:
        seen = sorted({f"{r.label} {r.aucs[kind].what}" for r in rows if r.aucs.get(kind)})
        if seen:
            lines.append(f"  {KIND_TITLES[kind]}: {'; '.join(seen)}")
    more = [(r, e) for r in rows for e in r.external[:-1]]
    for row, auc in more:
        lines.append(f"  external (older): {row.model} {row.label} {auc.what} {auc_cell(auc)}")
    lines.append("")
    diff = {s: d for s, d in comparison.differences.items() if d}
    if not diff:
        lines.append("config, environment and data: no differences")
    for section, fields in diff.items():
        lines.append(f"[{section}] differs")
        for key, values in fields.items():
            cells = [f"{info.label} {value_text(value)}"
                     for info, value in zip(comparison.runs, values)]
            one = f"  {key}: " + "  |  ".join(cells)
            if len(one) <= 100:
                lines.append(one)
                continue
            lines.append(f"  {key}")
            lines += [f"    {cell}" for cell in cells]
    for model, matrix in comparison.loso.items():
        lines.append("")
        lines += loso_lines(matrix)
    return lines


def loso_lines(matrix: dict[str, Any]) -> list[str]:
    """A leave-one-source-out matrix: one row per --test-group run (the sources it trained
    on), one column per test source; ◆ marks the held-out source."""
    from ..compare import auc_cell

    values = matrix["test_values"]
    lines = [f"leave one {matrix['column']} out, {matrix['model']}: trained on (rows) × tested "
             "on (columns); ◆ held out, never trained or validated on"]
    heads = ["trained on", *values]
    table = []
    for row in matrix["rows"]:
        cells = []
        for value in values:
            cell = row["cells"].get(value)
            text = auc_cell(cell)
            cells.append(f"◆ {text}" if value == row["held_out"] and cell else text)
        table.append(["+".join(row["train"]) or f"all but {row['held_out']}", *cells])
    lines += _table(heads, table)
    for note in matrix.get("skipped") or []:
        lines.append(f"  left out: {note}")
    return lines


def _table(heads: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [heads, *rows]) for i in range(len(heads))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(heads, widths)).rstrip()]
    for row in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return out
