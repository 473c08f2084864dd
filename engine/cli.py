"""The ``coughscope`` command line (headless side).

``coughscope --headless ...`` runs an experiment in the foreground; subcommands
(``data``, ``evaluate``, ``predict``, ``record``, ``runs``) live in :mod:`engine.commands`,
one module each exposing ``add_parser(subparsers)`` and ``run(args) -> int``. Without
``--headless`` and without a subcommand, :mod:`tui.launch` opens the Textual app instead.

stdout carries data (tables, ``--json``); stderr carries progress and diagnostics.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .errors import CoughscopeError, ExitCode

# subcommand name -> module under engine.commands
SUBCOMMANDS = {
    "data": "data",
    "evaluate": "evaluate",
    "predict": "predict",
    "record": "record",
    "runs": "runs",
}
# two-word subcommands (checked first): (command, subcommand) -> module under engine.commands
NESTED_SUBCOMMANDS = {
    ("runs", "trust"): "trust",
}

DESCRIPTION = """\
coughscope trains, compares and uses cough-based COVID-19 classifiers, honestly:
participant-disjoint splits, a validation part that is not the test part, ROC-AUC with
95% intervals and baselines beside every number. A research tool, not a diagnostic device.

  coughscope                          open the terminal app (demo data until you pick other)
  coughscope --headless [options]     run an experiment in the foreground (scripts, tmux)
  coughscope data summary SPEC        what a data set holds, and what is excluded and why
  coughscope data get NAME            download a public data set (coswara, covid19-cough)
  coughscope evaluate RUN --data SPEC score a finished run on another data set
  coughscope predict FILE...          classify recordings with a finished run's models
  coughscope record                   record a cough from this machine's microphone
  coughscope runs                     list run directories
  coughscope runs trust RUN           sign a run made elsewhere so that its models can be loaded
  coughscope demo                     drive the app through a recorded demo

SPEC is `demo` (built-in synthetic data), a Coswara root, a manifest CSV, or a folder with
positive/ and negative/ subfolders. `coughscope COMMAND --help` explains each command.
"""


def build_run_parser(prog: str = "coughscope") -> argparse.ArgumentParser:
    """The parser for the top-level (experiment) options."""
    from .commands import experiment

    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiment.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for headless use; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        nested = NESTED_SUBCOMMANDS.get(tuple(args_list[:2]))  # type: ignore[arg-type]
        if nested or (args_list and args_list[0] in SUBCOMMANDS):
            words = 2 if nested else 1
            name = " ".join(args_list[:words])
            module = importlib.import_module(
                f"engine.commands.{nested or SUBCOMMANDS[args_list[0]]}")
            parser = argparse.ArgumentParser(
                prog=f"coughscope {name}",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                description=(module.__doc__ or "").strip(),
            )
            module.add_arguments(parser)
            args = parser.parse_args(args_list[words:])
            return int(module.run(args))
        from .commands import experiment

        parser = build_run_parser()
        args = parser.parse_args(args_list)
        return int(experiment.run(args))
    except CoughscopeError as err:
        print(f"coughscope: error: {err.describe()}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("coughscope: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPT)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
