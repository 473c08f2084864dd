"""The ``ensemble`` model: a weighted average of the run's other models' probabilities.

Members are the run's trained (model, seed) pairs. Which of them, and with what weights, is
chosen on the *validation* part only, by greedy forward selection with replacement
(Caruana et al., 2004): start from the member with the best validation AUC, then repeatedly
add (again, possibly) the member whose addition raises the validation AUC of the average
most, until no addition helps or :data:`MAX_STEPS` members are in; a member's weight is how
often it was picked. Selection uses the members' out-of-sample validation probabilities --
those of the model before any refit, since a refit model has seen the validation part.

The ensemble is then scored like any other model: its decision threshold is chosen on the
same validation probabilities and the test part is scored once. The members' predictors stay
where they are; the ensemble's ``model.json`` lists members and weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .paths import atomic_write_text
from .bounded import loads_json
from .runs import dumps as _dumps

MAX_STEPS = 25  # at most this many picks (with repetition)
FORMAT = "coughscope.ensemble/1"


@dataclass(frozen=True)
class Member:
    model: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.model}/{self.seed}"


@dataclass
class Selection:
    """Members with their weights (summing to 1) and the validation AUC of their average."""

    weights: dict[Member, float]
    val_auc: float
    steps: list[dict[str, Any]]  # per pick: member key, validation AUC after it

    def average(self, probabilities: dict[Member, np.ndarray]) -> np.ndarray:
        return sum(w * np.asarray(probabilities[m], dtype=np.float64)
                   for m, w in self.weights.items())

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT,
                "members": [{"model": m.model, "seed": m.seed, "weight": w}
                            for m, w in self.weights.items()],
                "val_auc": self.val_auc, "steps": self.steps}

    def save(self, model_dir: Path) -> None:
        atomic_write_text(Path(model_dir) / "model.json", _dumps(self.to_json(), indent=2))


def select(y_val: np.ndarray, val_probabilities: dict[Member, np.ndarray],
           max_steps: int = MAX_STEPS, strata: np.ndarray | None = None) -> Selection:
    """Greedy forward selection with replacement on validation AUC (module docstring);
    with ``strata`` (a confounded column's values) the AUC within each value, pooled.

    Ties go to the member listed first. Members whose validation AUC is undefined (one
    class) cannot be chosen; ``ValueError`` when none can.
    """
    from .models import Part, selection_auc

    def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
        return selection_auc(Part(p[:, None], y, strata=strata), p)

    members = list(val_probabilities)
    probs = {m: np.asarray(val_probabilities[m], dtype=np.float64) for m in members}
    total = np.zeros(len(y_val))
    counts: dict[Member, int] = {}
    steps: list[dict[str, Any]] = []
    best_auc = -np.inf
    for step in range(1, max_steps + 1):
        candidate, candidate_auc = None, -np.inf
        for m in members:
            auc = roc_auc(y_val, (total + probs[m]) / step)
            if np.isfinite(auc) and auc > candidate_auc:
                candidate, candidate_auc = m, auc
        if candidate is None:
            if step == 1:
                raise ValueError("no member has a defined validation AUC")
            break
        if step > 1 and candidate_auc <= best_auc:
            break
        total += probs[candidate]
        counts[candidate] = counts.get(candidate, 0) + 1
        best_auc = candidate_auc
        steps.append({"member": candidate.key, "val_auc": float(candidate_auc)})
    n = sum(counts.values())
    return Selection(weights={m: c / n for m, c in counts.items()}, val_auc=float(best_auc),
                     steps=steps)


# ----------------------------------------------------------------------------- predictor


class EnsemblePredictor:
    """The saved ensemble: loads its members from the run directory and averages them.

    ``predict_proba`` takes ``(features, logmel)`` -- each member picks its own input: its
    feature columns (``inputs[member]``, a slice) or, when that is None, ``logmel`` with its
    channel axis, ``(N, 1, mels, frames)``.
    """

    best_epoch = None

    def __init__(self, selection: Selection, members: dict[Member, Any],
                 inputs: dict[Member, slice | None]) -> None:
        self.selection = selection
        self.members = members
        self.inputs = inputs

    def predict_proba(self, X: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        features, logmel = X
        return self.selection.average({
            m: np.asarray(p.predict_proba(logmel if self.inputs[m] is None
                                          else features[:, self.inputs[m]]), dtype=np.float64)
            for m, p in self.members.items()})

    def save(self, model_dir: Path) -> None:
        self.selection.save(model_dir)


def fit(spec: Any, data: Any, ctx: Any) -> Any:
    from .errors import ConfigError

    raise ConfigError("the ensemble is not trained on its own: the runner builds it from the "
                      "run's other models", "run it with other models, e.g. --models "
                      "logreg_cv,ann,cnn,ensemble")


def load(spec: Any, model_dir: Path) -> EnsemblePredictor:
    """The ensemble saved in ``RUN/ensemble/<seed>``, with its members from ``RUN``."""
    from . import models as registry
    from . import trust
    from .errors import RunError

    model_dir = Path(model_dir)
    try:
        body = loads_json((model_dir / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{model_dir / 'model.json'} cannot be read: {exc}",
                       "rerun the experiment with the ensemble") from None
    if body.get("format") != FORMAT:
        raise RunError(f"{model_dir / 'model.json'} is not a coughscope ensemble",
                       "load it with the model it was trained as")
    from .config import ExperimentConfig
    from .features import model_columns

    run_path = model_dir.parent.parent
    preprocess = ExperimentConfig.from_toml(run_path / "config.toml").preprocess
    weights, members, inputs = {}, {}, {}
    for entry in body["members"]:
        m = Member(str(entry["model"]), int(entry["seed"]))
        spec_m = registry.get_spec(m.model)
        weights[m] = float(entry["weight"])
        member_dir = run_path / m.model / str(m.seed)
        trust.verify_model_dir(member_dir)  # as engine.inference.load_model does
        members[m] = registry.load(spec_m, member_dir)
        inputs[m] = (model_columns(preprocess, baseline=spec_m.baseline)
                     if spec_m.input == "features" else None)
    selection = Selection(weights=weights, val_auc=float(body.get("val_auc", float("nan"))),
                          steps=list(body.get("steps", [])))
    return EnsemblePredictor(selection, members, inputs)
