"""The Compare screen, the export key and the figures list in the app (issue 20: Compare,
Export, domain views), driven by Pilot at 80x24 without colour, and through a real terminal
(tmux) at 80x24 with NO_COLOR.

Runs are written by the run record's own writer (``make_finished_run``: fixed numbers, so the
screens are deterministic; the second run's numbers are changed through ``write_json``), or
trained by the real runner (``tiny_run``: a real finished demo run with its figures).
"""

from __future__ import annotations

import csv
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from test_compare_export import real_runs  # noqa: F401 - covid19-cough runs (slow)
    from test_tui_support import drive, make_app, make_finished_run, wait_for
    from test_tui_tmux import Pane, app_pane  # noqa: F401 - the tmux fixture
    from tiny_run import tiny_run
except ImportError:  # tests/ is a package
    from tests.test_compare_export import real_runs  # noqa: F401
    from tests.test_tui_support import drive, make_app, make_finished_run, wait_for
    from tests.test_tui_tmux import Pane, app_pane  # noqa: F401
    from tests.tiny_run import tiny_run

from engine.runs import read_json, write_json

SMALL = (80, 24)
FIRST, SECOND = "20240501-120000-aaaa", "20240601-120000-bbbb"


def two_runs(runs: Path) -> tuple[Path, Path]:
    """Two finished runs of ann and logreg; the second's ann is better by .05 (test AUC),
    and it was trained with 6 epochs instead of 4."""
    first = make_finished_run(runs, FIRST)
    second = make_finished_run(runs, SECOND)
    summary = read_json(second / "summary.json")
    summary["models"]["ann"]["metrics"]["roc_auc"]["mean"] += 0.05
    write_json(second / "summary.json", summary)
    config = (second / "config.toml").read_text().replace("epochs = 4", "epochs = 6")
    assert config != (second / "config.toml").read_text()
    (second / "config.toml").write_text(config)
    status = read_json(second / "status.json")
    status["started"] = "2024-06-01T12:00:00+00:00"
    write_json(second / "status.json", status)
    return first, second


def screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def visible(widget: Any) -> str:
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


async def open_compare(pilot: Any, marks: int = 2) -> Any:
    """Runs screen, mark the first ``marks`` runs (newest first), press c."""
    app = pilot.app
    await pilot.press("6")
    await wait_for(pilot, lambda: app.view("runs") is not None and len(app.view("runs").rows))
    app.query_one("#runs-table").focus()
    for i in range(marks):
        if i:
            await pilot.press("down")
        await pilot.press("m")
    await pilot.press("c")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen")
    await wait_for(pilot, lambda: app.screen.comparison is not None)
    await pilot.pause()
    return app.screen


def test_marked_runs_open_side_by_side_at_80x24(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    first, second = two_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs")
    s1, s2 = (read_json(r / "summary.json") for r in (first, second))

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        await wait_for(pilot, lambda: app.view("runs") is not None and app.view("runs").rows)
        app.query_one("#runs-table").focus()
        await pilot.press("m", "down", "space")
        await pilot.pause()
        runs_table = visible(app.query_one("#runs-table"))
        assert f"● {SECOND}" in runs_table and f"● {FIRST}" in runs_table, runs_table
        assert app.view("runs").marked == [SECOND, FIRST]
        await pilot.press("c")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.comparison is not None)
        await pilot.pause()
        # marked first, lettered first: the baseline
        assert [i.run.id for i in screen.comparison.runs] == [SECOND, FIRST]
        assert screen.comparison.baseline == SECOND
        table = screen.query_one("#compare-table")
        shown = visible(table)
        for label, summary in (("A", s2), ("B", s1)):
            for model in ("ann", "logreg"):
                entry = summary["models"][model]
                mean, std = entry["metrics"]["roc_auc"]["mean"], entry["metrics"]["roc_auc"]["std"]
                lo, hi = entry["roc_auc_ci"]
                cell = (f"{mean:.2f}±{std:.2f} [{lo:.2f}–{hi:.2f}]").replace("0.", ".")
                line = next(line for line in shown.splitlines()
                            if line.split()[:2] == [model, label])
                assert cell in line, (cell, line)
        ann_b = next(line for line in shown.splitlines() if line.split()[:2] == ["ann", "B"])
        assert ann_b.rstrip().endswith("−.05"), ann_b  # B's ann is .05 below the baseline
        # no column is cut: every header whole, and the table no wider than the screen
        header = shown.splitlines()[0]
        for title in ("model", "run", "test", "Δ test"):
            assert title in header, header
        assert table.virtual_size.width <= table.size.width
        # a kind no run has takes no column; the detail pane says it is not in the run
        assert "shortcut" in header and "held-out" not in header and "within" not in header
        detail = " ".join(visible(screen.query_one("#compare-detail")).split())
        assert "held-out — (the held-out group of a --test-group run" in detail
        assert "not in the table at this width" not in detail
        whole = screen_text(app)
        assert f"A ◆ {SECOND}" in whole

    drive(app, body, SMALL)


@pytest.mark.slow
def test_real_runs_move_what_does_not_fit_into_the_detail_pane(
        real_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real covid19-cough runs (one held Telegram out, the other was scored by evaluate) have
    all five AUCs: at 80 columns the table keeps the ones that fit, whole, and the detail
    pane names the rest and shows them; the leave-one-source-out matrix is drawn."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(real_runs / "runs")
    held = read_json(real_runs / "runs" / "held" / "summary.json")["models"]["logreg"]

    async def body(pilot: Any) -> None:
        screen = await open_compare(pilot)
        labels = {i.run.id: i.label for i in screen.comparison.runs}
        table = screen.query_one("#compare-table")
        assert table.virtual_size.width <= table.size.width
        assert len(screen.kinds_shown) < 4
        row = next(r for r in screen.rows if r.model == "logreg" and r.run == "held")
        table.move_cursor(row=screen.rows.index(row))
        await pilot.pause()
        detail = " ".join(visible(screen.query_one("#compare-detail")).split())
        assert "not in the table at this width" in detail
        ood = held["ood"]
        lo, hi = ood["roc_auc_ci"]
        cell = f"{ood['metrics']['roc_auc']['mean']:.2f}".lstrip("0")
        assert f"held-out {cell}±" in detail and "source=telegram" in detail, detail
        assert f"[{lo:.2f}–{hi:.2f}]".replace("0.", ".") in detail
        domain = str(screen.query_one("#compare-domain").render())
        assert "leave one source out, logreg" in domain
        assert f"{labels['held']} call-center:" in domain and "◆telegram" in domain
        # the ROC per source: the held-out Telegram clips as their own curve, with the AUC
        roc = " ".join(str(screen.query_one("#compare-roc-legend").render()).split())
        assert "test ROC per source" in roc and "(60 clips)" in roc, roc
        assert "\\n" not in roc  # lines are lines, not escaped
        assert f"telegram (held out) {cell}±" in roc
        assert screen.query_one("#compare-roc").display

    drive(app, body, SMALL)


def test_pinning_a_baseline_turns_the_differences_around(tmp_path: Path) -> None:
    two_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        screen = await open_compare(pilot)
        ann_b = next(r for r in screen.rows if r.model == "ann" and r.label == "B")
        assert ann_b.delta["test"] == pytest.approx(-0.05)
        table = screen.query_one("#compare-table")
        table.move_cursor(row=screen.rows.index(ann_b))
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.comparison.baseline == FIRST)
        ann_a = next(r for r in screen.rows if r.model == "ann" and r.label == "A")
        assert ann_a.delta["test"] == pytest.approx(0.05)
        assert "A   " + SECOND in visible(screen.query_one("#compare-runs"))
        assert f"B ◆ {FIRST}" in visible(screen.query_one("#compare-runs"))
        # only what differs: the epochs, not the models
        diff = str(screen.query_one("#compare-diff").render())
        assert "recipe.epochs" in diff and "models" not in diff.replace("[config]", "")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "CompareScreen")

    drive(app, body, (100, 40))


def test_curves_are_the_seeds_mean_and_sources_are_listed(tmp_path: Path) -> None:
    from engine.compare import seed_curves
    from engine.runs import RunDir

    first, _ = two_runs(tmp_path / "runs")
    points = seed_curves(RunDir(first), "ann", "val_auc")
    history = [read_json(first / "ann" / str(s) / "metrics.json")["history"] for s in (0, 1)]
    assert [p["epoch"] for p in points] == [1, 2, 3, 4]
    for p, a, b in zip(points, *history):
        assert p["mean"] == pytest.approx((a["val_auc"] + b["val_auc"]) / 2)
        assert p["n"] == 2 and p["std"] == pytest.approx(abs(a["val_auc"] - b["val_auc"])
                                                         / 2 ** 0.5)
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        screen = await open_compare(pilot)
        legend = str(screen.query_one("#compare-legend").render())
        assert "A" in legend and "B" in legend and "± 1 std" in legend
        domain = str(screen.query_one("#compare-domain").render())
        assert "per source" in domain and "lab .70±.01" in domain
        assert "no run here held a source out" in domain
        # hand-written runs name a data set (demo) without a source column: said, not drawn
        roc = str(screen.query_one("#compare-roc-legend").render())
        assert "ROC per source" in roc and not screen.query_one("#compare-roc").display
        await pilot.press("v")
        assert screen.metric == 1

    drive(app, body, SMALL)


def test_compare_from_the_palette_takes_the_highlighted_run(tmp_path: Path) -> None:
    two_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        assert any(a == "compare_runs" for _, a, _ in app.palette_actions())
        await app.run_palette_action("compare_runs")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CompareScreen")
        await wait_for(pilot, lambda: app.screen.comparison is not None)
        assert [i.run.id for i in app.screen.comparison.runs] == [SECOND]
        assert "one run" in str(app.screen.query_one("#compare-diff").render())

    drive(app, body, SMALL)


def exported(app: Any) -> Any:
    return getattr(app, "last_export", None)


def test_export_key_on_compare_results_and_confusion(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_EXPORT_DIR", str(tmp_path / "exports"))
    first, second = two_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs", open_run=FIRST)
    summary = read_json(first / "summary.json")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("4")
        await wait_for(pilot, lambda: app.query_one("#results-table").row_count > 0)
        app.query_one("#nav").query_one("Tabs").focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: exported(app) is not None, 60)
        done = exported(app)
        assert done.folder.parent == tmp_path / "exports"
        assert done.folder.name.startswith(f"results-{FIRST}-")
        names = {p.name for p in done.files}
        assert {"aucs.csv", "aucs.json", "aucs.tex", "roc_ann.svg", "roc_ann.png",
                "roc_ann.tex", "curves_ann.tex"} <= names
        with open(done.folder / "aucs.csv", newline="") as fh:
            test = next(r for r in csv.DictReader(fh) if r["model"] == "ann"
                        and r["kind"] == "test")
        assert float(test["roc_auc_mean"]) == pytest.approx(
            summary["models"]["ann"]["metrics"]["roc_auc"]["mean"], abs=1e-5)
        # Confusion: the pooled matrix shown
        app.last_export = None
        await pilot.press("5")
        await wait_for(pilot, lambda: app.view("confusion") is not None
                       and app.view("confusion").shown is not None)
        app.query_one("#nav").query_one("Tabs").focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: exported(app) is not None, 60)
        done = exported(app)
        model = app.view("confusion").shown[0]
        pooled = summary["models"][model]["confusion_pooled"]
        assert json.loads((done.folder / "confusion.json").read_text())["confusion"] == pooled
        assert (done.folder / "confusion.png").read_bytes()[:4] == b"\x89PNG"
        # Compare: both runs, never into a folder that exists
        app.last_export = None
        screen = await open_compare(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: exported(app) is not None, 60)
        done = exported(app)
        assert done.folder.name.startswith("compare-")
        rows = list(csv.DictReader(open(done.folder / "aucs.csv", newline="")))
        assert {r["run_id"] for r in rows} == {FIRST, SECOND}
        assert screen.comparison is not None
        first_folder = done.folder
        app.last_export = None
        await pilot.press("e")
        await wait_for(pilot, lambda: exported(app) is not None, 60)
        assert exported(app).folder != first_folder and first_folder.is_dir()

    drive(app, body, SMALL)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def test_figures_open_with_a_display_and_show_the_path_without(
        real_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's own figures are listed; over SSH without a display the path is shown; with
    one, the system opener (here a script standing in for xdg-open) gets the file."""
    figures = sorted(p.name for p in (real_run / "figures").iterdir())
    assert figures, "the real run wrote no figures"
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    script = bin_dir / "xdg-open"
    script.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    app = make_app(real_run.parent, open_run=real_run.name)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
        await pilot.press("4")
        app.query_one("#nav").query_one("Tabs").focus()
        await pilot.press("f")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FiguresScreen")
        screen = app.screen
        listed = [p.name for p in screen.figures]
        assert listed == [f for f in figures if f.endswith((".png", ".svg"))]
        await pilot.press("enter")
        message = str(screen.query_one("#figures-message").render())
        assert "no display here" in message and str(screen.figures[0]) in message
        assert not opened.exists()
        monkeypatch.setenv("DISPLAY", ":0")
        await pilot.press("down", "o")
        await wait_for(pilot, lambda: opened.exists() and opened.read_text().strip(), 30)
        assert opened.read_text().strip() == str(screen.figures[1])
        assert "opened" in str(screen.query_one("#figures-message").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "FiguresScreen")

    drive(app, body, SMALL)


@pytest.fixture
def compare_runs_dir(tmp_path: Path) -> Path:
    """Made before ``app_pane`` starts the app on ``tmp_path/runs``."""
    two_runs(tmp_path / "runs")
    return tmp_path / "runs"


def test_compare_in_a_real_terminal_at_80x24(compare_runs_dir: Path, app_pane: Pane) -> None:
    pane = app_pane
    pane.keys("6")
    pane.wait_for(FIRST)
    pane.keys("Tab")
    pane.wait(lambda s: "runs-table" in s or FIRST in s, "the runs table")
    pane.keys("m")
    pane.wait_for(f"● {SECOND}")
    pane.keys("Down")
    pane.keys("m")
    pane.wait_for(f"● {FIRST}")
    pane.keys("c")
    screen = pane.wait_for("Δ test")
    assert f"A ◆ {SECOND}" in screen
    lines = screen.splitlines()
    assert all(len(line) <= 80 for line in lines)
    row = next(line for line in lines if line.split()[:2] == ["ann", "B"])
    assert "±" in row and "[" in row and row.rstrip().endswith("−.05"), row
    pane.keys("C-t")  # the light theme (remembered in app.json): the same cells, whole
    settings = Path(os.environ["COUGHSCOPE_CONFIG_DIR"]) / "app.json"
    deadline = time.monotonic() + 60
    while "textual-light" not in (settings.read_text() if settings.exists() else ""):
        assert time.monotonic() < deadline, "Ctrl+T did not switch to the light theme"
        time.sleep(0.1)
    screen = pane.wait(lambda s: "Δ test" in s and any(
        line.split()[:2] == ["ann", "B"] and line.rstrip().endswith("−.05")
        for line in s.splitlines()), "Compare in the light theme")
    pane.keys("Escape")
    pane.wait(lambda s: "Δ test" not in s and FIRST in s, "back on Runs")


def test_the_docs_screenshot_script_draws_the_compare_screen(tmp_path: Path) -> None:
    """scripts/compare_screenshot.py (what made docs/compare.svg) on two given runs."""
    import subprocess
    import sys

    first, second = two_runs(tmp_path / "runs")
    out = tmp_path / "compare.svg"
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "scripts" / "compare_screenshot.py"),
                           "--runs", str(second), str(first), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Δ" in svg and "baseline" in svg
    assert (repo / "docs" / "compare.svg").read_text(encoding="utf-8").startswith("<svg")


def test_help_lists_the_compare_keys(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs")
    rows = {(where, key): what for where, key, what in app.help_rows()}
    assert "mark" in rows[("Runs", "m / Space")] and "compare" in rows[("Runs", "c")]
    assert "baseline" in rows[("Compare", "b")]
    assert any(key == "e" and "Results" in where for where, key, _ in app.help_rows())
