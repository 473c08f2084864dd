"""Issue 11: the app as a daily tool over SSH at 80x24 and without colour. One test per item
(the bugs first), driven with Pilot on hand-written runs at 80x24."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

try:
    from test_tui_support import (drive as support_drive, make_app, make_finished_run, text_of,
                                   wait_for)
except ImportError:  # tests/ is a package
    from tests.test_tui_support import (drive as support_drive, make_app, make_finished_run, text_of,
                                   wait_for)

REPO = Path(__file__).resolve().parents[1]
SMALL = (80, 24)


def drive(app: Any, body: Callable[[Any], Awaitable[None]], size: tuple[int, int] = SMALL) -> None:
    support_drive(app, body, size)


async def models_screen(pilot: Any) -> Any:
    await pilot.press("2")
    await wait_for(pilot, lambda: bool(pilot.app.query("#models-view")) and
                   pilot.app.query_one("#models-view").registry_loaded)
    await pilot.pause()
    return pilot.app.query_one("#models-view")


def visible_text(widget: Any) -> str:
    """What a widget shows on screen, row by row (clipped text is missing from it)."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def live_run(runs: Path, run_id: str = "20990101-000000-live") -> tuple[Path, Any]:
    """A run being written by another process: a stand-in writer in its own session holds
    the run's lock (as the runner does) until it is stopped."""
    import time

    from engine.runs import writer_alive

    run = runs / run_id
    run.mkdir(parents=True)
    code = ("import sys, time\nfrom pathlib import Path\nfrom engine.runs import RunLock\n"
            "RunLock(Path(sys.argv[1])).acquire()\ntime.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(run)], start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    (run / "status.json").write_text(json.dumps({
        "state": "running", "pid": process.pid, "started": "2099-01-01T00:00:00+00:00"}))
    (run / "events.jsonl").write_text(json.dumps({
        "v": 1, "time": 1.0, "type": "run_start", "run_id": run_id,
        "config": {"models": ["ann"], "seeds": 1, "recipe": {"epochs": 3}}}) + "\n")
    for _ in range(600):  # the writer holds the lock before the app looks
        if writer_alive(run):
            break
        time.sleep(0.05)
    assert writer_alive(run), "the stand-in writer did not take the run's lock"
    return run, process


# ------------------------------------------------------------------ the six bugs


def test_number_fields_show_what_was_typed(tmp_path: Path) -> None:
    from textual.widgets import Input

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await models_screen(pilot)
        for field in ("#models-epochs", "#models-seeds"):
            box = app.query_one(field, Input)
            box.focus()
            box.value = ""
            await pilot.press("2", "0", "0", "tab")
            await pilot.pause()
            assert box.value == "200"
            assert "200" in visible_text(box)  # was cut to "0" by a 8-cell bordered field

    drive(app, body)


def test_classify_error_clears_the_previous_result(tmp_path: Path) -> None:
    from textual.widgets import DataTable, Static

    make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    class Verdict:
        model, probability, threshold, label, spread, agreement = "ann", 0.9, 0.5, "positive", \
            0.01, 1.0
        seeds, test_auc = [0.9, 0.9], 0.8

    class Result:
        path, duration, error, warnings = str(tmp_path / "a.wav"), 1.0, None, ["quiet"]
        verdicts = [Verdict()]
        samples = [0.0, 0.5, -0.5, 0.0] * 20

        class logmel:  # noqa: N801 - stands in for an array
            shape = (2, 3)

    async def body(pilot: Any) -> None:
        from tui.screens.classify import Classified

        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")) and
                       bool(app.query_one("#classify-view").finished))
        view = app.query_one("#classify-view")
        view._draw_pictures = lambda result: app.query_one("#classify-wave", Static).update(
            "waveform drawn")
        view.post_message(Classified(view.finished[0].id, Result()))
        await wait_for(pilot, lambda: "P 0.90" in text_of(app, "#classify-verdict"))
        assert "threshold 0.50 → positive" in text_of(app, "#classify-verdict")
        view.classify("")  # an empty path, as after clearing the field and pressing Enter
        await pilot.pause()
        assert "no file given" in text_of(app, "#classify-status")
        for old in ("#classify-wave", "#classify-spec", "#classify-verdict",
                    "#classify-warnings"):
            assert text_of(app, old) == ""
        assert str(app.query_one("#classify-models", DataTable).get_row("ann")[1]) == "—"

    drive(app, body)


def test_excluded_table_fits_the_second_data_set(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        view = app.query_one("#data-view")
        view.show_excluded([{"path": "/d/a.wav", "reason": "silent", "stage": "audio"}], "/d")
        await pilot.pause()
        long_path = "sub/" + "x" * 40 + ".wav"
        view.show_excluded([{"path": f"/e/{long_path}", "reason": "too short (0.1 s)",
                             "stage": "audio"}], "/e")
        await pilot.pause()
        table = app.query_one("#data-excluded", DataTable)
        columns = list(table.columns.values())
        assert len(columns) == 3
        assert columns[0].get_render_width(table) >= len(long_path)
        assert table.get_row_at(0)[0].plain == long_path  # short: relative to the root
        assert table.get_row_at(0)[1].plain == "too short (0.1 s)"

    drive(app, body)


def test_help_shows_keys_as_people_write_them(tmp_path: Path) -> None:
    from tui.app import key_label

    assert key_label("question_mark") == "?"
    assert key_label("ctrl+x") == "Ctrl+X"
    assert key_label("f1") == "F1"
    assert key_label("escape") == "Esc"


def test_enter_on_the_first_screen_summarises(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs", data="demo:24")

    async def body(pilot: Any) -> None:
        assert app.query_one("#nav").active == "data"
        assert "Enter" in text_of(app, "#data-view .intro")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "reading demo:24" in text_of(app, "#data-message") or
                       "usable" in text_of(app, "#data-message"), 30)

    drive(app, body)


def test_quit_asks_when_following_a_run_another_process_started(tmp_path: Path) -> None:
    run, process = live_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        from tui.dialogs import QuitScreen

        await wait_for(pilot, lambda: app.followed is not None)
        assert not app.launched  # not started by this app
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        from textual.widgets import Static

        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert f"Run {run.name} is still training" in shown
        await pilot.click("#stop")
        await pilot.pause()

    try:
        drive(app, body)
        assert process.wait(timeout=10) != 0  # ended by SIGINT, as for the app's own runs
    finally:
        if process.poll() is None:
            process.kill()


# ------------------------------------------------------------------ getting around


def test_last_data_set_models_and_theme_are_remembered(tmp_path: Path) -> None:
    from tui.settings import load_settings, settings_path

    assert str(settings_path()).startswith(os.environ["COUGHSCOPE_CONFIG_DIR"])
    first = make_app(tmp_path / "runs")

    async def choose(pilot: Any) -> None:
        view = await models_screen(pilot)
        models = first.query_one("#models-list")
        models.deselect_all()
        models.select("gbm")
        first.data_spec = "demo:40"
        first.remember(data="demo:40", models=list(models.selected))
        await pilot.press("ctrl+t")
        assert view.registry_loaded

    drive(first, choose)
    saved = load_settings()
    assert saved.data == "demo:40" and saved.models == ["gbm"] and saved.theme == "textual-light"

    second = make_app(tmp_path / "runs")

    async def reopened(pilot: Any) -> None:
        assert second.data_spec == "demo:40" and second.theme == "textual-light"
        await models_screen(pilot)
        assert second.query_one("#models-list").selected == ["gbm"]
        banner = text_of(second, "#models-data")
        assert "demo:40" in banner and "SYNTHETIC" in banner

    drive(second, reopened)


def test_bad_settings_file_means_defaults_and_a_note(tmp_path: Path) -> None:
    from tui.settings import load_settings, settings_path

    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('{"seeds": "four", "data": "demo"')
    broken = load_settings()
    assert broken.data is None and "cannot be read" in broken.problems[0]
    settings_path().write_text('{"seeds": "four", "data": "demo"}')
    typed = load_settings()
    assert typed.data == "demo" and typed.seeds is None and "'seeds'" in typed.problems[0]


def test_models_screen_shows_the_data_set_and_headless_defaults(tmp_path: Path) -> None:
    from textual.widgets import Input

    from engine.config import ExperimentConfig, TrainRecipe

    app = make_app(tmp_path / "runs", data="demo")

    async def body(pilot: Any) -> None:
        await models_screen(pilot)
        banner = text_of(app, "#models-data")
        assert banner.startswith("data: demo") and "SYNTHETIC" in banner
        assert app.query_one("#models-seeds", Input).value == str(ExperimentConfig().seeds)
        assert app.query_one("#models-epochs", Input).value == str(TrainRecipe().epochs)
        assert "headless trains every model" in text_of(app, "#models-note")

    drive(app, body)


def test_start_attaches_to_a_running_run(tmp_path: Path) -> None:
    make_finished_run(tmp_path / "runs")
    run, process = live_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None)
        assert app.followed.run.id == run.name
        assert app.query_one("#nav").active == "training"
        await wait_for(pilot, lambda: run.name in text_of(app, "#training-status"))

    try:
        drive(app, body)
    finally:
        process.kill()
        process.wait()


def test_esc_leaves_a_field_and_screen_keys_work_after_enter(tmp_path: Path) -> None:
    from textual.widgets import Input

    app = make_app(tmp_path / "runs", data="demo:24")

    async def body(pilot: Any) -> None:
        spec = app.query_one("#data-spec", Input)
        await pilot.press("slash")  # the key that focuses the path field
        assert app.focused is spec
        await pilot.press("escape")
        assert app.focused is not spec
        await pilot.press("slash", "enter")  # summarise, and leave the field
        assert app.focused is not spec
        await pilot.press("2")
        assert app.query_one("#nav").active == "models" and spec.value == "demo:24"
        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")))
        await pilot.press("slash", "x", "enter")  # the same on Classify
        assert "does not exist" in text_of(app, "#classify-status")
        await pilot.press("1")
        assert app.query_one("#nav").active == "data"

    drive(app, body)


def test_path_completion_and_a_tree_that_goes_up(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.widgets.paths import PathSuggester

    (tmp_path / "coughs" / "lab").mkdir(parents=True)
    (tmp_path / "coughs" / "one.wav").write_bytes(b"")
    suggester = PathSuggester(extra=("demo",))

    async def suggestions() -> list[str | None]:
        return [await suggester.get_suggestion(text) for text in
                (f"{tmp_path}/cou", f"{tmp_path}/coughs/o", f"{tmp_path}/coughs/l", "de",
                 f"{tmp_path}/nothing/x")]

    assert asyncio.run(suggestions()) == [f"{tmp_path}/coughs/", f"{tmp_path}/coughs/one.wav",
                                          f"{tmp_path}/coughs/lab/", "demo", None]
    monkeypatch.chdir(tmp_path / "coughs" / "lab")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")))
        tree = app.query_one("#classify-tree")
        await pilot.click("#classify-up")
        assert Path(tree.path) == tmp_path / "coughs"

    drive(app, body)


def test_selection_reads_without_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await models_screen(pilot)
        models = app.query_one("#models-list")
        models.deselect_all()
        models.select("ann")
        await pilot.pause()
        lines = visible_text(models).splitlines()
        ann = next(line for line in lines if " ann " in line)
        cnn = next(line for line in lines if " cnn " in line)
        assert "[x] ann" in ann and "[ ] cnn" in cnn
        # at 80x24 the list shows most models and scrolls to the rest (13 do not all fit)
        for name in ("majority", "logreg", "tabnet", "resnet50"):
            assert any(f" {name} " in line for line in lines), name
        models.scroll_end(animate=False)
        await pilot.pause()
        assert any(" gbm " in line for line in visible_text(models).splitlines())
        from tui.screens.training import MARKERS

        assert MARKERS["train"][1] != MARKERS["validation"][1]  # legend glyphs differ

    drive(app, body)


def test_ctrl_x_asks_first_and_delete_starts_on_cancel(tmp_path: Path) -> None:
    from textual.widgets import Button

    make_finished_run(tmp_path / "runs")
    run, process = live_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        from tui.dialogs import ConfirmScreen

        await wait_for(pilot, lambda: app.followed is not None)
        await pilot.press("3", "ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is app.screen.query_one("#no", Button)
        await pilot.press("enter")  # Enter by habit keeps it training
        await pilot.pause()
        assert process.poll() is None
        await pilot.press("6")
        await pilot.pause()
        app.query_one("#runs-table").move_cursor(row=1)
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is app.screen.query_one("#no", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert "nothing deleted" in text_of(app, "#runs-message")

    try:
        drive(app, body)
    finally:
        process.kill()
        process.wait()


def test_runs_say_where_they_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import paths

    monkeypatch.delenv("COUGHSCOPE_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.runs_dir() == paths.data_dir() / "runs"
    assert paths.runs_dir_reason() == "per-user default"
    (tmp_path / "runs").mkdir()
    assert paths.runs_dir() == tmp_path / "runs"
    monkeypatch.setenv("COUGHSCOPE_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert paths.runs_dir() == tmp_path / "elsewhere"
    assert paths.runs_dir("x") == Path("x") and paths.runs_dir_reason("x") == "--runs-dir"


def test_runs_show_the_short_data_name_and_a_detail_pane(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from tui.screens.runs import short_data_name

    assert short_data_name("/home/me/data/coswara") == "coswara"
    assert short_data_name("/d/covid19-cough/manifest.csv") == "covid19-cough/manifest.csv"
    assert short_data_name("demo:200") == "demo:200"
    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await pilot.pause()
        table = app.query_one("#runs-table", DataTable)
        assert [c.label.plain for c in table.columns.values()] == [
            "run", "status", "best AUC", "data", "models"]
        assert "best AUC" in visible_text(table)  # not pushed off at 80 columns
        detail = text_of(app, "#runs-detail")
        assert "data: demo" in detail and "seeds 2" in detail and run.name in detail

    drive(app, body)


# ------------------------------------------------------------------ numbers


def test_confusion_threshold_moves_and_counts_follow(tmp_path: Path) -> None:
    from engine.runs import read_predictions
    from tui.screens.confusion import counts_at

    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        from textual.widgets import Select

        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("5")
        await pilot.pause()
        app.query_one("#confusion-seed", Select).value = "0"
        await pilot.pause()
        view = app.query_one("#confusion-view")
        assert "threshold 0.500 (chosen on validation" in text_of(app, "#confusion-rates")
        view.focus()
        for _ in range(10):
            await pilot.press("right")
        await pilot.pause()
        assert view.threshold == pytest.approx(0.6)
        labels, probs = read_predictions(view.run, "ann", 0).part("test")
        want = counts_at(labels, probs, 0.6)
        counts, shown = view.confusion_for("ann", "0")
        assert counts == want and shown == pytest.approx(0.6)
        rates = text_of(app, "#confusion-rates")
        sens = want["tp"] / (want["tp"] + want["fn"])
        assert "threshold 0.60 (moved by you" in rates
        assert f"sensitivity {100 * sens:.1f}%" in rates
        await pilot.press("0")
        await pilot.pause()
        assert view.threshold is None and "chosen on validation" in text_of(app,
                                                                             "#confusion-rates")

    drive(app, body)


def test_epoch_ticks_are_whole_numbers() -> None:
    from tui.screens.training import integer_ticks

    assert integer_ticks(4) == [1, 2, 3, 4]
    assert integer_ticks(30) == [1, 5, 9, 13, 17, 21, 25, 29]
    assert all(isinstance(t, int) for t in integer_ticks(100))


def test_finished_run_hides_stop_and_legend_sits_outside_the_chart(tmp_path: Path) -> None:
    from textual.widgets import Button

    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("3")
        await pilot.pause(0.4)
        assert not app.query_one("#training-stop", Button).display
        legend = text_of(app, "#training-legend")
        assert "train" in legend and "validation" in legend
        chart = app.query_one("#training-chart")
        assert chart.size.height >= 12  # one chart, tall enough to read at 80x24
        assert "train" not in visible_text(chart)  # no legend box over the curves

    drive(app, body)


def test_data_screen_has_the_facts_of_data_summary() -> None:
    from tui.screens.data import summary_table

    from rich.console import Console

    summary = {"kind": "manifest", "description": "m.csv", "synthetic": False, "root": "/d",
               "clips": 3, "usable": 2, "labels": {"negative": 1, "positive": 1}, "groups": 2,
               "durations": {}, "sample_rates": {"16000": 2}, "channels": {"1": 1, "2": 1},
               "meta": {"source": {"lab": 1, "phone": 1}, "verified": {"yes": 2}},
               "counts": {}, "notes": [], "excluded": []}
    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(summary_table(summary))
    text = console.export_text()
    for fact in ("source", "lab 1, phone 1", "verified", "yes 2", "channels", "1: 1, 2: 1",
                 "each clip counts as its own participant"):
        assert fact in text, fact


def test_downloaded_sets_are_offered(tmp_path: Path) -> None:
    from engine import paths
    from tui.screens.data import downloaded_sets

    assert downloaded_sets() == []
    folder = paths.data_dir() / "covid19-cough"
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_text("path,label\n")
    assert downloaded_sets() == [("covid19-cough", str(folder / "manifest.csv"))]


def test_resnet_without_weights_is_refused_before_start(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.screens import models as models_screen_module

    monkeypatch.setattr(models_screen_module, "check_weights",
                        lambda: (False, "ImageNet ResNet-50 weights are not in the torchvision "
                                        "cache (/x/resnet50.pth)"))
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await models_screen(pilot)
        models = app.query_one("#models-list")
        models.select("resnet50")
        await wait_for(pilot, lambda: app.query_one("#models-view").weights is not None)
        await pilot.click("#models-start")
        await pilot.pause()
        message = text_of(app, "#models-message")
        assert "resnet50 needs ImageNet ResNet-50 weights" in message
        assert "/x/resnet50.pth" in message and "--weights PATH" in message
        assert not list((tmp_path / "runs").glob("*"))  # nothing started

    drive(app, body)


def test_no_microphone_is_one_line_with_details(tmp_path: Path) -> None:
    from textual.widgets import Static

    from tui.screens.classify import mic_summary

    line, details = mic_summary(False, "no input device: Error querying device -1\n  hint: x")
    assert "\n" not in line and "Error querying" not in line and "Error querying" in details
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")))
        view = app.query_one("#classify-view")
        view.set_mic(False, "no input device: Error querying device -1")
        await pilot.pause()
        assert "Error querying" not in text_of(app, "#classify-mic")
        details = app.query_one("#classify-mic-details", Static)
        assert not details.display
        await pilot.click("#classify-mic-details-toggle")
        assert details.display and "Error querying device -1" in text_of(
            app, "#classify-mic-details")

    drive(app, body)


def test_help_lists_the_apps_options() -> None:
    out = subprocess.run([sys.executable, "-m", "tui.launch", "--help"], capture_output=True,
                         text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for option in ("--open RUN", "--data SPEC", "--runs-dir DIR", "--headless"):
        assert option in out.stdout, option


def test_download_action_fetches_with_progress_and_offers_the_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Download… runs `data get` (against a local mirror) with progress, then picks the set."""
    try:
        from test_download import Server, make_tar_gz
    except ImportError:  # tests/ is a package
        from tests.test_download import Server, make_tar_gz

    from engine.download import load_catalogue

    entry = load_catalogue()["covid19-cough"]
    records = [{"filename": "a.mp3", "covid19": True, "source": "call-center"},
               {"filename": "b.mp3", "covid19": False, "source": "telegram"}]
    top = f"dataset-{entry.archive}"
    archive = make_tar_gz({f"{top}/metadata.json": json.dumps(records).encode(),
                           f"{top}/raw/a.mp3": b"ID3a", f"{top}/raw/b.mp3": b"ID3b"})
    app = make_app(tmp_path / "runs")
    shown: list[str] = []

    async def body(pilot: Any) -> None:
        from textual.widgets import Input, Select

        from tui.dialogs import DownloadScreen

        view = app.query_one("#data-view")
        original = view.set_message
        monkeypatch.setattr(view, "set_message", lambda text, error=False: (
            shown.append(str(text)), original(text, error))[1])
        await pilot.click("#data-download")
        await pilot.pause()
        assert isinstance(app.screen, DownloadScreen)
        app.screen.query_one("#download-name", Select).value = "covid19-cough"
        await pilot.click("#download-go")
        spec = app.query_one("#data-spec", Input)
        await wait_for(pilot, lambda: spec.value.endswith("manifest.csv"), 60)
        assert any(re.search(r": \d+(\.\d)? (B|KB)( of \d+(\.\d)? (B|KB))?$", line)
                   for line in shown), shown  # progress in bytes was shown
        picker = app.query_one("#data-downloaded", Select)
        assert any("covid19-cough" in str(prompt) for prompt, _ in picker._options)

    with Server() as server:
        server.files[f"/covid19-cough/{entry.archive}"] = archive
        monkeypatch.setenv("COUGHSCOPE_DOWNLOAD_BASE", server.url)
        drive(app, body)


def test_enter_on_the_runs_screen_opens_the_highlighted_run(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await pilot.pause()
        await pilot.press("enter")  # the tab strip has the focus after a screen key
        await wait_for(pilot, lambda: app.followed is not None)
        assert app.followed.run.id == run.name

    drive(app, body)


def test_training_without_a_run_draws_no_moving_bar(tmp_path: Path) -> None:
    from textual.widgets import ProgressBar

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("3")
        await pilot.pause()
        assert not app.query_one("#training-progress", ProgressBar).display

    drive(app, body)


def test_runs_command_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from engine import paths
    from engine.cli import main as cli_main

    monkeypatch.delenv("COUGHSCOPE_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # a folder without runs/: the per-user runs folder
    assert cli_main(["runs"]) == 0
    out = capsys.readouterr().out
    assert f"no runs in {paths.data_dir() / 'runs'} (per-user default)" in out
