"""The sklearn baselines (family ``sklearn``): ``majority``, ``logreg``, ``logreg_cv``, ``svm``
and ``gbm``.

Every number coughscope reports sits beside these:

* ``majority`` -- predicts the training prior, a constant probability (ROC-AUC 0.5).
* ``logreg`` -- a standard scaler fit on the training part, then logistic regression
  (class-weighted when the recipe says so), with ``C`` chosen on *validation* AUC.
* ``logreg_cv`` -- the same model with ``C`` chosen by an inner cross-validation on the
  training part only: stratified folds disjoint by participant (``StratifiedGroupKFold``),
  the scaler refit inside every fold, scored by ROC-AUC. Validation is left to choose what
  the runner chooses (threshold, refit) and to report an honest validation AUC.
* ``svm`` -- a class-weighted linear support vector machine on the same standardised
  features, ``C`` chosen by the same inner participant-disjoint CV as ``logreg_cv`` (grid
  :data:`SVM_C_GRID`); a refit takes the ``C`` that CV chose (``ctx.chosen["C"]``). This is
  the ComParE 2021 COVID-19 cough / COVID-19 Sounds baseline (openSMILE ComParE functionals
  into a linear SVM) when the feature set is ``compare``.
* ``gbm`` -- histogram gradient boosting (class-weighted), early-stopped on the explicit,
  group-disjoint validation part (never an internal random split).

Each ``fit`` reports one ``epoch_end`` record (epoch 1) so that baselines show up in the same
event log and views as the trained networks.

Saved formats. ``majority``, ``logreg`` and ``svm`` are stored as plain parameters
(``model.json`` and ``logreg.npz`` / ``svm.npz``, loaded with ``allow_pickle=False``). A fitted gradient-boosting model has no
practical format but pickle, and unpickling can run arbitrary code. So every ``save`` signs the
model directory with the user's key (:func:`engine.trust.sign_model_dir`), and :func:`load`
verifies that signature before it reads anything (:func:`engine.trust.verify_model_dir`): a
pickle from another user or machine, or one changed since, is refused until the user trusts
the run (``coughscope runs trust RUN``). ``gbm.pkl`` is unpickled from the very bytes whose
hash was checked. ``model.json`` also records each file's SHA-256 (a check against accidents).

This module also owns the small helpers the other non-torch family (:mod:`.tabular`) shares:
:func:`epoch_record`, :func:`write_manifest` and :func:`verify_manifest`.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import trust
from ..cache import sha256_file
from ..errors import RunError
from ..metrics import log_loss
from ..paths import atomic_write_bytes, atomic_write_text
from ..runs import dumps
from . import FitContext, ModelSpec, Part, TrainData, selection_auc

MANIFEST = "model.json"
FORMAT = "coughscope.sklearn/1"
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)  # logreg: inverse regularisation strengths tried
CV_C_GRID = tuple(float(c) for c in np.logspace(-4, 1, 11))  # logreg_cv: C tried per fold
CV_FOLDS = 5  # logreg_cv, svm: inner folds (fewer when the training part has fewer groups)
# svm: C tried per fold; hinge-loss SVMs on thousands of standardised features want far
# less C than logistic regression (the ComParE baselines searched 1e-5 .. 1)
SVM_C_GRID = tuple(float(c) for c in np.logspace(-5, 0, 11))
SVM_MAX_ITER = 20_000
GBM_MAX_ITER = 500
GBM_PATIENCE = 20  # boosting rounds without validation AUC gain


# ----------------------------------------------------------------------------- shared helpers


def epoch_record(
    epoch: int,
    y_train: np.ndarray,
    p_train: np.ndarray,
    y_val: np.ndarray,
    p_val: np.ndarray,
    *,
    train_loss: float | None = None,
    val_loss: float | None = None,
    val_strata: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``epoch_end`` record from probabilities of *positive*.

    Losses default to the log loss of the probabilities; accuracy counts ``p >= 0.5`` as
    positive; ``val_auc`` is ``None`` when the validation part holds one class (computed
    within each value of ``val_strata`` when given, see :func:`..selection_auc`).
    """
    auc = selection_auc(Part(np.empty((len(y_val), 0)), y_val, strata=val_strata), p_val)
    return {
        "epoch": int(epoch),
        "train_loss": float(log_loss(y_train, p_train) if train_loss is None else train_loss),
        "train_acc": accuracy(y_train, p_train),
        "val_loss": float(log_loss(y_val, p_val) if val_loss is None else val_loss),
        "val_acc": accuracy(y_val, p_val),
        "val_auc": None if math.isnan(auc) else float(auc),
    }


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p) >= 0.5).astype(int) == np.asarray(y).astype(int)))




def write_manifest(model_dir: Path, fmt: str, files: list[str], **fields: Any) -> None:
    """Write ``model_dir/model.json``: the format, ``fields``, and a SHA-256 per file in
    ``files`` (paths relative to ``model_dir``)."""
    hashes = {rel: sha256_file(model_dir / rel) for rel in sorted(files)}
    body = {"format": fmt, **fields, "files": hashes}
    atomic_write_text(model_dir / MANIFEST, dumps(body, indent=2) + "\n")


def verify_manifest(model_dir: Path, fmt: str, *, why: str = "") -> dict[str, Any]:
    """Read ``model_dir/model.json`` and check that it is coughscope's ``fmt`` and that every
    file it lists has the recorded SHA-256. Returns the manifest; raises :class:`RunError`.

    ``why`` explains in the hint why a mismatch is refused (e.g. that the files are pickles).
    """
    path = Path(model_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(
            f"{model_dir} has no coughscope {MANIFEST}: it was not saved by coughscope",
            why or "point at a model directory inside a coughscope run",
        ) from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} cannot be read: {exc}", "retrain the model") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise RunError(
            f"{path} describes a {found!r} model, expected {fmt!r}",
            "load it with the model it was trained as, or retrain it",
        )
    for rel, expected in (manifest.get("files") or {}).items():
        file = Path(model_dir) / rel
        if not file.is_file():
            raise RunError(f"{file} is missing (listed in {path})", "retrain the model")
        if sha256_file(file) != expected:
            raise RunError(
                f"{file} does not match the SHA-256 recorded in {path}: it was changed after "
                "coughscope saved it",
                why or "retrain the model",
            )
    return manifest


# ----------------------------------------------------------------------------- predictors


@dataclass
class MajorityPredictor:
    """Always the training prior P(positive)."""

    prior: float
    best_epoch: int = 1

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.prior, dtype=np.float64)

    def save(self, model_dir: Path) -> None:
        write_manifest(Path(model_dir), FORMAT, [], model="majority", prior=self.prior)
        trust.sign_model_dir(Path(model_dir))


def _save_linear(model_dir: Path, file: str, p: Any, *, model: str, sign: bool = True,
                 **fields: Any) -> None:
    """A standardised linear model (``logreg``, ``logreg_cv``, ``svm``) as plain arrays in
    ``file`` (mean, scale, coef, intercept) and its ``model.json`` with ``C`` and
    ``fields``; signed unless ``sign`` is False (the runner signs the folder then)."""
    model_dir = Path(model_dir)
    buf = _npz_bytes(mean=p.mean, scale=p.scale, coef=p.coef, intercept=np.array([p.intercept]))
    atomic_write_bytes(model_dir / file, buf)
    write_manifest(model_dir, FORMAT, [file], model=model, C=p.C, **fields)
    if sign:
        trust.sign_model_dir(model_dir)


@dataclass
class LogRegPredictor:
    """Standardise with the training mean/scale, then ``sigmoid(x . coef + intercept)``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    C: float
    best_epoch: int = 1

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def save(self, model_dir: Path) -> None:
        _save_linear(model_dir, "logreg.npz", self, model="logreg")


@dataclass
class LogRegCVPredictor(LogRegPredictor):
    """``logreg`` whose ``C`` came from an inner participant-disjoint CV (same arrays)."""

    folds: int = CV_FOLDS
    cv_auc: float = math.nan

    def save(self, model_dir: Path) -> None:
        _save_linear(model_dir, "logreg.npz", self, model="logreg_cv", sign=False,
                     folds=self.folds, cv_auc=None if math.isnan(self.cv_auc) else self.cv_auc)


@dataclass
class SVMPredictor:
    """Standardise with the training mean/scale, then the linear SVM's decision function
    ``d = x . coef + intercept``, mapped to [0, 1] by ``sigmoid(d)``.

    The mapping is monotone, so it keeps the SVM's ranking (its AUC) and puts the decision
    boundary (d = 0) at 0.5, but it is not a calibrated probability: the engine calibrates
    and chooses thresholds separately, on out-of-fold predictions."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    C: float
    folds: int = CV_FOLDS  # inner folds that chose C; 0: a refit, C was given
    cv_auc: float = math.nan  # their mean ROC-AUC at C (NaN for a refit)
    best_epoch: int = 1

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        d = np.clip(self.decision_function(X), -500.0, 500.0)  # exp() stays finite
        return 1.0 / (1.0 + np.exp(-d))

    def save(self, model_dir: Path) -> None:
        _save_linear(model_dir, "svm.npz", self, model="svm",
                     folds=self.folds, cv_auc=None if math.isnan(self.cv_auc) else self.cv_auc)


@dataclass
class GBMPredictor:
    """A fitted ``HistGradientBoostingClassifier``."""

    model: Any
    best_epoch: int = 1

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.asarray(X, dtype=np.float64))[:, 1]

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        atomic_write_bytes(model_dir / "gbm.pkl", pickle.dumps(self.model, protocol=5))
        write_manifest(model_dir, FORMAT, ["gbm.pkl"], model="gbm",
                       n_iter=int(self.model.n_iter_))
        trust.sign_model_dir(model_dir)


# ----------------------------------------------------------------------------- family API


def fit(spec: ModelSpec, data: TrainData, ctx: FitContext) -> Any:
    """Fit the baseline ``spec.name`` on ``data.train`` (choices on ``data.val``)."""
    builders = {"majority": _fit_majority, "logreg": _fit_logreg, "gbm": _fit_gbm,
                "logreg_cv": _fit_logreg_cv, "svm": _fit_svm}
    predictor = builders[spec.name](data, ctx)
    ctx.on_epoch(epoch_record(
        1,
        data.train.y, predictor.predict_proba(data.train.X),
        data.val.y, predictor.predict_proba(data.val.X), val_strata=data.val.strata,
    ))
    return predictor


def load(spec: ModelSpec, model_dir: Path) -> Any:
    """Reload a baseline saved by its predictor's ``save``, after checking its signature."""
    model_dir = Path(model_dir)
    signed = trust.verify_model_dir(model_dir)  # before anything in it is read
    manifest = verify_manifest(model_dir, FORMAT, why=_PICKLE_WHY)
    if manifest.get("model") != spec.name:
        raise RunError(
            f"{model_dir / MANIFEST} holds a {manifest.get('model')!r} model, not {spec.name!r}",
            "load it under the name it was trained as",
        )
    if spec.name == "majority":
        prior = manifest.get("prior")
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) \
                or not 0.0 <= prior <= 1.0:
            raise RunError(f"{model_dir / MANIFEST}: prior {prior!r} is not a probability",
                           "the file was changed or damaged; retrain the model")
        return MajorityPredictor(prior=float(prior))
    if spec.name == "logreg":
        with np.load(model_dir / "logreg.npz", allow_pickle=False) as npz:
            return LogRegPredictor(mean=npz["mean"], scale=npz["scale"], coef=npz["coef"],
                                   intercept=float(npz["intercept"][0]),
                                   C=float(manifest["C"]))
    if spec.name == "logreg_cv":
        with np.load(model_dir / "logreg.npz", allow_pickle=False) as npz:
            return LogRegCVPredictor(mean=npz["mean"], scale=npz["scale"], coef=npz["coef"],
                                     intercept=float(npz["intercept"][0]),
                                     C=float(manifest["C"]), folds=int(manifest["folds"]))
    if spec.name == "svm":
        with np.load(model_dir / "svm.npz", allow_pickle=False) as npz:
            cv_auc = manifest.get("cv_auc")
            return SVMPredictor(mean=npz["mean"], scale=npz["scale"], coef=npz["coef"],
                                intercept=float(npz["intercept"][0]), C=float(manifest["C"]),
                                folds=int(manifest["folds"]),
                                cv_auc=math.nan if cv_auc is None else float(cv_auc))
    if "gbm.pkl" not in (manifest.get("files") or {}) or "gbm.pkl" not in signed:
        raise RunError(f"{model_dir / MANIFEST} does not vouch for gbm.pkl", _PICKLE_WHY)
    data = (model_dir / "gbm.pkl").read_bytes()
    if hashlib.sha256(data).hexdigest() != signed["gbm.pkl"]:  # changed since verified
        raise trust.UntrustedModel(f"{model_dir / 'gbm.pkl'} changed while it was being read",
                                   _PICKLE_WHY)
    return GBMPredictor(model=_gbm_model(model_dir / "gbm.pkl", data))


def _gbm_model(path: Path, data: bytes) -> Any:
    """The classifier in ``data`` (signed bytes, see :func:`load`), or a RunError when it
    does not unpickle, or unpickles to something other than a fitted gradient-boosting
    classifier of two classes."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    hint = ("the file was replaced by something that is not a coughscope gbm model before "
            "the run was trusted; retrain the model (or get the run again from its source)")
    try:
        model = pickle.loads(data)  # noqa: S301 -- signed bytes, see load()
    except Exception as exc:  # a damaged pickle raises anything from EOFError to ImportError
        raise RunError(f"{path} cannot be loaded ({type(exc).__name__}: {exc})", hint) from None
    if not isinstance(model, HistGradientBoostingClassifier) \
            or len(getattr(model, "classes_", ())) != 2:
        raise RunError(f"{path} holds a {type(model).__name__}, not a fitted two-class "
                       "HistGradientBoostingClassifier", hint)
    return model


_PICKLE_WHY = (
    "gbm models are pickles, and loading a pickle can run code; coughscope loads only the "
    "ones it saved (or you trusted with `coughscope runs trust RUN`), unchanged -- retrain "
    "the model to get a new one"
)


def _fit_majority(data: TrainData, ctx: FitContext) -> MajorityPredictor:
    return MajorityPredictor(prior=float(np.mean(data.train.y)))


def _fit_logreg(data: TrainData, ctx: FitContext) -> LogRegPredictor:
    """Scaler on train; ``C`` from :data:`C_GRID` by validation AUC (ties: the smaller C);
    a refit takes the ``C`` validation chose (``ctx.chosen["C"]``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(data.train.X)
    Xt, Xv = scaler.transform(data.train.X), scaler.transform(data.val.X)
    weight = "balanced" if ctx.recipe.class_weighting else None
    best: tuple[float, Any] | None = None
    grid = (float(ctx.chosen["C"]),) if ctx.refit and "C" in ctx.chosen else C_GRID
    for C in grid:
        model = LogisticRegression(C=C, class_weight=weight, max_iter=5000,
                                   random_state=ctx.seed).fit(Xt, data.train.y)
        auc = selection_auc(data.val, model.predict_proba(Xv)[:, 1])
        auc = -1.0 if math.isnan(auc) else auc
        if best is None or auc > best[0]:
            best = (auc, model)
    assert best is not None
    model = best[1]
    return LogRegPredictor(mean=scaler.mean_.astype(np.float64),
                           scale=scaler.scale_.astype(np.float64),
                           coef=model.coef_[0].astype(np.float64),
                           intercept=float(model.intercept_[0]), C=float(model.C))


def _fit_logreg_cv(data: TrainData, ctx: FitContext) -> LogRegCVPredictor:
    """``C`` from :data:`CV_C_GRID` by the mean ROC-AUC of an inner CV over the training
    part's participants (``data.train.groups``; each clip its own participant when absent);
    then scaler and model refit on the whole training part with that ``C``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    weight = "balanced" if ctx.recipe.class_weighting else None
    search, folds = _inner_cv_search(
        make_pipeline(StandardScaler(), LogisticRegression(class_weight=weight, max_iter=5000,
                                                           random_state=ctx.seed)),
        "logisticregression__C", CV_C_GRID, data, ctx)
    scaler, model = search.best_estimator_[0], search.best_estimator_[-1]
    return LogRegCVPredictor(mean=scaler.mean_.astype(np.float64),
                             scale=scaler.scale_.astype(np.float64),
                             coef=model.coef_[0].astype(np.float64),
                             intercept=float(model.intercept_[0]), C=float(model.C),
                             folds=folds, cv_auc=float(search.best_score_))


def _inner_cv_search(pipeline: Any, param: str, grid: tuple[float, ...], data: TrainData,
                     ctx: FitContext) -> tuple[Any, int]:
    """Fit a ``GridSearchCV`` of ``pipeline`` over ``param`` in ``grid`` on the training part
    only, scored by ROC-AUC over stratified folds disjoint by participant
    (``data.train.groups``; each clip its own participant when absent), refit on the whole
    training part with the best value. Returns the fitted search and its number of folds."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    X, y = np.asarray(data.train.X, dtype=np.float64), np.asarray(data.train.y)
    groups = data.train.groups if data.train.groups is not None else np.arange(len(y))
    _, group_ids = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    # every fold needs a positive and a negative group to score an AUC
    per_class = min(len(np.unique(group_ids[y == k])) for k in (0, 1))
    folds = max(2, min(CV_FOLDS, per_class))
    search = GridSearchCV(
        pipeline,
        {param: list(grid)},
        scoring="roc_auc",
        cv=StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=ctx.seed),
        refit=True,
        error_score=np.nan,
    )
    search.fit(X, y, groups=group_ids)
    return search, folds


def _fit_svm(data: TrainData, ctx: FitContext) -> SVMPredictor:
    """A class-weighted linear SVM on features standardised with the training part's mean and
    scale. ``C`` from :data:`SVM_C_GRID` by the mean ROC-AUC (of the decision function) of an
    inner participant-disjoint CV on the training part, as ``logreg_cv`` chooses its ``C``;
    a refit (``ctx.refit``) takes the ``C`` chosen then (``ctx.chosen["C"]``, recorded by
    :func:`engine.refit.chosen_of`) and searches nothing."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    weight = "balanced" if ctx.recipe.class_weighting else None

    def pipeline(C: float = 1.0) -> Any:
        return make_pipeline(StandardScaler(), LinearSVC(
            C=C, class_weight=weight, max_iter=SVM_MAX_ITER, random_state=ctx.seed))

    X, y = np.asarray(data.train.X, dtype=np.float64), np.asarray(data.train.y)
    with warnings.catch_warnings():
        # the smallest C of the grid rarely converges fully; a near-optimum scores the same
        warnings.simplefilter("ignore", ConvergenceWarning)
        if ctx.refit and "C" in ctx.chosen:
            fitted, folds, cv_auc = pipeline(float(ctx.chosen["C"])).fit(X, y), 0, math.nan
        else:
            search, folds = _inner_cv_search(pipeline(), "linearsvc__C", SVM_C_GRID, data, ctx)
            fitted, cv_auc = search.best_estimator_, float(search.best_score_)
    scaler, model = fitted[0], fitted[-1]
    return SVMPredictor(mean=scaler.mean_.astype(np.float64),
                        scale=scaler.scale_.astype(np.float64),
                        coef=model.coef_[0].astype(np.float64),
                        intercept=float(model.intercept_[0]), C=float(model.C),
                        folds=folds, cv_auc=cv_auc)


def _fit_gbm(data: TrainData, ctx: FitContext) -> GBMPredictor:
    """Boosting rounds stop when validation AUC (on ``data.val``) stops improving; a refit
    runs the rounds validation chose (``ctx.chosen["n_iter"]``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    refit = ctx.refit and "n_iter" in ctx.chosen  # the rounds validation chose, no stopping
    model = HistGradientBoostingClassifier(
        max_iter=int(ctx.chosen["n_iter"]) if refit else GBM_MAX_ITER,
        early_stopping=not refit,
        scoring="roc_auc",
        n_iter_no_change=GBM_PATIENCE,
        class_weight="balanced" if ctx.recipe.class_weighting else None,
        random_state=ctx.seed,
    )
    if refit:
        model.fit(data.train.X, data.train.y)
    else:
        model.fit(data.train.X, data.train.y, X_val=data.val.X, y_val=data.val.y)
    return GBMPredictor(model=model)


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
