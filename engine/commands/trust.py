"""Trust a run made elsewhere: sign its model files with your key.

coughscope loads a model only when its files carry a signature made with your key, because
some model files are pickles (gbm, cne, tabnet) and loading a pickle can run code planted in
it. Runs you train are signed as they are saved. A run copied from another user or machine,
or changed since it was saved, is refused by predict, evaluate and the app until you trust
it here. This lists every model file of the run, marks those that can run code, and signs
them after you confirm (or with --yes). Trust only runs whose origin you trust.

  coughscope runs trust runs/20261126-101500-ab12
  coughscope runs trust ~/Downloads/their-run --yes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import paths, trust
from ..bounded import printable
from ..errors import ExitCode, RunError
from ..runs import resolve_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory or id")
    parser.add_argument("--runs-dir", metavar="DIR",
                       help=f"where to look for RUN ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="sign without asking (after reading what will be trusted)")


def run(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run, paths.runs_dir(args.runs_dir))
    model_dirs = trust.run_model_dirs(run_dir.path)
    if not model_dirs:
        raise RunError(f"{run_dir.path} holds no saved models (no <model>/<seed>/ model files)",
                       "point at a run directory whose models finished training")
    states = [trust.describe(d) for d in model_dirs]
    print(printable(f"model files of {run_dir.path}:"))
    for state in states:  # names come from the run folder: shown with controls escaped
        print("\n".join(printable(line) for line in _describe(state, run_dir.path).split("\n")))
    unsignable = [s for s in states if not s.files and s.problem]
    if unsignable:
        raise RunError(f"{unsignable[0].path} cannot be trusted: {unsignable[0].problem}",
                       "coughscope signs plain files only; remove links and special files")
    pending = [s for s in states if s.problem]
    for state in pending:  # before anything is signed: no signature goes through a link
        paths.inside(run_dir.path, state.path / trust.SIGNATURE)
    if not pending:
        print("every model of this run is already signed with your key; nothing to do")
        return int(ExitCode.OK)
    pickles = sum(len(s.pickles) for s in pending)
    question = (f"sign {len(pending)} model folder(s) with your key, so that coughscope loads "
                f"them{f' ({pickles} file(s) can run code when loaded)' if pickles else ''}?")
    if not args.yes:
        if not sys.stdin.isatty():
            raise RunError(f"nothing was trusted: {question}",
                           f"read the list above, then: coughscope runs trust {run_dir.path} --yes")
        answer = input(f"{question} [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing was trusted")
            return int(ExitCode.USAGE)
    for state in pending:
        trust.sign_model_dir(state.path, root=run_dir.path)
        print(printable(f"signed {state.path}"))
    print(printable(f"trusted {len(pending)} model folder(s) of {run_dir.path} "
                    f"(key {trust.key_path()})"))
    return int(ExitCode.OK)


def _describe(state: trust.ModelDirState, run_path: Path) -> str:
    rel = state.path.relative_to(run_path)
    verdict = "signed with your key" if state.problem is None else f"NOT TRUSTED: {state.problem}"
    lines = [f"  {rel}: {verdict}"]
    for name in state.files:
        size = (state.path / name).stat().st_size
        mark = "  <- a pickle: can run code when loaded" if name in state.pickles else ""
        lines.append(f"    {name:<32} {size:>12,} bytes{mark}")
    return "\n".join(lines)
