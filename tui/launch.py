"""The ``coughscope`` console script: the app, the demo, or the headless command line.

* no arguments (or only app options such as ``--runs-dir``/``--data``) -> the Textual app
* ``demo ...``                                       -> :mod:`tui.demo`
* ``--headless ...`` or any other subcommand          -> :func:`engine.cli.main`

This module imports nothing heavy; textual loads only when the app is opened.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import argparse

START = time.perf_counter()  # the app logs its startup time from here


def app_parser() -> "argparse.ArgumentParser":
    """The app's own options (``coughscope --help`` shows them before the headless ones)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="coughscope", add_help=False,
        description="Without --headless or a subcommand, coughscope opens the terminal app.",
        usage="coughscope [--data SPEC] [--runs-dir DIR] [--open RUN] [--debug]")
    group = parser.add_argument_group("app options")
    group.add_argument("--data", default=None, metavar="SPEC",
                       help="data set to start with: demo, a Coswara root, manifest CSV or "
                            "folder (default: the one used last time, else demo)")
    group.add_argument("--runs-dir", metavar="DIR",
                       help="where runs are (default: ./runs when it exists, else the "
                            "per-user runs folder)")
    group.add_argument("--open", metavar="RUN", dest="open_run",
                       help="open a run (id, path or 'latest') on start; without it the app "
                            "follows a run that is still training")
    group.add_argument("--debug", action="store_true",
                       help="print the startup time to stderr when the app closes")
    return parser


def wants_app(argv: Sequence[str]) -> bool:
    """True when the arguments ask for the interactive app rather than headless work."""
    from engine.cli import SUBCOMMANDS

    if not argv:
        return True
    if argv[0] in SUBCOMMANDS or argv[0] == "demo":
        return False
    return not any(a in ("--headless", "-h", "--help", "--resume") for a in argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "demo":
        from tui.demo import main as demo_main

        return demo_main(args[1:])
    if args in (["-h"], ["--help"]):
        app_parser().print_help()
        print("\nheadless use (coughscope --headless ...) and subcommands:\n")
    if wants_app(args):
        from tui.app import main as app_main

        return app_main(args, start=START)
    from engine.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
