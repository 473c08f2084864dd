"""Issue 20, what remained of bugs 7 and 8 after tests/test_tui_workbench.py: each test failed
before its fix. Pilot drives the real app (``build_app``) at 80x24; runs are written by the
record's own writer (tests/test_tui_support.make_finished_run)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    from test_tui_support import drive, make_app, make_finished_run, wait_for
    from test_tui_workbench import file_result, verdict, visible
except ImportError:  # tests/ is a package
    from tests.test_tui_support import drive, make_app, make_finished_run, wait_for
    from tests.test_tui_workbench import file_result, verdict, visible

from engine.runs import EventLog

REPO = Path(__file__).resolve().parents[1]
SMALL = (80, 24)
RUN = "20240501-120000-abcd"


def table_fits(table: Any) -> bool:
    """Every column of a DataTable whole in the room it has (nothing to scroll sideways)."""
    return table.virtual_size.width <= table.scrollable_content_region.width


# ------------------------------------------------------------------ bug 7: cut columns

def test_results_table_moves_what_does_not_fit_into_the_pane(tmp_path: Path) -> None:
    make_finished_run(tmp_path, RUN)
    app = make_app(tmp_path, open_run=RUN)

    async def body(pilot: Any) -> None:
        from textual.widgets import DataTable

        await wait_for(pilot, lambda: app.followed is not None)
        await pilot.press("4")
        table = app.query_one("#results-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        assert table_fits(table)
        shown = [str(c.label) for c in table.columns.values()]
        assert shown[:3] == ["model", "ROC-AUC", "AUC 95% CI"] and "seeds" not in shown
        pane = " ".join(visible(app.query_one("#results-moved")).split())
        # every column the table has no room for, for the picked model
        assert pane.startswith("ann (no room in the table): ")
        for title in ("bal. acc 0.769", "sens", "spec@80", "F1", "seeds 2"):
            assert title in pane, pane
        await pilot.resize_terminal(200, 40)  # a wide terminal: all in the table again
        await wait_for(pilot, lambda: len(table.columns) == 11)
        assert not app.query_one("#results-moved").display

    drive(app, body, SMALL)


def test_classify_table_moves_what_does_not_fit_into_the_pane(tmp_path: Path) -> None:
    make_finished_run(tmp_path, RUN)
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        from engine.runs import RunDir
        from textual.widgets import DataTable

        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")))
        view = app.query_one("#classify-view")
        view._fill_table(RunDir(tmp_path / RUN), [])
        table = app.query_one("#classify-models", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        assert table_fits(table)
        assert len(table.columns) < 6
        moved = " ".join(visible(app.query_one("#classify-moved")).split())
        assert moved.startswith("ann:") and "AUC to trust" in moved
        table.focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: "logreg:" in visible(app.query_one("#classify-moved")))

    drive(app, body, SMALL)


def test_data_exclusion_reason_is_whole_at_80x24(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs")
    reason = "clipped (1.2% of samples at full scale, more than the 1% allowed)"

    async def body(pilot: Any) -> None:
        from textual.widgets import DataTable

        view = app.query_one("#data-view")
        view.show_excluded([{"path": "/d/positive/" + "p" * 30 + "/cough-heavy.wav",
                             "reason": reason, "stage": "audio"}], "/d")
        table = app.query_one("#data-excluded", DataTable)
        await pilot.pause()
        assert table_fits(table)
        path, shown, _ = table.get_row_at(0)
        assert " ".join(shown.plain.split()) == reason
        assert path.plain.endswith("/cough-heavy.wav")

    drive(app, body, SMALL)


def test_training_says_a_long_warning_whole_or_where_to_read_it(tmp_path: Path) -> None:
    from engine.metrics import confound_warning

    run = make_finished_run(tmp_path, RUN)
    warning = confound_warning(0.91, column="source")
    with EventLog(run / "events.jsonl") as log:
        log.emit("warning", message=warning)
    app = make_app(tmp_path, open_run=RUN)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None)
        await pilot.press("3")
        notes = app.query_one("#training-notes")
        await wait_for(pilot, lambda: "source alone" in visible(notes))
        await pilot.pause()
        shown = " ".join(visible(notes).split())
        # nothing cut mid-sentence: the warning's first clause, and where it is whole
        assert "predicts the label (test ROC-AUC 0.91 from source only) …" in shown
        assert shown.endswith("(warnings in full: Results (4) when the run ends, and "
                              "summary.json)")
        assert "synthetic demo data: these numbers say nothing about real coughs" in shown

    drive(app, body, SMALL)


# ------------------------------------------------------------------ bug 8

def test_one_model_is_not_most_models(tmp_path: Path) -> None:
    from tui.screens.classify import overall_verdict

    line = overall_verdict(file_result(tmp_path, verdict("ann", 0.9)))
    assert line.plain == ("Research result, not a diagnosis: ann says POSITIVE (ann P 0.90 "
                          "uncalibrated; AUC to trust 0.80 test)")
    line = overall_verdict(file_result(tmp_path, verdict("ann", 0.2), verdict("majority", .1)))
    assert line.plain.startswith("Research result, not a diagnosis: ann says NEGATIVE")
    assert "1 of 1" not in line.plain


def test_models_choices_are_saved_as_they_are_made(tmp_path: Path) -> None:
    from tui.settings import load_settings

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from textual.widgets import Input

        await pilot.press("2")
        await wait_for(pilot, lambda: getattr(app.view("models"), "registry_loaded", False))
        await pilot.pause()
        assert load_settings().seeds is None  # nothing chosen yet, nothing saved
        seeds = app.query_one("#models-seeds", Input)
        seeds.focus()
        seeds.value = ""
        await pilot.press("7")
        await wait_for(pilot, lambda: load_settings().seeds == 7)
        await pilot.press("backspace", "0")  # 0 is refused: the last valid value stays
        await pilot.pause()
        assert load_settings().seeds == 7
        before = list(app.query_one("#models-list").selected)
        app.query_one("#models-list").focus()
        await pilot.press("down", "space")  # unticks (or ticks) the highlighted model
        await wait_for(pilot, lambda: load_settings().models not in (None, before))
        assert set(load_settings().models) ^ set(before)

    drive(app, body, SMALL)


@pytest.mark.slow
def test_a_remembered_data_set_is_read_again_on_relaunch(tmp_path: Path) -> None:
    from tui.settings import Settings, save_settings

    save_settings(Settings(data="demo:16"))
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.data_summary is not None, 120)
        assert app.data_summary[0] == "demo:16"
        await pilot.press("2")
        await wait_for(pilot, lambda: app.view("models") is not None)
        balance = app.query_one("#models-balance")
        assert balance.suggester is not None  # completes the data set's columns (source)
        assert await balance.suggester.get_suggestion("sou") == "source"

    drive(app, body, SMALL)


def test_path_completion_goes_as_far_as_the_matches_agree_and_lists_them(tmp_path: Path
                                                                        ) -> None:
    from tui.widgets.paths import PathSuggester

    for name in ("recording-1.wav", "recording-2.wav", "rest.wav"):
        (tmp_path / name).write_bytes(b"")
    told: list[tuple[str, list[str]]] = []
    suggester = PathSuggester(on_matches=lambda typed, found: told.append((typed, found)))

    async def suggest(text: str) -> str | None:
        return await suggester.get_suggestion(text)

    assert asyncio.run(suggest(f"{tmp_path}/rec")) == f"{tmp_path}/recording-"
    assert told[-1][1] == [f"{tmp_path}/recording-1.wav", f"{tmp_path}/recording-2.wav"]
    assert asyncio.run(suggest(f"{tmp_path}/re")) is None  # rec… and res…: nothing agreed
    assert len(told[-1][1]) == 3
    assert asyncio.run(suggest(f"{tmp_path}/recording-2")) == f"{tmp_path}/recording-2.wav"

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from textual.widgets import Input, Static

        field = app.query_one("#data-spec", Input)
        field.value = f"{tmp_path}/rec"
        message = app.query_one("#data-message", Static)
        await wait_for(pilot, lambda: "2 matches: recording-1.wav  recording-2.wav"
                       in str(message.render()))

    drive(app, body, SMALL)


def axis_labels(lines: list[str]) -> list[float]:
    return [float(m.group(1)) for line in lines
            if (m := re.match(r"^\s*(-?[0-9.]+)┤", line))]


def test_y_axis_ticks_are_evenly_stepped(tmp_path: Path) -> None:
    from tui.screens.training import even_ticks

    assert even_ticks(0, 1, 5) == ([0.0, 0.25, 0.5, 0.75, 1.0],
                                   ["0.00", "0.25", "0.50", "0.75", "1.00"])
    assert even_ticks(0.49, 0.69, 2)[1] == ["0.5", "0.6"]
    make_finished_run(tmp_path, RUN)
    app = make_app(tmp_path, open_run=RUN)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None)
        await pilot.press("3")
        chart = app.query_one("#training-chart")
        for _ in range(3):  # loss, accuracy, validation AUC
            await pilot.pause(0.3)
            labels = axis_labels(visible(chart).splitlines())
            assert len(labels) >= 2, visible(chart)
            steps = {round(b - a, 6) for a, b in zip(labels[1:], labels)}
            assert len(steps) == 1, labels
            await pilot.press("c")
        await pilot.press("4")
        roc = app.query_one("#results-roc")
        await pilot.resize_terminal(120, 60)
        await wait_for(pilot, lambda: len(axis_labels(visible(roc).splitlines())) >= 3)
        labels = axis_labels(visible(roc).splitlines())
        assert len({round(b - a, 6) for a, b in zip(labels[1:], labels)}) == 1, labels

    drive(app, body, SMALL)


# ------------------------------------------------------------------ headless output

def test_results_table_has_no_warnings_and_counts_seeds_right() -> None:
    from engine.commands.experiment import results_table

    metric = {"mean": 0.7, "std": None}
    summary = {"models": {"ann": {"metrics": {"roc_auc": metric},
                                  "seed_ensemble": {"seeds": 1, "test": {"roc_auc": 0.7}}}},
               "warnings": ["synthetic demo data: these numbers say nothing"]}
    table = results_table(summary)
    assert "warning" not in table  # diagnostics: stderr only
    assert "its 1 seed averaged" in table


@pytest.mark.slow
def test_headless_warnings_go_to_stderr_only(tmp_path: Path) -> None:
    env_runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--headless", "--data", "demo:16", "--models",
         "majority", "--seeds", "1", "--runs-dir", str(env_runs)],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning:" not in done.stdout
    assert "warning: synthetic demo data" in done.stderr
    assert re.search(r"\d+ warnings?: the 'warning:' lines above", done.stderr)
    run = next(env_runs.iterdir())
    assert json.loads((run / "summary.json").read_text())["warnings"]


def test_a_refused_start_is_said_beside_start_not_in_a_notification(tmp_path: Path) -> None:
    """Bug 7: the Models error was a notification that covered the fields for ~10 s; it is
    said on the screen, whole, beside Start, and no notification covers it."""
    try:
        from test_tui_workbench import screen_text
    except ImportError:  # tests/ is a package
        from tests.test_tui_workbench import screen_text
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from textual.widgets import Input

        await pilot.press("2")
        await wait_for(pilot, lambda: getattr(app.view("models"), "registry_loaded", False))
        app.query_one("#models-epochs", Input).value = "0"
        await pilot.press("ctrl+s")
        message = app.query_one("#models-message")
        await wait_for(pilot, lambda: "epochs" in visible(message))
        assert not app._notifications
        shown = " ".join(screen_text(app).split())
        assert " ".join(visible(message).split()) in shown

    drive(app, body, SMALL)
