"""The study planner: a config becomes a list of :class:`Task`\\ s.

A *study* is models x seeds (or folds). One task is one model with one seed: its selection
fit, then -- with refit -- its ``recipe.oof_folds`` out-of-fold fits and the refit, scored on
test once (:func:`engine.runner.train_one`). Tasks are independent of each other, so an
executor (:mod:`engine.executors`) may run them in any order or at the same time; the
ensemble is not a task: it averages the others and runs on the driver after them.

Each task carries what it needs to run (:class:`Resources`): CPU cores and a share of a GPU.
Small networks are packed several to a GPU (``tasks_per_gpu``); ResNet-50s take at least half
of one; pytorch-tabular and sklearn models never ask for a GPU (they train on the CPU, see
the README's "What runs where").

This module imports nothing heavy: it is what the runner, the executors and the tests share.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ExperimentConfig
from .errors import ConfigError
from .models import get_spec

# GPU models that are too large to share a GPU with more than one other task
LARGE_MODELS = ("resnet50", "imagenet50")
DEFAULT_TASKS_PER_GPU = 4
DEFAULT_CPUS_PER_TASK = 1.0


@dataclass(frozen=True)
class Resources:
    """What one task holds while it runs: CPU cores and a share of one GPU (0: none)."""

    cpus: float = DEFAULT_CPUS_PER_TASK
    gpus: float = 0.0

    def describe(self) -> str:
        gpu = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.cpus:g} CPU{gpu}"


@dataclass(frozen=True)
class Task:
    """One model trained with one seed (or fold), with every fit it needs."""

    model: str
    seed: int
    fits: tuple[str, ...]  # "selection", "oof 1/5" ..., "refit"; or "fit" without refit
    resources: Resources

    @property
    def key(self) -> str:
        """``cnn/1``: how events, logs and the test hook name the task."""
        return f"{self.model}/{self.seed}"


def fits_of(config: ExperimentConfig, model: str) -> tuple[str, ...]:
    """The fits a task of ``model`` runs, in order."""
    from .refit import refit_enabled

    spec = get_spec(model)
    if not refit_enabled(config, spec):
        return ("fit",)
    k = int(config.recipe.oof_folds)
    return ("selection", *(f"oof {i}/{k}" for i in range(1, k + 1)), "refit")


def resources_for(model: str, *, use_gpu: bool, tasks_per_gpu: int = DEFAULT_TASKS_PER_GPU,
                  cpus_per_task: float = DEFAULT_CPUS_PER_TASK) -> Resources:
    """A task's resources: a torch network on a GPU run takes ``1/tasks_per_gpu`` of a GPU
    (a ResNet-50 at least half of one); everything else only CPU cores."""
    if tasks_per_gpu < 1:
        raise ConfigError(f"--tasks-per-gpu {tasks_per_gpu} is below 1",
                          "give how many tasks share one GPU, e.g. 4")
    if cpus_per_task <= 0:
        raise ConfigError(f"--cpus-per-task {cpus_per_task:g} is not positive",
                          "give the CPU cores each task holds, e.g. 1 (or 0.5 to pack two)")
    spec = get_spec(model)
    if not use_gpu or spec.family != "torch":
        return Resources(cpus=cpus_per_task)
    share = 1.0 / tasks_per_gpu
    if model in LARGE_MODELS:
        share = max(share, 0.5)
    return Resources(cpus=cpus_per_task, gpus=round(share, 4))


def plan_study(config: ExperimentConfig, models: list[str], seeds: int, *,
               use_gpu: bool = False, tasks_per_gpu: int = DEFAULT_TASKS_PER_GPU,
               cpus_per_task: float = DEFAULT_CPUS_PER_TASK) -> list[Task]:
    """Every task of the study, in the sequential order (model by model, seed by seed);
    the ensemble is left out (it runs on the driver after the others)."""
    tasks = []
    for model in models:
        if get_spec(model).family == "ensemble":
            continue
        fits = fits_of(config, model)
        res = resources_for(model, use_gpu=use_gpu, tasks_per_gpu=tasks_per_gpu,
                            cpus_per_task=cpus_per_task)
        tasks.extend(Task(model, seed, fits, res) for seed in range(seeds))
    return tasks
