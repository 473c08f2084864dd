"""The model registry: every model coughscope can train, by name.

Each :class:`ModelSpec` says what input the model takes (``features``: the tabular feature
vector; ``spectrogram``: the log-mel image), which *family* trains it, and the paper's
recipe for it. Families are modules with two functions:

* ``fit(spec, data, ctx) -> Predictor`` -- train on ``data.train`` (choosing the checkpoint on
  ``data.val``) and return a predictor; the test part is never passed in. With ``ctx.refit``
  the choices are given (``ctx.recipe.epochs``, ``ctx.chosen``) and ``data.train`` holds the
  validation rows too: nothing is chosen on ``data.val``.
* ``load(spec, model_dir) -> Predictor`` -- reload a predictor saved by ``Predictor.save``.

Families: ``torch`` (:mod:`engine.models.nets` trained by :mod:`engine.trainer` on
Lightning Fabric), ``tabular`` (:mod:`engine.models.tabular`, pytorch-tabular),
``sklearn`` (:mod:`engine.models.baselines`), ``ensemble`` (:mod:`engine.ensemble`).

Adding a model is one :func:`register_model` call (and, for a torch model, its builder under
``@network(name)`` in :mod:`engine.models.nets`); the command line, the app, the runner and
``predict`` read :data:`MODELS` and nothing else lists models. The dependency runs one way:
family modules import this light module for :class:`ModelSpec`, :class:`FitContext` and the
data types; this module reaches a family only through :data:`FAMILY_MODULES`, imported when a
model is fitted or loaded (so listing models never costs torch's 2 s).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ..config import TrainRecipe
from ..errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input: str  # "features" | "spectrogram" | "both" (the ensemble: its members choose)
    family: str  # "torch" | "tabular" | "sklearn" | "ensemble"
    description: str
    paper_name: str = ""  # what the paper called it ("" for our baselines)
    paper_optimizer: str = "adam"
    paper_lr: float = 1e-3
    paper_loss: str = "bce"  # "bce" | "mse"
    default_lr: float = 1e-3
    # the default preset's batch size for this model (None: DEFAULT_BATCH_SIZE); an explicit
    # recipe.batch_size, and the paper preset's, win
    default_batch_size: int | None = None
    needs_weights: bool = False  # ImageNet weights (transfer learning)
    baseline: bool = False


DEFAULT_BATCH_SIZE = 64


def batch_size_of(spec: ModelSpec, recipe: Any) -> int:
    """The batch size ``spec`` trains with under ``recipe``: the recipe's when it gives one,
    else the model's own default."""
    return int(recipe.batch_size or spec.default_batch_size or DEFAULT_BATCH_SIZE)


FAMILY_MODULES = {
    "torch": "engine.trainer",
    "tabular": "engine.models.tabular",
    "sklearn": "engine.models.baselines",
    "ensemble": "engine.ensemble",
}


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry: the one place a model is declared. The command line's
    ``--models``, the app's Models screen, the runner, ``predict`` and the docs' lists all
    read :data:`MODELS`. A torch model also registers its network builder with
    :func:`engine.models.nets.network`."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} registered twice")
    if spec.family not in FAMILY_MODULES:
        raise ValueError(f"model {spec.name!r}: unknown family {spec.family!r}")
    MODELS[spec.name] = spec
    return spec


for _spec in (
        ModelSpec("ann", "features", "torch", "26 -> 16 -> 8 -> 4 -> 2 fully connected network",
                  "ANN", "sgd", 0.01, "mse", default_lr=3e-3),
        ModelSpec("cnn", "spectrogram", "torch",
                  "small CNN on log-mel (paper Fig. 4: 2x conv16, 2x conv32, dropout .15)",
                  "CNN", "adam", 1e-3, "bce", default_batch_size=16),
        ModelSpec("cnn2", "spectrogram", "torch",
                  "stronger CNN for small sets: 4 conv blocks with batch norm, global pooling "
                  "over time and frequency, dropout .3", "", "adam", 1e-3, "bce",
                  default_lr=2e-3),
        ModelSpec("resnet50", "spectrogram", "torch",
                  "ImageNet ResNet-50 fine-tuned end to end", "ResNet50", "adam", 1e-3, "bce",
                  default_lr=1e-4, needs_weights=True),
        ModelSpec("imagenet50", "spectrogram", "torch",
                  "ImageNet ResNet-50 as a frozen feature extractor + trained head",
                  "ImageNet50", "adam", 1e-3, "bce", needs_weights=True),
        ModelSpec("cne", "features", "tabular", "pytorch-tabular CategoryEmbedding MLP",
                  "CategoryEmbedding", "sgd", 0.01, "mse"),
        ModelSpec("tabnet", "features", "tabular", "pytorch-tabular TabNet",
                  "TabNet", "sgd", 0.01, "mse", default_lr=1e-2),
        ModelSpec("ensemble", "both", "ensemble",
                  "weighted average of the run's other models and seeds, members and weights "
                  "chosen on validation"),
        ModelSpec("majority", "features", "sklearn", "always predicts the training majority",
                  baseline=True),
        ModelSpec("logreg", "features", "sklearn",
                  "class-weighted logistic regression on standardised features", baseline=True),
        ModelSpec("logreg_cv", "features", "sklearn",
                  "logistic regression, C chosen by an inner participant-disjoint CV on the "
                  "training part", baseline=True),
        ModelSpec("svm", "features", "sklearn",
                  "class-weighted linear SVM on standardised features, C chosen by an inner "
                  "participant-disjoint CV on the training part", baseline=True),
        ModelSpec("gbm", "features", "sklearn", "histogram gradient boosting", baseline=True),
):
    register_model(_spec)


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}",
            f"valid models: {', '.join(MODELS)}",
        ) from None


def parse_models(text: str) -> list[str]:
    """``"ann, cnn"`` -> ``["ann", "cnn"]``, every name checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("no model named", f"pick from: {', '.join(MODELS)}")
    for n in names:
        get_spec(n)
    return list(dict.fromkeys(names))


@dataclass
class Part:
    """One split part: model inputs ``X`` and labels ``y`` (0 negative, 1 positive), and
    each row's participant (``groups``) for inner participant-disjoint choices."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None = None
    # a confounded metadata column's value per row (e.g. the source): validation AUCs that
    # choose anything are then computed within each value, pooled (metrics.stratified_auc)
    strata: np.ndarray | None = None


def selection_auc(part: Part, p: np.ndarray) -> float:
    """The validation AUC used for choices: within ``part.strata`` when given (and some value
    holds both classes), else plain."""
    from ..metrics import roc_auc, stratified_auc

    if part.strata is None:
        return roc_auc(part.y, p)
    auc = stratified_auc(part.y, p, part.strata, n_boot=0)["roc_auc"]
    # no value of the column holds both classes here: the plain AUC is all there is
    return roc_auc(part.y, p) if auc is None else auc


@dataclass
class TrainData:
    """What a family's ``fit`` sees: train and validation only, never test."""

    train: Part
    val: Part
    feature_names: list[str] = field(default_factory=list)
    # the data set's rows of ``train`` and ``val`` when known (engine.ddp sends them, not
    # the arrays, to the other ranks, which read the same data set from the cache)
    rows: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class FitContext:
    """Everything besides data that a ``fit`` needs.

    ``on_epoch(record)`` must be called after every epoch with at least ``epoch`` (1-based),
    ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``val_auc``.
    ``should_stop()`` returning True asks the trainer to stop at the next batch boundary and
    raise :class:`engine.trainer.Interrupted` after saving its resumable state.
    ``workdir`` is the model/seed directory: checkpoints and any library logs go there.
    """

    recipe: TrainRecipe
    seed: int
    workdir: Path
    device: str = "cpu"  # resolved: "cpu" | "cuda" | "mps"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    weights: Path | None = None
    pretrained: bool = True
    resume: bool = False
    on_epoch: Callable[[dict[str, Any]], None] = lambda record: None
    should_stop: Callable[[], bool] = lambda: False
    warn: Callable[[str], None] = lambda message: None
    # training-batch augmentation of spectrogram models (engine.augment.Augmentation) or None
    augment: Any = None
    # refit: ``data.train`` is train + validation and every choice is already made (epochs in
    # the recipe, ``chosen`` hyperparameters): no early stopping, no checkpoint choice -- the
    # last epoch is the model -- and nothing chosen on ``data.val``
    refit: bool = False
    chosen: dict[str, Any] = field(default_factory=dict)  # e.g. {"C": 0.1}, {"n_iter": 40}
    # the bytes of a last.pt to continue from (ranks above 0 under DDP get rank 0's, sent by
    # engine.ddp: no file is read, none copied); None: ``resume`` reads workdir/last.pt
    resume_from: bytes | None = None


class Predictor(Protocol):
    """A trained model: probabilities of ``positive`` for rows of ``X``."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, model_dir: Path) -> None: ...


def family(spec: ModelSpec) -> Any:
    """The family module that trains ``spec`` (imports heavy libraries on first use)."""
    return importlib.import_module(FAMILY_MODULES[spec.family])


def fit(spec: ModelSpec, data: TrainData, ctx: FitContext) -> Predictor:
    """Train ``spec``. Under DDP (rank 0 leading, :mod:`engine.ddp`) a torch model's fit is
    first sent to the other ranks, which train it with rank 0."""
    if spec.family != "torch":
        return family(spec).fit(spec, data, ctx)
    from ..ddp import fit_done, send_fit
    from ..errors import Interrupted

    send_fit(spec, data, ctx)  # nothing unless this process leads other ranks
    try:
        predictor = family(spec).fit(spec, data, ctx)
    except Interrupted:  # every rank stopped at the same batch: they wait for orders again
        fit_done()
        raise
    fit_done()
    return predictor


def load(spec: ModelSpec, model_dir: Path, device: str | None = None) -> Predictor:
    """Reload a saved model; its directory's signature is checked first (:mod:`engine.trust`),
    for every family, before any of its files is opened. ``device`` places torch networks
    (default the CPU); pytorch-tabular and sklearn models predict on the CPU."""
    from .. import trust

    trust.verify_model_dir(Path(model_dir))
    if device is not None and spec.family == "torch":
        return family(spec).load(spec, model_dir, device=device)
    return family(spec).load(spec, model_dir)
