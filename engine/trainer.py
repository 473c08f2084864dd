"""The ``torch`` model family: trains :mod:`engine.models.nets` on Lightning Fabric.

Owns recipe resolution (:func:`resolve_recipe`, shared with the tabular family), the epoch
loop, checkpoints and resumption, and the :class:`TorchPredictor` a fit returns.

* Data: each split part lives on the device as one tensor when it fits (spectrograms as
  float16, normalised once with the training mean/std), batches are shuffled index
  gathers -- no DataLoader, no workers. ResNets run channels-last; Fabric's precision
  (``bf16-mixed`` on capable GPUs) does the autocast.
* Every epoch: train loss/accuracy, validation loss/accuracy/AUC -> ``ctx.on_epoch``. The best
  epoch (validation AUC, ties to the lower validation loss) is kept and written as ``best.pt``
  (a state dict, loaded with ``weights_only=True``) with ``model.json`` beside it.
* ``last.pt`` (model, optimiser, history, RNG state of the last completed epoch) is written
  atomically after every epoch, in a background thread so the GPU keeps working;
  ``ctx.resume`` continues from it and ends where an uninterrupted run would.
  ``ctx.should_stop()`` is checked per batch and ends the fit with :class:`Interrupted`.
* Several GPUs: ``ctx.devices > 1`` under ``torchrun`` (or SLURM); every rank trains on its
  slice of each batch, validation predictions are all-gathered, only rank 0 writes files and
  calls ``on_epoch``. The trainer uses only torch's RNGs, seeded from ``ctx.seed``.

Losses on the 2-logit head (see :mod:`engine.models.nets`): ``bce`` on the logit difference
(``pos_weight`` = negatives/positives when class weighting), ``ce`` (class weights
N / (2 N_c)), ``mse`` -- the paper's: softmax against the one-hot label, class weights as
per-sample weights. Optimisers: ``sgd`` (momentum 0 in the ``paper`` preset, as PyTorch's
default the paper would have used; 0.9 otherwise), ``adam``, ``adamw``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import LOSSES, OPTIMIZERS, PRESETS, TrainRecipe
from . import errors
from .errors import ConfigError, DataError
from .models import FitContext, ModelSpec, TrainData
from .models.nets import build_net, uses_channels_last
from .paths import atomic_write_bytes, atomic_write_text

LAST = "last.pt"
BEST = "best.pt"
MODEL_JSON = "model.json"
FORMAT_VERSION = 1


class Interrupted(errors.Interrupted):
    """``should_stop()`` asked the fit to stop; ``last.pt`` holds the last completed epoch."""

    def __init__(self, epoch: int, workdir: Path) -> None:
        super().__init__(f"training stopped after epoch {epoch}; resumable from {workdir / LAST}")
        self.epoch = epoch
        self.workdir = workdir


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class ResolvedRecipe:
    """A :class:`TrainRecipe` with every choice made for one model."""

    preset: str
    optimizer: str
    lr: float
    loss: str
    momentum: float
    weight_decay: float
    class_weighting: bool
    early_stopping_patience: int | None
    epochs: int
    batch_size: int


def resolve_recipe(spec: ModelSpec, recipe: TrainRecipe) -> ResolvedRecipe:
    """Fill the recipe's open choices from the preset and the model's spec.

    ``paper``: the spec's paper optimiser, learning rate and loss, no weight decay, SGD without
    momentum. ``default``: AdamW at the spec's default learning rate, cross-entropy, the
    recipe's weight decay. Explicit ``recipe.optimizer``/``lr``/``loss`` override either.
    Class weighting and early stopping are taken from the recipe as given (the runner sets
    them off for ``paper``).
    """
    if recipe.preset not in PRESETS:
        raise ConfigError(f"unknown preset {recipe.preset!r}", f"use one of: {', '.join(PRESETS)}")
    paper = recipe.preset == "paper"
    optimizer = recipe.optimizer or (spec.paper_optimizer if paper else "adamw")
    loss = recipe.loss or (spec.paper_loss if paper else "ce")
    lr = recipe.lr if recipe.lr is not None else (spec.paper_lr if paper else spec.default_lr)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {optimizer!r}", f"use one of: {', '.join(OPTIMIZERS)}")
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}", f"use one of: {', '.join(LOSSES)}")
    if not lr > 0:
        raise ConfigError(f"learning rate {lr} must be positive", "e.g. 1e-3")
    if recipe.epochs < 1 or recipe.batch_size < 1:
        raise ConfigError(
            f"epochs={recipe.epochs}, batch_size={recipe.batch_size} must be at least 1",
            "e.g. epochs=30, batch_size=64",
        )
    return ResolvedRecipe(
        preset=recipe.preset,
        optimizer=optimizer,
        lr=float(lr),
        loss=loss,
        momentum=0.0 if paper else 0.9,
        weight_decay=0.0 if paper else recipe.weight_decay,
        class_weighting=recipe.class_weighting,
        early_stopping_patience=recipe.early_stopping_patience,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
    )


# --------------------------------------------------------------------------- metrics


def rank_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC by the Mann-Whitney rank statistic (ties count half); NaN with one class."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The one AUC the trainer uses: :func:`engine.metrics.roc_auc` when it exists."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    try:
        from .metrics import roc_auc as metrics_auc
    except ImportError:
        return rank_auc(y, p)
    return float(metrics_auc(y, p))


# --------------------------------------------------------------------------- normalisation


@dataclass
class Normaliser:
    """Training-part statistics: per column for features, one scalar for spectrograms."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, kind: str) -> "Normaliser":
        if kind == "features":
            X64 = np.asarray(X, dtype=np.float64)
            mean, std = X64.mean(axis=0), X64.std(axis=0)
        else:  # scalar over every value, in chunks (float16 sums overflow)
            total, total_sq, count = 0.0, 0.0, 0
            for start in range(0, len(X), 256):
                chunk = np.asarray(X[start:start + 256], dtype=np.float64)
                total += chunk.sum()
                total_sq += np.square(chunk).sum()
                count += chunk.size
            mean = np.array(total / count)
            std = np.array(math.sqrt(max(total_sq / count - (total / count) ** 2, 0.0)))
        std = np.where(std > 1e-8, std, 1.0)
        return cls(np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64))

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Normaliser":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))

    def tensor(self, X: np.ndarray, kind: str, dtype: torch.dtype) -> torch.Tensor:
        """Normalised model input (spectrograms get their channel axis), on the CPU."""
        mean, std = self.mean.astype(np.float32), self.std.astype(np.float32)
        out = []
        for start in range(0, len(X), 1024):
            chunk = (np.asarray(X[start:start + 1024], dtype=np.float32) - mean) / std
            out.append(torch.from_numpy(np.ascontiguousarray(chunk)).to(dtype))
        t = torch.cat(out) if out else torch.zeros((0, *X.shape[1:]), dtype=dtype)
        return t.unsqueeze(1) if kind == "spectrogram" else t


def _check_input(spec: ModelSpec, X: np.ndarray, part: str) -> None:
    want = 2 if spec.input == "features" else 3
    if X.ndim == 4 and spec.input == "spectrogram" and X.shape[1] == 1:
        return
    if X.ndim != want:
        raise DataError(
            f"{spec.name} takes {spec.input} but the {part} part's X has shape {list(X.shape)}",
            "features are (clips, columns); spectrograms are (clips, mel bands, frames)",
        )


def _squeeze_channel(X: np.ndarray) -> np.ndarray:
    return X[:, 0] if X.ndim == 4 else X


# --------------------------------------------------------------------------- predictor


class TorchPredictor:
    """A trained network with its input statistics: ``predict_proba`` and ``save``."""

    def __init__(self, name: str, net: nn.Module, meta: dict[str, Any]) -> None:
        self.name = name
        self.net = net
        self.meta = meta
        self.norm = Normaliser.from_json(meta["norm"])
        self.threshold: float | None = meta.get("threshold")

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def predict_proba(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """P(positive) for each row of ``X`` (features or log-mels, un-normalised)."""
        X = _squeeze_channel(np.asarray(X))
        expected = self.meta["input_shape"][-2:] if self.meta["input"] == "spectrogram" \
            else self.meta["input_shape"]
        if list(X.shape[1:]) != list(expected):
            raise DataError(
                f"{self.name} was trained on inputs of shape {expected} per clip, got "
                f"{list(X.shape[1:])}",
                "preprocess with the run's settings (sample rate, duration, feature set)",
            )
        self.net.eval()
        # a few clips (classifying a recording): one intra-op thread is fastest, and several
        # threads on a busy machine are many times slower (3.8 ms vs 160 ms for the cnn here)
        threads = torch.get_num_threads()
        if len(X) <= 8 and self.device.type == "cpu":
            torch.set_num_threads(1)
        try:
            probs = self._forward(X, batch_size)
        finally:
            torch.set_num_threads(threads)
        return np.concatenate(probs) if probs else np.zeros(0)

    def _forward(self, X: np.ndarray, batch_size: int) -> list[np.ndarray]:
        probs = []
        with torch.inference_mode():
            for start in range(0, len(X), batch_size):
                xb = self.norm.tensor(X[start:start + batch_size], self.meta["input"], torch.float32)
                logits = self.net(xb.to(self.device)).float()
                probs.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
        return probs

    def save(self, model_dir: Path) -> None:
        """Write ``best.pt`` (state dict) and ``model.json`` into ``model_dir``."""
        model_dir = Path(model_dir)
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        atomic_write_bytes(model_dir / BEST, _serialise(state))
        meta = dict(self.meta, threshold=self.threshold)
        atomic_write_text(model_dir / MODEL_JSON, json.dumps(meta, indent=2))


def load(spec: ModelSpec, model_dir: Path, device: str | None = None) -> TorchPredictor:
    """Rebuild the network from ``model.json`` and load ``best.pt`` with ``weights_only``."""
    from .errors import RunError

    model_dir = Path(model_dir)
    meta_path, state_path = model_dir / MODEL_JSON, model_dir / BEST
    if not meta_path.is_file() or not state_path.is_file():
        raise RunError(
            f"{model_dir} holds no trained {spec.name} ({MODEL_JSON} and {BEST} expected)",
            "pick a model directory of a finished run (runs/<run>/<model>/<seed>)",
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    shape = meta["input_shape"]
    net = build_net(
        meta["model"],
        n_features=shape[0] if meta["input"] == "features" else 26,
        n_mels=shape[1] if meta["input"] == "spectrogram" else 128,
        n_frames=shape[2] if meta["input"] == "spectrogram" else 130,
    )
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return TorchPredictor(meta["model"], net.to(device).eval(), meta)


# --------------------------------------------------------------------------- checkpoints


def _serialise(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _to_cpu(obj: Any) -> Any:
    """A detached CPU copy of tensors inside dicts/lists (snapshot for a background write)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


class _Writer:
    """Writes checkpoint files atomically, in order, on one background thread."""

    def __init__(self) -> None:
        # two snapshots may wait (best.pt and last.pt of one epoch); a third blocks the loop
        self._queue: queue.Queue[tuple[Path, Any] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True, name="ckpt-writer")
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                atomic_write_bytes(item[0], _serialise(item[1]))
            except BaseException as exc:  # re-raised in the training thread
                self._error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def submit(self, path: Path, obj: Any) -> None:
        self._raise()
        self._queue.put((path, obj))

    def flush(self) -> None:
        self._queue.join()
        self._raise()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


# --------------------------------------------------------------------------- training


class _StopRequested(Exception):
    pass


def _externally_launched() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ or (
        int(os.environ.get("SLURM_NTASKS", "1")) > 1
    )


def make_fabric(ctx: FitContext) -> Any:
    """A launched Fabric for ``ctx``'s device, device count, strategy and precision."""
    from lightning_fabric import Fabric

    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    if ctx.devices > 1 and not _externally_launched():
        raise ConfigError(
            f"--devices {ctx.devices} needs one process per device",
            f"launch with torchrun: torchrun --nproc_per_node {ctx.devices} -m engine"
            " --headless ... (or srun under SLURM)",
        )
    fabric = Fabric(
        accelerator=ctx.device,
        devices=ctx.devices,
        strategy=ctx.strategy,
        precision=ctx.precision,  # type: ignore[arg-type]
    )
    fabric.launch()
    return fabric


def _place(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move ``t`` to the device when it fits (half the free memory), else pin it."""
    if device.type != "cuda":
        return t.to(device)
    free, _ = torch.cuda.mem_get_info(device)
    if t.numel() * t.element_size() < free // 2:
        return t.to(device)
    return t.pin_memory()


def _batches(n: int, batch_size: int, minimum: int) -> list[tuple[int, int]]:
    """Batch bounds over ``n`` rows; a tail smaller than ``minimum`` joins the batch before."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < minimum:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


class EpochLoop:
    """The training state of one model: network, optimiser, resident data, loss.

    Built by :func:`fit`; ``bench/train_throughput.py`` times :meth:`train_epoch` directly.
    """

    def __init__(self, spec: ModelSpec, data: TrainData, ctx: FitContext, fabric: Any) -> None:
        self.spec, self.ctx, self.fabric = spec, ctx, fabric
        self.recipe = resolve_recipe(spec, ctx.recipe)
        self.device: torch.device = fabric.device
        for part_name, part in (("train", data.train), ("validation", data.val)):
            _check_input(spec, np.asarray(part.X), part_name)
        X_train = _squeeze_channel(np.asarray(data.train.X))
        y_train = np.asarray(data.train.y).astype(np.int64)
        counts = np.bincount(y_train, minlength=2)
        if counts.min() == 0:
            raise DataError(
                f"the training part for {spec.name} has only one class "
                f"({int(counts[0])} negative, {int(counts[1])} positive)",
                "use a data set with both labels, or a split with a smaller validation/test part",
            )
        self.norm = Normaliser.fit(X_train, spec.input)
        self.net = self._build_net(X_train)
        self.meta = self._meta(X_train, data.feature_names)
        store = torch.float16 if spec.input == "spectrogram" else torch.float32
        self.X = _place(self.norm.tensor(X_train, spec.input, store), self.device)
        self.y = torch.as_tensor(y_train, dtype=torch.float32, device=self.device)
        X_val = _squeeze_channel(np.asarray(data.val.X))
        self.X_val = _place(self.norm.tensor(X_val, spec.input, store), self.device)
        self.y_val = torch.as_tensor(np.asarray(data.val.y), dtype=torch.float32, device=self.device)
        self._set_loss(counts)
        self.channels_last = uses_channels_last(spec.name) and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels
        self.net.to(self.device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.train_module = self.net
        if getattr(self.net, "frozen_backbone", False):
            self._precompute_frozen_features()
        params = [p for p in self.train_module.parameters() if p.requires_grad]
        optimizer = self._optimizer(params)
        self.model, self.optimizer = fabric.setup(self.train_module, optimizer)
        self.raw_optimizer = optimizer

    # ---- construction helpers

    def _build_net(self, X_train: np.ndarray) -> nn.Module:
        backbone = None
        if self.spec.needs_weights:
            from .weights import resolve_resnet_weights

            backbone = resolve_resnet_weights(self.ctx.weights, self.ctx.pretrained)
            if backbone is None:
                self.ctx.warn(f"{self.spec.name}: random initialisation (--no-pretrained)")
        shape = X_train.shape
        return build_net(
            self.spec.name,
            n_features=shape[1] if self.spec.input == "features" else 26,
            n_mels=shape[1] if self.spec.input == "spectrogram" else 128,
            n_frames=shape[2] if self.spec.input == "spectrogram" else 130,
            backbone_state=backbone,
        )

    def _meta(self, X_train: np.ndarray, feature_names: list[str]) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "model": self.spec.name,
            "input": self.spec.input,
            "input_shape": list(X_train.shape[1:]) if self.spec.input == "features"
            else [1, *X_train.shape[1:]],
            "n_features": int(X_train.shape[1]) if self.spec.input == "features" else None,
            "feature_names": list(feature_names),
            "norm": self.norm.to_json(),
            "recipe": asdict(self.recipe),
            "threshold": None,
            "weights_file": BEST,
        }

    def _set_loss(self, counts: np.ndarray) -> None:
        n = counts.sum()
        weighting = self.recipe.class_weighting
        class_w = n / (2.0 * counts) if weighting else np.ones(2)
        self.class_weights = torch.tensor(class_w, dtype=torch.float32, device=self.device)
        pos_weight = counts[0] / counts[1] if weighting else 1.0
        self.pos_weight = torch.tensor(pos_weight, dtype=torch.float32, device=self.device)

    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        r = self.recipe
        fused = {"fused": True} if self.device.type == "cuda" else {}
        if r.optimizer == "sgd":
            return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
        klass = torch.optim.Adam if r.optimizer == "adam" else torch.optim.AdamW
        return klass(params, lr=r.lr, weight_decay=r.weight_decay, **fused)

    def _precompute_frozen_features(self) -> None:
        """A frozen backbone in eval mode gives the same features every epoch: compute them
        once and train only the head on them."""
        net: Any = self.net
        train = self._features_of(net, self.X)
        net.feature_mean.copy_(train.mean(dim=0))
        net.feature_std.copy_(torch.nan_to_num(train.std(dim=0), nan=1.0).clamp_min(1e-6))
        self.X = net.standardise(train)
        self.X_val = net.standardise(self._features_of(net, self.X_val))
        self.train_module = net.head
        self.channels_last = False

    def _features_of(self, net: Any, X: torch.Tensor) -> torch.Tensor:
        net.eval()
        out = []
        with torch.no_grad(), self.fabric.autocast():
            for start in range(0, len(X), 256):
                out.append(net.features(self._input(X[start:start + 256])).float())
        return torch.cat(out) if out else torch.zeros((0, 2048), device=self.device)

    # ---- the loop

    def _input(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.to(self.device, non_blocking=True).float()
        return xb.contiguous(memory_format=torch.channels_last) if self.channels_last else xb

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.recipe.loss == "bce":
            margin = logits[:, 1] - logits[:, 0]
            return F.binary_cross_entropy_with_logits(margin, y, pos_weight=self.pos_weight)
        if self.recipe.loss == "ce":
            return F.cross_entropy(logits, y.long(), weight=self.class_weights)
        probs = torch.softmax(logits, dim=1)
        per_sample = (probs - F.one_hot(y.long(), 2).float()).square().mean(dim=1)
        w = self.class_weights[y.long()]
        return (per_sample * w).sum() / w.sum()

    def train_epoch(self, epoch: int, should_stop: Callable[[], bool] = lambda: False,
                    max_batches: int | None = None) -> tuple[float, float]:
        """One pass over the training part; returns (mean loss, accuracy) over all ranks."""
        self.model.train()
        world, rank = self.fabric.world_size, self.fabric.global_rank
        gen = torch.Generator().manual_seed(self.ctx.seed * 100_003 + epoch)
        perm = torch.randperm(len(self.X), generator=gen).to(self.X.device)
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        seen = 0
        bounds = _batches(len(perm), self.recipe.batch_size, 2 * world)[:max_batches]
        for i, (start, stop) in enumerate(bounds):
            # several ranks agree on stopping every 16 batches (an all-reduce syncs the GPU)
            if (world == 1 or i % 16 == 0) and self._stop_requested(should_stop):
                raise _StopRequested
            idx = perm[start:stop][rank::world]
            xb, yb = self._input(self.X[idx]), self.y[idx.to(self.device)]
            logits = self.model(xb)
            loss = self.loss(logits, yb)
            self.optimizer.zero_grad(set_to_none=True)
            self.fabric.backward(loss)
            self.optimizer.step()
            total_loss += loss.detach() * len(idx)
            correct += ((logits[:, 1] > logits[:, 0]).float() == yb).sum()
            seen += len(idx)
        sums = torch.stack([total_loss, correct, torch.tensor(float(seen), device=self.device)])
        if world > 1:
            sums = self.fabric.all_reduce(sums, reduce_op="sum")
        total, right, count = sums.tolist()
        return total / max(count, 1), right / max(count, 1)

    def _stop_requested(self, should_stop: Callable[[], bool]) -> bool:
        flag = bool(should_stop())
        if self.fabric.world_size > 1:  # every rank must stop at the same batch
            t = torch.tensor(float(flag), device=self.device)
            flag = bool(self.fabric.all_reduce(t, reduce_op="sum").item() > 0)
        return flag

    def evaluate(self) -> dict[str, float]:
        """Validation loss, accuracy and AUC (predictions gathered from every rank)."""
        logits = self.val_logits()
        y = self.y_val
        probs = torch.softmax(logits, dim=1)[:, 1]
        return {
            "val_loss": float(self.loss(logits, y)) if len(y) else float("nan"),
            "val_acc": float(((probs >= 0.5).float() == y).float().mean()) if len(y) else float("nan"),
            "val_auc": roc_auc(y.cpu().numpy(), probs.cpu().numpy()),
        }

    def val_logits(self) -> torch.Tensor:
        world, rank, n = self.fabric.world_size, self.fabric.global_rank, len(self.X_val)
        self.model.eval()
        idx = torch.arange(rank, n, world)
        out = []
        with torch.no_grad():
            for start in range(0, len(idx), 4 * self.recipe.batch_size):
                chunk = idx[start:start + 4 * self.recipe.batch_size].to(self.X_val.device)
                out.append(self.model(self._input(self.X_val[chunk])).float())
        logits = torch.cat(out) if out else torch.zeros((0, 2), device=self.device)
        if world == 1:
            return logits
        width = math.ceil(n / world)
        padded_idx = torch.full((width,), -1.0, device=self.device)
        padded_idx[: len(idx)] = idx.to(self.device, torch.float32)
        padded = torch.zeros((width, 2), device=self.device)
        padded[: len(logits)] = logits
        all_idx = self.fabric.all_gather(padded_idx).reshape(-1)
        all_logits = self.fabric.all_gather(padded).reshape(-1, 2)
        keep = all_idx >= 0
        order = torch.argsort(all_idx[keep])
        return all_logits[keep][order]


@dataclass
class _Progress:
    """What ``last.pt`` carries besides model and optimiser state."""

    epoch: int = 0
    history: list[dict[str, Any]] | None = None
    best_epoch: int = 0
    best_auc: float = -math.inf
    best_loss: float = math.inf
    bad_epochs: int = 0
    stopped_early: bool = False

    def improved(self, auc: float, loss: float) -> bool:
        auc = auc if math.isfinite(auc) else -math.inf
        loss = loss if math.isfinite(loss) else math.inf
        return auc > self.best_auc or (auc == self.best_auc and loss < self.best_loss)


def fit(spec: ModelSpec, data: TrainData, ctx: FitContext) -> TorchPredictor:
    """Train ``spec`` on ``data`` (see the module docstring); the best epoch's predictor."""
    return _Fit(spec, data, ctx).run()


class _Fit:
    def __init__(self, spec: ModelSpec, data: TrainData, ctx: FitContext) -> None:
        self.ctx = ctx
        self.fabric = make_fabric(ctx)
        self.fabric.seed_everything(ctx.seed, verbose=False)
        self.loop = EpochLoop(spec, data, ctx, self.fabric)
        self.writer = _Writer() if self.fabric.is_global_zero else None
        self.progress = _Progress(history=[])
        self.best_state: dict[str, torch.Tensor] | None = None
        self.workdir = Path(ctx.workdir)
        self.warned_nan = False

    def run(self) -> TorchPredictor:
        last = self.workdir / LAST
        try:
            if self.ctx.resume and last.is_file():
                self._restore(last)
            else:
                self._save_last()
            epochs = self.loop.recipe.epochs
            while self.progress.epoch < epochs and not self.progress.stopped_early:
                self._one_epoch(self.progress.epoch + 1)
            self._finish_best()
        finally:
            if self.writer is not None:
                self.writer.close()
        predictor = TorchPredictor(self.loop.spec.name, self.loop.net, self.loop.meta)
        if self.fabric.is_global_zero:
            predictor.save(self.workdir)
        return predictor

    def _one_epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        try:
            train_loss, train_acc = self.loop.train_epoch(epoch, self.ctx.should_stop)
        except _StopRequested:
            if self.writer is not None:
                self.writer.flush()
            raise Interrupted(self.progress.epoch, self.workdir) from None
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        record.update(self.loop.evaluate())
        record["seconds"] = round(time.perf_counter() - started, 4)
        self._track_best(epoch, record)
        record["best_epoch"] = self.progress.best_epoch
        p = self.progress
        p.epoch = epoch
        assert p.history is not None
        p.history.append(record)
        patience = self.loop.recipe.early_stopping_patience
        p.stopped_early = patience is not None and p.bad_epochs >= patience
        self._save_last()
        if self.fabric.is_global_zero:
            self.ctx.on_epoch(dict(record))

    def _track_best(self, epoch: int, record: dict[str, Any]) -> None:
        p = self.progress
        if not math.isfinite(record["val_auc"]) and not self.warned_nan:
            self.warned_nan = True
            self.ctx.warn(f"{self.loop.spec.name}: validation AUC undefined (one class in the"
                          " validation part); choosing the checkpoint on validation loss")
        if p.improved(record["val_auc"], record["val_loss"]):
            auc = record["val_auc"]
            p.best_auc = auc if math.isfinite(auc) else -math.inf
            p.best_loss = record["val_loss"]
            p.best_epoch, p.bad_epochs = epoch, 0
            self.best_state = _to_cpu(self.loop.net.state_dict())
            if self.writer is not None:
                self.writer.submit(self.workdir / BEST, self.best_state)
        else:
            p.bad_epochs += 1

    def _save_last(self) -> None:
        if self.writer is None:
            return
        p = self.progress
        state = {
            "format": FORMAT_VERSION,
            "epoch": p.epoch,
            "model": self.loop.train_module.state_dict(),
            "optimizer": self.loop.raw_optimizer.state_dict(),
            "history": p.history,
            "best_epoch": p.best_epoch,
            "best_auc": p.best_auc,
            "best_loss": p.best_loss,
            "bad_epochs": p.bad_epochs,
            "stopped_early": p.stopped_early,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        self.writer.submit(self.workdir / LAST, _to_cpu(state))

    def _restore(self, path: Path) -> None:
        from .errors import RunError

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.loop.train_module.load_state_dict(state["model"])
            self.loop.raw_optimizer.load_state_dict(state["optimizer"])
        except Exception as exc:  # torn, foreign, or from another model configuration
            raise RunError(
                f"checkpoint {path} cannot be resumed ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                f"delete {path} to train this model from the start",
            ) from None
        self.progress = _Progress(
            epoch=int(state["epoch"]), history=list(state["history"]),
            best_epoch=int(state["best_epoch"]), best_auc=float(state["best_auc"]),
            best_loss=float(state["best_loss"]), bad_epochs=int(state["bad_epochs"]),
            stopped_early=bool(state["stopped_early"]),
        )
        if self.progress.best_epoch > 0 and (self.workdir / BEST).is_file():
            self.best_state = torch.load(self.workdir / BEST, map_location="cpu", weights_only=True)
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])

    def _finish_best(self) -> None:
        if self.best_state is not None:
            self.loop.net.load_state_dict(self.best_state)
        self.loop.meta["best_epoch"] = self.progress.best_epoch
        self.loop.meta["epochs_trained"] = self.progress.epoch
