"""Mirroring a run's metrics to TensorBoard or Weights & Biases (optional, off by default).

A :class:`MetricsMirror` is one more listener of the runner's events (like the console
printer): every ``epoch_end`` goes to a Lightning logger per model and seed, and every
``model_end`` adds the test metrics. The trainer knows nothing of it.

* ``tensorboard``: ``lightning_fabric.loggers.TensorBoardLogger`` writing into
  ``<run>/tensorboard/<model>/seed<seed>`` (needs ``tensorboard`` or ``tensorboardX``:
  ``pip install 'coughscope[tensorboard]'``); view with ``tensorboard --logdir <run>/tensorboard``.
* ``wandb``: ``pytorch_lightning.loggers.WandbLogger``, project ``coughscope``, one W&B run per
  model and seed named ``<run-id>/<model>/seed<seed>``, files under ``<run>/wandb`` (needs
  ``wandb`` and a login, or ``WANDB_MODE=offline``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .errors import UnavailableError

KINDS = ("tensorboard", "wandb")
EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_auc")
TEST_KEYS = ("roc_auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1")


def check_available(kind: str) -> None:
    """Fail before training when the logger's package is missing."""
    if kind == "tensorboard":
        if not (importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")):
            raise UnavailableError(
                "--logger tensorboard needs the tensorboard (or tensorboardX) package",
                "pip install 'coughscope[tensorboard]' (or pip install tensorboard)",
            )
    elif kind == "wandb":
        if not importlib.util.find_spec("wandb"):
            raise UnavailableError("--logger wandb needs the wandb package",
                                   "pip install 'coughscope[wandb]', then wandb login "
                                   "(or set WANDB_MODE=offline)")
    else:
        raise UnavailableError(f"unknown logger {kind!r}", f"use one of: {', '.join(KINDS)}")


class MetricsMirror:
    """Listener that copies epoch and test metrics to one Lightning logger per model/seed."""

    def __init__(self, kind: str, run_dir: Path, run_id: str) -> None:
        check_available(kind)
        self.kind, self.run_dir, self.run_id = kind, Path(run_dir), run_id
        self.loggers: dict[tuple[str, int], Any] = {}

    def _logger(self, model: str, seed: int) -> Any:
        key = (model, seed)
        if key not in self.loggers:
            if self.kind == "tensorboard":
                from lightning_fabric.loggers import TensorBoardLogger

                self.loggers[key] = TensorBoardLogger(
                    root_dir=str(self.run_dir / "tensorboard"), name=model, version=f"seed{seed}")
            else:
                from pytorch_lightning.loggers import WandbLogger

                self.loggers[key] = WandbLogger(
                    project="coughscope", name=f"{self.run_id}/{model}/seed{seed}",
                    save_dir=str(self.run_dir), group=self.run_id)
        return self.loggers[key]

    def __call__(self, event: dict[str, Any]) -> None:
        t = event.get("type")
        if t == "epoch_end":
            metrics = {k: float(event[k]) for k in EPOCH_KEYS
                       if isinstance(event.get(k), (int, float))}
            self._logger(event["model"], event["seed"]).log_metrics(metrics, step=event["epoch"])
        elif t == "model_end":
            m = event.get("metrics") or {}
            metrics = {f"test_{k}": float(m[k]) for k in TEST_KEYS
                       if isinstance(m.get(k), (int, float))}
            logger = self._logger(event["model"], event["seed"])
            logger.log_metrics(metrics, step=int(event.get("best_epoch") or 0))
            logger.finalize("success")
        elif t == "run_end":
            for logger in self.loggers.values():
                logger.finalize("success" if event.get("state") == "finished" else "failed")
