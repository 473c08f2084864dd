"""Export runs for a paper or a report: tables as CSV, JSON and LaTeX (booktabs), figures as
SVG, PNG and pgfplots (.tex), into a folder of your choice, and list the files written.

The tables are what `coughscope runs compare` prints (every model's AUCs with intervals:
test, within, held-out, external, shortcut; differences to the baseline run; the fields that
differ; a leave-one-source-out matrix from --test-group runs) plus every metric of every
model and every epoch's numbers of every seed (scalars.csv). The figures: each model's test ROC averaged over seeds and its validation AUC per
epoch (mean ± std over seeds), one curve per run; and each run's ROC per recording source
when its data set has a source column. Nothing is overwritten: when a file to write exists
already, nothing is written and the command says which.

  coughscope runs export RUN [RUN...] --out paper/figures [--baseline RUN] [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import paths
from ..bounded import printable
from ..runs import dumps
from .compare import resolve_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, ids under --runs-dir, or latest")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="the folder to write into (made when absent; existing files in "
                             "it are never replaced)")
    parser.add_argument("--baseline", metavar="RUN",
                        help="the run differences are taken to (one of the RUNs, or its "
                             "letter A, B...); default the first")
    parser.add_argument("--no-figures", action="store_true",
                        help="tables only (no matplotlib: faster)")
    parser.add_argument("--runs-dir", metavar="DIR",
                        help=f"where runs are ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object on stdout: the folder and the files written")


def run(args: argparse.Namespace) -> int:
    from ..cli import library_output_to_stderr
    from ..export import export_comparison

    runs, base = resolve_runs(args.runs, args.runs_dir, args.baseline)
    with library_output_to_stderr():
        done = export_comparison(runs, Path(args.out).expanduser(), base,
                                 figures=not args.no_figures)
    if args.json:
        print(dumps({"folder": str(done.folder), "files": [str(p) for p in done.files],
                     "notes": done.notes}))
        return 0
    print(printable(f"exported {len(done.files)} files to {done.folder}:"))
    for path in done.files:
        print(printable(f"  {path.name}"))
    for note in done.notes:
        print(printable(f"note: {note}"))
    return 0
