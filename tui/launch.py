"""The ``coughscope`` console script: the app, the demo, or the headless command line.

* no arguments (or only app options such as ``--runs-dir``/``--data``) -> the Textual app
* ``demo ...``                                       -> :mod:`tui.demo`
* ``--headless ...`` or any other subcommand          -> :func:`engine.cli.main`

This module imports nothing heavy; textual loads only when the app is opened.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

START = time.perf_counter()  # the app logs its startup time from here


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
    if wants_app(args):
        from tui.app import main as app_main

        return app_main(args, start=START)
    from engine.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
