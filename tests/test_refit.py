"""Refit: the final model is retrained on train + validation with validation's choices, and
never sees a test clip (real runner, demo data, real Fabric and sklearn fits)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine import models as registry
from engine.config import ExperimentConfig, SplitConfig, TrainRecipe
from engine.models import FitContext, Part, TrainData, get_spec
from engine.runner import PreparedData, run_experiment
from engine.runs import RunDir


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A default-preset run (refit on) with a spy on every fit and on the rows it gets."""
    base = tmp_path_factory.mktemp("refit")
    mp = pytest.MonkeyPatch()
    mp.setenv("COUGHSCOPE_DATA_DIR", str(base / "data"))
    mp.setenv("COUGHSCOPE_CACHE_DIR", str(base / "cache"))
    fits: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    real_fit, real_rows = registry.fit, PreparedData.train_rows

    def spy_fit(spec: Any, data: TrainData, ctx: FitContext) -> Any:
        fits.append({"model": spec.name, "refit": ctx.refit, "n_train": len(data.train.y),
                     "epochs": ctx.recipe.epochs, "chosen": dict(ctx.chosen),
                     "patience": ctx.recipe.early_stopping_patience})
        return real_fit(spec, data, ctx)

    def spy_rows(self: PreparedData, seed: int, balance_by: Any, refit: bool = False) -> Any:
        out = real_rows(self, seed, balance_by, refit)
        rows.append({"refit": refit, "rows": np.asarray(out), "split": self.split_for(seed)})
        return out

    mp.setattr(registry, "fit", spy_fit)
    mp.setattr(PreparedData, "train_rows", spy_rows)
    torch.set_num_threads(1)
    try:
        config = ExperimentConfig(data="demo:60", models=("logreg", "ann"), seeds=1,
                                  recipe=TrainRecipe(epochs=3, early_stopping_patience=1))
        run = RunDir(base / "runs" / "r")
        summary = run_experiment(config, run)
    finally:
        mp.undo()
    return {"run": run, "summary": summary, "fits": fits, "rows": rows}


def test_refit_trains_on_train_and_validation_and_never_on_test(refit_run: dict) -> None:
    refits = [r for r in refit_run["rows"] if r["refit"]]
    assert len(refits) == 2  # logreg and ann
    for r in refits:
        split = r["split"]
        assert set(r["rows"]) == set(split.train) | set(split.val)
        assert not set(r["rows"]) & set(split.test)
    for r in refit_run["rows"]:
        if not r["refit"]:
            assert set(r["rows"]) == set(r["split"].train)
    n_train = len(refits[0]["split"].train)
    n_both = n_train + len(refits[0]["split"].val)
    by = {(f["model"], f["refit"]): f for f in refit_run["fits"]}
    assert by[("ann", False)]["n_train"] == n_train and by[("ann", True)]["n_train"] == n_both
    assert by[("logreg", True)]["n_train"] == n_both


def test_refit_uses_what_validation_chose(refit_run: dict) -> None:
    run: RunDir = refit_run["run"]
    metrics = json.loads((run.model_dir("ann", 0) / "metrics.json").read_text())
    fit = next(f for f in refit_run["fits"] if f["model"] == "ann" and f["refit"])
    assert fit["epochs"] == metrics["best_epoch"] == metrics["refit"]["chosen"]["epochs"]
    assert fit["patience"] is None
    logreg = json.loads((run.model_dir("logreg", 0) / "metrics.json").read_text())
    chosen_c = json.loads((run.model_dir("logreg", 0) / "selection" / "model.json").read_text())["C"]
    assert logreg["refit"]["chosen"]["C"] == chosen_c
    assert json.loads((run.model_dir("logreg", 0) / "model.json").read_text())["C"] == chosen_c
    # validation's numbers and the threshold come from the model that had not seen it
    config = tomllib.loads(run.config_path.read_text())
    assert config["recipe"]["refit"] is True and config["augment"]["enabled"] is True
    assert refit_run["summary"]["models"]["ann"]["refit"] is True


def test_paper_preset_keeps_the_papers_protocol(tmp_path: Path) -> None:
    config = ExperimentConfig(data="demo:40", models=("logreg",), seeds=1,
                              recipe=TrainRecipe(preset="paper", epochs=1,
                                                 class_weighting=False,
                                                 early_stopping_patience=None))
    run = RunDir(tmp_path / "paper")
    summary = run_experiment(config, run)
    saved = tomllib.loads(run.config_path.read_text())
    assert saved["recipe"]["refit"] is False and saved["augment"]["enabled"] is False
    assert not (run.model_dir("logreg", 0) / "selection").exists()
    assert summary["models"]["logreg"]["refit"] is False


def test_a_refit_fit_trains_every_epoch_and_keeps_the_last(tmp_path: Path) -> None:
    from engine import trainer

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 26)).astype(np.float32)
    y = (rng.random(80) < 0.5).astype(np.int64)
    X[:, 0] += 2 * y
    val = Part(rng.normal(size=(20, 26)).astype(np.float32), np.tile([0, 1], 10))
    records: list[dict] = []
    ctx = FitContext(recipe=TrainRecipe(epochs=4, batch_size=16, early_stopping_patience=1),
                     seed=0, workdir=tmp_path / "ann", on_epoch=records.append, refit=True,
                     chosen={"epochs": 4})
    predictor = trainer.fit(get_spec("ann"), TrainData(Part(X, y), val), ctx)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # no early stop on validation
    assert predictor.meta["best_epoch"] == 4  # the last epoch is the model


def test_svm_on_demo_data_beats_chance_and_its_refit_keeps_the_chosen_C(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real runner, default preset: svm's inner CV chooses C in the selection fit, the
    refit on train + validation reuses that C, the saved model reloads to the very test
    probabilities the run wrote, and it beats chance on the demo set's learnable signal."""
    from engine.models import load
    from engine.runner import prepare_data
    from engine.runs import read_predictions

    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    config = ExperimentConfig(data="demo:60", models=("svm",), seeds=1)
    run = RunDir(tmp_path / "runs" / "r")
    summary = run_experiment(config, run)
    model_dir = run.model_dir("svm", 0)
    selection = json.loads((model_dir / "selection" / "model.json").read_text())
    final = json.loads((model_dir / "model.json").read_text())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert selection["folds"] >= 2 and final["folds"] == 0  # chosen once, then reused
    assert metrics["refit"]["chosen"] == {"C": selection["C"]} and final["C"] == selection["C"]
    assert summary["models"]["svm"]["metrics"]["roc_auc"]["mean"] > 0.6

    prepared = prepare_data(ExperimentConfig(data="demo:60", preprocess=config.preprocess))
    predictor = load(get_spec("svm"), model_dir)
    test = prepared.split.test
    p = predictor.predict_proba(prepared.inputs(get_spec("svm"))[test])
    written = read_predictions(run, "svm", 0)
    by_clip = dict(zip(written.clips, written.probabilities))
    np.testing.assert_allclose(p, [by_clip[str(prepared.dataset.clips[i].path)] for i in test],
                               rtol=1e-6)
