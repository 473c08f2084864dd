"""End-to-end TUI tests with the real runner: the full flow from the Data screen to the
results, and attaching to a run started headless. They train tiny models on a small demo
set (seconds on CPU) and skip, saying why, when the engine's runner is not there."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDED = ("engine.runner", "engine.preprocess", "engine.sources", "engine.trainer")
try:
    from test_tui_support import wait_for
except ImportError:  # tests/ is a package
    from tests.test_tui_support import wait_for

MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"the engine's runner is not complete yet "
                                             f"(missing: {', '.join(MISSING)})"),
]
DEMO = "demo:40"


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(tmp_path)


def drive(app: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


def runner_log(app: Any) -> str:
    followed = app.followed
    log = followed.run.path / "runner.log" if followed else None
    return log.read_text() if log and log.exists() else ""


def test_full_flow_demo_ann_logreg(tmp_path: Path) -> None:
    from textual.widgets import DataTable, Input, SelectionList

    from tui.app import build_app

    app = build_app(runs_dir=tmp_path / "runs", detect_device=False, device_text="cpu (test)")

    async def body(pilot: Any) -> None:
        # Data: pick the demo set and read it
        app.query_one("#data-spec", Input).value = DEMO
        await pilot.click("#data-summarise")
        await wait_for(pilot, lambda: "usable clips" in str(
            app.query_one("#data-message").render()), 120)
        # Models: ann + logreg, 2 seeds, 2 epochs, start
        await pilot.press("2")
        await pilot.pause()
        await wait_for(pilot, lambda: app.query_one("#models-view").registry_loaded, 60)
        models = app.query_one("#models-list", SelectionList)
        models.deselect_all()
        models.select("ann")
        models.select("logreg")
        app.query_one("#models-seeds", Input).value = "2"
        app.query_one("#models-epochs", Input).value = "2"
        await pilot.click("#models-start")
        await pilot.pause()
        assert app.followed is not None and app.followed.launched is not None
        assert app.query_one("#nav").active == "training"
        # epoch_end points land on the chart while it runs
        training = app.query_one("#training-view")
        await wait_for(pilot, lambda: bool(training.plotted.get("val_loss")) or
                       app.followed.state.is_over, 240)
        await wait_for(pilot, lambda: app.followed.state.is_over, 300)
        # the screens reload when the follower is done (the runner has let go of the run)
        await wait_for(pilot, lambda: app.followed.was_over, 60)
        await pilot.pause(0.3)
        state = app.followed.state
        assert state.state == "finished", (state.errors, runner_log(app))
        assert training.plotted["val_loss"] and training.plotted["val_loss"][-1] <= 2
        training.cycle_chart()
        training.cycle_chart()  # C, C: the validation-AUC chart
        assert training.plotted["val_auc"] and training.plotted["val_auc"][-1] <= 2
        assert {key: part.state for key, part in state.parts.items()} == {
            ("ann", 0): "done", ("ann", 1): "done", ("logreg", 0): "done", ("logreg", 1): "done"}
        # Results: numbers equal summary.json
        summary = json.loads(app.followed.run.summary_path.read_text())
        await pilot.press("4")
        table = app.query_one("#results-table", DataTable)
        for model in ("ann", "logreg"):
            row = table.get_row(model)
            auc = summary["models"][model]["metrics"]["roc_auc"]
            assert row[1] == f"{auc['mean']:.3f} ± {auc['std']:.3f}"
        # Confusion: pooled counts equal summary.json
        await pilot.press("5")
        counts, _ = app.query_one("#confusion-view").confusion_for("ann", "pooled")
        assert counts == summary["models"]["ann"]["confusion_pooled"]

    drive(app, body)


def test_attach_to_a_headless_run(tmp_path: Path) -> None:
    from tui.app import build_app

    runs = tmp_path / "runs"
    # the paper preset has no early stopping: 2 x 25 epochs take long enough (> 1 s) for the
    # follower, which reads the log every 0.2 s, to see them arrive in several steps
    argv = [sys.executable, "-m", "engine", "--headless", "--data", DEMO, "--models", "ann",
            "--seeds", "2", "--epochs", "25", "--preset", "paper", "--runs-dir", str(runs),
            "--run-id", "headless"]
    log = open(tmp_path / "headless.log", "wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, env=os.environ.copy())
    try:
        status = runs / "headless" / "status.json"
        for _ in range(600):
            if status.exists() or process.poll() is not None:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert status.exists(), (tmp_path / "headless.log").read_text()
        app = build_app(runs_dir=runs, open_run="headless", detect_device=False,
                        device_text="cpu (test)")
        seen: list[int] = []

        async def body(pilot: Any) -> None:
            await wait_for(pilot, lambda: app.followed is not None, 10)
            assert app.followed.launched is None  # attached, not started by the app

            def progressed() -> bool:
                seen.append(app.followed.state.progress()[0])
                return app.followed.state.is_over and app.followed.was_over

            await wait_for(pilot, progressed, 300)
            await pilot.pause(0.5)
            assert app.followed.state.state == "finished", app.followed.state.errors
            assert app.query_one("#training-view").plotted["val_loss"]
            assert app.query_one("#results-table").row_count == 1
            assert len(app.followed.state.parts) == 2

        drive(app, body)
        assert process.wait(timeout=60) == 0
        assert seen[-1] == 50 and seen == sorted(seen)
        # that it is seen progressing step by step (not only read when done) is tested with a
        # writer the test steps itself: tests/test_tui_resume.py, whatever the machine's speed
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
