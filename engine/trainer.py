"""The ``torch`` model family: trains :mod:`engine.models.nets` on Lightning Fabric.

Owns recipe resolution (:func:`resolve_recipe`, shared with the tabular family), the epoch
loop, checkpoints and resumption, and the :class:`TorchPredictor` a fit returns.

* Data: each split part lives on the device as one tensor when it fits (spectrograms as
  float16, normalised once with the training mean/std), batches are shuffled index
  gathers -- no DataLoader, no workers; a part too big for the GPU stays in host memory and
  each batch is gathered into pinned memory and copied asynchronously. Inputs are cast once,
  to the autocast dtype. ResNets run channels-last (the input adapter ends in it); Fabric's
  precision (:func:`engine.devices.precision_for`: ``bf16-mixed`` on GPUs with native bf16,
  ``16-mixed`` with a loss scaler on older ones) does the autocast. ``recipe.compile``
  wraps the network in ``torch.compile``.
* Every epoch: train loss/accuracy, validation loss/accuracy/AUC -> ``ctx.on_epoch`` (values
  that are undefined, e.g. the AUC of a one-class validation part, are None). The best epoch
  (validation AUC, ties to the lower validation loss) is kept: on the device, and only what
  training changes (for ``imagenet50`` the head and its feature statistics, not the frozen
  backbone). ``best.pt`` (the whole network's state dict, loaded with ``weights_only=True``)
  and ``model.json`` are written when the fit ends; a later ``save`` into the same directory
  does not write ``best.pt`` again.
* ``last.pt`` (model, optimiser, loss scaler, history, every rank's RNG state) is written
  atomically in a background thread, once ``recipe.checkpoint_seconds`` (60 s) have passed
  since the last write or every ``recipe.checkpoint_epochs`` epochs, and always when
  ``ctx.should_stop()`` (checked per batch) ends the fit with :class:`Interrupted` -- then
  mid-epoch, with the batch reached. ``ctx.resume`` continues from it and ends where an
  uninterrupted run would. A best state newer than the last write goes with it: into
  ``last.pt`` when small (``imagenet50``'s head), else to ``best.pt`` just before.
* Several GPUs: under ``torchrun`` or SLURM the launcher's environment gives the device
  count and the nodes (:mod:`engine.launch`); every rank trains on its slice of each batch,
  validation runs on the unwrapped module (a rank with no validation rows must not stall
  the others) and its predictions are all-gathered, only rank 0 writes files and calls
  ``on_epoch``. Every rank validates with rank 0's BatchNorm statistics (broadcast before
  validation), so the AUC that chooses the best epoch is the saved model's own; on GPUs
  BatchNorm layers become SyncBatchNorm (statistics over the global batch: cnn's batch of 16
  on 8 GPUs is 2 rows per GPU). ``recipe.batch_size`` is the *global* batch, split across
  the ranks: the same optimiser steps, whatever the number of GPUs. The trainer uses only
  torch's RNGs, seeded from ``ctx.seed`` on rank 0 and from
  :func:`engine.launch.rank_seed` on the others (dropout masks differ across ranks; data
  order comes from its own generator and is the same everywhere); each rank's own RNG
  state goes into ``last.pt``. Ranks above 0 may resume from ``ctx.resume_from`` (rank 0's
  ``last.pt``, sent by :mod:`engine.ddp`) instead of a file.

Losses on the 2-logit head (see :mod:`engine.models.nets`): ``bce`` on the logit difference
(``pos_weight`` = negatives/positives when class weighting), ``ce`` (class weights
N / (2 N_c)), ``mse`` -- the paper's: softmax against the one-hot label, class weights as
per-sample weights. Optimisers: ``sgd`` (momentum 0 in the ``paper`` preset, as PyTorch's
default the paper would have used; 0.9 otherwise), ``adam``, ``adamw``.
"""

from __future__ import annotations

import io
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
from .metrics import roc_auc  # the engine's one AUC (numpy only)
from .models import FitContext, ModelSpec, TrainData, batch_size_of, selection_auc
from .augment import mixup_loss
from .models.nets import build_net, uses_channels_last
from .paths import atomic_write_bytes, atomic_write_text
from .bounded import loads_json
from .runs import dumps

LAST = "last.pt"
BEST = "best.pt"
MODEL_JSON = "model.json"
FORMAT_VERSION = 2  # last.pt: 2 holds every rank's RNG state and a mid-epoch position


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
    batch_size = batch_size_of(spec, recipe)
    if recipe.epochs < 1 or batch_size < 1:
        raise ConfigError(
            f"epochs={recipe.epochs}, batch_size={batch_size} must be at least 1",
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
        batch_size=batch_size,
    )


# --------------------------------------------------------------------------- metrics


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
        # the directory whose best.pt already holds these weights (set by the fit that wrote
        # it): saving there again writes model.json only
        self.weights_saved_in: Path | None = None

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
        """Write ``best.pt`` (state dict) and ``model.json`` into ``model_dir``; ``best.pt``
        only when this predictor's weights are not there already."""
        model_dir = Path(model_dir).resolve()
        if model_dir != self.weights_saved_in or not (model_dir / BEST).is_file():
            state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
            atomic_write_bytes(model_dir / BEST, _serialise(state))
            self.weights_saved_in = model_dir
        meta = dict(self.meta, threshold=self.threshold)
        atomic_write_text(model_dir / MODEL_JSON, dumps(meta, indent=2))


def load(spec: ModelSpec, model_dir: Path, device: str | None = None) -> TorchPredictor:
    """Rebuild the network from ``model.json`` and load ``best.pt`` with ``weights_only``, on
    ``device`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``; default the CPU: one clip is faster
    there than paying for GPU start-up, see :func:`engine.devices.inference_device`)."""
    from .errors import RunError

    model_dir = Path(model_dir)
    meta_path, state_path = model_dir / MODEL_JSON, model_dir / BEST
    if not meta_path.is_file() or not state_path.is_file():
        raise RunError(
            f"{model_dir} holds no trained {spec.name} ({MODEL_JSON} and {BEST} expected)",
            "pick a model directory of a finished run (runs/<run>/<model>/<seed>)",
        )
    meta = loads_json(meta_path.read_text(encoding="utf-8"))
    shape = meta["input_shape"]
    net = build_net(
        meta["model"],
        n_features=shape[0] if meta["input"] == "features" else 26,
        n_mels=shape[1] if meta["input"] == "spectrogram" else 128,
        n_frames=shape[2] if meta["input"] == "spectrogram" else 130,
    )
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    if uses_channels_last(meta["model"]):  # as trained: the input adapter ends in it
        net.to(memory_format=torch.channels_last)
    predictor = TorchPredictor(meta["model"], net.to(device or "cpu").eval(), meta)
    predictor.weights_saved_in = model_dir.resolve()
    return predictor


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
    """Raised before batch ``batch`` of an epoch; ``sums``: this rank's partial sums."""

    def __init__(self, batch: int = 0, sums: torch.Tensor | None = None) -> None:
        super().__init__(batch)
        self.batch = batch
        self.sums = sums


def make_fabric(ctx: FitContext) -> Any:
    """A launched Fabric for ``ctx``'s device, strategy and precision; the device count and
    nodes come from torchrun/SLURM when they launched us (:func:`engine.launch.fabric_layout`),
    else from ``ctx.devices``."""
    from lightning_fabric import Fabric

    from .launch import ensure_process_group, fabric_layout, launch_info

    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    launch = launch_info()
    if ctx.devices > 1 and not launch.external:
        raise ConfigError(
            f"--devices {ctx.devices} needs one process per device",
            f"launch with torchrun: torchrun --nproc_per_node {ctx.devices} -m engine"
            " --headless ... (or srun under SLURM)",
        )
    devices, num_nodes = fabric_layout(ctx.devices, launch)
    strategy = ctx.strategy
    if launch.distributed:
        strategy = "ddp" if strategy == "auto" else strategy
        ensure_process_group(launch)  # (already joined by the command line's checks, usually)
    fabric = Fabric(
        accelerator=ctx.device,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=ctx.precision,  # type: ignore[arg-type]
    )
    fabric.launch()
    return fabric


def _place(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move ``t`` to the device when it fits (half the free memory); else it stays in host
    memory and :meth:`EpochLoop.rows` gathers each batch into pinned memory."""
    if device.type != "cuda":
        return t.to(device)
    free, _ = torch.cuda.mem_get_info(device)
    if t.numel() * t.element_size() < free // 2:
        return t.to(device)
    return t


def gather_rows(X: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``X[idx]`` on ``device``. From host memory to a GPU the rows are gathered straight into
    pinned memory (indexing a pinned tensor would give pageable memory, and its copy would
    not be asynchronous); torch's pinned-memory cache reuses the buffer once the copy is done."""
    if X.device == device or device.type != "cuda":
        return X[idx.to(X.device)].to(device)
    out = torch.empty((len(idx), *X.shape[1:]), dtype=X.dtype, pin_memory=True)
    torch.index_select(X, 0, idx.to(X.device), out=out)
    return out.to(device, non_blocking=True)


AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


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
        self.val_part = data.val  # its strata, when given, make val_auc confound-controlled
        self._set_loss(counts)
        # inputs are cast once, from their stored dtype to the one autocast computes in
        precision = getattr(fabric.strategy.precision, "precision", ctx.precision)
        self.input_dtype = AUTOCAST_DTYPES.get(str(precision), torch.float32)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels
        self.net.to(self.device)
        if fabric.world_size > 1 and self.device.type == "cuda":
            # BatchNorm over the global batch, not each GPU's slice of it (2 rows of cnn's 16
            # on 8 GPUs); SyncBatchNorm exists for GPUs only
            self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
        if uses_channels_last(spec.name):  # its input adapter ends in it; so do the grads,
            self.net.to(memory_format=torch.channels_last)  # as DDP's buckets expect
        self.train_module = self.net
        self.frozen = bool(getattr(self.net, "frozen_backbone", False))
        if self.frozen:
            self._precompute_frozen_features()
        self.augmenter = self._augmenter(X_train)
        params = [p for p in self.train_module.parameters() if p.requires_grad]
        optimizer = self._optimizer(params)
        # validation runs on the module itself, not through DDP (whose forward broadcasts
        # buffers: a rank without validation rows would leave the others waiting)
        self.eval_module: nn.Module = self.train_module
        module: nn.Module = self.train_module
        if self.ctx.recipe.compile:
            module = self.eval_module = torch.compile(self.train_module)  # type: ignore[assignment]
        self.model, self.optimizer = fabric.setup(module, optimizer)
        self.raw_optimizer = optimizer
        self.scaler = getattr(fabric.strategy.precision, "scaler", None)  # 16-mixed only

    # ---- construction helpers

    def _augmenter(self, X_train: np.ndarray) -> Any:
        """Training-batch augmentation (:mod:`engine.augment`) of spectrogram models that
        train on the images (not a frozen backbone's precomputed features); else None."""
        augmentation = self.ctx.augment
        if augmentation is None or self.spec.input != "spectrogram" or self.train_module is not self.net:
            return None
        from .augment import Augmenter

        self.meta["augment"] = asdict(augmentation.config)
        return Augmenter(augmentation, mean=float(self.norm.mean), std=float(self.norm.std),
                         n_mels=X_train.shape[1], seed=self.ctx.seed, rank=self.fabric.global_rank)

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

    def _features_of(self, net: Any, X: torch.Tensor) -> torch.Tensor:
        net.eval()
        out = []
        with torch.no_grad(), self.fabric.autocast():
            for start in range(0, len(X), 256):
                rows = torch.arange(start, min(start + 256, len(X)))
                out.append(net.features(self.rows(X, rows)).float())
        return torch.cat(out) if out else torch.zeros((0, 2048), device=self.device)

    # ---- the loop

    def rows(self, X: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Model input: rows ``idx`` of ``X`` on the device, in the autocast dtype."""
        return gather_rows(X, idx, self.device).to(self.input_dtype)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What training changes, as device tensors: the whole network, or for a frozen
        backbone the head and its feature statistics."""
        state = self.net.state_dict()
        if self.frozen:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        return state

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
                    max_batches: int | None = None, start_batch: int = 0,
                    partial: torch.Tensor | None = None) -> tuple[float, float]:
        """One pass over the training part; returns (mean loss, accuracy) over all ranks.

        ``start_batch``/``partial`` continue an epoch stopped part-way (this rank's loss sum,
        correct count and rows seen so far); a stop raises :class:`_StopRequested` with them.
        """
        self.model.train()
        world, rank = self.fabric.world_size, self.fabric.global_rank
        gen = torch.Generator().manual_seed(self.ctx.seed * 100_003 + epoch)
        perm = torch.randperm(len(self.X), generator=gen).to(self.X.device)
        # loss sum, correct predictions, rows seen: on the device, read once per epoch
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        if partial is not None:
            sums += partial.to(self.device, torch.float64)
        bounds = _batches(len(perm), self.recipe.batch_size, 2 * world)[:max_batches]
        for i in range(start_batch, len(bounds)):
            # several ranks agree on stopping every 16 batches (an all-reduce syncs the GPU)
            if (world == 1 or i % 16 == 0) and self._stop_requested(should_stop):
                raise _StopRequested(i, sums)
            start, stop = bounds[i]
            idx = perm[start:stop][rank::world]
            xb, yb = self.rows(self.X, idx), self.y[idx.to(self.y.device)]
            mix = None
            if self.augmenter is not None:  # training batches only (engine.augment)
                xb, mix = self.augmenter(xb, epoch, i)
            logits = self.model(xb)
            loss = mixup_loss(self.loss, logits, yb, mix)
            self.optimizer.zero_grad(set_to_none=True)
            self.fabric.backward(loss)
            self.optimizer.step()
            sums[0] += loss.detach() * len(idx)
            sums[1] += ((logits[:, 1] > logits[:, 0]).float() == yb).sum()
            sums[2] += len(idx)
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
            "val_auc": (roc_auc(y.cpu().numpy(), probs.cpu().numpy())  # engine.metrics
                        if self.val_part.strata is None  # else within each stratum, pooled
                        else selection_auc(self.val_part, probs.float().cpu().numpy())),
        }

    def share_buffers(self) -> None:
        """Every rank takes rank 0's buffers (BatchNorm statistics), the saved model's: each
        rank's own running statistics differ by its last batches, and validation predictions
        mixed from them would choose on an AUC that no saved model has."""
        if self.fabric.world_size == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for buffer in self.eval_module.buffers():
                dist.broadcast(buffer, src=0)

    def val_logits(self) -> torch.Tensor:
        world, rank, n = self.fabric.world_size, self.fabric.global_rank, len(self.X_val)
        self.share_buffers()
        self.train_module.eval()
        idx = torch.arange(rank, n, world)
        out = []
        with torch.no_grad(), self.fabric.autocast():
            for start in range(0, len(idx), 4 * self.recipe.batch_size):
                chunk = idx[start:start + 4 * self.recipe.batch_size]
                out.append(self.eval_module(self.rows(self.X_val, chunk)).float())
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

    def improved(self, auc: float | None, loss: float | None) -> bool:
        auc = auc if auc is not None and math.isfinite(auc) else -math.inf
        loss = loss if loss is not None and math.isfinite(loss) else math.inf
        return auc > self.best_auc or (auc == self.best_auc and loss < self.best_loss)


def _defined(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with NaN and infinite values as None (events carry no NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()}


def fit(spec: ModelSpec, data: TrainData, ctx: FitContext) -> TorchPredictor:
    """Train ``spec`` on ``data`` (see the module docstring); the best epoch's predictor."""
    return _Fit(spec, data, ctx).run()


class _Fit:
    def __init__(self, spec: ModelSpec, data: TrainData, ctx: FitContext) -> None:
        self.ctx = ctx
        from .launch import rank_seed

        self.fabric = make_fabric(ctx)
        self.fabric.seed_everything(rank_seed(ctx.seed, self.fabric.global_rank), verbose=False)
        self.loop = EpochLoop(spec, data, ctx, self.fabric)
        self.writer = _Writer() if self.fabric.is_global_zero else None
        self.progress = _Progress(history=[])
        self.best_state: dict[str, torch.Tensor] | None = None  # trainable_state(), on device
        self.best_on_disk = False  # best.pt holds best_state
        self.workdir = Path(ctx.workdir)
        self.warned_nan = False
        self.saved_at = time.monotonic()  # last.pt: when it was last written
        self.saved_epoch = 0
        self.resume_at: tuple[int, torch.Tensor] | None = None  # mid-epoch: batch, partial sums

    def run(self) -> TorchPredictor:
        last = self.workdir / LAST
        try:
            if self.ctx.resume_from is not None:  # rank 0's last.pt, sent (engine.ddp)
                self._restore(last, io.BytesIO(self.ctx.resume_from))
            elif self.ctx.resume and last.is_file():
                self._restore(last)
            epochs = self.loop.recipe.epochs
            while self.progress.epoch < epochs and not self.progress.stopped_early:
                self._one_epoch(self.progress.epoch + 1)
            self._finish_best()
            predictor = TorchPredictor(self.loop.spec.name, self.loop.net, self.loop.meta)
            if self.writer is not None:
                if self.best_on_disk:  # written with a checkpoint, unchanged since
                    predictor.weights_saved_in = self.workdir.resolve()
                self.writer.flush()
                predictor.save(self.workdir)
        finally:
            if self.writer is not None:
                self.writer.close()
        return predictor

    def _one_epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        start_batch, partial = self.resume_at or (0, None)
        self.resume_at = None
        try:
            train_loss, train_acc = self.loop.train_epoch(epoch, self.ctx.should_stop,
                                                          start_batch=start_batch, partial=partial)
        except _StopRequested as stop:
            self._save_last(batch=stop.batch, partial=stop.sums)
            if self.writer is not None:
                self.writer.flush()
            raise Interrupted(self.progress.epoch, self.workdir) from None
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        record.update(self.loop.evaluate())
        record["seconds"] = round(time.perf_counter() - started, 4)
        record = _defined(record)
        self._track_best(epoch, record)
        record["best_epoch"] = self.progress.best_epoch
        p = self.progress
        p.epoch = epoch
        assert p.history is not None
        p.history.append(record)
        patience = None if self.ctx.refit else self.loop.recipe.early_stopping_patience
        p.stopped_early = patience is not None and p.bad_epochs >= patience
        if self._checkpoint_due(epoch):
            self._save_last()
        if self.fabric.is_global_zero:
            self.ctx.on_epoch(dict(record))

    def _checkpoint_due(self, epoch: int) -> bool:
        """Time for ``last.pt`` (every rank must agree: writing it gathers their RNG states)."""
        every = self.ctx.recipe.checkpoint_epochs
        due = bool(every and epoch - self.saved_epoch >= every) or (
            time.monotonic() - self.saved_at >= self.ctx.recipe.checkpoint_seconds)
        if self.fabric.world_size > 1:  # rank 0's clock decides
            # a plain bool on the CPU group: a pickled CUDA tensor would be rebuilt on cuda:0
            # by every rank (a CUDA context on GPU 0 per rank, refused in exclusive-process
            # mode), and pickles on an NCCL group travel through a GPU
            import torch.distributed as dist

            from .launch import orders_group

            box = [bool(due)]
            dist.broadcast_object_list(box, src=0, group=orders_group())
            due = bool(box[0])
        return due

    def _track_best(self, epoch: int, record: dict[str, Any]) -> None:
        p = self.progress
        if record["val_auc"] is None and not self.warned_nan and not self.ctx.refit:
            self.warned_nan = True
            self.ctx.warn(f"{self.loop.spec.name}: validation AUC undefined (one class in the"
                          " validation part); choosing the checkpoint on validation loss")
        if self.ctx.refit or p.improved(record["val_auc"], record["val_loss"]):  # refit: last
            auc, loss = record["val_auc"], record["val_loss"]
            p.best_auc = auc if auc is not None else -math.inf
            p.best_loss = loss if loss is not None else math.inf
            p.best_epoch, p.bad_epochs = epoch, 0
            # a copy on the device: no host transfer on the training thread
            self.best_state = {k: v.detach().clone() for k, v in
                               self.loop.trainable_state().items()}
            self.best_on_disk = False
        else:
            p.bad_epochs += 1

    def _rank_states(self, partial: torch.Tensor | None) -> list[dict[str, torch.Tensor]]:
        """Every rank's RNG states and partial-epoch sums, gathered (a collective)."""
        device = self.loop.device
        mine = {
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": (torch.cuda.get_rng_state(device) if device.type == "cuda"
                         else torch.zeros(0, dtype=torch.uint8)),
            "partial": (partial if partial is not None
                        else torch.zeros(3, dtype=torch.float64)).detach().cpu(),
        }
        world = self.fabric.world_size
        if world == 1:
            return [mine]
        gathered: dict[str, list[torch.Tensor]] = {}
        for key, t in mine.items():
            if t.numel() == 0:
                gathered[key] = [t] * world
                continue
            all_t = self.fabric.all_gather(t.to(device)).cpu()
            gathered[key] = [all_t[r] for r in range(world)]
        return [{k: gathered[k][r] for k in mine} for r in range(world)]

    def _save_last(self, batch: int = 0, partial: torch.Tensor | None = None) -> None:
        ranks = self._rank_states(partial)  # on every rank
        self.saved_at, self.saved_epoch = time.monotonic(), self.progress.epoch
        if self.writer is None:
            return
        p = self.progress
        small_best = self.loop.frozen
        if self.best_state is not None and not small_best and not self.best_on_disk:
            self.writer.submit(self.workdir / BEST, self._full_best_state())
            self.best_on_disk = True
        state = {
            "format": FORMAT_VERSION,
            "epoch": p.epoch,
            "batch": batch,
            "model": self.loop.train_module.state_dict(),
            "optimizer": self.loop.raw_optimizer.state_dict(),
            "scaler": self.loop.scaler.state_dict() if self.loop.scaler is not None else None,
            "best_model": self.best_state if small_best else None,
            "history": p.history,
            "best_epoch": p.best_epoch,
            "best_auc": p.best_auc,
            "best_loss": p.best_loss,
            "bad_epochs": p.bad_epochs,
            "stopped_early": p.stopped_early,
            "ranks": ranks,
        }
        self.writer.submit(self.workdir / LAST, _to_cpu(state))

    def _full_best_state(self) -> dict[str, torch.Tensor]:
        """The whole network's state dict with the best trainable part, on the CPU."""
        assert self.best_state is not None
        full = dict(self.loop.net.state_dict())
        full.update(self.best_state)
        return _to_cpu(full)

    def _restore(self, path: Path, source: Any = None) -> None:
        """Continue from ``last.pt`` at ``path`` (or from ``source``, its bytes)."""
        from .errors import RunError

        try:
            state = torch.load(path if source is None else source, map_location="cpu",
                               weights_only=True)
            self.loop.train_module.load_state_dict(state["model"])
            self.loop.raw_optimizer.load_state_dict(state["optimizer"])
            if self.loop.scaler is not None and state.get("scaler"):
                self.loop.scaler.load_state_dict(state["scaler"])
            progress = _Progress(
                epoch=int(state["epoch"]), history=list(state["history"]),
                best_epoch=int(state["best_epoch"]), best_auc=float(state["best_auc"]),
                best_loss=float(state["best_loss"]), bad_epochs=int(state["bad_epochs"]),
                stopped_early=bool(state["stopped_early"]),
            )
        except Exception as exc:  # torn, foreign, or from another model configuration
            raise RunError(
                f"checkpoint {path} cannot be resumed ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                f"delete {path} to train this model from the start",
            ) from None
        self.progress = progress
        self.saved_epoch = progress.epoch
        device = self.loop.device
        if state.get("best_model") is not None:
            self.best_state = {k: v.to(device) for k, v in state["best_model"].items()}
        elif (progress.best_epoch > 0 and self.writer is not None
              and (self.workdir / BEST).is_file()):  # the best model matters where it is saved
            full = torch.load(self.workdir / BEST, map_location="cpu", weights_only=True)
            keys = self.loop.trainable_state().keys()
            self.best_state = {k: full[k].to(device) for k in keys if k in full}
            self.best_on_disk = True
        self._restore_rng(state, path)

    def _restore_rng(self, state: dict[str, Any], path: Path) -> None:
        """This rank's own RNG states (and where its epoch stopped); a checkpoint written by a
        different number of processes keeps the seeded states, with a warning."""
        ranks = state.get("ranks") or [{"rng_cpu": state.get("rng_cpu"),
                                        "rng_cuda": torch.zeros(0, dtype=torch.uint8),
                                        "partial": torch.zeros(3, dtype=torch.float64)}]
        world, rank = self.fabric.world_size, self.fabric.global_rank
        batch = int(state.get("batch", 0))
        if len(ranks) != world:  # e.g. fewer GPUs visible than when it was written
            self.ctx.warn(f"{self.loop.spec.name}: resumed with {world} process(es) where the"
                          f" checkpoint had {len(ranks)}: random streams start from the seed")
            if batch:  # the epoch's sums so far, all counted once (on rank 0)
                total = sum(r["partial"].double() for r in ranks)
                self.resume_at = (batch, total if rank == 0 else torch.zeros_like(total))
            return
        mine = ranks[rank]
        try:
            if mine.get("rng_cpu") is not None:
                torch.set_rng_state(mine["rng_cpu"])
            cuda_state = mine.get("rng_cuda")
            if cuda_state is not None and cuda_state.numel() and self.loop.device.type == "cuda":
                torch.cuda.set_rng_state(cuda_state, self.loop.device)
        except (RuntimeError, ValueError, TypeError) as exc:
            self.ctx.warn(f"{self.loop.spec.name}: the random state in {path} does not fit this"
                          f" device ({exc}); random streams start from the seed")
        if batch:
            self.resume_at = (batch, mine["partial"])

    def _finish_best(self) -> None:
        if self.best_state is not None:
            missing, unexpected = self.loop.net.load_state_dict(self.best_state, strict=False)
            assert not unexpected and all(k.startswith("backbone.") for k in missing), missing
        self.loop.meta["best_epoch"] = self.progress.best_epoch
        self.loop.meta["epochs_trained"] = self.progress.epoch
