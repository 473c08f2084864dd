"""The ``coughscope`` command line (headless side).

``coughscope --headless ...`` runs an experiment in the foreground; subcommands
(``data``, ``evaluate``, ``predict``, ``record``, ``runs``) live in :mod:`engine.commands`,
one module each exposing ``add_parser(subparsers)`` and ``run(args) -> int``. Without
``--headless`` and without a subcommand, :mod:`tui.launch` opens the Textual app instead.

stdout carries data (tables, ``--json``); stderr carries progress and diagnostics.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import os
import sys
import traceback
from typing import Iterator, Sequence

from .errors import CoughscopeError, ExitCode

# subcommand name -> module under engine.commands
SUBCOMMANDS = {
    "data": "data",
    "evaluate": "evaluate",
    "predict": "predict",
    "record": "record",
    "runs": "runs",
    "study": "study",
}
# two-word subcommands (checked first): (command, subcommand) -> module under engine.commands
NESTED_SUBCOMMANDS = {
    ("runs", "trust"): "trust",
    ("runs", "compare"): "compare",
    ("runs", "export"): "export",
    ("runs", "tag"): "tag",
    ("runs", "note"): "note",
}
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
DISK_ERRORS = {
    errno.ENOSPC: "the disk is full: free space (an interrupted run can then be resumed)",
    errno.EDQUOT: "your disk quota is used up: free space",
    errno.EROFS: "that filesystem is read-only: use a writable folder (--runs-dir, "
                 "COUGHSCOPE_CACHE_DIR)",
    errno.EACCES: "permission denied: use a folder you can write to, or fix its permissions",
    errno.EPERM: "operation not permitted: use a folder you own",
}

DESCRIPTION = """\
coughscope trains, compares and uses cough-based COVID-19 classifiers, honestly:
participant-disjoint splits, a validation part that is not the test part, ROC-AUC with
95% intervals and baselines beside every number. A research tool, not a diagnostic device.

  coughscope                          open the terminal app (demo data until you pick other)
  coughscope --headless [options]     run an experiment in the foreground (scripts, tmux)
  coughscope data summary SPEC        what a data set holds, and what is excluded and why
  coughscope data get NAME            download a public data set (coswara, covid19-cough, coughvid)
  coughscope evaluate RUN --data SPEC score a finished run on another data set
  coughscope predict FILE...          classify recordings with a finished run's models
  coughscope record                   record a cough from this machine's microphone
  coughscope runs                     list run directories
  coughscope runs trust RUN           sign a run made elsewhere so that its models can be loaded
  coughscope runs compare RUN...      AUCs side by side, differences, what differs
  coughscope runs export RUN... --out DIR   tables and figures as CSV, JSON, SVG, PNG, .tex
  coughscope runs --filter EXPR       only the runs a filter keeps (model:cnn auc>.8 tag:x ...)
  coughscope runs tag RUN TAG...      tag a run (--remove takes tags off); runs note RUN TEXT
  coughscope study cross --data A --data B
                                      train on each data set, test on every other (AUC matrix)
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


def _shown(text: str) -> str:
    """An error for the terminal: each line with its control characters escaped (messages
    quote file names, manifest values and run fields)."""
    from .bounded import printable

    return "\n".join(printable(line) for line in text.split("\n"))


@contextlib.contextmanager
def library_output_to_stderr() -> Iterator[None]:
    """Send everything written to stdout meanwhile -- Python prints and C-level writes of
    libraries alike (torch's download notices, pytorch-tabular's banners) -- to stderr, so
    that stdout carries only the command's data (``--json``, tables)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (e.g. embedded): only the Python level
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def interrupt_on_term() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`KeyboardInterrupt`, as SIGINT does, from the first
    moment of a command: a stop during start-up (imports, checks) then exits 130 with
    "interrupted", like Ctrl+C, instead of dying with 143 or 129. The runner installs its
    own handlers over these while it trains (a clean stop at the next batch); the previous
    handlers come back when the command ends."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    saved = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None:
            continue
        try:
            if signal.getsignal(sig) is signal.SIG_IGN:  # under nohup: stays ignored
                continue
            saved[sig] = signal.signal(sig, interrupt)
        except ValueError:  # not the main thread (e.g. called from a worker): leave them
            pass
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def json_error(message: str, hint: str, code: int) -> str:
    """The JSON object a ``--json`` command prints on stdout when it fails."""
    return json.dumps({"error": message, "hint": hint, "exit_code": code}, allow_nan=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for headless use; returns the process exit code.

    Errors a user can cause print a message and a hint on stderr (and, with ``--json``, a
    JSON error object on stdout) and exit with their :class:`ExitCode`. A reader that closes
    the pipe early (``coughscope runs --json | head``) ends the command quietly.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args_list
    try:
        with interrupt_on_term():
            return _dispatch(args_list)
    except CoughscopeError as err:
        print(f"coughscope: error: {_shown(err.describe())}", file=sys.stderr)
        if as_json:
            _print_quietly(json_error(err.message, err.hint, int(err.exit_code)))
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("coughscope: interrupted", file=sys.stderr)
        if as_json:
            _print_quietly(json_error("interrupted", "", int(ExitCode.INTERRUPT)))
        return int(ExitCode.INTERRUPT)
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except SystemExit as exc:  # argparse: the message is on stderr already
        if as_json and exc.code not in (0, None):
            _print_quietly(json_error("invalid arguments (the message is on stderr)",
                                      "see the command's --help", int(ExitCode.USAGE)))
        raise
    except OSError as exc:  # the disk, not the program: full, read-only, permissions
        if exc.errno not in DISK_ERRORS:
            if not as_json:
                raise
            return _unexpected(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}"
        hint = DISK_ERRORS[exc.errno]
        print(f"coughscope: error: {_shown(message)}\n  hint: {hint}", file=sys.stderr)
        # README's table: a full disk or quota is "unavailable here" (3); permissions are 1
        code = ExitCode.UNAVAILABLE if exc.errno in (errno.ENOSPC, errno.EDQUOT) \
            else ExitCode.FAILURE
        if as_json:
            _print_quietly(json_error(message, hint, int(code)))
        return int(code)
    except Exception as exc:
        if not as_json:
            raise
        return _unexpected(exc)


def _unexpected(exc: BaseException) -> int:
    """With --json: a bug still ends in a JSON object (and its traceback on stderr)."""
    traceback.print_exception(exc, file=sys.stderr)
    _print_quietly(json_error(f"{type(exc).__name__}: {exc}",
                              "this is a bug in coughscope: please report it with the "
                              "traceback above", int(ExitCode.FAILURE)))
    return int(ExitCode.FAILURE)


def _print_quietly(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _dispatch(args_list: list[str]) -> int:
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
        result = int(module.run(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler
        return result
    from .commands import experiment

    parser = build_run_parser()
    args = parser.parse_args(args_list)
    result = int(experiment.run(args))
    sys.stdout.flush()
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
