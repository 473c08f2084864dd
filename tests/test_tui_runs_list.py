"""Issue 20, Runs list and log view: the filter field, sorting by any column (keys and header
clicks), tags and a note edited from the app, the detail pane's recipe line, and the runner
log tailed live. Pilot drives the real app at 80x24; runs are written by the record's own
writer (tests/test_tui_support.make_finished_run), the log by the test, line by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

try:
    from test_tui_support import drive, make_app, make_finished_run, wait_for
except ImportError:  # tests/ is a package
    from tests.test_tui_support import drive, make_app, make_finished_run, wait_for

from engine.annotations import add_tags, read_annotations, set_note
from engine.logtail import LogTail
from engine.runs import write_json

SMALL = (80, 24)
OLD, NEW, BEST = "20240501-120000-aaaa", "20240502-120000-bbbb", "20240503-120000-cccc"


def three_runs(runs: Path) -> None:
    """Three finished runs; BEST has a higher AUC, NEW is tagged ``paper``."""
    for run_id, day in ((OLD, "01"), (NEW, "02"), (BEST, "03")):
        run = make_finished_run(runs, run_id)
        status = json.loads((run / "status.json").read_text())
        write_json(run / "status.json", {**status, "started": f"2024-05-{day}T12:00:00+00:00"})
    summary = json.loads((runs / BEST / "summary.json").read_text())
    summary["models"]["ann"]["metrics"]["roc_auc"]["mean"] = 0.93
    write_json(runs / BEST / "summary.json", summary)
    add_tags(runs / NEW, ["paper"])
    set_note(runs / OLD, "mic gain too high")


def shown_ids(app: Any) -> list[str]:
    view = app.query_one("#runs-view")
    return [row.run.id for row in view.rows]


def table_ids(app: Any) -> list[str]:
    from textual.widgets import DataTable

    table = app.query_one("#runs-table", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def plain(app: Any, selector: str) -> str:
    from textual.widgets import Static

    return str(app.screen.query_one(selector, Static).render())


def test_the_filter_field_keeps_what_it_says_and_names_a_bad_term(tmp_path: Path) -> None:
    three_runs(tmp_path)
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await wait_for(pilot, lambda: len(table_ids(app)) == 3)
        assert table_ids(app) == [BEST, NEW, OLD]  # newest first
        await pilot.press("slash")  # / jumps to the filter
        assert app.focused.id == "runs-filter"
        for key in "tag:paper":
            await pilot.press(key)
        await wait_for(pilot, lambda: table_ids(app) == [NEW])
        assert "1 of 3 runs match" in plain(app, "#runs-where")
        await pilot.press(*["backspace"] * 9, *"auc>.9")
        await wait_for(pilot, lambda: table_ids(app) == [BEST])
        await pilot.press(*["backspace"] * 6, *"NOT", "space", *"gain")
        await wait_for(pilot, lambda: table_ids(app) == [BEST, NEW])
        field = app.query_one("#runs-filter")
        field.value = "tag:paper"
        await wait_for(pilot, lambda: table_ids(app) == [NEW])
        field.value = "colour:red"
        await wait_for(pilot, lambda: "no field 'colour'" in plain(app, "#runs-message"))
        assert table_ids(app) == [NEW]  # the last filter that could be read stays
        field.value = "status:failed"
        await wait_for(pilot, lambda: table_ids(app) == [])
        assert "no run matches the filter" in plain(app, "#runs-detail")
        await pilot.press("escape", "enter")  # the filter is left; nothing to open: no crash

    drive(app, body, SMALL)


def test_sort_by_any_column_by_key_and_by_header_click(tmp_path: Path) -> None:
    three_runs(tmp_path)
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        from textual.widgets import DataTable

        await pilot.press("6")
        await wait_for(pilot, lambda: len(table_ids(app)) == 3)
        app.query_one("#runs-table").focus()
        await pilot.press("r")  # run, oldest first
        await wait_for(pilot, lambda: table_ids(app) == [OLD, NEW, BEST])
        assert "sorted by run, oldest first" in plain(app, "#runs-message")
        assert "by run, oldest first" in plain(app, "#runs-where")
        await pilot.press("s")  # status: all finished, newest first among equals
        await wait_for(pilot, lambda: app.query_one("#runs-view").sort_column == "status")
        await pilot.press("s")  # best AUC, highest first
        await wait_for(pilot, lambda: app.query_one("#runs-view").sort_column == "best AUC")
        assert table_ids(app)[0] == BEST
        table = app.query_one("#runs-table", DataTable)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == ["run", "status", "best AUC", "data", "models"]
        assert "by best AUC, highest first" in plain(app, "#runs-where")
        # a click on the run header sorts by it; a second click turns it round
        await pilot.click("#runs-table", offset=(4, 0))
        await wait_for(pilot, lambda: app.query_one("#runs-view").sort_column == "run")
        assert table_ids(app) == [BEST, NEW, OLD]
        await pilot.click("#runs-table", offset=(4, 0))
        await wait_for(pilot, lambda: table_ids(app) == [OLD, NEW, BEST])

    drive(app, body, SMALL)


def test_tags_and_note_are_edited_in_the_app_and_kept_in_the_run(tmp_path: Path) -> None:
    three_runs(tmp_path)
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        from textual.widgets import Input

        await pilot.press("6")
        await wait_for(pilot, lambda: len(table_ids(app)) == 3)
        app.query_one("#runs-table").focus()
        await pilot.press("t")  # tags of BEST, the highlighted run
        await wait_for(pilot, lambda: bool(app.screen.query("#prompt-input")))
        app.screen.query_one("#prompt-input", Input).value = "ok bad!"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "cannot be used" in plain(app, "#prompt-error"))
        assert read_annotations(tmp_path / BEST).tags == ()  # nothing written
        app.screen.query_one("#prompt-input", Input).value = "checked paper"
        await pilot.press("enter")
        await wait_for(pilot, lambda: read_annotations(tmp_path / BEST).tags
                       == ("checked", "paper"))
        await wait_for(pilot, lambda: "#checked #paper" in plain(app, "#runs-detail"))
        await pilot.press("n")
        await wait_for(pilot, lambda: bool(app.screen.query("#prompt-input")))
        await pilot.press(*"resampled to 16 kHz", "enter")
        await wait_for(pilot, lambda: read_annotations(tmp_path / BEST).note
                       == "resampled to 16 kHz")
        await wait_for(pilot, lambda: "note: resampled to 16 kHz" in plain(app, "#runs-detail"))
        await pilot.press("n", "escape")  # Esc: nothing changes
        await wait_for(pilot, lambda: "nothing changed" in plain(app, "#runs-message"))
        app.query_one("#runs-filter", Input).value = "tag:paper"
        await wait_for(pilot, lambda: table_ids(app) == [BEST, NEW])

    drive(app, body, SMALL)


def test_the_detail_pane_shows_the_recipe_a_run_was_made_with(tmp_path: Path) -> None:
    from engine.config import (AugmentConfig, ExperimentConfig, PreprocessConfig, SplitConfig,
                               TrainRecipe)

    run = make_finished_run(tmp_path, OLD)
    config = ExperimentConfig(
        data="demo", models=("ann", "logreg"), seeds=2, balance_by="source",
        split=SplitConfig(test_group="source=lab"), preprocess=PreprocessConfig(pad="repeat"),
        augment=AugmentConfig(enabled=False),
        recipe=TrainRecipe(epochs=4, refit=True, operating_point="sensitivity=0.8"))
    (run / "config.toml").write_text(config.to_toml())
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await wait_for(pilot, lambda: "recipe:" in plain(app, "#runs-detail"))
        text = " ".join(plain(app, "#runs-detail").split())
        assert ("recipe: hold-out source=lab; balance-by source; refit on; augment off; "
                "pad repeat; point sensitivity=0.8") in text
        assert "operating point" in text  # the point the run recorded (or why none)

    drive(app, body, SMALL)


# ---------------------------------------------------------------------- the log view

def test_log_tail_reads_appended_lines_across_the_move_into_the_run(tmp_path: Path) -> None:
    launch = tmp_path / ".launch" / "r.log"
    run = tmp_path / "r"
    launch.parent.mkdir()
    tail = LogTail([run / "runner.log", launch])
    assert tail.read_new() == []  # no log yet
    launch.write_bytes(b"checking data\npreproc")
    assert tail.read_new() == ["checking data"]  # a line being written waits
    with open(launch, "ab") as fh:
        fh.write(b"ess 3/9 clips\n")
    assert tail.read_new() == ["preprocess 3/9 clips"]
    run.mkdir()
    launch.rename(run / "runner.log")  # what the runner does once the run folder exists
    with open(run / "runner.log", "ab") as fh:
        fh.write(b"epoch 1\r epoch 1 50%\r epoch 1 done\n\x1b[2Jred\n")
    assert tail.read_new() == [" epoch 1 done", "\\x1b[2Jred"]
    assert tail.path == run / "runner.log"
    (run / "runner.log").write_bytes(b"again\n")  # truncated (a new file of that name)
    lines = tail.read_new()
    assert lines[0].startswith("(the log was replaced") and lines[1:] == ["again"]


def test_log_tail_starts_near_the_end_of_a_long_log(tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    log.write_bytes(b"".join(b"line %06d\n" % i for i in range(50_000)))
    tail = LogTail([log], first_bytes=1000)
    lines = tail.read_new()
    assert lines[0].startswith("(the first") and lines[-1] == "line 049999"
    assert len(lines) < 110


def test_log_view_follows_the_runner_log_live(tmp_path: Path) -> None:
    three_runs(tmp_path)
    log = tmp_path / BEST / "runner.log"
    log.write_text("data: 80 clips\n")
    app = make_app(tmp_path)

    async def body(pilot: Any) -> None:
        from textual.widgets import Log

        await pilot.press("6")
        await wait_for(pilot, lambda: len(table_ids(app)) == 3)
        app.query_one("#runs-table").focus()
        await pilot.press("l")
        await wait_for(pilot, lambda: bool(app.screen.query("#log-lines")))
        widget = app.screen.query_one("#log-lines", Log)
        await wait_for(pilot, lambda: list(widget.lines) == ["data: 80 clips"])
        assert BEST in plain(app, "#log-title")
        for epoch in range(1, 4):  # the runner goes on writing: each line shows up
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"ann seed 0 epoch {epoch}/3\n")
            await wait_for(pilot, lambda: widget.lines[-1] == f"ann seed 0 epoch {epoch}/3")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("#log-lines"))
        # a run with no runner log (started headless in a terminal) says where its output went
        app.query_one("#runs-table").move_cursor(row=2)
        await pilot.press("l")
        await wait_for(pilot, lambda: "no runner log" in plain(app, "#log-title"))

    drive(app, body, SMALL)


def test_log_key_on_training_shows_the_followed_run(tmp_path: Path) -> None:
    three_runs(tmp_path)
    (tmp_path / NEW / "runner.log").write_text("followed run's output\n")
    app = make_app(tmp_path, open_run=NEW)

    async def body(pilot: Any) -> None:
        from textual.widgets import Log

        await wait_for(pilot, lambda: app.followed is not None)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one("#nav").active == "training")
        app.query_one("#nav").query_one("Tabs").focus()
        await pilot.press("l")
        await wait_for(pilot, lambda: bool(app.screen.query("#log-lines")))
        widget = app.screen.query_one("#log-lines", Log)
        await wait_for(pilot, lambda: list(widget.lines) == ["followed run's output"])

    drive(app, body, SMALL)
