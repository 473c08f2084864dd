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
from engine.models.baselines import SVM_C_GRID

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


def test_logreg_cv_chooses_C_on_the_training_part_only(tmp_path: Path) -> None:
    """Validation plays no part in logreg_cv's choice: a validation part with the label
    flipped changes nothing, while logreg (C on validation) moves."""
    records: list[dict] = []
    spec = get_spec("logreg_cv")
    a = fit(spec, data(), context(tmp_path / "a", records))
    b = fit(spec, data(flip_val=True), context(tmp_path / "b", records))
    assert a.C == b.C and np.allclose(a.coef, b.coef)
    assert len(records) == 2 and set(records[0]) == EPOCH_KEYS
    assert records[0]["val_auc"] > 0.85 and records[1]["val_auc"] < 0.15
    test = table(400, 3)
    assert roc_auc(test.y, a.predict_proba(test.X)) > 0.85
    a.save(tmp_path / "a")
    from engine import trust

    trust.sign_model_dir(tmp_path / "a")  # as the runner does after a save
    again = load(spec, tmp_path / "a")
    assert type(again).__name__ == "LogRegCVPredictor" and again.C == a.C
    np.testing.assert_allclose(again.predict_proba(test.X), a.predict_proba(test.X))
    with pytest.raises(RunError, match="logreg_cv"):
        load(get_spec("logreg"), tmp_path / "a")


def test_logreg_cv_folds_are_disjoint_by_participant(tmp_path: Path) -> None:
    """Participants with several near-identical clips and a label unrelated to their
    features: clip-level folds reward memorising (large C); folds by participant do not."""
    rng = np.random.default_rng(0)
    n_groups, per = 60, 5
    centres = rng.normal(size=(n_groups, 40))
    group_y = (rng.random(n_groups) < 0.4).astype(int)
    X = np.repeat(centres, per, axis=0) + 0.01 * rng.normal(size=(n_groups * per, 40))
    y = np.repeat(group_y, per)
    groups = np.repeat(np.arange(n_groups), per)
    val = table(60, 5)
    val = Part(X=rng.normal(size=(60, 40)), y=val.y)
    spec = get_spec("logreg_cv")
    by_group = fit(spec, TrainData(train=Part(X, y, groups), val=val),
                   context(tmp_path / "g", []))
    by_clip = fit(spec, TrainData(train=Part(X, y), val=val), context(tmp_path / "c", []))
    assert by_clip.cv_auc > 0.9  # memorised: each clip's twins are in the training folds
    assert by_group.cv_auc < 0.7  # honest: nothing to learn about unseen participants
    assert by_group.C < by_clip.C


def test_svm_chooses_C_by_inner_cv_and_round_trips(tmp_path: Path) -> None:
    """svm: C from the inner CV on the training part (a flipped validation part changes
    nothing), probabilities in [0, 1] and a monotone map of the decision function, saved as
    plain signed parameters that load back to identical probabilities."""
    records: list[dict] = []
    spec = get_spec("svm")
    a = fit(spec, data(), context(tmp_path / "a", records))
    b = fit(spec, data(flip_val=True), context(tmp_path / "b", []))
    assert a.C == b.C and np.allclose(a.coef, b.coef)
    assert a.C in SVM_C_GRID
    assert a.folds == 5 and 0.85 < a.cv_auc <= 1.0
    assert len(records) == 1 and set(records[0]) == EPOCH_KEYS and records[0]["val_auc"] > 0.85
    test = table(400, 3)
    p = a.predict_proba(test.X)
    assert roc_auc(test.y, p) > 0.85
    assert np.all((p >= 0) & (p <= 1))
    d = a.decision_function(test.X)
    order = np.argsort(d)
    assert np.all(np.diff(p[order]) >= 0)  # monotone in the decision function
    np.testing.assert_array_equal(p > 0.5, d > 0)
    # the same as sklearn's pipeline would decide
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    ref = make_pipeline(StandardScaler(), LinearSVC(C=a.C, class_weight="balanced",
                                                    max_iter=20_000, random_state=0))
    ref.fit(data().train.X, data().train.y)
    np.testing.assert_allclose(d, ref.decision_function(test.X), rtol=1e-6, atol=1e-9)

    a.save(tmp_path / "a")
    # plain parameters, signed; no pickle
    assert {f.name for f in (tmp_path / "a").iterdir()} == {"model.json", "signature.json",
                                                             "svm.npz"}
    manifest = json.loads((tmp_path / "a" / "model.json").read_text())
    assert manifest["model"] == "svm" and manifest["C"] == a.C and manifest["folds"] == 5
    again = load(spec, tmp_path / "a")
    assert type(again).__name__ == "SVMPredictor" and again.C == a.C
    np.testing.assert_array_equal(again.predict_proba(test.X), p)
    with pytest.raises(RunError, match="svm"):
        load(get_spec("logreg"), tmp_path / "a")


def test_svm_refit_keeps_the_chosen_C(tmp_path: Path) -> None:
    """A refit takes C from ctx.chosen (what engine.refit.chosen_of recorded) and searches
    nothing, even where the inner CV on the larger part would choose another C."""
    from engine.refit import chosen_of

    spec = get_spec("svm")
    first = fit(spec, data(), context(tmp_path / "a", []))
    chosen = chosen_of(first, first.best_epoch)
    assert chosen == {"C": first.C}
    other = 1e-5 if first.C != 1e-5 else 1.0
    ctx = FitContext(recipe=TrainRecipe(), seed=0, workdir=tmp_path / "r", refit=True,
                     chosen={"C": other})
    refit = fit(spec, data(), ctx)
    assert refit.C == other and refit.folds == 0
    assert not np.allclose(refit.coef, first.coef)
