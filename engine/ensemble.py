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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .paths import atomic_write_text

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
        atomic_write_text(Path(model_dir) / "model.json", json.dumps(self.to_json(), indent=2))


def select(y_val: np.ndarray, val_probabilities: dict[Member, np.ndarray],
           max_steps: int = MAX_STEPS) -> Selection:
    """Greedy forward selection with replacement on validation AUC (module docstring).

    Ties go to the member listed first. Members whose validation AUC is undefined (one
    class) cannot be chosen; ``ValueError`` when none can.
    """
    from .metrics import roc_auc

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
