"""Using a finished run's models on new recordings (evaluation and prediction).

:func:`load_run_models` reloads every model and seed a run finished, each with the decision
threshold it chose on validation. The preprocessing is the run's own (its ``config.toml``), so
a new clip becomes exactly what the model was trained on.

Checkpoints load as tensors only (``weights_only=True``); pickled pytorch-tabular and sklearn
models load only from run directories coughscope wrote (their hashes are checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .config import ExperimentConfig
from .errors import RunError
from .models import ModelSpec, get_spec
from .runs import RunDir, read_json


@dataclass
class LoadedModel:
    spec: ModelSpec
    seed: int
    predictor: Any
    threshold: float
    majority_label: int
    test_auc: float | None  # the held-out AUC of this model/seed in its run

    def inputs(self, features: np.ndarray, logmel: np.ndarray) -> np.ndarray:
        return features if self.spec.input == "features" else logmel[:, None, :, :]


def run_config(run: RunDir) -> ExperimentConfig:
    if not run.config_path.exists():
        raise RunError(f"{run.path} has no config.toml", "is this a coughscope run directory?")
    return ExperimentConfig.from_toml(run.config_path)


def finished_pairs(run: RunDir, models: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(model, seed) pairs of ``run`` that have metrics.json, i.e. finished training."""
    wanted = set(models) if models else None
    pairs = []
    for metrics in sorted(run.path.glob("*/*/metrics.json")):
        name, seed = metrics.parent.parent.name, metrics.parent.name
        if seed.isdigit() and (wanted is None or name in wanted):
            pairs.append((name, int(seed)))
    return pairs


def load_run_models(run: RunDir, models: Iterable[str] | None = None) -> list[LoadedModel]:
    """Every finished model/seed of ``run`` (or only ``models``), ready to predict."""
    from . import models as registry

    pairs = finished_pairs(run, models)
    if not pairs:
        which = f" for {', '.join(models)}" if models else ""
        raise RunError(f"{run.path} has no finished models{which}",
                       "let the run finish (or resume it) first")
    loaded = []
    for name, seed in pairs:
        spec = get_spec(name)
        model_dir = run.model_dir(name, seed)
        info = read_json(model_dir / "metrics.json")
        loaded.append(LoadedModel(
            spec=spec,
            seed=seed,
            predictor=registry.load(spec, model_dir),
            threshold=float(info["threshold"]),
            majority_label=int(info.get("majority_label", 0)),
            test_auc=(info.get("test") or {}).get("roc_auc"),
        ))
    return loaded


def evaluate_run(run: RunDir, data: str, *, models: Iterable[str] | None = None,
                 progress: Any = None) -> dict[str, Any]:
    """Score a finished run's models on another data set (external validation).

    Every usable clip of ``data`` is a test clip; the thresholds are the run's own. Returns,
    per model, mean and std over seeds of every metric and ``by_group`` per metadata column.
    """
    from .metrics import aggregate, binary_metrics, per_group
    from .preprocess import preprocess
    from .sources import load_source

    config = run_config(run)
    loaded = load_run_models(run, models)
    clipset = load_source(data, sound=config.sound)
    dataset = preprocess(clipset, config.preprocess, progress=progress)
    y = dataset.y
    columns = [c for c in clipset.meta_columns if 2 <= len(set(dataset.meta(c))) <= 20]
    per_model: dict[str, list[dict[str, Any]]] = {}
    for lm in loaded:
        p = np.asarray(lm.predictor.predict_proba(lm.inputs(dataset.features, dataset.logmel)),
                       dtype=np.float64)
        m = binary_metrics(y, p, lm.threshold, majority_label=lm.majority_label, seed=lm.seed)
        m["by_group"] = per_group(y, p, lm.threshold, {c: dataset.meta(c) for c in columns})
        per_model.setdefault(lm.spec.name, []).append(m)
    out: dict[str, Any] = {}
    for name, ms in per_model.items():
        agg = aggregate([{k: v for k, v in m.items() if k != "by_group"} for m in ms])
        by_group = {}
        for c in columns:
            values = sorted({v for m in ms for v in m["by_group"].get(c, {})})
            by_group[c] = {v: aggregate([m["by_group"][c][v] for m in ms
                                         if v in m["by_group"].get(c, {})]) for v in values}
        out[name] = {**{k: v for k, v in agg.items() if k != "confusion_pooled"},
                     "confusion_pooled": agg.get("confusion_pooled"),
                     "by_group": by_group, "seeds": [m.seed for m in loaded
                                                     if m.spec.name == name]}
    labels = dataset.y
    return {
        "run_dir": str(run.path),
        "data": {"spec": data, "description": clipset.description,
                 "synthetic": clipset.synthetic, "usable": len(dataset.clips),
                 "positive": int(labels.sum()), "negative": int((1 - labels).sum()),
                 "excluded": len(dataset.excluded)},
        "models": out,
    }
