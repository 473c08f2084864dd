"""Refit: the final model is retrained on train + validation once validation has chosen.

scikit-learn calls this ``refit``; Lightning users do it by hand. On a few hundred clips the
validation part is a fifth of what a model could learn from, so once it has done its job --
choosing the epoch count (the best validation epoch), the checkpoint policy, hyperparameters
such as logistic regression's ``C`` or the boosting rounds, and the decision threshold -- the
runner trains the model again, from scratch and with the same seed, on train + validation
with exactly those choices and nothing chosen anew (no early stopping; the last epoch is the
model). The test part is never seen by either fit.

What is reported as validation (AUC, the threshold, the ensemble's member choice) always comes
from the first fit's predictions: the refit model has seen the validation clips.

Defaults, by preset: ``default`` refits, augments and repeat-pads short clips in the log-mel;
``paper`` keeps the paper's protocol (no refit, no augmentation, silence after a short clip).
``recipe.refit`` / ``augment.enabled`` / ``preprocess.pad`` set explicitly win; the resolved
values are written to the run's ``config.toml``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .config import ExperimentConfig
from .models import ModelSpec


def resolve_preset_choices(config: ExperimentConfig, *, resume: bool = False
                           ) -> ExperimentConfig:
    """``recipe.refit``, ``augment.enabled`` and ``preprocess.pad`` left open (None) take the
    preset's choice. A resumed run whose ``config.toml`` has no ``pad`` was started by a
    coughscope without the option, which zero-padded: it goes on zero-padding."""
    paper = config.recipe.preset == "paper"
    recipe, augment, preprocess = config.recipe, config.augment, config.preprocess
    if recipe.refit is None:
        recipe = dataclasses.replace(recipe, refit=not paper)
    if augment.enabled is None:
        augment = dataclasses.replace(augment, enabled=not paper)
    if preprocess.pad is None:
        preprocess = dataclasses.replace(preprocess,
                                         pad="zero" if paper or resume else "repeat")
    return dataclasses.replace(config, recipe=recipe, augment=augment, preprocess=preprocess)


def refit_enabled(config: ExperimentConfig, spec: ModelSpec) -> bool:
    """Whether ``spec`` is refit in this run (never the ensemble: it trains nothing)."""
    refit = config.recipe.refit
    if refit is None:
        refit = resolve_preset_choices(config).recipe.refit
    return bool(refit) and spec.family != "ensemble"


def chosen_of(predictor: Any, best_epoch: Any) -> dict[str, Any]:
    """What validation chose for ``predictor``: its best epoch (networks), ``C`` (logistic
    regression; ``svm``'s, which its inner CV chose), its boosting rounds (gbm)."""
    chosen: dict[str, Any] = {}
    if isinstance(best_epoch, int) and best_epoch > 0 and not hasattr(predictor, "C"):
        chosen["epochs"] = best_epoch
    if hasattr(predictor, "C"):
        chosen["C"] = float(predictor.C)
    model = getattr(predictor, "model", None)
    if hasattr(model, "n_iter_"):
        chosen["n_iter"] = int(model.n_iter_)
    return chosen
