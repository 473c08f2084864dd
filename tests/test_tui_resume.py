"""Resume from the app (Ctrl+E on the Runs screen) is followed to the end (issue 10, bug 4).

A real run is interrupted with SIGINT after two epochs, then resumed by the app: the Training
screen must follow the new attempt (not stay at "interrupted"), keep the epochs from before
the stop, count its steps right, and load the results when the runner is done. The run is
held after epoch 2 until the signal is handled (tests/held_run.py), so it cannot finish
before the SIGINT arrives, however fast its remaining epochs are (a few ms each here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.runs import EpochEnd, RunDir, read_all_events
from tests.test_tui_support import drive, wait_for

ROOT = Path(__file__).resolve().parents[1]


def interrupted_run(runs: Path) -> RunDir:
    # the headless runner, held after epoch 2's epoch_end until the SIGINT has been handled
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.held_run", "--hold-after", "2",
         "--headless", "--data", "demo:24", "--models", "ann",
         "--seeds", "1", "--epochs", "25", "--runs-dir", str(runs), "--run-id", "r"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    run = RunDir(runs / "r")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # a condition, polled: two epochs in the log
            events, _ = read_all_events(run.events_path)
            if sum(e.type == "epoch_end" for e in events) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run.status()["state"] == "interrupted"
    events, _ = read_all_events(run.events_path)
    # stopped at epoch 3's first batch: the signal, not the run's length, ended it
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
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


def test_an_attached_run_is_seen_progressing_step_by_step(tmp_path: Path) -> None:
    """Another process's run, written through the real writer and lock, one step at a time:
    the app shows each step before the test writes the next (no race with a fast runner)."""
    from engine.runs import EventLog, RunLock, write_json

    run = RunDir(tmp_path / "runs" / "other")
    run.path.mkdir(parents=True)
    config = {"data": "demo", "models": ["ann"], "seeds": 1, "recipe": {"epochs": 3}}
    import tomli_w

    run.config_path.write_text(tomli_w.dumps(config))
    lock = RunLock(run.path)
    lock.acquire()  # the "other process" is alive while the lock is held
    write_json(run.status_path, {"state": "running", "pid": os.getpid(), "started_unix": 1.0})
    log = EventLog(run.events_path)
    log.emit("run_start", run_id="other", config=config)
    log.emit("data_ready", models=["ann"], seeds=1, epochs={"ann": 3})
    log.emit("model_start", model="ann", seed=0, epochs=3)
    app = build_app_for(tmp_path / "runs", open_run="other")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None, 30)
        followed = app.followed
        assert followed.launched is None  # attached, not started by the app
        for epoch in (1, 2, 3):
            log.emit("epoch_end", model="ann", seed=0, epoch=epoch, val_auc=0.5)
            # the last step stays open until the run ends (tests, summary): never 100%
            # while it is going
            await wait_for(pilot, lambda: followed.state.progress() == (min(epoch, 2), 3), 30)
            assert not followed.follower.done
        log.emit("model_end", model="ann", seed=0, metrics={})
        log.emit("run_end", state="finished", seconds=1.0)
        write_json(run.status_path, {"state": "finished", "pid": os.getpid(),
                                     "started_unix": 1.0})
        log.close()
        lock.release()  # the writer is gone: following ends
        await wait_for(pilot, lambda: followed.follower.done, 30)
        assert followed.state.state == "finished"
        # shutting down, Textual removes the views' children while the redraw timer still
        # ticks (a loaded machine saw it): the tick must not raise
        await app.query_one("#training-status").remove()
        app._dirty = True
        app._redraw_if_dirty()

    try:
        drive(app, body, size=(100, 32))
    finally:
        lock.release()
        log.close()


def build_app_for(runs: Path, **kwargs: Any) -> Any:
    from tests.test_tui_support import make_app

    return make_app(runs, **kwargs)
