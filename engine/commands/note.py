"""Write a note on a run, replacing the one it had ("" removes it). Kept in
RUN/annotations.json, outside what `runs trust` signs; shown in `runs show` and in the
app's Runs detail pane, and searched by the Runs filter (note:WORD, or free text).

  coughscope runs note latest "mic gain was too high on day 2"
  coughscope runs note 20261126-101500-ab12 ""
"""

from __future__ import annotations

import argparse

from .. import paths
from ..annotations import set_note
from ..bounded import printable
from ..runs import resolve_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory, id, or latest")
    parser.add_argument("text", metavar="TEXT", help='the note ("" removes it)')
    parser.add_argument("--runs-dir", metavar="DIR",
                        help=f"where to look for RUN ({paths.RUNS_DIR_HELP})")


def run(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run, paths.runs_dir(args.runs_dir))
    notes = set_note(run_dir.path, args.text)
    print(f"{run_dir.id}: note " + (repr(printable(notes.note)) if notes.note else "removed"))
    return 0
