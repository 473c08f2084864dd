"""The pytorch-tabular family (``tabular``): ``cne`` (CategoryEmbedding) and ``tabnet``.

Both train on the feature table (every feature a continuous column, target ``label``) with
pytorch-tabular's own Lightning Trainer, wrapped so that they behave like every other model:

* **Quiet.** pytorch-tabular and Lightning print through ``print``, ``warnings`` and their
  loggers. During a fit all of it goes to ``<workdir>/tabular.log`` instead of the terminal
  (no progress bar, no model summary); loading and predicting discard it.
* **Contained.** pytorch-tabular writes ``.pt_tmp/`` into the working directory and Lightning
  ``lightning_logs/``: the fit runs with ``<workdir>/tabular_logs`` as working and root
  directory, so both land there, as does the best-epoch checkpoint while training.
* **Honest validation.** The explicit, group-disjoint validation part is passed as
  ``validation=``; pytorch-tabular never splits train itself. Its scaler is fit on train.
* **Same events.** :class:`EpochReporter`, a Lightning callback, computes validation
  loss/accuracy/AUC over the whole validation part, logs ``valid_auc`` (which early stopping
  and the checkpoint monitor), and calls ``ctx.on_epoch`` with the epoch's train loss (mean
  over samples) and train accuracy (pytorch-tabular's logged ``train_accuracy``).
  ``ctx.should_stop()`` is polled per batch; the fit then ends with
  :class:`engine.trainer.Interrupted`. pytorch-tabular keeps no resumable state: a resumed
  run trains these models again from the start.
* **Recipes** come from :func:`engine.trainer.resolve_recipe`. Losses on the 2-logit head
  (:class:`TwoLogitLoss`): ``ce`` (class weights N / (2 N_c) when class weighting), ``mse``
  (the paper's: softmax against the one-hot label), ``bce`` (on the logit difference).
  Training runs in 32-bit precision on one device: the CPU, even when the run trains its
  networks on a GPU (:data:`ON_GPU`). These MLPs are tiny (26 features, batch 64): a step
  costs ~25 ms of Lightning/pytorch-tabular Python on one CPU thread, which a GPU does not
  shorten and per-step metric reads and copies would lengthen
  (``bench/train_throughput.py --tabular`` measures both). Under torchrun or SLURM the runner fits
  it on rank 0 only (:mod:`engine.ddp`), as a single process with all of the node's cores;
  called on every rank outside the runner, every rank fits the same model alone (no rank
  waits on another's tabular fit), with its share of the CPU cores; with :data:`ON_GPU` on
  its own GPU (``cuda:LOCAL_RANK``).
* **No host syncs per batch.** The train loss is summed on the device and read once per
  epoch; the class weights live on the device; validation logits stay there until the
  epoch's metrics are computed.
* **Saving.** pytorch-tabular saves with pickle (joblib), which can run code when loaded.
  :meth:`TabularPredictor.save` writes its files to ``<model_dir>/tabular/`` and a coughscope
  ``model.json`` with the SHA-256 of each, then signs the directory with the user's key
  (:mod:`engine.trust`). :func:`load` verifies the signature before pytorch-tabular opens
  anything: a directory from another user or machine, a changed file, or a file the
  signature does not list is refused until the user trusts the run
  (``coughscope runs trust RUN``).

Importing this module loads torch and Lightning; pytorch-tabular itself (~6-13 s) is imported
on first use. Only :mod:`engine.models` imports this module, on demand.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import paths, trust
from ..errors import ConfigError, RunError
from . import FitContext, ModelSpec, TrainData
from ..metrics import roc_auc
from .baselines import MANIFEST, accuracy, verify_manifest, write_manifest

with warnings.catch_warnings():  # Lightning may warn on import; keep the terminal clean
    warnings.simplefilter("ignore")
    import pytorch_lightning as pl

FORMAT = "coughscope.tabular/1"
SAVE_DIR = "tabular"  # inside the model directory
LOG_FILE = "tabular.log"
SCRATCH = "tabular_logs"  # cwd and Lightning root during a fit
TARGET = "label"
CONFIGS = {"cne": "CategoryEmbeddingModelConfig", "tabnet": "TabNetModelConfig"}
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
LOGGER_PREFIXES = ("pytorch_tabular", "pytorch_lightning", "lightning", "lightning_fabric",
                   "lightning_utilities")
# pytorch-tabular models train on the GPU of a GPU run only when this is True (see the
# module docstring; bench/train_throughput.py --tabular sets it to time the GPU)
ON_GPU = False
PICKLE_WHY = (
    "pytorch-tabular saves models with pickle, and loading a pickle can run code; coughscope "
    "loads only model directories it saved itself (or you trusted with `coughscope runs trust "
    "RUN`), unchanged -- retrain the model to get one"
)


# ----------------------------------------------------------------------------- loss


class TwoLogitLoss(nn.Module):
    """A binary loss on pytorch-tabular's 2-logit classification head.

    ``kind``: ``ce`` (cross-entropy), ``mse`` (softmax vs. one-hot, the paper's), ``bce``
    (binary cross-entropy on logit[1] - logit[0]). ``class_weights`` (negative, positive)
    weight each sample by its class; ``None`` weights all alike.
    """

    def __init__(self, kind: str, class_weights: tuple[float, float] | None = None) -> None:
        super().__init__()
        if kind not in ("ce", "mse", "bce"):
            raise ConfigError(f"unknown loss {kind!r} for a tabular model", "use ce, mse or bce")
        self.kind = kind
        self.class_weights = class_weights
        # a buffer: moved to the device with the model, not copied there on every call
        self.register_buffer("weights", None if class_weights is None else
                             torch.tensor(class_weights, dtype=torch.float32), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.long().view(-1)
        if self.kind == "ce":
            per_sample = nn.functional.cross_entropy(logits, target, reduction="none")
        elif self.kind == "mse":
            onehot = nn.functional.one_hot(target, 2).to(logits.dtype)
            per_sample = ((logits.softmax(dim=1) - onehot) ** 2).mean(dim=1)
        else:
            per_sample = nn.functional.binary_cross_entropy_with_logits(
                logits[:, 1] - logits[:, 0], target.to(logits.dtype), reduction="none")
        weights = self._buffers.get("weights")
        if weights is None and self.class_weights is not None:  # pickled before the buffer
            weights = torch.tensor(self.class_weights)
        if weights is None:
            return per_sample.mean()
        if weights.device != logits.device:  # used outside its model (the loss is its module)
            weights = weights.to(logits.device)
        w = weights.to(logits.dtype)[target]
        return (per_sample * w).sum() / w.sum()

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, class_weights={self.class_weights}"


def class_weights(y: np.ndarray) -> tuple[float, float]:
    """N / (2 N_c) for c in (negative, positive): both classes count as much in the loss."""
    y = np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=2).astype(np.float64)
    return tuple(float(len(y) / (2 * c)) if c else 0.0 for c in counts)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- per-epoch events


class EpochReporter(pl.Callback):
    """Turns pytorch-tabular's epochs into coughscope ``epoch_end`` records.

    Validation metrics are computed over the whole validation part (not averaged per batch)
    and ``valid_auc`` is logged for early stopping and checkpointing. The record is sent at
    the end of the training epoch, after validation, when the train metrics are final.
    """

    def __init__(self, ctx: FitContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.interrupted = False
        self.epochs_done = 0
        self._train_loss_sum: torch.Tensor | float = 0.0  # on the device during an epoch
        self._train_n = 0
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._pending: dict[str, Any] | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._train_loss_sum, self._train_n = 0.0, 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        n = int(batch["target"].shape[0])  # a shape: no device sync
        self._train_loss_sum = self._train_loss_sum + loss.detach().double() * n
        self._train_n += n
        if self.ctx.should_stop():
            self.interrupted = True
            trainer.should_stop = True

    def on_validation_epoch_start(self, trainer: pl.Trainer,
                                  pl_module: pl.LightningModule) -> None:
        self._val = []

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        logits, y = outputs
        self._val.append((logits.detach().float(), y.detach()))  # to the host once, at the end

    def on_validation_epoch_end(self, trainer: pl.Trainer,
                                pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self._val:
            return
        logits = torch.cat([v[0] for v in self._val])
        y = torch.cat([v[1] for v in self._val]).view(-1).long()
        with torch.no_grad():
            val_loss = float(pl_module.loss(logits, y))
        logits, y = logits.cpu(), y.cpu()
        p = logits.softmax(dim=1)[:, 1].numpy().astype(np.float64)
        auc = roc_auc(y.numpy(), p)
        pl_module.log("valid_auc", auc, on_step=False, on_epoch=True, prog_bar=False,
                      logger=True)
        self._pending = {"epoch": trainer.current_epoch + 1, "val_loss": val_loss,
                         "val_acc": accuracy(y.numpy(), p),
                         "val_auc": None if math.isnan(auc) else float(auc)}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record, self._pending = self._pending, None
        if record is None or self.interrupted:
            return
        train_acc = trainer.callback_metrics.get("train_accuracy")
        record = {"epoch": record["epoch"],
                  "train_loss": float(self._train_loss_sum) / max(self._train_n, 1),
                  "train_acc": None if train_acc is None else float(train_acc),
                  **{k: v for k, v in record.items() if k != "epoch"}}
        self.epochs_done = record["epoch"]
        self.ctx.on_epoch(record)


# ----------------------------------------------------------------------------- predictor


@dataclass
class TabularPredictor:
    """A fitted pytorch-tabular model; ``predict_proba`` gives P(positive)."""

    model: Any  # pytorch_tabular.TabularModel
    feature_names: list[str]
    name: str
    target: str = TARGET
    best_epoch: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ConfigError(
                f"{self.name} expects {len(self.feature_names)} features per row, got "
                f"shape {X.shape}",
                "compute features with the preprocessing config the model was trained with",
            )
        frame = pd.DataFrame(X, columns=self.feature_names)
        with _quiet(io.StringIO()):
            out = self.model.predict(frame, progress_bar="none")
        return out[f"{self.target}_1_probability"].to_numpy(dtype=np.float64)

    def save(self, model_dir: Path) -> None:
        """``<model_dir>/tabular/`` (pytorch-tabular's files) + ``<model_dir>/model.json``."""
        model_dir = Path(model_dir).resolve()
        out, tmp = model_dir / SAVE_DIR, model_dir / f".{SAVE_DIR}.tmp"
        paths.inside(model_dir, out)  # a link planted in the model folder is refused
        paths.inside(model_dir, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.callbacks = []  # ours hold the run's context; nothing to restore on load
        self.model.config.accelerator = "cpu"  # loadable on a machine without the GPU
        with _quiet(io.StringIO()):
            self.model.save_model(str(tmp), inference_only=True)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        files = sorted(str(p.relative_to(model_dir)) for p in out.rglob("*") if p.is_file())
        write_manifest(model_dir, FORMAT, files, model=self.name,
                       feature_names=self.feature_names, target=self.target,
                       best_epoch=self.best_epoch, **self.info)
        trust.sign_model_dir(model_dir)


# ----------------------------------------------------------------------------- family API


def fit(spec: ModelSpec, data: TrainData, ctx: FitContext) -> TabularPredictor:
    """Train ``spec`` (``cne`` or ``tabnet``) on ``data.train``, validating on ``data.val``."""
    from ..trainer import Interrupted, resolve_recipe

    if spec.name not in CONFIGS:
        raise ConfigError(f"{spec.name!r} is not a pytorch-tabular model",
                          f"tabular models: {', '.join(CONFIGS)}")
    recipe = resolve_recipe(spec, ctx.recipe)
    names = _feature_names(data)
    target = TARGET if TARGET not in names else "coughscope_label"
    workdir = Path(ctx.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = paths.ensure_dir(workdir, workdir / SCRATCH)
    device = ctx.device if ON_GPU or ctx.device == "cpu" else "cpu"
    from ..launch import launch_info

    from ..ddp import leading

    launch = launch_info()
    # the runner under DDP: rank 0 alone fits it (engine.ddp), with all of the node's cores
    alone = leading() is not None
    if (ctx.devices > 1 or launch.distributed) and not alone:
        ctx.warn(f"{spec.name} trains in each process alone (pytorch-tabular): every rank fits "
                 "the same model")
    pt = _import_pytorch_tabular()
    weights = class_weights(data.train.y) if recipe.class_weighting else None
    reporter = EpochReporter(ctx)
    with paths.open_append(workdir, workdir / LOG_FILE) as log, _quiet(log), _inside(scratch), \
            _single_process(), _cpu_share(launch.local_world_size if device == "cpu" and not alone else 0):
        from lightning_fabric.utilities.seed import seed_everything

        model = pt.TabularModel(  # writes .pt_tmp/ into the working directory: scratch
            data_config=pt.DataConfig(target=[target], continuous_cols=names,
                                      categorical_cols=[], num_workers=0,
                                      pin_memory=device == "cuda"),
            model_config=_model_config(pt, spec.name, recipe.lr, ctx.seed),
            optimizer_config=pt.OptimizerConfig(optimizer=OPTIMIZERS[recipe.optimizer],
                                                optimizer_params=_optimizer_params(recipe)),
            trainer_config=_trainer_config(pt, recipe, ctx, scratch, device),
            verbose=False,
        )
        seed_everything(ctx.seed, workers=True, verbose=False)
        model.fit(train=_frame(data.train.X, data.train.y, names, target),
                  validation=_frame(data.val.X, data.val.y, names, target),
                  loss=TwoLogitLoss(recipe.loss, weights), seed=ctx.seed, callbacks=[reporter])
    shutil.rmtree(scratch / "checkpoints", ignore_errors=True)  # the best one is loaded
    if reporter.interrupted:
        exc = Interrupted(reporter.epochs_done, workdir)
        exc.args = (f"{spec.name} stopped after epoch {reporter.epochs_done}; pytorch-tabular "
                    "models train again from the start when the run is resumed",)
        raise exc
    best = getattr(model.trainer.checkpoint_callback, "best_model_score", None)
    return TabularPredictor(
        model=model, feature_names=names, name=spec.name, target=target,
        best_epoch=_best_epoch(model),
        info={"optimizer": recipe.optimizer, "lr": recipe.lr, "loss": recipe.loss,
              "class_weights": weights, "best_val_auc": None if best is None else float(best)},
    )


def load(spec: ModelSpec, model_dir: Path) -> TabularPredictor:
    """Reload a model saved by :meth:`TabularPredictor.save`, after checking its signature."""
    model_dir = Path(model_dir).resolve()
    trust.verify_model_dir(model_dir)  # before pytorch-tabular unpickles anything
    manifest = verify_manifest(model_dir, FORMAT, why=PICKLE_WHY)
    if manifest.get("model") != spec.name:
        raise RunError(
            f"{model_dir / MANIFEST} holds a {manifest.get('model')!r} model, not {spec.name!r}",
            "load it under the name it was trained as",
        )
    listed = set(manifest.get("files") or {})
    present = {str(p.relative_to(model_dir)) for p in (model_dir / SAVE_DIR).rglob("*")
               if p.is_file()}
    if not listed or present - listed:
        extra = ", ".join(sorted(present - listed)) or f"{SAVE_DIR}/ (nothing listed)"
        raise RunError(f"{model_dir / MANIFEST} does not vouch for {extra}", PICKLE_WHY)
    pt = _import_pytorch_tabular()
    # loading writes pytorch-tabular's .pt_tmp/ version file; point it at a temp folder rather
    # than changing the working directory, which would move it under the TUI's other threads
    with _quiet(io.StringIO()), tempfile.TemporaryDirectory() as tmp, _versions_in(Path(tmp)):
        model = pt.TabularModel.load_model(str(model_dir / SAVE_DIR), map_location="cpu")
    return TabularPredictor(model=model, feature_names=list(manifest["feature_names"]),
                            name=spec.name, target=manifest.get("target", TARGET),
                            best_epoch=manifest.get("best_epoch"))


# ----------------------------------------------------------------------------- configuration


def _import_pytorch_tabular() -> Any:
    """pytorch_tabular and its configs (import ~6-13 s; warns on import, kept quiet)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import pytorch_tabular
        from pytorch_tabular import config as pt_config
        from pytorch_tabular import models as pt_models

    class _Namespace:
        TabularModel = pytorch_tabular.TabularModel
        DataConfig = pt_config.DataConfig
        OptimizerConfig = pt_config.OptimizerConfig
        TrainerConfig = pt_config.TrainerConfig
        models = pt_models

    return _Namespace


def _model_config(pt: Any, name: str, lr: float, seed: int) -> Any:
    config_class = getattr(pt.models, CONFIGS[name])
    return config_class(task="classification", learning_rate=lr, seed=seed,
                        metrics=["accuracy"], metrics_params=[{}], metrics_prob_input=[False])


def _optimizer_params(recipe: Any) -> dict[str, float]:
    params = {"weight_decay": float(recipe.weight_decay)}
    if recipe.optimizer == "sgd":
        params["momentum"] = float(recipe.momentum)
    return params


def _trainer_config(pt: Any, recipe: Any, ctx: FitContext, scratch: Path,
                    device: str | None = None) -> Any:
    patience = None if ctx.refit else recipe.early_stopping_patience  # refit: epochs given
    accelerator = {"cuda": "gpu", "mps": "mps"}.get(device or ctx.device, "cpu")
    devices_list = None
    if accelerator == "gpu":  # this rank's own GPU (cuda:0 when not launched by torchrun)
        from ..launch import launch_info

        devices_list = [launch_info().local_rank % max(torch.cuda.device_count(), 1)]
    return pt.TrainerConfig(
        batch_size=recipe.batch_size,
        max_epochs=recipe.epochs,
        min_epochs=1,
        accelerator=accelerator,
        devices=1,
        devices_list=devices_list,
        seed=ctx.seed,
        progress_bar="none",
        early_stopping="valid_auc" if patience else None,
        early_stopping_mode="max",
        early_stopping_patience=patience or 1,
        early_stopping_kwargs={"check_finite": False},
        checkpoints=None if ctx.refit else "valid_auc",  # refit: the last epoch
        checkpoints_mode="max",
        checkpoints_path=str(scratch / "checkpoints"),
        checkpoints_save_top_k=1,
        load_best=not ctx.refit,
        trainer_kwargs={
            "default_root_dir": str(scratch),
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
        },
    )


def _best_epoch(model: Any) -> int | None:
    """The 1-based epoch of the checkpoint pytorch-tabular reloaded (from its file name)."""
    path = getattr(model.trainer.checkpoint_callback, "best_model_path", "") or ""
    marker = "epoch="
    if marker not in path:
        return None
    digits = path.split(marker, 1)[1].split("-", 1)[0]
    return int(digits) + 1 if digits.isdigit() else None


def _feature_names(data: TrainData) -> list[str]:
    width = data.train.X.shape[1]
    names = [str(n) for n in data.feature_names] or [f"f{i}" for i in range(width)]
    if len(names) != width or len(set(names)) != width:
        raise ConfigError(
            f"the feature table has {width} columns but {len(set(names))} distinct names",
            "every feature needs one unique name",
        )
    return names


def _frame(X: np.ndarray, y: np.ndarray, names: list[str], target: str) -> pd.DataFrame:
    frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=names)
    frame[target] = np.asarray(y).astype(int)
    return frame


# ----------------------------------------------------------------------------- quiet, contained


@contextlib.contextmanager
def _quiet(sink: TextIO) -> Iterator[None]:
    """Send stdout, stderr, warnings and the libraries' loggers to ``sink``."""
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    saved = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in LOGGER_PREFIXES:
            saved.append((logger, logger.handlers[:], logger.propagate, logger.level))
            logger.handlers = [handler]
            logger.propagate = False
            logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("default")
            try:
                yield
            finally:
                for w in caught:
                    sink.write(f"warning: {w.category.__name__}: {w.message}\n")
    finally:
        for logger, handlers, propagate, level in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


@contextlib.contextmanager
def _versions_in(directory: Path) -> Iterator[None]:
    """pytorch-tabular's experiment version file (``.pt_tmp/...`` in the working directory by
    default) goes into ``directory`` while this is active."""
    import functools

    import pytorch_tabular.tabular_model as tm

    original = tm.ExperimentRunManager
    tm.ExperimentRunManager = functools.partial(
        original, exp_version_manager=str(directory / "exp_version_manager.yml"))
    try:
        yield
    finally:
        tm.ExperimentRunManager = original


LAUNCHER_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
                      "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_WORLD_SIZE", "NODE_RANK",
                      "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_PROCID", "SLURM_LOCALID")


@contextlib.contextmanager
def _single_process() -> Iterator[None]:
    """Hide torchrun's and SLURM's variables from Lightning while the fit runs, so its Trainer
    is a single process (it would otherwise expect the launcher's world on one device)."""
    import os

    saved = {k: os.environ.pop(k) for k in LAUNCHER_VARIABLES if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def _cpu_share(processes: int) -> Iterator[None]:
    """With several processes on this node (torchrun), each fits with its share of the CPU
    cores: all of them in every process would oversubscribe the cores, and OpenMP threads
    that wait for each other are many times slower then (a 3-epoch fit: 29 s against 4.6 s
    on a busy 2-core machine). ``processes`` <= 1: torch's default."""
    if processes <= 1:
        yield
        return
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (cores or 1) // processes))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """Run with ``directory`` (created) as the working directory."""
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(directory):
        yield


__all__ = ["fit", "load", "TabularPredictor", "TwoLogitLoss", "EpochReporter", "class_weights"]
