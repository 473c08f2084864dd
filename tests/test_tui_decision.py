"""Results, Confusion and Runs show each model's decision record (issue 18): the operating
point (rule, what chose it, threshold, expected vs measured rates with intervals), the
calibration (method, Brier and ECE with intervals, the uncalibrated Brier), the reliability
diagram's bins, and the AUC to trust.

On a real run made once per module by the real runner (``--operating-point
sensitivity=0.8``), the numbers on screen are summary.json's and metrics.json's, rounded as
shown; the confusion matrix is the one at the recorded threshold; a copy of the run with the
new keys deleted (as a run made by an older coughscope) says "not recorded" instead. Plus
snapshots of Results with a hand-written record at 80x24 and 140x40, without colour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    from test_tui_daily import visible_text
    from test_tui_support import drive, make_app, make_finished_run, text_of, wait_for
except ImportError:  # tests/ is a package
    from tests.test_tui_daily import visible_text
    from tests.test_tui_support import drive, make_app, make_finished_run, text_of, wait_for

from engine.runs import read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"80x24": (80, 24), "140x40": (140, 40)}
RUN = "20240601-120000-oper"
OLD = "20240601-120000-oldr"
POINT = "sensitivity=0.8"
NEW_KEYS = ("operating_point", "calibration", "trusted_auc")
NEW_TEST_KEYS = ("brier", "brier_ci", "ece", "ece_ci", "reliability", "positive_share",
                 "positive_share_ci", "sensitivity_ci", "specificity_ci", "brier_uncalibrated")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of logreg and ann (2 seeds, refit, 5 out-of-fold folds) on the demo data
    at sensitivity=0.8, and a copy with the issue-18 keys deleted (an older run)."""
    base = tmp_path_factory.mktemp("decision")
    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
           "COUGHSCOPE_CACHE_DIR": str(base / "cache"), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--headless", "--data", "demo:60", "--models",
         "logreg,ann", "--seeds", "2", "--epochs", "3", "--operating-point", POINT,
         "--runs-dir", str(base / "runs"), "--run-id", RUN],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    old = base / "runs" / OLD
    shutil.copytree(base / "runs" / RUN, old)
    summary = read_json(old / "summary.json")
    summary["run_id"] = OLD
    for entry in summary["models"].values():
        for key in NEW_KEYS:
            entry.pop(key, None)
        for key in ("brier", "brier_uncalibrated", "ece"):
            entry["metrics"].pop(key, None)
    write_json(old / "summary.json", summary)
    for path in old.glob("*/*/metrics.json"):
        metrics = read_json(path)
        for key in NEW_KEYS:
            metrics.pop(key, None)
        for key in NEW_TEST_KEYS:
            metrics["test"].pop(key, None)
        write_json(path, metrics)
    return base / "runs"


def summary_of(runs: Path, run_id: str = RUN) -> dict[str, Any]:
    return json.loads((runs / run_id / "summary.json").read_text())


def metrics_of(runs: Path, model: str, seed: int) -> dict[str, Any]:
    return json.loads((runs / RUN / model / str(seed) / "metrics.json").read_text())


def span(ci: list[float], digits: int = 2) -> str:
    return f"[{ci[0]:.{digits}f}–{ci[1]:.{digits}f}]"


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def pct_ci(value: float, ci: list[float]) -> str:
    return f"{pct(value)} [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%]"


def two(value: float) -> str:
    text = f"{value:.2f}"
    return text[1:] if text.startswith("0") else text


def lines_of(widget: Any) -> list[str]:
    """A widget's rows as shown, each with its words single-spaced."""
    return [" ".join(line.split()) for line in visible_text(widget).splitlines()]


async def opened(pilot: Any, key: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.followed is not None and app.followed.was_over)
    await pilot.press(key)
    await pilot.pause(0.2)


async def pick(pilot: Any, selector: str, value: str) -> None:
    from textual.widgets import Select

    pilot.app.query_one(selector, Select).value = value
    await pilot.pause(0.2)


# ------------------------------------------------------------------ Results


@pytest.mark.parametrize("model", ["logreg", "ann"])
def test_results_pane_shows_the_recorded_numbers(runs: Path, model: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    entry = summary_of(runs)["models"][model]
    op, cal, trusted = (entry[k] for k in NEW_KEYS)
    app = make_app(runs, open_run=RUN)

    async def body(pilot: Any) -> None:
        await opened(pilot, "4")
        await pick(pilot, "#results-model", model)
        pane = app.query_one("#results-decision")
        lines = lines_of(pane)
        # nothing is cut at 80 columns
        assert all(len(line.rstrip()) <= pane.size.width
                   for line in visible_text(pane).splitlines())
        auc = f"{two(trusted['roc_auc'])} [{two(trusted['roc_auc_ci'][0])}–" \
              f"{two(trusted['roc_auc_ci'][1])}]"
        assert lines[0] == f"{model}: ◆ AUC to trust test (no confound found) {auc}"
        assert trusted["label"] == "test (no confound found)"
        assert lines[1] == f"operating point: {POINT} on out-of-fold predictions (5 folds)"
        t = op["threshold"]
        assert lines[2] == f"threshold {t['mean']:.3f} ± {t['std']:.3f}"
        assert lines[3] == "at the point expected (out-of-fold) measured (test)"
        for line, (key, label) in zip(lines[4:7], (("sensitivity", "sensitivity"),
                                                  ("specificity", "specificity"),
                                                  ("positive_share", "called positive"))):
            e, m = op["expected"][key], op["measured"][key]
            assert line == (f"{label} {e['mean']:.2f} {span(e['ci'])} "
                            f"{m['mean']:.2f} {span(m['ci'])}")
        assert lines[7] == f"calibration: {cal['method']} on out-of-fold predictions"
        assert lines[8] == (f"Brier {cal['brier']['mean']:.3f} {span(cal['brier_ci'], 3)} "
                            f"(uncalibrated {cal['brier_uncalibrated']['mean']:.3f})")
        assert lines[9] == (f"ECE {cal['ece']['mean']:.3f} {span(cal['ece_ci'], 3)} "
                            "(test part; lower is better)")
        if cal["informative"] is False:  # the method's own words: it learnt nothing
            assert " ".join(lines[10:]).startswith(" ".join(cal["description"].split())[:40])
        # the reliability bins, as the engine checks them, one row each
        from engine.runs import read_summary, reliability_of

        bins = reliability_of(read_summary(app.followed.run).models[model])
        assert bins
        table = lines_of(app.query_one("#results-bins"))
        assert table[:2] == ["reliability (test, calibrated)", "bin clips pred. observed [95%]"]
        for row, b in zip(table[2:], bins):
            assert row == (f"{b['lo']:.1f}–{b['hi']:.1f} {b['n']} {b['predicted']:.2f} "
                           f"{b['observed']:.2f} {span(b['observed_ci'])}")
        assert app.query_one("#results-reliability").plt  # the diagram beside it
        # the headline names the AUC to trust and the best model
        headline = lines_of(app.query_one("#results-headline"))
        best = max((m for m in summary_of(runs)["models"].items()),
                   key=lambda kv: kv[1]["trusted_auc"]["roc_auc"])
        assert headline[-1].startswith("◆ AUC to trust: test (no confound found); best "
                                       f"{best[0]} {two(best[1]['trusted_auc']['roc_auc'])}")

    drive(app, body, SIZES["80x24"])


def test_results_of_an_older_run_say_not_recorded(runs: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(runs, open_run=OLD)

    async def body(pilot: Any) -> None:
        await opened(pilot, "4")
        await pick(pilot, "#results-model", "logreg")
        words = " ".join(lines_of(app.query_one("#results-decision")))
        assert "operating point: not recorded (run made before coughscope recorded " \
               "operating points: its threshold was chosen on the validation part)" in words
        assert "calibration: not recorded (run made before coughscope calibrated " \
               "probabilities: P(positive) is the model's raw output)" in words
        # the AUC to trust is computed from the entry, as for any older summary
        assert "◆ AUC to trust test (no confound found)" in words
        bins = " ".join(lines_of(app.query_one("#results-bins"))).strip()
        assert bins == "reliability: not recorded (run made before coughscope calibrated " \
                       "probabilities)"
        assert app.query_one("#results-table").row_count == 2  # the rest as before

    drive(app, body, SIZES["80x24"])


# ------------------------------------------------------------------ Confusion


def test_confusion_is_at_the_operating_point(runs: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.runs import RunDir, read_predictions
    from tui.screens.confusion import counts_at

    monkeypatch.setenv("NO_COLOR", "1")
    entry = summary_of(runs)["models"]["logreg"]
    app = make_app(runs, open_run=RUN)

    async def body(pilot: Any) -> None:
        await opened(pilot, "5")
        await pick(pilot, "#confusion-model", "logreg")
        view = app.query_one("#confusion-view")
        # pooled: the summary's point, its expected rates with intervals beside the measured
        lines = lines_of(app.query_one("#confusion-rates"))
        assert f"operating point: {POINT} on out-of-fold predictions (5 folds)" in lines
        exp = entry["operating_point"]["expected"]
        pooled = entry["confusion_pooled"]
        sens = pooled["tp"] / (pooled["tp"] + pooled["fn"])
        assert f"sensitivity {pct_ci(exp['sensitivity']['mean'], exp['sensitivity']['ci'])} " \
               f"{pct(sens)}" in lines
        assert "expected (out-of-fold) measured here" in lines
        for seed in entry["seeds"]:
            await pick(pilot, "#confusion-seed", str(seed))
            metrics = metrics_of(runs, "logreg", seed)
            op = metrics["operating_point"]
            # the matrix is the recorded one, at the recorded threshold: recounting the test
            # predictions at the operating point gives the same counts
            assert metrics["threshold"] == op["threshold"]
            labels, probs = read_predictions(RunDir(runs / RUN), "logreg", seed).part("test")
            counts, _ = view.confusion_for("logreg", str(seed))
            assert counts == metrics["test"]["confusion"] == counts_at(labels, probs,
                                                                       op["threshold"])
            lines = lines_of(app.query_one("#confusion-rates"))
            assert f"threshold {op['threshold']:.3f} (← → move it, 0 returns here)" in lines
            e = op["expected"]
            share = (counts["tp"] + counts["fp"]) / sum(counts.values())
            assert f"called positive {pct_ci(e['positive_share'], e['positive_share_ci'])} " \
                   f"{pct(share)}" in lines
            view.focus()
            await pilot.press("right", "right")
            await pilot.pause()
            assert "0: back to the operating point" in text_of(app, "#confusion-rates")
            await pilot.press("0")
            await pilot.pause()
            assert view.threshold is None
            assert view.confusion_for("logreg", str(seed))[0] == metrics["test"]["confusion"]
            assert f"threshold {op['threshold']:.3f} (← → move it, 0 returns here)" in \
                lines_of(app.query_one("#confusion-rates"))
        # everything is on screen at 80x24 (pooled, the longest caption)
        await pick(pilot, "#confusion-seed", "pooled")
        rates = app.query_one("#confusion-rates")
        assert rates.region.bottom <= 24 - 1
        assert app.screen.find_widget(rates).visible_region == rates.region

    drive(app, body, SIZES["80x24"])


def test_confusion_of_an_older_run_says_chosen_on_validation(runs: Path) -> None:
    app = make_app(runs, open_run=OLD)

    async def body(pilot: Any) -> None:
        await opened(pilot, "5")
        words = " ".join(lines_of(app.query_one("#confusion-rates")))
        assert "(chosen on validation; ← → move it)" in words
        assert "operating point: not recorded (run made before they were)" in words
        assert "expected" not in words

    drive(app, body, SIZES["80x24"])


# ------------------------------------------------------------------ Runs


def test_runs_detail_names_the_best_models_point_and_auc(runs: Path) -> None:
    summary = summary_of(runs)
    best = max((kv for kv in summary["models"].items() if kv[0] != "majority"),
               key=lambda kv: kv[1]["metrics"]["roc_auc"]["mean"])
    app = make_app(runs, open_run=RUN)

    async def body(pilot: Any) -> None:
        from textual.widgets import DataTable

        await opened(pilot, "6")
        table = app.query_one("#runs-table", DataTable)
        for run_id in (RUN, OLD):
            table.move_cursor(row=table.get_row_index(run_id))
            await pilot.pause()
            words = " ".join(lines_of(app.query_one("#runs-detail")))
            assert f"best: {best[0]}, ◆ AUC to trust test (no confound found) " \
                   f"{two(best[1]['metrics']['roc_auc']['mean'])}" in words
            if run_id == RUN:
                t = best[1]["operating_point"]["threshold"]
                assert f"operating point: {POINT} on out-of-fold predictions (5 folds) " \
                       f"threshold {t['mean']:.3f} ± {t['std']:.3f}" in words
            else:
                assert "operating point: not recorded (run made before" in words

    drive(app, body, (100, 40))


# ------------------------------------------------------------------ snapshots


def add_decision(run: Path) -> Path:
    """Give the hand-written run (make_finished_run) an issue-18 record: fixed numbers, in
    the shape the runner writes them."""
    summary = read_json(run / "summary.json")
    for i, (name, entry) in enumerate(summary["models"].items()):
        ms = lambda m, ci=None: {"mean": m, "std": 0.02, **({"ci": ci} if ci else {})}  # noqa
        entry["operating_point"] = {
            "rule": POINT, "source": "out-of-fold", "folds": 5,
            "threshold": {"mean": 0.41 + 0.1 * i, "std": 0.03},
            "threshold_calibrated": {"mean": 0.35, "std": 0.02},
            "expected": {"sensitivity": ms(0.8, [0.66, 0.9]),
                         "specificity": ms(0.71, [0.6, 0.8]),
                         "positive_share": ms(0.45, [0.37, 0.53])},
            "measured": {"sensitivity": ms(0.75, [0.55, 0.88]),
                         "specificity": ms(0.79, [0.66, 0.88]),
                         "positive_share": ms(0.4, [0.3, 0.51])}}
        entry["calibration"] = {
            "method": "platt", "source": "out-of-fold", "informative": True,
            "description": "Platt (slope 1.1, intercept -0.3, 56 clips)",
            "brier": {"mean": 0.182 + 0.01 * i, "std": 0.004}, "brier_ci": [0.14, 0.23],
            "brier_uncalibrated": {"mean": 0.205, "std": 0.006},
            "ece": {"mean": 0.071, "std": 0.01}, "ece_ci": [0.04, 0.15],
            "reliability": [
                {"lo": lo / 10, "hi": (lo + 1) / 10, "n": n, "predicted": p, "observed": o,
                 "observed_ci": [max(0.0, o - 0.2), min(1.0, o + 0.2)]}
                for lo, n, p, o in ((0, 9, 0.07, 0.0), (2, 12, 0.26, 0.25),
                                    (4, 10, 0.45, 0.5), (6, 8, 0.66, 0.62),
                                    (8, 5, 0.87, 1.0))]}
        entry["trusted_auc"] = {"kind": "test", "label": "test (no confound found)",
                                "roc_auc": entry["metrics"]["roc_auc"]["mean"],
                                "roc_auc_ci": entry["roc_auc_ci"]}
    write_json(run / "summary.json", summary)
    return run


@pytest.mark.parametrize("size", list(SIZES))
def test_results_snapshot_with_the_decision_record(
        snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str) -> None:
    """Results scrolled to the selected model's pane, without colour (update with
    ``--snapshot-update`` after a deliberate change, then look at the SVGs)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    run = add_decision(make_finished_run(tmp_path / "runs"))
    app = make_app(tmp_path / "runs", open_run=run.name)

    async def before(pilot: Any) -> None:
        await opened(pilot, "4")
        await wait_for(pilot, lambda: "AUC to trust" in
                       visible_text(app.query_one("#results-decision")))
        app.query_one("#results-decision").scroll_visible(animate=False, top=True)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)
