"""The sklearn baselines: what they predict, what they save, and what they refuse to load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.config import TrainRecipe
from engine.errors import RunError
from engine.metrics import roc_auc
from engine.models import FitContext, Part, TrainData, fit, get_spec, load

EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc"}


def table(n: int, seed: int, shift: float = 2.5, flip: bool = False) -> Part:
    """``n`` rows of 6 features; feature 0 carries the label (25% positive), the rest noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    X = rng.normal(size=(n, 6))
    X[:, 0] += shift * (y if not flip else 1 - y)
    return Part(X=X, y=y)


def data(flip_val: bool = False) -> TrainData:
    return TrainData(train=table(300, 1), val=table(120, 2, flip=flip_val),
                     feature_names=[f"f{i}" for i in range(6)])


def context(tmp_path: Path, records: list[dict], weighting: bool = True) -> FitContext:
    return FitContext(recipe=TrainRecipe(class_weighting=weighting), seed=0,
                      workdir=tmp_path, on_epoch=records.append)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> object:
    """Small tables: one OpenMP thread is faster than several on a shared machine."""
    import sklearn.ensemble  # noqa: F401 -- load its OpenMP runtime so the limit applies
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))


def test_majority_predicts_the_training_prior(tmp_path: Path) -> None:
    records: list[dict] = []
    d = data()
    predictor = fit(get_spec("majority"), d, context(tmp_path, records))
    test = table(200, 3)
    p = predictor.predict_proba(test.X)
    assert np.all(p == pytest.approx(d.train.y.mean()))
    assert roc_auc(test.y, p) == 0.5
    assert len(records) == 1 and set(records[0]) >= EPOCH_KEYS and records[0]["epoch"] == 1
    assert records[0]["val_auc"] == 0.5
    # it predicts "negative" everywhere, so its accuracy is the negatives' share
    assert records[0]["val_acc"] == pytest.approx(1 - d.val.y.mean())
    predictor.save(tmp_path)
    again = load(get_spec("majority"), tmp_path)
    assert np.array_equal(again.predict_proba(test.X), p)
    assert json.loads((tmp_path / "model.json").read_text())["prior"] == pytest.approx(
        d.train.y.mean())


def test_logreg_recovers_a_separable_signal(tmp_path: Path) -> None:
    records: list[dict] = []
    predictor = fit(get_spec("logreg"), data(), context(tmp_path, records))
    test = table(400, 4)
    p = predictor.predict_proba(test.X)
    assert roc_auc(test.y, p) > 0.8
    # the informative feature carries most of the weight (standardised coefficients)
    assert abs(predictor.coef[0]) > 3 * np.abs(predictor.coef[1:]).max()
    assert predictor.C in (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    assert records[0]["val_auc"] > 0.8 and records[0]["train_loss"] < 0.7
    # class-weighted: balanced accuracy is close to plain accuracy, the minority is found
    pred = p >= 0.5
    assert pred[test.y == 1].mean() > 0.6
    predictor.save(tmp_path)
    assert not (tmp_path / "gbm.pkl").exists()
    again = load(get_spec("logreg"), tmp_path)
    assert np.array_equal(again.predict_proba(test.X), p)


def test_logreg_matches_sklearn_predict_proba(tmp_path: Path) -> None:
    """The saved parameters reproduce sklearn's own probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    d = data()
    predictor = fit(get_spec("logreg"), d, context(tmp_path, [], weighting=False))
    scaler = StandardScaler().fit(d.train.X)
    ref = LogisticRegression(C=predictor.C, max_iter=5000).fit(scaler.transform(d.train.X),
                                                              d.train.y)
    test = table(50, 5)
    expected = ref.predict_proba(scaler.transform(test.X))[:, 1]
    assert np.allclose(predictor.predict_proba(test.X), expected, atol=1e-6)


def test_gbm_early_stops_on_the_explicit_validation_part(tmp_path: Path) -> None:
    records: list[dict] = []
    predictor = fit(get_spec("gbm"), data(), context(tmp_path, records))
    model = predictor.model
    # the scores it early-stopped on are AUCs of our validation part, not of a random
    # slice of train: the last one is exactly the AUC of the final model on data.val
    d = data()
    assert model.validation_score_[-1] == pytest.approx(
        roc_auc(d.val.y, model.predict_proba(d.val.X)[:, 1]))
    assert records[0]["val_auc"] == pytest.approx(model.validation_score_[-1])
    assert model.n_iter_ < 500
    # a validation part whose labels contradict train stops boosting at once
    flipped = fit(get_spec("gbm"), data(flip_val=True), context(tmp_path, []))
    assert flipped.model.n_iter_ <= 25 < 500
    assert flipped.model.validation_score_[1:].max() < 0.5  # [0]: the constant start


def test_gbm_pickle_round_trip_and_refusals(tmp_path: Path) -> None:
    predictor = fit(get_spec("gbm"), data(), context(tmp_path, []))
    run = tmp_path / "run" / "gbm" / "0"
    predictor.save(run)
    test = table(60, 6)
    again = load(get_spec("gbm"), run)
    assert np.array_equal(again.predict_proba(test.X), predictor.predict_proba(test.X))

    # a changed pickle is refused, naming the file and why (engine.trust: its signature)
    (run / "gbm.pkl").write_bytes((run / "gbm.pkl").read_bytes() + b"\0")
    with pytest.raises(RunError, match="gbm.pkl was changed after it was signed") as err:
        load(get_spec("gbm"), run)
    assert "pickle" in err.value.hint

    # a pickle that coughscope did not sign is never opened
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "gbm.pkl").write_bytes(b"not even a pickle")
    with pytest.raises(RunError, match="has no signature.json") as err:
        load(get_spec("gbm"), stray)
    assert "run code" in err.value.hint


def test_load_refuses_another_models_directory(tmp_path: Path) -> None:
    fit(get_spec("majority"), data(), context(tmp_path, [])).save(tmp_path)
    with pytest.raises(RunError, match="'majority' model, not 'logreg'"):
        load(get_spec("logreg"), tmp_path)
