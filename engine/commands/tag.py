"""Tag a run, or take tags off it (kept in RUN/annotations.json, outside what `runs trust`
signs; the app's Runs list shows them and filters on them: tag:NAME).

  coughscope runs tag latest baseline paper-recipe
  coughscope runs tag 20261126-101500-ab12 paper-recipe --remove
"""

from __future__ import annotations

import argparse

from .. import paths
from ..annotations import add_tags
from ..runs import resolve_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory, id, or latest")
    parser.add_argument("tags", nargs="+", metavar="TAG",
                        help="one word each: letters, digits, . _ - + / =")
    parser.add_argument("--remove", action="store_true", help="take these tags off instead")
    parser.add_argument("--runs-dir", metavar="DIR",
                        help=f"where to look for RUN ({paths.RUNS_DIR_HELP})")


def run(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run, paths.runs_dir(args.runs_dir))
    notes = add_tags(run_dir.path, args.tags, remove=args.remove)
    print(f"{run_dir.id}: tags " + (" ".join(notes.tags) if notes.tags else "(none)"))
    return 0
