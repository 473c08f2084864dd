"""What the app knows about one run, built from its event log and result files.

:class:`RunState` folds ``events.jsonl`` records into per model/seed progress (epoch history,
final metrics) that the Training screen draws. The ``read_*`` helpers load the finished
results (``summary.json``, ``<model>/<seed>/metrics.json``, ``predictions.csv``) for the
Results, Confusion and Classify screens. Pure Python: no Textual, no heavy libraries.
"""

from __future__ import annotations

import csv
import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs import RunDir, read_all_events

FINAL_STATES = ("finished", "failed", "interrupted")


@dataclass
class PartProgress:
    """One model trained with one seed."""

    model: str
    seed: int
    epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    state: str = "pending"  # pending | training | done

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed}"

    @property
    def units(self) -> int:
        """Work units this part counts for in the run's progress (baselines count 1)."""
        return max(self.epochs, 1)

    @property
    def units_done(self) -> int:
        if self.state == "done":
            return self.units
        return min(len(self.history), self.units)


@dataclass
class RunState:
    """A run's progress as far as its event log has been read."""

    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    parts: dict[tuple[str, int], PartProgress] = field(default_factory=dict)
    current: tuple[str, int] | None = None
    state: str = "running"
    started: float | None = None
    ended: float | None = None
    seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    events_seen: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event into the state (unknown types are kept as warnings)."""
        self.events_seen += 1
        kind = event.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            self.problems.append(f"unknown event type {kind!r} ignored")
            return
        handler(event)

    def _on_run_start(self, event: dict[str, Any]) -> None:
        self.run_id = str(event.get("run_id", self.run_id))
        self.config = dict(event.get("config") or {})
        self.started = event.get("time")
        self.state = "running"
        epochs = int((self.config.get("recipe") or {}).get("epochs", 0) or 0)
        for model in self.config.get("models") or []:
            for seed in range(int(self.config.get("seeds", 1) or 1)):
                self.parts.setdefault((model, seed), PartProgress(model, seed, epochs))

    def _on_data_ready(self, event: dict[str, Any]) -> None:
        self.data = {k: v for k, v in event.items() if k not in ("v", "type", "time")}

    def _part(self, event: dict[str, Any]) -> PartProgress:
        key = (str(event.get("model")), int(event.get("seed", 0)))
        if key not in self.parts:
            self.parts[key] = PartProgress(*key)
        return self.parts[key]

    def _on_model_start(self, event: dict[str, Any]) -> None:
        part = self._part(event)
        part.epochs = int(event.get("epochs", part.epochs) or 0)
        part.history.clear()  # a resumed part restarts its curve from its checkpoint's events
        part.state = "training"
        self.current = (part.model, part.seed)
        if self.started is None:
            self.started = event.get("time")

    def _on_epoch_end(self, event: dict[str, Any]) -> None:
        part = self._part(event)
        part.state = "training" if part.state != "done" else "done"
        part.epochs = int(event.get("epochs", part.epochs) or part.epochs)
        record = {k: v for k, v in event.items() if k not in ("v", "type", "model", "seed")}
        part.history = [r for r in part.history if r.get("epoch") != record.get("epoch")]
        part.history.append(record)

    def _on_model_end(self, event: dict[str, Any]) -> None:
        part = self._part(event)
        part.metrics = dict(event.get("metrics") or {})
        part.best_epoch = event.get("best_epoch")
        part.seconds = event.get("seconds")
        part.state = "done"

    def _on_warning(self, event: dict[str, Any]) -> None:
        self.warnings.append(str(event.get("message", "")))

    def _on_error(self, event: dict[str, Any]) -> None:
        self.errors.append((str(event.get("message", "")), str(event.get("hint", ""))))

    def _on_run_end(self, event: dict[str, Any]) -> None:
        self.state = str(event.get("state", "finished"))
        self.ended = event.get("time")
        self.seconds = event.get("seconds")

    @property
    def is_over(self) -> bool:
        return self.state in FINAL_STATES

    def progress(self) -> tuple[int, int]:
        """``(units done, units in total)``; an epoch is a unit, a baseline fit is one."""
        total = sum(p.units for p in self.parts.values())
        done = sum(p.units_done for p in self.parts.values())
        return done, total

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far, or None before the first unit is done."""
        done, total = self.progress()
        if self.is_over or self.started is None or done == 0:
            return None
        elapsed = (now if now is not None else time.time()) - float(self.started)
        return max(elapsed / done * (total - done), 0.0)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def load_run_state(run: RunDir) -> RunState:
    """The state of a run from its whole event log (for finished runs and tests)."""
    state = RunState(run_id=run.id)
    events, problems = read_all_events(run.events_path)
    for event in events:
        state.apply(event)
    state.problems.extend(problems)
    return state


# ---------------------------------------------------------------- finished results


def read_summary(run: RunDir) -> dict[str, Any] | None:
    """``summary.json`` or None while the run has not written it."""
    try:
        return json.loads(run.summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return None


def read_metrics(run: RunDir, model: str, seed: int) -> dict[str, Any] | None:
    path = run.model_dir(model, seed) / "metrics.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def model_seeds(run: RunDir, model: str, summary: dict[str, Any] | None = None) -> list[int]:
    """The seeds a model was trained with: from the summary, else the seed folders."""
    if summary and model in summary.get("models", {}):
        return [int(s) for s in summary["models"][model].get("seeds", [])]
    folder = run.path / model
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def read_config(run: RunDir) -> dict[str, Any]:
    try:
        return tomllib.loads(run.config_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return {}


def read_predictions(run: RunDir, model: str, seed: int, split: str = "test"
                     ) -> tuple[list[int], list[float]]:
    """Labels (1 positive) and probabilities of one split from ``predictions.csv``."""
    path = run.model_dir(model, seed) / "predictions.csv"
    labels: list[int] = []
    probs: list[float] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("split", split) != split:
                    continue
                label = row.get("label", "")
                labels.append(1 if label in ("positive", "1") else 0)
                probs.append(float(row.get("probability", "nan")))
    except FileNotFoundError:
        return [], []
    return labels, probs


def roc_points(labels: list[int], probs: list[float]) -> tuple[list[float], list[float]]:
    """False- and true-positive rates at every threshold (both classes needed)."""
    pairs = sorted(zip(probs, labels), key=lambda pair: -pair[0])
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return [], []
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    for i, (prob, label) in enumerate(pairs):
        tp += label
        fp += 1 - label
        if i + 1 < len(pairs) and pairs[i + 1][0] == prob:
            continue  # ties: one point per distinct threshold
        fpr.append(fp / n_neg)
        tpr.append(tp / n_pos)
    return fpr, tpr


def roc_curve_for(run: RunDir, model: str, seed: int) -> tuple[list[float], list[float]]:
    """The test ROC curve of one model and seed: from metrics.json if stored, else from
    the predictions file."""
    metrics = read_metrics(run, model, seed) or {}
    roc = metrics.get("roc") or {}
    if roc.get("fpr") and roc.get("tpr"):
        return list(roc["fpr"]), list(roc["tpr"])
    return roc_points(*read_predictions(run, model, seed))


def confusion_rates(confusion: dict[str, Any]) -> dict[str, float | None]:
    """Sensitivity, specificity, precision, NPV and accuracy from ``{tn, fp, fn, tp}``."""
    tn, fp, fn, tp = (int(confusion.get(k, 0)) for k in ("tn", "fp", "fn", "tp"))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
    }


def best_auc(summary: dict[str, Any] | None) -> tuple[str, float] | None:
    """The model with the highest mean test ROC-AUC, ignoring the majority baseline."""
    if not summary:
        return None
    best: tuple[str, float] | None = None
    for model, entry in (summary.get("models") or {}).items():
        if model == "majority":
            continue
        auc = ((entry.get("metrics") or {}).get("roc_auc") or {}).get("mean")
        if isinstance(auc, (int, float)) and (best is None or auc > best[1]):
            best = (model, float(auc))
    return best
