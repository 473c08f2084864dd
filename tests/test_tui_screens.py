"""Pilot tests of every TUI screen on hand-written runs, and of bad input on each screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    from test_tui_support import (drive as support_drive, make_app, make_finished_run, text_of,
                                   wait_for)
except ImportError:  # tests/ is a package
    from tests.test_tui_support import (drive as support_drive, make_app, make_finished_run, text_of,
                                   wait_for)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))


drive = support_drive


def test_every_screen_is_reachable_by_key_at_80x24(tmp_path: Path) -> None:
    from textual.widgets import TabbedContent

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        tabs = app.query_one("#nav", TabbedContent)
        for key, tab in zip("1234567", ("data", "models", "training", "results", "confusion",
                                        "runs", "classify")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
            assert app.query_one(f"#{tab}-view").display
        where = text_of(app, "#runs-where")
        assert f"no runs in {tmp_path / 'runs'} yet" in where and "(--runs-dir)" in where
        assert "No finished run yet" in text_of(app, "#classify-how")
        assert app.sub_title == "device: cpu (test)"

    drive(app, body, size=(80, 24))


def test_finished_run_fills_results_confusion_training_and_runs(tmp_path: Path) -> None:
    from textual.widgets import DataTable, Select

    run = make_finished_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        table = app.query_one("#runs-table", DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[0] == run.name and row[1] == "finished"
        assert row[2] == f"{summary['models']['ann']['metrics']['roc_auc']['mean']:.3f} ann"
        await pilot.click("#runs-open")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.state.is_over
                       and app.followed.was_over)
        await pilot.pause(0.4)  # the 4 Hz redraw
        # results: every number equals summary.json
        results = app.query_one("#results-table", DataTable)
        assert results.row_count == 2
        ann = results.get_row("ann")
        auc = summary["models"]["ann"]["metrics"]["roc_auc"]
        assert ann[1] == f"{auc['mean']:.3f} ± {auc['std']:.3f}"
        maj = summary["models"]["ann"]["metrics"]["majority_accuracy"]
        assert ann[4] == f"{maj['mean']:.3f} ± {maj['std']:.3f}"
        ci = summary["models"]["ann"]["roc_auc_ci"]  # the 95% interval beside every AUC
        assert ann[2] == f"{ci[0]:.3f}–{ci[1]:.3f}"
        assert app.query_one("#results-model", Select).value == "ann"
        # confusion: pooled counts, then one seed with its threshold
        pooled = summary["models"]["ann"]["confusion_pooled"]
        view = app.query_one("#confusion-view")
        counts, _ = view.confusion_for("ann", "pooled")
        assert counts == pooled
        await pilot.press("5")
        app.query_one("#confusion-seed", Select).value = "1"
        await pilot.pause()
        rates = text_of(app, "#confusion-rates")
        metrics = json.loads((run / "ann" / "1" / "metrics.json").read_text())["test"]
        assert f"sensitivity {100 * metrics['sensitivity']:.1f}%" in rates
        assert "threshold 0.500" in rates
        # training: the finished run's curves are drawn
        training = app.query_one("#training-view")
        assert training.plotted["train_loss"] == [1.0, 2.0, 3.0, 4.0]
        await pilot.press("3", "c", "c")  # C cycles loss -> accuracy -> validation AUC
        await pilot.pause()
        assert training.plotted["val_auc"] == [1.0, 2.0, 3.0, 4.0]
        status = text_of(app, "#training-status").splitlines()[0]
        assert status.startswith(f"run {run.name}  finished  10/10 steps  took ")
        # one text run in the screenshot: an SVG renderer that drops a run's leading spaces
        # (librsvg) would otherwise draw "finished10/10 steps"
        assert "finished&#160;&#160;10/10&#160;steps" in app.export_screenshot()
        # classify lists the run's models with their AUC to trust (no confound: the test AUC)
        await pilot.press("7")
        await pilot.pause()
        models = app.query_one("#classify-models", DataTable)
        assert models.row_count == 2
        # the AUC to trust: in the table, or under it when there is no room (issue 20)
        shown = app.query_one("#classify-view").table_rows["ann"][5]
        assert shown.startswith(f"{auc['mean']:.2f} [") and shown.endswith("test, no confound")
        assert "coughscope predict" in text_of(app, "#classify-how")

    drive(app, body)


def test_nonexistent_data_path_shows_message_and_app_keeps_going(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs")
    missing = tmp_path / "no" / "such" / "coswara"

    async def body(pilot: Any) -> None:
        from textual.widgets import Input

        app.query_one("#data-spec", Input).value = str(missing)
        await pilot.click("#data-summarise")
        await wait_for(pilot, lambda: "does not exist" in text_of(app, "#data-message"))
        assert app.query_one("#data-message").has_class("error")
        assert "hint" in text_of(app, "#data-message")
        # the Models screen refuses to start on it, with the same reason
        await pilot.press("2")
        await pilot.pause()
        await pilot.click("#models-start")
        await pilot.pause()
        assert "does not exist" in text_of(app, "#models-message")
        assert app.followed is None
        await pilot.press("1")
        assert app.is_running

    drive(app, body)


def _write_wav(path: Path, seed: int) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(0.8 * 16000)) / 16000
    burst = np.exp(-((t - 0.3) ** 2) / 0.005) * rng.normal(0, 0.3, t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, burst.astype("float32"), 16000)


def test_one_class_data_set_shows_message(tmp_path: Path) -> None:
    pytest.importorskip("engine.sources", reason="engine.sources not written yet")
    folder = tmp_path / "oneclass"
    for i in range(3):
        _write_wav(folder / "positive" / f"p{i}.wav", i)
    app = make_app(tmp_path / "runs", data=str(folder))

    async def body(pilot: Any) -> None:
        await pilot.click("#data-summarise")
        await wait_for(pilot, lambda: app.query_one("#data-message").has_class("error"), 60)
        message = text_of(app, "#data-message")
        assert "negative" in message
        assert app.is_running

    drive(app, body)


def test_no_model_picked_shows_message(tmp_path: Path) -> None:
    from textual.widgets import SelectionList

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("2")
        app.query_one("#models-list", SelectionList).deselect_all()
        await pilot.click("#models-start")
        await pilot.pause()
        assert "no model picked" in text_of(app, "#models-message")
        assert app.query_one("#models-message").has_class("error")
        assert app.followed is None and not list((tmp_path / "runs").glob("*"))

    drive(app, body)


def test_bad_seed_count_names_the_field(tmp_path: Path) -> None:
    from textual.widgets import Input

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("2")
        app.query_one("#models-seeds", Input).value = "two"
        await pilot.click("#models-start")
        await pilot.pause()
        assert "seeds 'two' is not a whole number" in text_of(app, "#models-message")

    drive(app, body)


def test_torn_last_event_line_is_reported_and_run_still_opens(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path / "runs", torn_tail=True)
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.state.is_over
                       and app.followed.was_over)
        await pilot.pause(0.4)
        assert app.followed.state.state == "finished"
        await pilot.press("3")
        notes = text_of(app, "#training-notes")
        assert "incomplete" in notes
        assert app.query_one("#training-view").plotted["train_loss"] == [1.0, 2.0, 3.0, 4.0]
        assert app.query_one("#results-table").row_count == 2

    drive(app, body)


def test_unknown_run_to_open_is_a_notification(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs", open_run="nope")

    async def body(pilot: Any) -> None:
        await pilot.pause(0.2)
        assert app.followed is None
        assert any("'nope' not found" in str(n.message) for n in app._notifications)

    drive(app, body)


def test_delete_asks_first_and_then_deletes(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from tui.dialogs import ConfirmScreen

        await pilot.press("6")
        await pilot.click("#runs-delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#no")
        await pilot.pause()
        assert run.exists()
        await pilot.click("#runs-delete")
        await pilot.pause()
        await pilot.click("#yes")
        await pilot.pause()
        assert not run.exists()
        assert app.query_one("#runs-table").row_count == 0

    drive(app, body)


def test_help_palette_theme_and_no_color(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from tui.commands import CoughscopeCommands
        from tui.dialogs import HelpScreen

        assert app.no_color
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = " ".join(" ".join(row) for row in app.screen.rows)
        for word in ("go to Classify", "Theme", "Stop run", "Resume", "Summarise", "F1 / ?",
                     "Ctrl+X", "Esc"):
            assert word in help_text
        assert "question_mark" not in help_text and "ctrl+" not in help_text  # key names
        await pilot.press("escape")
        provider = CoughscopeCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert "Go to Classify" in names and "Stop the run" in names and "Quit" in names
        hits = [hit.text async for hit in provider.search("resume")]
        assert hits == ["Resume the selected run"]

    drive(app, body)


def test_quit_with_live_run_asks_and_stop_interrupts_it(tmp_path: Path) -> None:
    from engine.runs import RunDir
    from tui.launcher import LaunchedRun

    run = RunDir(tmp_path / "runs" / "live")
    run.path.mkdir(parents=True)
    # a stand-in runner in its own session, as the launcher starts the real one
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from tui.dialogs import QuitScreen

        app.launched["live"] = LaunchedRun(run, process)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.click("#cancel")
        await pilot.pause()
        assert app.is_running and process.poll() is None
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#stop")
        await pilot.pause()

    try:
        drive(app, body)
        assert process.wait(timeout=10) != 0  # ended by SIGINT
    finally:
        if process.poll() is None:
            process.kill()


def test_first_frame_imports_no_heavy_module(tmp_path: Path) -> None:
    """In a fresh process: none of torch, sklearn, librosa... at the first frame."""
    code = (
        "import asyncio, json, sys\n"
        "from tui.app import build_app\n"
        "async def main():\n"
        f"    app = build_app(runs_dir={str(tmp_path / 'runs')!r})\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.pause()\n"
        "        while app.startup_ms is None:\n"
        "            await pilot.pause(0.01)\n"
        "        print(json.dumps({'heavy': app.startup_heavy, 'ms': app.startup_ms}))\n"
        "        app.exit()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["ms"] > 0
