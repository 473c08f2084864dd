"""Issue 20, item 6: bugs 1-8 of the app as a research workbench, one test (or more) per bug,
each failing before its fix. Pilot drives the real app (``build_app``) at 80x24; the key
burst and the focus after a refused Start (bugs 2 and 3) are also driven through a real
terminal in ``tests/test_tui_tmux.py``. Event logs are written by the real writer (the
runner's :class:`~engine.runner.Announcer` over :class:`~engine.runs.EventLog`); times in
them are a fake clock the test steps, so nothing depends on how busy the machine is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

try:
    from test_tui_support import drive as support_drive, make_app, make_finished_run, wait_for
except ImportError:  # tests/ is a package
    from tests.test_tui_support import (drive as support_drive, make_app, make_finished_run,
                                        wait_for)

from engine.runs import EventLog, RunDir, RunState, load_run_state

REPO = Path(__file__).resolve().parents[1]
SMALL = (80, 24)


def drive(app: Any, body: Callable[[Any], Awaitable[None]], size: tuple[int, int] = SMALL) -> None:
    support_drive(app, body, size)


def visible(widget: Any) -> str:
    """What a widget shows on screen, row by row (clipped text is missing from it)."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def screen_text(app: Any) -> str:
    """The whole terminal as the user sees it (the top screen, dialogs included)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# ------------------------------------------------------------------ bug 1: refit progress

CNN_EPOCHS, CNN_STOPPED, CHOSEN, FOLDS = 10, 6, 4, 3


class FakeClock:
    """Event times the test steps (``time=`` on every event)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def step(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def refit_run_events(clock: FakeClock) -> Iterator[tuple[str, dict[str, Any]]]:
    """A run of cnn (early stopping at 6 of 10 epochs, 4 chosen) and logreg, refit on with
    3 out-of-fold fits: every event the runner sends, in its order, timed by ``clock``."""
    for kind, fields in _refit_run_events(clock):
        yield kind, {**fields, "time": clock.now}


def _refit_run_events(clock: FakeClock) -> Iterator[tuple[str, dict[str, Any]]]:
    config = {"models": ["cnn", "logreg"], "seeds": 1,
              "recipe": {"epochs": CNN_EPOCHS, "refit": True}}
    yield "run_start", dict(run_id="r", config=config)
    yield "data_ready", dict(models=["cnn", "logreg"], seeds=1,
                             epochs={"cnn": CNN_EPOCHS, "logreg": 1})
    for model, selection, chosen, pace in (("cnn", CNN_STOPPED, CHOSEN, 5.0),
                                           ("logreg", 0, 1, 0.5)):
        yield "model_start", dict(model=model, seed=0, epochs=CNN_EPOCHS if selection else 1,
                                  refit=True, oof_folds=FOLDS)
        for epoch in range(1, selection + 1):
            clock.step(pace)
            yield "epoch_end", dict(model=model, seed=0, epoch=epoch, val_auc=0.6,
                                    train_loss=0.5, val_loss=0.6, seconds=pace)
        fits = [("oof", fold, FOLDS) for fold in range(1, FOLDS + 1)] + [("refit", None, None)]
        for phase, fold, folds in fits:
            for epoch in range(chosen + 1):
                if epoch:
                    clock.step(pace * 1.5)  # the refit recipe trains on more clips
                yield "fit_progress", dict(model=model, seed=0, phase=phase, fold=fold,
                                           folds=folds, epoch=epoch, epochs=chosen)
        yield "model_end", dict(model=model, seed=0, metrics={"roc_auc": 0.7}, seconds=10.0)
    clock.step(1.0)
    yield "run_end", dict(state="finished", seconds=100.0)


def write_events(path: Path, events: Iterator[tuple[str, dict[str, Any]]], clock: FakeClock
                 ) -> None:
    from engine.runner import Announcer

    with EventLog(path) as log:
        announce = Announcer(log)
        for kind, fields in events:
            announce(kind, **fields)


def test_fit_progress_is_in_the_schema_and_the_readme() -> None:
    from engine.runs import EVENT_CLASSES, ModelStart

    assert EVENT_CLASSES["fit_progress"].field_names() == [
        "model", "seed", "phase", "fold", "folds", "epoch", "epochs"]
    assert {"refit", "oof_folds"} <= set(ModelStart.field_names())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "| `fit_progress` |" in readme and "`oof_folds`" in readme


def test_progress_and_eta_move_through_refit_and_never_go_back(tmp_path: Path) -> None:
    """Bug 1: every step of selection, out-of-fold fits and refit moves the progress; it never
    reads 100% (or ETA 0) while work remains, and never goes backwards."""
    clock = FakeClock()
    events = list(refit_run_events(clock))
    state = RunState()
    seen: list[tuple[int, int, float | None]] = []
    for kind, fields in events:
        state.apply({"type": kind, **fields})
        done, total = state.progress()
        seen.append((done, total, state.eta_seconds()))
    # the last counted totals: cnn 6 selection epochs + (3 + 1) fits x 4 epochs; logreg 1 + 4
    assert seen[-1][:2] == (CNN_STOPPED + (FOLDS + 1) * CHOSEN + 1 + (FOLDS + 1),) * 2
    shares = [done / total for done, total, _ in seen]
    assert all(b >= a for a, b in zip(shares, shares[1:])), shares
    dones = [done for done, _, _ in seen]
    assert all(b >= a for a, b in zip(dones, dones[1:])), dones
    for done, total, eta in seen[:-1]:  # the run is not over before run_end
        assert done < total
        assert eta is None or eta >= 1.0
    # every fit_progress after an epoch moves the count (the refit phase is not frozen),
    # up to the last step, which stays for the tests and summary after the last fit
    moved = [i for i, (kind, f) in enumerate(events) if kind == "fit_progress" and f["epoch"]]
    assert len(moved) == (FOLDS + 1) * (CHOSEN + 1)
    assert all(dones[i] > dones[i - 1] for i in moved[:-1])
    assert seen[moved[-1]][:2] == (26, 27) and seen[moved[-1]][2] is None


def test_eta_through_refit_uses_the_fits_own_pace() -> None:
    clock = FakeClock()
    state = RunState()
    for kind, fields in refit_run_events(clock):
        state.apply({"type": kind, **fields})
        if kind == "fit_progress" and fields["phase"] == "oof" and fields["fold"] == 2 \
                and fields["epoch"] == 1 and fields["model"] == "cnn":
            break
    part = state.parts[("cnn", 0)]
    assert part.fit_epoch_seconds() == pytest.approx(7.5)
    # cnn: 3 + 4 + 4 fit epochs left at 7.5 s; logreg: 1 + 4 fits at cnn-borrowed pace
    # (no logreg pace measured yet: the mean of what is measured stands in)
    left = state.eta_seconds()
    assert left is not None and left == pytest.approx(11 * 7.5 + 5 * 5.0)


def test_an_older_log_without_fit_progress_still_counts(tmp_path: Path) -> None:
    """A run written before fit_progress: model_start without refit, no fit events."""
    run = make_finished_run(tmp_path)
    state = load_run_state(RunDir(run))
    assert state.progress() == (2 * 4 + 2 * 1, 2 * 4 + 2 * 1)


def test_a_live_run_file_log_folds_the_same(tmp_path: Path) -> None:
    clock = FakeClock()
    run = tmp_path / "r"
    run.mkdir()
    write_events(run / "events.jsonl", refit_run_events(clock), clock)
    state = load_run_state(RunDir(run))
    assert state.progress() == (CNN_STOPPED + 4 * CHOSEN + 5,) * 2
    assert not state.problems


def live_writer(runs: Path, run_id: str = "20990101-000000-refit") -> tuple[Path, Any]:
    """A run being written by another process: a stand-in writer in its own session holds
    the run's lock (as the runner does); the test writes the events."""
    import json
    import time

    from engine.runs import writer_alive

    run = runs / run_id
    run.mkdir(parents=True)
    code = ("import sys, time\nfrom pathlib import Path\nfrom engine.runs import RunLock\n"
            "RunLock(Path(sys.argv[1])).acquire()\ntime.sleep(300)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(run)], start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    (run / "status.json").write_text(json.dumps({
        "state": "running", "pid": process.pid, "started": "2099-01-01T00:00:00+00:00"}))
    for _ in range(1200):  # the writer holds the lock before the app looks
        if writer_alive(run):
            break
        time.sleep(0.05)
    assert writer_alive(run), "the stand-in writer did not take the run's lock"
    return run, process


def test_training_screen_shows_the_refit_phase_moving(tmp_path: Path) -> None:
    """Bug 1 in the app: during the out-of-fold fits and the refit the Training screen says
    which fit runs, its steps move, and it never reads 100% or ETA 0m00s."""
    from textual.widgets import ProgressBar

    from engine.runner import Announcer

    run, process = live_writer(tmp_path / "runs")
    clock = FakeClock()
    events = list(refit_run_events(clock))
    cut = next(i for i, (kind, f) in enumerate(events)
               if kind == "fit_progress" and f["phase"] == "refit" and f["epoch"] == 2)
    log = EventLog(run / "events.jsonl")
    announce = Announcer(log)
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None, 30)
        for kind, fields in events[:cut + 1]:
            announce(kind, **fields)
        status = lambda: str(app.query_one("#training-status").render())  # noqa: E731
        # cnn: 6 selection + 3 oof x 4 + 2 refit epochs = 20 of (6 + 16) + logreg's 5
        await wait_for(pilot, lambda: "20/27 steps" in status(), 30)
        assert "ETA 0m00s" not in status() and "ETA" in status()
        assert "refit" in status()
        parts = visible(app.query_one("#training-parts"))
        assert "refit 2/4" in parts
        bar = app.query_one("#training-progress", ProgressBar)
        assert bar.percentage is not None and bar.percentage < 1.0
        # the chart still shows the 6 validation epochs only
        training = app.query_one("#training-view")
        assert training.plotted["val_loss"] == [float(e) for e in range(1, CNN_STOPPED + 1)]
        for kind, fields in events[cut + 1:-1]:  # all but run_end: tests, summary left
            announce(kind, **fields)
        await wait_for(pilot, lambda: "26/27 steps" in status(), 30)
        assert bar.percentage is not None and bar.percentage < 1.0

    try:
        drive(app, body, (100, 30))
    finally:
        log.close()
        process.kill()
        process.wait()


# ------------------------------------------------------------------ bugs 2 and 3: keys


async def models_screen(pilot: Any) -> Any:
    await pilot.press("2")
    await wait_for(pilot, lambda: bool(pilot.app.query("#models-view")) and
                   pilot.app.query_one("#models-view").registry_loaded)
    await pilot.pause()
    return pilot.app.query_one("#models-view")


def test_a_refused_start_keeps_the_focus_in_the_field(tmp_path: Path) -> None:
    """Bug 2: epochs 0, Ctrl+S (refused), then typing 5 fixes the field; it must not reach
    the tab strip, where 5 is the Confusion screen."""
    from textual.widgets import Input, TabbedContent

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        view = await models_screen(pilot)
        epochs = view.query_one("#models-epochs", Input)
        epochs.focus()
        epochs.value = ""
        await pilot.press("0", "ctrl+s")
        await wait_for(pilot, lambda: "epochs 0 is out of range" in
                       str(view.query_one("#models-message").render()))
        assert app.focused is epochs
        await pilot.press("5")
        await pilot.pause()
        assert app.query_one("#nav", TabbedContent).active == "models"
        assert app.focused is epochs and epochs.value == "05"
        assert app.followed is None  # nothing started

    drive(app, body)


def test_a_burst_of_arrows_stops_at_the_ends_of_the_models_list(tmp_path: Path) -> None:
    """Bug 3: the list wrapped, so twelve Down on twelve models moved nowhere and Space
    unticked ann; from row 8, twelve Up ended on row 8 again."""
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        view = await models_screen(pilot)
        models = view.query_one("#models-list")
        count = models.option_count
        assert count >= 8
        models.focus()
        models.highlighted = 0
        await pilot.press(*["down"] * count)
        assert models.highlighted == count - 1
        last = models.get_option_at_index(count - 1).value
        await pilot.press("space")
        assert "ann" in models.selected and last in models.selected
        models.highlighted = 7
        await pilot.press(*["up"] * count)
        assert models.highlighted == 0
        await pilot.press("down", "down")
        assert models.highlighted == 2

    drive(app, body)


# ------------------------------------------------------------------ bug 4: help at 80x24


def test_help_scrolls_to_its_end_at_80x24(tmp_path: Path) -> None:
    """Bug 4: at 80x24 the help's last rows (Confusion's arrows, dialogs' Esc) and its Close
    button were below the dialog's edge, unreachable; and 0 (reset threshold) was missing."""
    from textual.containers import VerticalScroll
    from textual.widgets import Button

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        screen = app.screen
        box = screen.query_one("#help-box")
        scroll = screen.query_one("#help-box VerticalScroll", VerticalScroll)
        close = screen.query_one("#help-close", Button)
        await pilot.pause()
        height = app.size.height
        inside = box.region.intersection(app.screen.region)
        assert box.region == inside, "the help box is larger than the screen"
        for widget in (scroll, close):  # both whole, inside the box's border
            assert widget.region.height > 0
            assert box.content_region.contains_region(widget.region), widget
        assert close.region.bottom <= height
        scroll.focus()
        await pilot.press("end")
        await wait_for(pilot, lambda: scroll.scroll_y >= scroll.max_scroll_y > 0)
        shown = screen_text(app)
        for words in ("move the threshold", "close / cancel", "back to the threshold"):
            assert words in shown, shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "HelpScreen")

    drive(app, body)


# ------------------------------------------------------------------ bug 5: Classify


def verdict(model: str, probability: float, threshold: float = 0.5) -> Any:
    from engine.inference import ModelVerdict

    label = "positive" if probability >= threshold else "negative"
    return ModelVerdict(model=model, probability=probability, spread=0.01, label=label,
                        agreement=1.0, seeds=[probability, probability], threshold=threshold,
                        test_auc=0.8)


def file_result(tmp_path: Path, *verdicts: Any) -> Any:
    from engine.inference import FileResult

    return FileResult(path=str(tmp_path / "cough.wav"), warnings=["quieter than training"],
                      verdicts=list(verdicts), duration=1.2,
                      samples=[0.0, 0.5, -0.5, 0.0] * 20, logmel=None)


def test_overall_verdict_line(tmp_path: Path) -> None:
    from tui.screens.classify import overall_verdict

    line = overall_verdict(file_result(tmp_path, verdict("ann", 0.9), verdict("cnn", 0.7),
                                       verdict("logreg", 0.2), verdict("majority", 0.1)))
    # the leading model's probability and AUC to trust go beside the label (issue 18)
    assert line.plain == ("Research result, not a diagnosis: most models say POSITIVE (ann P "
                          "0.90 uncalibrated; AUC to trust 0.80 test); 2 of 3 models call it "
                          "positive (majority baseline not counted)")
    line = overall_verdict(file_result(tmp_path, verdict("ann", 0.9), verdict("cnn", 0.2),
                                       verdict("ensemble", 0.3)))
    assert line.plain == ("Research result, not a diagnosis: ensemble says NEGATIVE (ensemble "
                          "P 0.30 uncalibrated; AUC to trust 0.80 test); 1 of 2 models call it "
                          "positive")
    line = overall_verdict(file_result(tmp_path, verdict("ann", 0.9), verdict("cnn", 0.2)))
    assert line.plain == ("Research result, not a diagnosis: the models are split (ann P 0.90 "
                          "uncalibrated; AUC to trust 0.80 test): 1 of 2 models call it positive")


def test_classify_forgets_the_old_run_and_says_the_overall_verdict(tmp_path: Path) -> None:
    """Bug 5: after switching run the old run's lines stayed above the new run's empty
    table; there was no overall verdict line; the picker showed bare IDs."""
    from textual.widgets import DataTable, Select, Static

    newer = make_finished_run(tmp_path / "runs", "20240502-120000-newr").name
    older = make_finished_run(tmp_path / "runs", "20240501-120000-oldr").name
    app = make_app(tmp_path / "runs")
    result = file_result(tmp_path, verdict("ann", 0.9), verdict("logreg", 0.6))

    def text(selector: str) -> str:
        widget = app.query_one(selector, Static)
        return str(widget.render()).strip() if widget.display else ""

    async def body(pilot: Any) -> None:
        from tui.screens.classify import Classified

        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")) and
                       len(app.query_one("#classify-view").finished) == 2)
        view = app.query_one("#classify-view")
        view._draw_pictures = lambda result: app.query_one("#classify-wave", Static).update(
            "waveform drawn")
        select = view.query_one("#classify-run", Select)
        assert select.value == newer
        labels = [str(prompt) for prompt, _ in select._options if _ is not Select.BLANK]
        assert any(newer in label and "demo" in label and "ann,logreg" in label
                   and "AUC" in label for label in labels), labels
        view.post_message(Classified(newer, result))
        await wait_for(pilot, lambda: "Research result, not a diagnosis: most models say "
                       "POSITIVE (" in text("#classify-verdict")
                       and "2 of 2 models call it positive" in text("#classify-verdict"))
        first_line = text("#classify-verdict").splitlines()[0]
        assert first_line.startswith("Research result, not a diagnosis")
        assert "run " + newer in text("#classify-status")
        select.value = older
        await wait_for(pilot, lambda: text("#classify-verdict") == "")
        for old in ("#classify-status", "#classify-warnings", "#classify-wave"):
            assert text(old) == "", old
        table = app.query_one("#classify-models", DataTable)
        assert str(table.get_row("ann")[1]) == "—"
        assert "Models of run " + older in str(app.query_one("#classify-how").render())
        # a worker that finishes after the switch answers for the old run: not shown here
        view.post_message(Classified(newer, result))
        await pilot.pause()
        await pilot.pause(0.1)
        assert text("#classify-verdict") == "" and str(table.get_row("ann")[1]) == "—"

    drive(app, body, (100, 32))


# ------------------------------------------------------------------ bug 6: NO_COLOR contrast


def luminance(colour: Any) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: Any, bg: Any) -> float:
    """The WCAG contrast ratio of two RGB triplets (1 to 21)."""
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colours_of(app: Any, words: str) -> list[tuple[Any, Any]]:
    """(foreground, background) of each cell run showing ``words``, as the terminal gets it
    (the app's filters applied: NO_COLOR's monochrome among them)."""
    found = []
    background = app.screen.styles.background
    for strip in app.screen._compositor.render_strips():
        for line_filter in app._filters:
            strip = strip.apply_filter(line_filter, background)
        for segment in strip:
            style = segment.style
            if style is None or not segment.text.strip() or segment.text.strip() not in words:
                continue
            fg = style.color.get_truecolor() if style.color else None
            bg = style.bgcolor.get_truecolor() if style.bgcolor else None
            if style.reverse:
                fg, bg = bg, fg
            found.append((tuple(fg), tuple(bg)))
    return found


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
def test_titles_and_labels_read_without_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              theme: str) -> None:
    """Bug 6: under NO_COLOR Training's list title was grey 233 on 234 (251 on 252 light) and
    Classify's positive in a plain row 237 on 234."""
    from textual.widgets import DataTable

    monkeypatch.setenv("NO_COLOR", "1")
    run = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        app.theme = theme
        await pilot.press("3")
        await wait_for(pilot, lambda: bool(app.query("#training-parts")) and
                       app.query_one("#training-parts").option_count == 4)
        await pilot.pause()
        title = colours_of(app, "seed · test AUC")
        assert title, "the title is not on screen"
        assert min(contrast(fg, bg) for fg, bg in title) >= 4.5, title
        from tui.screens.classify import Classified

        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-view")) and
                       bool(app.query_one("#classify-view").finished))
        view = app.query_one("#classify-view")
        view._draw_pictures = lambda result: None
        # ann (the cursor's row) negative, logreg (a plain row) positive
        view.post_message(Classified(run.name, file_result(tmp_path, verdict("ann", 0.2),
                                                          verdict("logreg", 0.9))))
        table = app.query_one("#classify-models", DataTable)
        await wait_for(pilot, lambda: str(table.get_row("logreg")[2]) == "positive")
        assert table.cursor_row == 0
        await pilot.pause()
        cells = colours_of(app, "positive")
        assert cells, "positive is not on screen"
        assert min(contrast(fg, bg) for fg, bg in cells) >= 4.5, cells

    drive(app, body, (100, 32))


# ------------------------------------------------------------------ bug 7: cut text

CONFOUND = ("the recording source predicts the label on its own (AUC 0.91 from the source "
            "alone): these models may have learnt the channel, not the cough; compare each "
            "model's AUC within a source, hold a source out with --test-group, or resample so "
            "that every source has as many positives as negatives (--balance-by source)")


def test_training_shows_the_whole_confound_warning(tmp_path: Path) -> None:
    """Bug 7: Training's confound warning ended at "…or resample so" even at 200x50."""
    clock = FakeClock()
    run = tmp_path / "runs" / "20240501-120000-conf"
    run.mkdir(parents=True)
    (run / "status.json").write_text('{"state": "finished"}')

    def events() -> Iterator[tuple[str, dict[str, Any]]]:
        yield "run_start", dict(run_id=run.name, config={"models": ["ann"], "seeds": 1},
                                time=clock.now)
        for message in ("synthetic demo data: these numbers say nothing about real coughs",
                        "2 clips excluded (see data.json)", CONFOUND):
            yield "warning", dict(message=message, time=clock.now)
        yield "run_end", dict(state="finished", seconds=1.0, time=clock.step(1))

    write_events(run / "events.jsonl", events(), clock)
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        await pilot.press("3")
        await wait_for(pilot, lambda: bool(app.query("#training-notes")) and
                       "confound" not in visible(app.query_one("#training-notes")) and
                       "synthetic" in visible(app.query_one("#training-notes")))
        await pilot.pause()
        shown = " ".join(visible(app.query_one("#training-notes")).split())
        assert "(--balance-by source)" in shown, shown

    drive(app, body, (200, 50))


def test_runs_keep_best_auc_and_whole_model_names_at_80x24(tmp_path: Path) -> None:
    """Bug 7: at 80x24 Runs lost its best AUC column and the models read ``ann,cnn,logr``."""
    from engine.config import ExperimentConfig

    run = make_finished_run(tmp_path / "runs")
    many = ("ann", "cnn", "cnn2", "logreg", "majority", "gbm", "tabnet")
    (run / "config.toml").write_text(ExperimentConfig(
        data=str(tmp_path / "data" / "covid19-cough" / "manifest.csv"), models=many,
        seeds=2).to_toml())
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await wait_for(pilot, lambda: bool(app.query("#runs-table")) and
                       app.query_one("#runs-table").row_count == 1)
        await pilot.pause()
        shown = visible(app.query_one("#runs-table"))
        assert "best AUC" in shown and "0.810 ann" in shown, shown
        row = next(line for line in shown.splitlines() if run.name in line)
        models = row.split("manifest.csv")[1].strip().rstrip("▁▂▃▄▅▆▇█▎▌ ")
        names, _, more = models.partition(" +")
        assert all(name in many for name in names.split(",")), row
        assert more.isdigit() and len(names.split(",")) + int(more) == len(many), row
        detail = visible(app.query_one("#runs-detail"))
        assert ",".join(many) in detail

    drive(app, body)


# ------------------------------------------------------------------ bug 8: smaller issues


def test_stop_dialog_says_the_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """Bug 8: the Stop dialog said "the epoch in progress is lost"; a run resumes from its
    last checkpoint (README, Headless runs)."""
    run, process = live_writer(tmp_path / "runs")
    with EventLog(run / "events.jsonl") as log:
        log.emit("run_start", run_id=run.name, config={"models": ["ann"], "seeds": 1})
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None, 30)
        app.action_stop_run()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen" and
                       bool(app.screen.query("#confirm-question")))
        question = str(app.screen.query_one("#confirm-question").render())
        assert "is lost" not in question and "last checkpoint" in question
        await pilot.press("escape")

    try:
        drive(app, body)
    finally:
        process.kill()
        process.wait()


def test_one_seed_is_singular_in_classify(tmp_path: Path) -> None:
    """Bug 8: "1 seeds"."""
    from textual.widgets import DataTable

    from engine.runs import read_json, write_json

    run = make_finished_run(tmp_path / "runs")
    summary = read_json(run / "summary.json")
    summary["models"]["ann"]["seeds"] = [0]
    write_json(run / "summary.json", summary)
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("7")
        await wait_for(pilot, lambda: bool(app.query("#classify-models")) and
                       app.query_one("#classify-models", DataTable).row_count == 2)
        # the seed column: in the table, or under it when there is no room (issue 20)
        rows = app.query_one("#classify-view").table_rows
        assert str(rows["ann"][4]) == "1 seed"
        assert str(rows["logreg"][4]) == "2 seeds"

    drive(app, body)
