"""Resume from the app (Ctrl+E on the Runs screen) is followed to the end (issue 10, bug 4).

A real run is interrupted with SIGINT after two epochs, then resumed by the app: the Training
screen must follow the new attempt (not stay at "interrupted"), keep the epochs from before
the stop, count its steps right, and load the results when the runner is done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.runs import RunDir, read_all_events
from tests.test_tui_support import drive, wait_for

ROOT = Path(__file__).resolve().parents[1]


def interrupted_run(runs: Path) -> RunDir:
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "--headless", "--data", "demo:24", "--models", "ann",
         "--seeds", "1", "--epochs", "25", "--runs-dir", str(runs), "--run-id", "r"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    run = RunDir(runs / "r")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # a condition, polled: two epochs in the log
        events, _ = read_all_events(run.events_path)
        if sum(e.type == "epoch_end" for e in events) >= 2:
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, proc.stderr.read()
    assert run.status()["state"] == "interrupted"
    return run


def test_resume_from_the_app_is_followed_with_the_earlier_epochs(tmp_path: Path) -> None:
    from tui.app import build_app

    run = interrupted_run(tmp_path / "runs")
    app = build_app(runs_dir=tmp_path / "runs", detect_device=False, device_text="cpu (test)")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await pilot.pause()
        app.resume(run)  # what Ctrl+E does for the selected run
        await wait_for(pilot, lambda: app.followed is not None and app.followed.launched
                       is not None, 30)
        followed = app.followed
        await wait_for(pilot, lambda: followed.follower.done and followed.was_over, 300)
        state = followed.state
        assert state.state == "finished", (state.errors, state.problems)
        assert state.attempts == 2
        history = state.parts[("ann", 0)].history
        epochs = [r["epoch"] for r in history]
        assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 3
        done, total = state.progress()
        assert done == total
        assert app.query_one("#results-table").row_count == 1
        app.stop_followed_run()  # the runner is gone: nothing to stop, and it says so

    drive(app, body, size=(140, 40))
