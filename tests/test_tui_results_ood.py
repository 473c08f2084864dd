"""The Results screen's out-of-distribution and confound-controlled AUCs (issue 9).

Beside each model's test AUC the screen shows the held-out group's AUC of a ``--test-group``
run and the AUC within each value of the column the confound check flagged, each with its
interval, and says in plain words which number the recording channel cannot inflate. Tested
on real tiny runs made by the real runner on covid19-cough clips (skipped without
``../shared/data``), on hand-written runs written by the real writers (both entries, damaged
entries, old runs without them), at 80x24 and 140x40 without colour. Also: the footer offers
Ctrl+X (Stop run) only while the followed run is live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    from test_ood import real_manifests
    from test_summary_reader import COLUMN, GROUP, add_entries
    from test_tui_daily import live_run, visible_text
    from test_tui_support import drive, make_app, make_finished_run, text_of, wait_for
except ImportError:  # tests/ is a package
    from tests.test_ood import real_manifests
    from tests.test_summary_reader import COLUMN, GROUP, add_entries
    from tests.test_tui_daily import live_run, visible_text
    from tests.test_tui_support import drive, make_app, make_finished_run, text_of, wait_for

from engine.runs import read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"80x24": (80, 24), "140x40": (140, 40)}
MODELS = ("ann", "logreg", "majority")


def two(value: float) -> str:
    """An AUC as the screen writes it: two decimals, no leading zero (``.61``)."""
    return f"{value:.2f}".replace("0.", ".", 1) if value < 1 else f"{value:.2f}"


def auc_text(mean: float, ci: list[float]) -> str:
    return f"{two(mean)} [{two(ci[0])}–{two(ci[1])}]"


# ------------------------------------------------------------------ real runs


@pytest.fixture(scope="module")
def real_runs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, Any]:
    """Two tiny real runs on the same confounded covid19-cough subset (call-centre clips
    mostly positive, Telegram mostly negative): ``ood`` holds source=telegram out;
    ``whole`` does not, so its confound check flags ``source``."""
    base = tmp_path_factory.mktemp("results-ood")
    dev, _ = real_manifests(shared_data, base)
    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
           "COUGHSCOPE_CACHE_DIR": str(base / "cache"), "PYTHONUNBUFFERED": "1"}
    out: dict[str, Any] = {"runs": base / "runs"}
    for run_id, extra in (("ood", ["--test-group", GROUP]), ("whole", [])):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "--headless", "--data", str(dev), "--models",
             ",".join(MODELS), "--seeds", "1", "--epochs", "2", *extra, "--runs-dir",
             str(base / "runs"), "--run-id", run_id, "--json"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        assert done.returncode == 0, done.stderr
        out[run_id] = json.loads(done.stdout)
    return out


def summary_of(runs: Path, run_id: str) -> dict[str, Any]:
    return json.loads((runs / run_id / "summary.json").read_text())


def test_headless_json_carries_what_summary_json_holds(real_runs: dict[str, Any]) -> None:
    ood_summary = summary_of(real_runs["runs"], "ood")
    whole_summary = summary_of(real_runs["runs"], "whole")
    assert real_runs["whole"]["group_baselines"]["source"]["warning"]  # confounded
    for model in MODELS:
        ood = real_runs["ood"]["models"][model]["ood"]
        assert ood == ood_summary["models"][model]["ood"] and ood["group"] == GROUP
        assert ood["metrics"]["n"]["mean"] == 60  # every Telegram clip of the subset
        cc = real_runs["whole"]["models"][model]["confound_controlled"]
        assert cc == whole_summary["models"][model]["confound_controlled"]
        assert cc["column"] == "source" and cc["roc_auc_ci"] is not None
        assert real_runs["whole"]["models"][model]["ood"] is None


def headline_lines(app: Any) -> list[str]:
    return visible_text(app.query_one("#results-headline")).splitlines()


def model_line(lines: list[str], model: str) -> str:
    found = [line for line in lines if line.split()[:1] == [model]]
    assert len(found) == 1, (model, lines)
    return found[0]


async def open_results(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
    await pilot.press("4")
    await wait_for(pilot, lambda: app.query_one("#results-table").row_count > 0)


@pytest.mark.parametrize("run_id", ["ood", "whole"])
def test_results_shows_the_real_runs_numbers(real_runs: dict[str, Any], run_id: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80x24 without colour, each model's line holds its test AUC and its ood (or
    within-source) AUC with the intervals of summary.json, on screen without scrolling."""
    monkeypatch.setenv("NO_COLOR", "1")
    summary = summary_of(real_runs["runs"], run_id)
    app = make_app(real_runs["runs"], open_run=run_id)

    async def body(pilot: Any) -> None:
        await open_results(pilot)
        headline = app.query_one("#results-headline")
        assert headline.display
        lines = headline_lines(app)
        key = f"ood {GROUP}" if run_id == "ood" else f"within each {COLUMN}"
        header = next(line for line in lines if line.startswith("model"))
        assert "test" in header and key in header
        for model in MODELS:
            entry = summary["models"][model]
            line = model_line(lines, model)
            test = auc_text(entry["metrics"]["roc_auc"]["mean"], entry["roc_auc_ci"])
            if run_id == "ood":
                other = auc_text(entry["ood"]["metrics"]["roc_auc"]["mean"],
                                 entry["ood"]["roc_auc_ci"])
            else:
                other = auc_text(entry["confound_controlled"]["roc_auc"]["mean"],
                                 entry["confound_controlled"]["roc_auc_ci"])
            assert line.split() == [model, *test.split(), *other.split()]
            # the column of the in-distribution number, then the other
            assert line.index(test) == header.index("test")
            assert line.rindex(other) == header.index(key)
        words = " ".join(" ".join(lines).split())
        assert "cannot inflate" in words
        if run_id == "ood":
            assert f"{GROUP} clips only, never trained or validated on" in words
        else:
            assert "the number to trust" in words and "can raise 'test'" in words
        # the whole headline is on screen at 80x24, above the footer, without scrolling
        shown = app.screen.find_widget(headline).visible_region
        assert shown == headline.region and shown.height == len(lines)
        assert shown.bottom <= 24 - 1
        # the table, its majority baseline and the confound warning are still there
        table = app.query_one("#results-table")
        assert table.row_count == len(MODELS)
        assert table.get_row("majority")[1].startswith("0.500")
        warnings = text_of(app, "#results-warnings")
        assert ("confound: source alone predicts the label" in warnings) == (run_id == "whole")

    drive(app, body, SIZES["80x24"])


# ------------------------------------------------------------------ hand-written runs


@pytest.mark.parametrize("size", list(SIZES))
def test_both_entries_side_by_side(tmp_path: Path, size: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    run = add_entries(make_finished_run(tmp_path / "runs"))
    summary = json.loads((run / "summary.json").read_text())
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        assert app.no_color
        await open_results(pilot)
        lines = headline_lines(app)
        width = app.query_one("#results-headline").size.width
        assert all(len(line.rstrip()) <= width for line in lines)
        header = next(line for line in lines if line.startswith("model"))
        assert header.split() == ["model", "test", "ood", GROUP, "◆", "within", "each",
                                  COLUMN, "◆"]
        for model, entry in summary["models"].items():
            cells = model_line(lines, model).split()
            assert " ".join(cells[1:3]) == auc_text(entry["metrics"]["roc_auc"]["mean"],
                                                   entry["roc_auc_ci"])
            assert " ".join(cells[3:5]) == auc_text(entry["ood"]["metrics"]["roc_auc"]["mean"],
                                                   entry["ood"]["roc_auc_ci"])
            cc = entry["confound_controlled"]
            assert " ".join(cells[5:7]) == auc_text(cc["roc_auc"]["mean"], cc["roc_auc_ci"])
        assert model_line(lines, "ann").split()[1:] == [
            ".81", "[.70–.90]", ".62", "[.53–.70]", ".56", "[.45–.66]"]
        words = " ".join(" ".join(lines).split())
        assert "◆ the recording channel (source) cannot inflate these" in words
        assert f"'ood' is {GROUP} alone, never trained or validated on" in words
        assert "confound: source alone predicts the label" in text_of(app, "#results-warnings")

    drive(app, body, SIZES[size])


def test_a_run_without_the_entries_names_the_test_auc_to_trust(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        await open_results(pilot)
        # no held-out group, no confounded column: one line names the test AUC as the one
        # to trust, with the best model's interval
        assert visible_text(app.query_one("#results-headline")).strip() == (
            "◆ AUC to trust: test (no confound found); best ann .81 [.70–.90]")
        table = app.query_one("#results-table")
        auc = summary["models"]["ann"]["metrics"]["roc_auc"]
        assert table.get_row("ann")[1] == f"{auc['mean']:.3f} ± {auc['std']:.3f}"
        assert "run 20240501-120000-abcd" in text_of(app, "#results-header")

    drive(app, body, SIZES["80x24"])


def test_a_damaged_entry_is_named_not_shown(tmp_path: Path) -> None:
    """A mistyped ood AUC: the screen names summary.json and the model and shows no numbers;
    the repaired file shows them again on reload."""
    run = add_entries(make_finished_run(tmp_path / "runs"))
    good = read_json(run / "summary.json")
    bad = json.loads(json.dumps(good))
    bad["models"]["ann"]["ood"]["metrics"]["roc_auc"]["mean"] = "abc"
    write_json(run / "summary.json", bad)
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("4")
        view = app.query_one("#results-view")
        await wait_for(pilot, lambda: "damaged" in text_of(app, "#results-header"))
        header = " ".join(text_of(app, "#results-header").split())
        assert str(run / "summary.json") in header and "model 'ann'" in header
        assert "ood.metrics.roc_auc.mean is 'abc'" in header
        assert app.query_one("#results-table").row_count == 0
        assert not app.query_one("#results-headline").display
        write_json(run / "summary.json", good)
        view.action_reload()
        await wait_for(pilot, lambda: app.query_one("#results-table").row_count == 2)
        assert app.query_one("#results-headline").display
        await wait_for(pilot, lambda: "ood source=telegram" in
                       visible_text(app.query_one("#results-headline")))

    drive(app, body, SIZES["80x24"])


# ------------------------------------------------------------------ Ctrl+X


def offers_stop(app: Any) -> bool:
    return any(binding.action == "stop_run"
               for _, binding, *_ in app.screen.active_bindings.values())


def footer(app: Any) -> list[str]:
    """The descriptions of the keys the footer shows."""
    return [key.description for key in app.query("FooterKey")]


def test_stop_run_is_offered_only_while_the_run_is_live(tmp_path: Path) -> None:
    finished = make_finished_run(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=finished.name)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("3")
        await pilot.pause()
        assert app.query_one("#nav").active == "training"
        assert not offers_stop(app)
        assert "Theme" in footer(app) and "Stop run" not in footer(app)
        await pilot.press("ctrl+x")  # hidden, so nothing asks
        await pilot.pause()
        assert app.screen is app.screen_stack[0]

    drive(app, body, SIZES["80x24"])

    run, process = live_run(tmp_path / "live")
    app = make_app(tmp_path / "live", open_run=run.name)

    async def live(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.run_is_live())
        await pilot.press("3")
        await wait_for(pilot, lambda: offers_stop(app))
        await wait_for(pilot, lambda: "Stop run" in footer(app))
        process.kill()  # the writer dies: the run is over, and Stop leaves the footer
        process.wait()
        await wait_for(pilot, lambda: app.followed.follower.done)
        await wait_for(pilot, lambda: not offers_stop(app) and "Stop run" not in footer(app))

    try:
        drive(app, live, SIZES["80x24"])
    finally:
        process.kill()
        process.wait()


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("size", list(SIZES))
def test_results_snapshot_with_ood_and_confound_controlled(
        snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str) -> None:
    """The screen with both entries, without colour (update with ``--snapshot-update`` after
    a deliberate change, then look at the SVGs)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    run = add_entries(make_finished_run(tmp_path / "runs"))
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def before(pilot: Any) -> None:
        await open_results(pilot)
        await wait_for(pilot, lambda: bool(visible_text(app.query_one("#results-headline"))))

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)
