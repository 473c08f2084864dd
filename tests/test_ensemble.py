"""The ensemble: members and weights chosen on validation only, scored like any model, and
reloaded for evaluate/predict (real runner on demo data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine.config import ExperimentConfig, TrainRecipe
from engine.ensemble import Member, select
from engine.metrics import roc_auc
from engine.runner import run_experiment
from engine.runs import RunDir, read_predictions


def test_members_are_chosen_on_validation_only() -> None:
    """'val_good' ranks the validation part perfectly and 'test_good' the test part; the
    selection sees validation only, so it takes 'val_good' -- whatever the test part says."""
    rng = np.random.default_rng(0)
    y_val = np.tile([0, 1], 30)
    good = y_val + 0.1 * rng.random(60)
    noise = rng.random(60)
    chosen = select(y_val, {Member("test_good", 0): noise, Member("val_good", 0): good,
                            Member("weak", 0): 0.3 * y_val + rng.random(60)})
    assert list(chosen.weights) == [Member("val_good", 0)]
    assert chosen.weights[Member("val_good", 0)] == 1.0
    assert chosen.val_auc == pytest.approx(roc_auc(y_val, good))


def test_complementary_members_share_the_weight() -> None:
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 100)
    signal_a, signal_b = rng.normal(size=200), rng.normal(size=200)
    a = y * 0.8 + signal_a  # two independent noisy views of the label
    b = y * 0.8 + signal_b
    probs = {Member("a", 0): 1 / (1 + np.exp(-a)), Member("b", 0): 1 / (1 + np.exp(-b))}
    chosen = select(y, probs)
    assert set(chosen.weights) == {Member("a", 0), Member("b", 0)}
    assert sum(chosen.weights.values()) == pytest.approx(1.0)
    assert chosen.val_auc >= max(roc_auc(y, p) for p in probs.values())
    steps = [s["val_auc"] for s in chosen.steps]
    assert steps == sorted(steps)  # every pick raised the validation AUC


def test_stratified_selection_ignores_what_the_channel_explains() -> None:
    """A member that only knows the recording channel wins on pooled validation AUC but not
    within each channel."""
    rng = np.random.default_rng(2)
    source = np.repeat(["phone", "app"], 100)
    y = (rng.random(200) < np.where(source == "phone", 0.8, 0.2)).astype(int)
    channel = np.where(source == "phone", 0.9, 0.1) + 0.01 * rng.random(200)
    cough = 0.5 + 0.3 * (y - 0.5) + 0.4 * rng.normal(size=200)
    probs = {Member("channel", 0): channel, Member("cough", 0): cough}
    assert roc_auc(y, channel) > roc_auc(y, cough)
    assert list(select(y, probs).weights)[0] == Member("channel", 0)
    assert list(select(y, probs, strata=source).weights) == [Member("cough", 0)]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("ensemble")
    mp = pytest.MonkeyPatch()
    mp.setenv("COUGHSCOPE_DATA_DIR", str(base / "data"))
    mp.setenv("COUGHSCOPE_CACHE_DIR", str(base / "cache"))
    torch.set_num_threads(1)
    try:
        config = ExperimentConfig(data="demo:60", models=("logreg", "ann", "ensemble"), seeds=2,
                                  recipe=TrainRecipe(epochs=2, refit=False))
        run = RunDir(base / "runs" / "e")
        summary = run_experiment(config, run)
    finally:
        mp.undo()
    return {"run": run, "summary": summary}


def test_the_ensemble_is_scored_like_any_model(ensemble_run: dict[str, Any]) -> None:
    run: RunDir = ensemble_run["run"]
    metrics = json.loads((run.model_dir("ensemble", 0) / "metrics.json").read_text())
    members = {(m["model"], m["seed"]): m["weight"] for m in metrics["members"]}
    assert members and set(members) <= {("logreg", 0), ("logreg", 1), ("ann", 0), ("ann", 1)}
    assert sum(members.values()) == pytest.approx(1.0)
    ens = read_predictions(run, "ensemble", 0)
    expected = sum(w * np.asarray(read_predictions(run, m, s).probabilities)
                   for (m, s), w in members.items())
    np.testing.assert_allclose(ens.probabilities, expected, atol=2e-6)
    y_val, p_val = ens.part("val")
    assert metrics["validation"]["roc_auc"] == pytest.approx(roc_auc(y_val, p_val))
    summary = ensemble_run["summary"]["models"]["ensemble"]
    assert summary["seeds"] == [0] and summary["metrics"]["roc_auc"]["mean"] is not None
    assert summary["members"] == metrics["members"]


def test_the_saved_ensemble_predicts_again(ensemble_run: dict[str, Any]) -> None:
    from engine.inference import load_run_models
    from engine.runner import prepare_data
    from engine.config import ExperimentConfig

    run: RunDir = ensemble_run["run"]
    (loaded,) = load_run_models(run, ["ensemble"])
    config = ExperimentConfig.from_toml(run.config_path)
    mp = pytest.MonkeyPatch()
    mp.setenv("COUGHSCOPE_CACHE_DIR", str(run.path.parent.parent / "cache"))
    try:
        ds = prepare_data(config).dataset
    finally:
        mp.undo()
    p = loaded.predictor.predict_proba(loaded.inputs(ds.features, ds.logmel))
    np.testing.assert_allclose(p, read_predictions(run, "ensemble", 0).probabilities, atol=2e-6)


def test_selection_falls_back_to_the_plain_auc_when_no_stratum_has_both_classes() -> None:
    """A held-out source can leave the confounded column with one class per value in the
    validation part: choices then use the plain AUC instead of failing."""
    from engine.models import Part, selection_auc

    y = np.tile([0, 1], 20)
    strata = np.where(y == 1, "verified", "")  # each value holds one class only
    good, bad = y + 0.1 * np.arange(40) / 40, np.arange(40) / 40.0
    assert selection_auc(Part(good[:, None], y, strata=strata), good) == roc_auc(y, good)
    chosen = select(y, {Member("bad", 0): bad, Member("good", 0): good}, strata=strata)
    assert list(chosen.weights) == [Member("good", 0)]
