"""The typed readers of ``summary.json``'s ``ood`` and ``confound_controlled`` and of
``metrics.json``'s ``stratified`` and ``ood`` (engine.runs), and ``runs show`` printing them.

Runs are written by the real writers: the hand-written finished run of the TUI tests, with
the entries the runner adds (per seed, as ``runner.score`` writes them; per model, folded by
the runner's own ``controlled`` and ``out_of_distribution``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

try:
    from test_tui_support import SEEDS, make_finished_run
except ImportError:  # tests/ is a package
    from tests.test_tui_support import SEEDS, make_finished_run

from engine.errors import RunError
from engine.runs import RunDir, read_json, read_metrics, read_summary, write_json

GROUP = "source=telegram"
COLUMN = "source"

# per model and seed: (ood AUC, its interval), (stratified AUC, its interval)
SEED_NUMBERS = {
    ("ann", 0): ((0.61, [0.52, 0.69]), (0.57, [0.46, 0.67])),
    ("ann", 1): ((0.63, [0.54, 0.71]), (0.55, [0.44, 0.65])),
    ("logreg", 0): ((0.58, [0.49, 0.66]), (0.52, [0.41, 0.63])),
    ("logreg", 1): ((0.56, [0.47, 0.64]), (0.54, [0.43, 0.64])),
}


def add_entries(run: Path, *, ood: bool = True, controlled: bool = True) -> Path:
    """Add what a ``--test-group source=telegram`` run (``ood``) and a run whose confound
    check flags ``source`` (``confound_controlled``) write, through the run record's writer."""
    from engine.runner import controlled as fold_controlled, out_of_distribution

    summary = read_json(run / "summary.json")
    for model, entry in summary["models"].items():
        per_seed = []
        for seed in SEEDS:
            path = run / model / str(seed) / "metrics.json"
            metrics = read_json(path)
            (ood_auc, ood_ci), (strat_auc, strat_ci) = SEED_NUMBERS[(model, seed)]
            metrics["stratified"] = {COLUMN: {
                "roc_auc": strat_auc, "roc_auc_ci": strat_ci,
                "by_value": {"lab": {"roc_auc": strat_auc - 0.02, "n_positive": 5,
                                     "n_negative": 6},
                             "phone": {"roc_auc": strat_auc + 0.02, "n_positive": 4,
                                       "n_negative": 7}},
                "left_out": []}}
            if ood:
                metrics["ood"] = {**metrics["test"], "group": GROUP, "roc_auc": ood_auc,
                                  "roc_auc_ci": ood_ci, "n": 30, "n_positive": 7}
            write_json(path, metrics)
            per_seed.append(metrics)
        entry["ood"] = out_of_distribution(per_seed)
        entry["confound_controlled"] = fold_controlled(per_seed, COLUMN if controlled else None)
        if controlled:
            entry["confound_warning"] = (f"{COLUMN} alone predicts the label (test ROC-AUC "
                                         f"0.81 from {COLUMN} only)")
    write_json(run / "summary.json", summary)
    return run


def test_old_runs_read_without_the_entries(tmp_path: Path) -> None:
    run = RunDir(make_finished_run(tmp_path))
    summary = read_summary(run)
    assert summary is not None and set(summary.models) == {"ann", "logreg"}
    for m in summary.models.values():
        assert m.ood is None and m.confound_controlled is None
    metrics = read_metrics(run, "ann", 0)
    assert metrics is not None and metrics.stratified == {} and metrics.ood is None


def test_the_entries_read_back_as_the_runner_wrote_them(tmp_path: Path) -> None:
    run = RunDir(add_entries(make_finished_run(tmp_path)))
    raw = json.loads(run.summary_path.read_text())
    summary = read_summary(run)
    assert summary is not None
    for name, m in summary.models.items():
        entry = raw["models"][name]
        assert m.ood is not None and m.ood.group == GROUP
        assert (m.ood.column, m.ood.value) == ("source", "telegram")
        assert m.ood.roc_auc == entry["ood"]["metrics"]["roc_auc"]["mean"]
        assert m.ood.std("roc_auc") == entry["ood"]["metrics"]["roc_auc"]["std"]
        assert m.ood.mean("n") == 30.0
        assert m.ood.roc_auc_ci == entry["ood"]["roc_auc_ci"]
        cc = m.confound_controlled
        assert cc is not None and cc.column == COLUMN
        assert cc.roc_auc == entry["confound_controlled"]["roc_auc"]["mean"]
        assert cc.roc_auc_std == entry["confound_controlled"]["roc_auc"]["std"]
        assert cc.roc_auc_ci == entry["confound_controlled"]["roc_auc_ci"]
    # the values themselves: the runner's means over the two seeds
    ann = summary.models["ann"]
    assert ann.ood.roc_auc == pytest.approx(0.62)
    assert ann.ood.roc_auc_ci == pytest.approx([0.53, 0.70])
    assert ann.confound_controlled.roc_auc == pytest.approx(0.56)
    assert ann.confound_controlled.roc_auc_ci == pytest.approx([0.45, 0.66])
    per_seed = read_metrics(run, "logreg", 1)
    assert per_seed is not None and per_seed.ood is not None
    assert (per_seed.ood.group, per_seed.ood.roc_auc, per_seed.ood.roc_auc_ci) == (
        GROUP, 0.56, [0.47, 0.64])
    assert per_seed.ood.metrics["n"] == 30
    strat = per_seed.stratified[COLUMN]
    assert (strat.roc_auc, strat.roc_auc_ci, strat.left_out) == (0.54, [0.43, 0.64], [])
    assert set(strat.by_value) == {"lab", "phone"}


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return change


SUMMARY_DAMAGE = [
    (("ood",), "telegram", "ood"),
    (("ood", "group"), 5, "ood.group"),
    (("ood", "group"), "telegram", "ood.group"),
    (("ood", "metrics"), [0.6], "ood.metrics"),
    (("ood", "metrics", "roc_auc"), 0.6, "ood.metrics.roc_auc"),
    (("ood", "metrics", "roc_auc", "mean"), "abc", "ood.metrics.roc_auc.mean"),
    (("ood", "metrics", "roc_auc", "mean"), 1.5, "ood.metrics.roc_auc.mean"),
    (("ood", "metrics", "accuracy", "std"), "wide", "ood.metrics.accuracy.std"),
    (("ood", "roc_auc_ci"), [0.5], "ood.roc_auc_ci"),
    (("ood", "roc_auc_ci"), [0.7, 0.4], "ood.roc_auc_ci"),
    (("confound_controlled",), 0.56, "confound_controlled"),
    (("confound_controlled", "column"), None, "confound_controlled.column"),
    (("confound_controlled", "roc_auc"), "x", "confound_controlled.roc_auc"),
    (("confound_controlled", "roc_auc", "mean"), True, "confound_controlled.roc_auc.mean"),
    (("confound_controlled", "roc_auc_ci"), "0.4-0.7", "confound_controlled.roc_auc_ci"),
]


@pytest.mark.parametrize("path, value, key", SUMMARY_DAMAGE,
                         ids=[f"{k}={v!r}" for _, v, k in SUMMARY_DAMAGE])
def test_a_damaged_summary_entry_names_the_file_and_the_model(
        tmp_path: Path, path: tuple[str, ...], value: Any, key: str) -> None:
    run = RunDir(add_entries(make_finished_run(tmp_path)))
    summary = read_json(run.summary_path)
    _set(path, value)(summary["models"]["logreg"])
    write_json(run.summary_path, summary)
    with pytest.raises(RunError) as err:
        read_summary(run)
    assert str(run.summary_path) in err.value.message
    assert "model 'logreg'" in err.value.message and key in err.value.message
    assert "damaged" in err.value.hint


METRICS_DAMAGE = [
    (("stratified",), ["source"], "stratified"),
    (("stratified", COLUMN), 0.5, "stratified.source"),
    (("stratified", COLUMN, "roc_auc"), "abc", "stratified.source.roc_auc"),
    (("stratified", COLUMN, "roc_auc_ci"), [0.1, 0.2, 0.3], "stratified.source.roc_auc_ci"),
    (("stratified", COLUMN, "left_out"), "lab", "stratified.source.left_out"),
    (("ood",), 0.61, "ood"),
    (("ood", "group"), None, "ood.group"),
    (("ood", "roc_auc"), -0.1, "ood.roc_auc"),
]


@pytest.mark.parametrize("path, value, key", METRICS_DAMAGE,
                         ids=[f"{k}={v!r}" for _, v, k in METRICS_DAMAGE])
def test_a_damaged_metrics_entry_names_the_file_and_the_model(
        tmp_path: Path, path: tuple[str, ...], value: Any, key: str) -> None:
    run = RunDir(add_entries(make_finished_run(tmp_path)))
    file = run.model_dir("ann", 1) / "metrics.json"
    metrics = read_json(file)
    _set(path, value)(metrics)
    write_json(file, metrics)
    with pytest.raises(RunError) as err:
        read_metrics(run, "ann", 1)
    assert str(file) in err.value.message
    assert "model 'ann'" in err.value.message and key in err.value.message


def test_runs_show_prints_the_entries_and_what_they_mean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.commands.runs import show

    run = RunDir(add_entries(make_finished_run(tmp_path)))
    summary = read_summary(run)
    assert summary is not None
    ann = summary.models["ann"]
    assert show(run, as_json=True) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results["ann"]["ood"] == {"group": GROUP, "roc_auc": ann.ood.roc_auc,
                                     "roc_auc_ci": ann.ood.roc_auc_ci}
    assert results["ann"]["confound_controlled"] == {
        "column": COLUMN, "roc_auc": ann.confound_controlled.roc_auc,
        "roc_auc_ci": ann.confound_controlled.roc_auc_ci}
    assert show(run, as_json=False) == 0
    text = capsys.readouterr().out
    assert f"ann.ood.group = {GROUP}" in text
    assert f"ann.ood.roc_auc = {ann.ood.roc_auc:.4g}" in text
    lo, hi = ann.confound_controlled.roc_auc_ci
    assert f"ann.confound_controlled.roc_auc_ci = [{lo:.4g}, {hi:.4g}]" in text
    flat = " ".join(text.split())
    assert "never trained or validated on" in flat and "cannot inflate" in flat
    # an old run: no such keys, no such notes
    old = RunDir(make_finished_run(tmp_path / "old"))
    assert show(old, as_json=False) == 0
    text = capsys.readouterr().out
    assert ".ood." not in text and "confound_controlled" not in text
