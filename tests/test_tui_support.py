"""Run directories for the TUI tests (no training needed), and their checks.

``make_finished_run`` writes what the engine's runner writes for a finished run: config,
status, events, per model/seed metrics and predictions, and summary.json -- with fixed
numbers, so screens and snapshots are deterministic. Events and JSON files go through the
run record's own writer (:mod:`engine.runs`), so this fixture cannot drift from a real run:
an event field the schema does not know is refused here as it would be in the runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from engine.config import ExperimentConfig, TrainRecipe
from engine.runs import EventLog, write_json

MODELS = ("ann", "logreg")
SEEDS = (0, 1)
EPOCHS = 4


def _history(model: str, seed: int) -> list[dict[str, Any]]:
    if model == "logreg":
        return []
    out = []
    for epoch in range(1, EPOCHS + 1):
        out.append({
            "epoch": epoch, "epochs": EPOCHS,
            "train_loss": round(0.70 - 0.05 * epoch - 0.01 * seed, 4),
            "train_acc": round(0.55 + 0.05 * epoch + 0.01 * seed, 4),
            "val_loss": round(0.72 - 0.03 * epoch, 4),
            "val_acc": round(0.52 + 0.04 * epoch, 4),
            "val_auc": round(0.55 + 0.05 * epoch - 0.01 * seed, 4),
        })
    return out


def _test_metrics(model: str, seed: int) -> dict[str, Any]:
    base = 0.80 if model == "ann" else 0.70
    tn, fp, fn, tp = (20 + seed, 6 - seed, 3 + seed, 11 - seed)
    n = tn + fp + fn + tp
    return {
        "roc_auc": round(base + 0.02 * seed, 4),
        "roc_auc_ci": [round(base - 0.1, 4), round(base + 0.1, 4)],
        "accuracy": round((tn + tp) / n, 4),
        "majority_accuracy": round((tn + fp) / n, 4),
        "balanced_accuracy": round(0.5 * (tp / (tp + fn) + tn / (tn + fp)), 4),
        "sensitivity": round(tp / (tp + fn), 4),
        "specificity": round(tn / (tn + fp), 4),
        "spec_at_80_sens": round(base - 0.2, 4),
        "f1": round(2 * tp / (2 * tp + fp + fn), 4),
        "threshold": 0.5,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "n": n,
        "n_positive": fn + tp,
    }


def _mean_std(values: list[float]) -> dict[str, float]:
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return {"mean": round(mean, 6), "std": round(std, 6)}


DATA_READY = {
    "clips": 80, "usable": 78, "labels": {"negative": 52, "positive": 26}, "groups": 40,
    "excluded": 1, "models": list(MODELS), "seeds": len(SEEDS), "device": "cpu",
    "precision": "32-true",
    "synthetic": True, "description": "demo: 80 synthetic clips (not real coughs)",
    "split": {"train": {"clips": 44, "positives": 15, "groups": 22},
              "val": {"clips": 12, "positives": 4, "groups": 6},
              "test": {"clips": 22, "positives": 7, "groups": 12}},
}


def make_finished_run(runs_dir: Path, run_id: str = "20240501-120000-abcd",
                      torn_tail: bool = False) -> Path:
    """Write a finished run of ``ann`` and ``logreg`` with 2 seeds; return its directory."""
    run = runs_dir / run_id
    run.mkdir(parents=True)
    config = ExperimentConfig(data="demo", models=MODELS, seeds=len(SEEDS),
                              recipe=TrainRecipe(epochs=EPOCHS))
    (run / "config.toml").write_text(config.to_toml())
    write_json(run / "status.json", {
        "state": "finished", "pid": 999999, "started": "2024-05-01T12:00:00+00:00",
        "ended": "2024-05-01T12:01:40+00:00"})
    t = 1714564800.0
    events: list[dict[str, Any]] = [
        {"type": "run_start", "run_id": run_id, "config": config.to_dict()},
        {"type": "data_ready", **DATA_READY},
        {"type": "warning", "message": "synthetic demo data: these numbers say nothing about "
                                       "real coughs"},
    ]
    summary_models: dict[str, Any] = {}
    for model in MODELS:
        per_seed = []
        for seed in SEEDS:
            history = _history(model, seed)
            test = _test_metrics(model, seed)
            events.append({"type": "model_start", "model": model, "seed": seed,
                           "epochs": EPOCHS if history else 0})
            for record in history:
                events.append({"type": "epoch_end", "model": model, "seed": seed,
                               **{k: v for k, v in record.items() if k != "epochs"}})
            events.append({"type": "model_end", "model": model, "seed": seed, "metrics": test,
                           "best_epoch": EPOCHS if history else None, "seconds": 1.5})
            metrics = {"model": model, "seed": seed, "test": test, "threshold": 0.5,
                       "test_loss": round(0.5 + 0.01 * seed, 4), "history": history,
                       "train": {"accuracy": 0.8, "loss": 0.4},
                       "best_epoch": EPOCHS if history else None, "seconds": 1.5}
            folder = run / model / str(seed)
            folder.mkdir(parents=True)
            write_json(folder / "metrics.json", metrics)
            rows = ["clip,group,label,probability,split"]
            for i in range(12):
                label = "positive" if i % 3 == 0 else "negative"
                # a probability, as the reader checks (0.3 - 0.04 * 8 was -0.02)
                prob = max(0.01, round((0.9 if label == "positive" else 0.3) - 0.04 * i
                                       + 0.01 * seed, 3))
                rows.append(f"c{i}.wav,g{i},{label},{prob},test")
            rows.append("c99.wav,g99,negative,0.1,val")
            (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
            per_seed.append(test)
        keys = [k for k in per_seed[0] if isinstance(per_seed[0][k], float) and k != "threshold"]
        pooled = {k: sum(m["confusion"][k] for m in per_seed) for k in ("tn", "fp", "fn", "tp")}
        summary_models[model] = {
            "seeds": list(SEEDS),
            "metrics": {k: _mean_std([m[k] for m in per_seed]) for k in keys},
            # the runner's summary: the seeds' bootstrap intervals, averaged bound by bound
            "roc_auc_ci": [round(sum(m["roc_auc_ci"][i] for m in per_seed) / len(per_seed), 6)
                           for i in (0, 1)],
            "confusion_pooled": pooled,
            "by_group": {"source": {"lab": {"roc_auc": {"mean": 0.7, "std": 0.01},
                                            "accuracy": {"mean": 0.75, "std": 0.02}},
                                    "phone": {"roc_auc": {"mean": 0.6, "std": 0.03},
                                              "accuracy": {"mean": 0.7, "std": 0.01}}}},
            "group_baseline": {"source": {"roc_auc": 0.52, "accuracy": 0.66}},
            "confound_warning": None,
        }
    events.append({"type": "run_end", "state": "finished", "seconds": 100.0})
    with EventLog(run / "events.jsonl") as log:
        for i, event in enumerate(events):
            log.emit(event.pop("type"), time=t + i, **event)
    if torn_tail:  # a writer killed mid-line
        with open(run / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write('{"v": 1, "type": "warning", "mess')
    summary = {"run_id": run_id, "preset": "default", "data": DATA_READY,
               "models": summary_models, "warnings": ["synthetic demo data: these numbers say "
                                                      "nothing about real coughs"]}
    write_json(run / "summary.json", summary)
    return run


def drive(app: Any, body: Callable[[Any], Awaitable[None]], size: tuple[int, int] = (100, 32)
          ) -> None:
    """Run ``body(pilot)`` against ``app`` in a headless terminal of ``size``."""
    import asyncio

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


def make_app(runs: Path, **kwargs: Any) -> Any:
    """The real app (one factory, as the command line uses) on ``runs``, without probing the
    device."""
    from tui.app import build_app

    return build_app(runs_dir=runs, detect_device=False, device_text="cpu (test)", **kwargs)


async def wait_for(pilot: Any, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


def text_of(app: Any, selector: str) -> str:
    """The plain text a Static widget shows."""
    from textual.widgets import Static

    return str(app.query_one(selector, Static).render()).strip()


def test_fake_run_is_readable(tmp_path: Path) -> None:
    """The hand-written run reads back through the engine's own run API."""
    from engine.runs import RunDir, list_runs

    run = make_finished_run(tmp_path)
    assert [r.id for r in list_runs(tmp_path)] == [run.name]
    assert RunDir(run).status()["state"] == "finished"
    events = list(RunDir(run).iter_events())
    assert events[0]["type"] == "run_start" and events[-1]["type"] == "run_end"
