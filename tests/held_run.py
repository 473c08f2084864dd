"""``python -m tests.held_run --hold-after N ENGINE-ARGS...``: the headless command line
(:func:`engine.cli.main`, what ``python -m engine`` runs), except that right after it has
written the ``epoch_end`` of epoch N it waits until a stop signal has been handled.

A test that sees epoch N in the log and then sends SIGINT interrupts the run mid-training
whatever the speed of the machine: the run cannot finish first, however few steps are left.
Once the signal's stop flag is set the runner carries on as usual and stops at the next batch.
The wait gives up after ``--hold-for`` seconds (default 300), so a test that fails before
signalling does not leave the child waiting for ever.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    from engine import cli, runner

    hold_after, hold_for = 0, 300.0
    while argv and argv[0] in ("--hold-after", "--hold-for"):
        option, value, argv = argv[0], argv[1], argv[2:]
        if option == "--hold-after":
            hold_after = int(value)
        else:
            hold_for = float(value)
    flags: list[runner.StopFlag] = []
    real_stop_on_signals = runner.stop_on_signals

    def stop_on_signals(flag: runner.StopFlag) -> Any:
        flags.append(flag)  # the flag the signal handlers set
        return real_stop_on_signals(flag)

    real_announce = runner.Announcer.__call__

    def announce(self: runner.Announcer, type: str, **fields: Any) -> None:
        real_announce(self, type, **fields)  # in the log (flushed) first
        if type == "epoch_end" and fields.get("epoch") == hold_after and flags:
            deadline = time.monotonic() + hold_for
            while not flags[-1]() and time.monotonic() < deadline:
                time.sleep(0.01)  # the handler runs in this thread, between these sleeps

    runner.stop_on_signals = stop_on_signals  # type: ignore[assignment]
    runner.Announcer.__call__ = announce  # type: ignore[method-assign]
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
