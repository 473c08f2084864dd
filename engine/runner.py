"""The experiment runner: the one executor behind ``--headless`` and the TUI.

:func:`run_experiment` takes an :class:`~engine.config.ExperimentConfig` and a run directory
and does, in order:

1. load the source and preprocess it (cached), then split it by participant;
2. for every model x seed: train on *train*, choose the checkpoint and the decision threshold
   on *validation* -- then, with refit (:mod:`engine.refit`), retrain on train + validation
   with those choices -- and score *test* once (and the held-out ``ood`` part of a
   ``test_group`` run) and write predictions and metrics; the ``ensemble`` comes last, its
   members chosen on the others' validation predictions (:mod:`engine.ensemble`);
3. aggregate over seeds (mean and std), add per-group results and the group-only baselines
   (the confound check), write ``summary.json`` and the figures.

It announces progress as events (``events.jsonl``) through :class:`Announcer`; listeners
(the console printer of the headless CLI, the TUI following the log) know nothing of the
trainer. SIGINT/SIGTERM/SIGHUP stop it cleanly at the next batch: the run is marked
``interrupted`` and :func:`run_experiment` with ``resume=True`` continues it -- finished
model/seed pairs are kept, a half-trained one continues from its last completed epoch.
"""

from __future__ import annotations

import csv
import errno
import io
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .clips import LABELS
from .config import ExperimentConfig
from .errors import ConfigError, CoughscopeError, DataError, Interrupted, RunError
from .executors import ExecutorOptions
from .models import MODELS, FitContext, ModelSpec, Part, TrainData, get_spec
from .paths import atomic_write_text, ensure_dir
from .runs import (Event, EventLog, RunDir, RunLock, environment, now_iso, read_json,
                   remove_stale_temps, write_env, write_json)

Listener = Callable[[Event], None]


class Announcer:
    """Writes typed events (:mod:`engine.runs`) to the run's log and hands each to every
    listener."""

    def __init__(self, log: EventLog, listeners: list[Listener] | None = None) -> None:
        self.log = log
        self.listeners = list(listeners or [])

    def __call__(self, type: str, **fields: Any) -> None:
        event = self.log.emit(type, **fields)
        for listener in self.listeners:
            listener(event)


@dataclass
class StopFlag:
    """Set by a signal handler; polled by trainers between batches."""

    reason: str | None = None

    def __call__(self) -> bool:
        return self.reason is not None


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP set ``flag`` instead of killing the process."""
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {}

    def handler(signum: int, frame: Any) -> None:
        if flag.reason is None:
            flag.reason = signal.Signals(signum).name
        else:  # a second Ctrl+C: the user insists
            raise KeyboardInterrupt

    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals stay with the caller
        previous.clear()
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class PreparedData:
    """The preprocessed data set and its split, shared by every model of a run."""

    dataset: Any  # engine.preprocess.Dataset
    splits: list[Any]  # engine.splits.Split: one, or one per fold (k-fold)
    meta_columns: list[str] = field(default_factory=list)
    # a column confounded with the label: validation choices are made within its values
    strata_column: str | None = None

    @property
    def split(self) -> Any:
        """The first split (the only one unless the run is k-fold)."""
        return self.splits[0]

    def split_for(self, seed: int) -> Any:
        """In a k-fold run seed index ``i`` trains on fold ``i``; otherwise every seed shares
        the one split."""
        return self.splits[seed % len(self.splits)]

    def inputs(self, spec: ModelSpec) -> np.ndarray:
        if spec.input == "features":
            from .features import model_columns

            return self.dataset.features[:, model_columns(self.dataset.config,
                                                          baseline=spec.baseline)]
        return self.dataset.logmel[:, None, :, :]  # (N, 1, mels, frames), float16

    def train_rows(self, seed: int, balance_by: str | None, refit: bool = False) -> np.ndarray:
        """The training rows (with ``refit``, training and validation rows), rebalanced
        within ``balance_by`` when it is set."""
        s = self.split_for(seed)
        return self.balanced(s.train_val if refit else s.train, balance_by, seed)

    def train_data(self, spec: ModelSpec, seed: int, balance_by: str | None = None,
                   refit: bool = False) -> TrainData:
        """What a fit sees: train (with ``refit`` train + validation) and validation rows;
        never a test or ``ood`` row."""
        return self.data_for(spec, self.train_rows(seed, balance_by, refit),
                             self.split_for(seed).val)

    def balanced(self, rows: np.ndarray, balance_by: str | None, seed: int) -> np.ndarray:
        """``rows`` rebalanced within ``balance_by`` (as :meth:`train_rows` does)."""
        if not balance_by:
            return rows
        from .balance import balanced_indices

        picked, _ = balanced_indices(self.dataset.y[rows], self.dataset.meta(balance_by)[rows],
                                     seed)
        return rows[picked]

    def data_for(self, spec: ModelSpec, train: np.ndarray, val: np.ndarray) -> TrainData:
        """A fit's data from explicit rows: ``train`` to learn from, ``val`` to report (and,
        in a selection fit, to choose on)."""
        X, y = self.inputs(spec), self.dataset.y
        groups = self.dataset.groups
        names = list(self.dataset.feature_names)
        if spec.input == "features":
            names = names[: X.shape[1]]
        strata = self.dataset.meta(self.strata_column)[val] if self.strata_column else None
        return TrainData(
            train=Part(X[train], y[train], groups[train]),
            val=Part(X[val], y[val], groups[val], strata),
            feature_names=names,
            rows=(np.asarray(train), np.asarray(val)),
        )


def default_models(config: ExperimentConfig, warn: Callable[[str], None]) -> list[str]:
    """Every model that can run here; transfer-learning ones only when weights are found."""
    names = []
    for spec in MODELS.values():
        if spec.needs_weights and config.pretrained and not config.weights:
            from .weights import weights_available

            ok, reason = weights_available()
            if not ok:
                warn(f"{spec.name} left out: {reason}")
                continue
        names.append(spec.name)
    return names


def check_launch(config: ExperimentConfig) -> None:
    """``--devices N`` (N > 1) needs N processes, one per device, which only a launcher
    starts: refused here, before any data is read or a run directory made."""
    from .launch import launch_info

    if config.devices > 1 and not launch_info().external:
        raise ConfigError(
            f"--devices {config.devices} needs one process per device, and this is one "
            "process",
            f"launch it with torchrun: torchrun --nproc_per_node {config.devices} -m engine "
            "--headless ... (or srun under SLURM); see README, 'Running on a GPU server'")


def preflight(config: ExperimentConfig) -> list[str]:
    """Everything that can be checked before a run directory exists: the data set (there,
    readable, both classes), the device, the models and their weights, the balance column.
    Raises the error a run would otherwise die of seconds or minutes in, and leaves no run
    directory behind. Returns the models that will run."""
    from .devices import resolve_device
    from .errors import UnavailableError
    from .sources import load_source, require_both_classes

    resolve_device(config.device)
    check_launch(config)
    notes: list[str] = []
    names = list(config.models) or default_models(config, notes.append)
    specs = [get_spec(n) for n in names]
    if not specs:
        raise ConfigError("no model can run here", "; ".join(notes) or "name models with --models")
    if config.pretrained and any(s.needs_weights for s in specs):
        from .weights import weights_available

        ok, reason = weights_available(Path(config.weights) if config.weights else None)
        if not ok:
            wanting = ", ".join(s.name for s in specs if s.needs_weights)
            verb = "need" if "," in wanting else "needs"
            raise UnavailableError(f"{wanting} {verb} ImageNet ResNet-50 weights: {reason}",
                                   "pass --weights PATH (see README, 'Transfer learning "
                                   "offline'), or --no-pretrained")
        if config.weights:
            from .weights import check_weights

            check_weights(Path(config.weights))
    clipset = load_source(config.data, sound=config.sound)
    require_both_classes(clipset, "training")
    if config.split.file:  # clips the data set lacks: refused before any audio work
        from .split_file import check_clipset, read_split_file

        check_clipset(read_split_file(config.split.file, clipset.root), clipset)
    if config.balance_by and config.balance_by not in clipset.meta_columns:
        raise ConfigError(f"cannot balance by {config.balance_by!r}: the data set has no such "
                          "column", f"columns: {', '.join(clipset.meta_columns) or 'none'}")
    if config.split.test_group:
        check_test_group(config.split.test_group, config.split.folds, clipset)
    return names


def check_test_group(test_group: str, folds: int, clipset: Any) -> None:
    """``test_group = COLUMN=VALUE`` against the listed clips, before any audio work or run
    folder: the column exists, some clip has the value, and those clips hold both classes
    (clips excluded later can only make that worse). The split makes the same checks on the
    usable clips."""
    from .splits import parse_test_group

    if folds >= 2:
        raise ConfigError(f"test_group {test_group!r} and folds={folds} cannot be combined",
                          "use one of them")
    column, value = parse_test_group(test_group)
    if column not in clipset.meta_columns:
        raise ConfigError(f"cannot hold out {column!r}: the data set has no such metadata "
                          "column", f"columns: {', '.join(clipset.meta_columns) or 'none'}")
    labels = {clip.label for clip in clipset.clips if str(clip.meta.get(column, "")) == value}
    if not labels:
        known = sorted({str(c.meta.get(column, "")) for c in clipset.clips})[:20]
        raise DataError(f"no clip has {column} = {value!r}",
                        f"values of {column}: {', '.join(known)}")
    if len(labels) < 2:
        raise DataError(f"the held-out {column} = {value!r} has only {labels.pop()} clips: an "
                        "AUC needs both classes", "hold out a value with positive and "
                        "negative clips")


def prepare_data(
    config: ExperimentConfig, progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> PreparedData:
    """Load, preprocess (cached; ``workers`` audio processes, default one per core) and
    split the configured data set."""
    from .preprocess import preprocess
    from .sources import load_source
    from .splits import make_splits

    clipset = load_source(config.data, sound=config.sound)
    dataset = preprocess(clipset, config.preprocess, progress=progress, workers=workers)
    if config.split.file:  # a published split (engine.split_file)
        from .split_file import apply_split_file, read_split_file

        dataset, splits = apply_split_file(
            dataset, read_split_file(config.split.file, clipset.root), config.split)
    else:
        splits = make_splits(dataset.y, dataset.groups, config.split, dataset.meta)
    from .metrics import group_columns

    columns = list(group_columns({c: dataset.meta(c) for c in clipset.meta_columns}))
    return PreparedData(dataset=dataset, splits=splits, meta_columns=columns)


def data_ready_fields(prepared: PreparedData) -> dict[str, Any]:
    ds, split = prepared.dataset, prepared.split
    labels = {lab: int((ds.y == i).sum()) for i, lab in enumerate(LABELS)}
    reference = {}
    if len(ds.feature_names) > 1 and ds.feature_names[1] == "rms":
        rms_db = 20 * np.log10(np.maximum(ds.features[split.train, 1].astype(np.float64), 1e-9))
        reference["rms_db"] = {"p01": float(np.percentile(rms_db, 1)),
                               "p99": float(np.percentile(rms_db, 99))}
    return {
        "reference": reference,  # training-clip levels, for the classifier's input checks
        "description": ds.clipset.description,
        "synthetic": bool(ds.clipset.synthetic),
        "clips": len(ds.clips) + len(ds.excluded),
        "usable": len(ds.clips),
        "labels": labels,
        "groups": int(len(set(ds.groups.tolist()))),
        "excluded": len(ds.excluded),
        "features": len(ds.feature_names),
        "spectrogram": list(ds.logmel.shape[1:]),
        "meta_columns": prepared.meta_columns,
        "split": split.describe(ds.y, ds.groups),
        "folds": len(prepared.splits) if len(prepared.splits) > 1 else None,
    }


def write_split(run: RunDir, prepared: PreparedData) -> None:
    """``split.csv``: which part every clip landed in (so anyone can audit the split)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["clip", "group", "label", *split_columns(prepared)])
    for clip, *parts in split_rows(prepared):
        w.writerow([str(clip.path), clip.group, clip.label, *parts])
    atomic_write_text(run.path / "split.csv", buf.getvalue())


def split_columns(prepared: PreparedData) -> list[str]:
    """``split`` (the first split), then ``split_fold1``... for the other folds."""
    return ["split"] + [f"split_fold{i}" for i in range(1, len(prepared.splits))]


def split_rows(prepared: PreparedData) -> list[tuple[Any, ...]]:
    n = len(prepared.dataset.clips)
    columns = [s.parts(n) for s in prepared.splits]
    return [(clip, *(str(c[i]) for c in columns)) for i, clip in enumerate(prepared.dataset.clips)]


def check_split_unchanged(run: RunDir, prepared: PreparedData) -> None:
    """On resume, the data and split must be what the first attempt used."""
    path = run.path / "split.csv"
    if not path.exists():
        return
    cols = split_columns(prepared)
    with open(path, newline="", encoding="utf-8") as fh:
        saved = [(r["clip"], *(r.get(c) for c in cols)) for r in csv.DictReader(fh)]
    now = [(str(clip.path), *parts) for clip, *parts in split_rows(prepared)]
    if saved != now:
        raise RunError(
            f"the data behind {run.path} changed since the run started "
            f"({len(saved)} clips then, {len(now)} now, or a different split)",
            "start a new run instead of resuming this one",
        )


def write_predictions(path: Path, prepared: PreparedData, prob: np.ndarray, split: Any, *,
                      oof: np.ndarray | None = None,
                      calibrated: np.ndarray | None = None) -> None:
    """``predictions.csv``: per clip its raw ``probability`` (validation rows: the selection
    model's), its ``split`` part, the ``calibrated`` P(positive), and ``oof`` -- the
    out-of-fold probability that chose the operating point (train + validation rows of a
    refit model; empty elsewhere)."""
    ds = prepared.dataset
    parts = split.parts(len(ds.clips))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["clip", "group", "label", "probability", "split", "calibrated", "oof"])
    for i, (clip, p, part) in enumerate(zip(ds.clips, prob, parts)):
        cal = "" if calibrated is None else f"{float(calibrated[i]):.6f}"
        o = "" if oof is None or not np.isfinite(oof[i]) else f"{float(oof[i]):.8f}"
        w.writerow([str(clip.path), clip.group, clip.label, f"{float(p):.8f}", part, cal, o])
    atomic_write_text(path, buf.getvalue())


def train_one(
    spec: ModelSpec,
    seed: int,
    prepared: PreparedData,
    config: ExperimentConfig,
    run: RunDir,
    announce: Announcer,
    stop: StopFlag,
    device: str,
    precision: str,
) -> dict[str, Any]:
    """Train one model with one seed; score the test part once; write its files.

    With refit the model validation chose (its epochs, hyperparameters, threshold and
    validation predictions) is trained in ``<model>/<seed>/selection/`` and the final model,
    retrained on train + validation, in ``<model>/<seed>/``."""
    from . import models, trust
    from .refit import chosen_of, refit_enabled

    workdir = ensure_dir(run.path, run.model_dir(spec.name, seed))  # never through a link
    history: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        from .runs import clean_json

        record = clean_json(record)  # numpy scalars made plain, NaN made None
        history.append(record)
        announce("epoch_end", model=spec.name, seed=seed, **record)

    recipe = config.recipe
    refit = refit_enabled(config, spec)
    fit_dir = ensure_dir(run.path, workdir / "selection") if refit else workdir
    ctx = FitContext(
        recipe=recipe,
        seed=seed,
        workdir=fit_dir,
        device=device,
        devices=config.devices,
        strategy=config.strategy,
        precision=precision,
        weights=Path(config.weights) if config.weights else None,
        pretrained=config.pretrained,
        resume=(fit_dir / "last.pt").exists(),
        on_epoch=on_epoch,
        should_stop=stop,
        warn=lambda message: announce("warning", model=spec.name, seed=seed, message=message),
        augment=augmentation(config),
    )
    announce("model_start", model=spec.name, seed=seed, epochs=max_epochs(spec, recipe),
             resumed=ctx.resume, refit=refit, oof_folds=recipe.oof_folds if refit else None)
    started = time.perf_counter()
    try:
        predictor = models.fit(spec, prepared.train_data(spec, seed, config.balance_by), ctx)
    except Interrupted:
        raise Interrupted(stop.reason or "stopped") from None
    if ctx.resume:  # epochs of earlier attempts are in the event log, not in this history
        earlier = earlier_epochs(run, spec.name, seed, before=history[0]["epoch"] if history else None)
        history[:0] = earlier
    predictor.save(fit_dir)

    X = prepared.inputs(spec)
    split = prepared.split_for(seed)
    # validation's choices come from the model that has not seen the validation part
    val_prob = np.asarray(predictor.predict_proba(X[split.val]), dtype=np.float64)
    # the trainer's own choice (with its tie-break), never recomputed here
    best_epoch = getattr(predictor, "best_epoch", None)
    if best_epoch is None and history:
        best_epoch = history[-1].get("best_epoch")
    refit_info = None
    oof = None
    if refit:
        # under DDP only rank 0 runs this: the other ranks get its choice with each fit's
        # order (engine.ddp), so they train the epochs it chose
        chosen = chosen_of(predictor, best_epoch)
        oof, folds = out_of_fold(spec, seed, prepared, config, ctx, workdir, chosen, announce)
        epochs = int(chosen.get("epochs") or max_epochs(spec, recipe))
        announce("fit_progress", model=spec.name, seed=seed, phase="refit", epoch=0,
                 epochs=epochs)
        predictor = models.fit(spec, prepared.train_data(spec, seed, config.balance_by,
                                                         refit=True),
                               refit_context(ctx, workdir, chosen,
                                             progress(announce, spec, seed, "refit", None,
                                                      None, epochs)))
        refit_info = {"chosen": chosen, "clips": int(len(split.train) + len(split.val)),
                      "oof_folds": folds}
    if refit:
        predictor.save(workdir)
    prob = np.asarray(predictor.predict_proba(X), dtype=np.float64)
    prob[split.val] = val_prob  # validation rows: the out-of-sample predictions
    result = score(spec.name, seed, prepared, prob, history=history, best_epoch=best_epoch,
                   started=started, recipe=recipe, oof=oof)
    result["refit"] = refit_info
    if refit_info:
        result["operating_point"]["folds"] = refit_info["oof_folds"]
    record_decision(workdir, result)  # model.json: the operating point and the calibration
    trust.sign_model_dir(workdir)  # what a later load will verify (engine.trust)
    write_predictions(workdir / "predictions.csv", prepared, prob, split, oof=oof,
                      calibrated=result_calibrator(result).apply(prob))
    write_json(workdir / "metrics.json", result)
    threshold, test = result["threshold"], result["test"]
    for folder in (workdir, fit_dir):  # finished: nothing left to resume
        (folder / "last.pt").unlink(missing_ok=True)
    announce("model_end", model=spec.name, seed=seed, metrics=test,
             train_acc=result["train"]["accuracy"], train_loss=result["train"]["loss"],
             test_loss=result["test_loss"], best_epoch=result["best_epoch"],
             threshold=threshold, seconds=result["seconds"])
    return result


def augmentation(config: ExperimentConfig) -> Any:
    """The training-batch augmentation of the run's spectrogram models, or None."""
    if not config.augment.enabled:
        return None
    from .augment import Augmentation

    return Augmentation(config.augment, config.preprocess.sample_rate)


def refit_context(ctx: FitContext, workdir: Path, chosen: dict[str, Any],
                  on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitContext:
    """The selection fit's context for the refit (and the out-of-fold fits of its recipe):
    the chosen epochs and hyperparameters, no early stopping, the last epoch kept, no epoch
    events (their validation numbers would be in-sample; ``on_epoch`` may report progress),
    files in ``workdir``."""
    import dataclasses

    recipe = ctx.recipe
    if chosen.get("epochs"):
        recipe = dataclasses.replace(recipe, epochs=int(chosen["epochs"]),
                                     early_stopping_patience=None)
    return dataclasses.replace(ctx, recipe=recipe, workdir=workdir, refit=True, chosen=chosen,
                               resume=(workdir / "last.pt").exists(),
                               on_epoch=on_epoch or (lambda record: None))


def progress(announce: Announcer, spec: ModelSpec, seed: int, phase: str, fold: int | None,
             folds: int | None, epochs: int) -> Callable[[dict[str, Any]], None]:
    """An ``on_epoch`` that announces ``fit_progress`` (never ``epoch_end``)."""
    def on_epoch(record: dict[str, Any]) -> None:
        epoch = record.get("epoch")
        announce("fit_progress", model=spec.name, seed=seed, phase=phase, fold=fold,
                 folds=folds, epoch=min(int(epoch) if isinstance(epoch, int) else 0, epochs),
                 epochs=epochs)

    return on_epoch


def out_of_fold(spec: ModelSpec, seed: int, prepared: PreparedData, config: ExperimentConfig,
                ctx: FitContext, workdir: Path, chosen: dict[str, Any], announce: Announcer
                ) -> tuple[np.ndarray, int]:
    """Predictions for every train + validation clip from a model that did not train on it:
    ``recipe.oof_folds`` participant-disjoint folds, each fitted with the refit recipe (the
    chosen epochs and hyperparameters, no early stopping, the same seed) on the other folds.
    They stand in for the refit model's outputs on new clips: its operating point and
    calibration are chosen on them (DESIGN: a refit model has seen the validation clips).

    Returns one probability per row of the data set (NaN outside train + validation) and the
    number of folds. Each finished fold's predictions are kept in ``oof/fold<i>.json`` (a
    resumed run does not fit it again); the fold's own model files are deleted."""
    import shutil

    from . import models
    from .splits import inner_folds

    ds, s = prepared.dataset, prepared.split_for(seed)
    rows = s.train_val
    fold_of = inner_folds(ds.y[rows], ds.groups[rows], config.recipe.oof_folds,
                          seed=config.split.seed * 1009 + seed)
    k = int(fold_of.max()) + 1
    X = prepared.inputs(spec)
    out = np.full(len(ds.y), np.nan)
    epochs = int(chosen.get("epochs") or max_epochs(spec, ctx.recipe))
    folder = ensure_dir(workdir, workdir / "oof")  # never through a link
    for fold in range(k):
        held = rows[fold_of == fold]
        done = folder / f"fold{fold + 1}.json"
        if done.exists():
            saved = read_json(done)
            if (isinstance(saved, dict) and saved.get("rows") == held.tolist()
                    and isinstance(saved.get("p"), list) and len(saved["p"]) == held.size):
                out[held] = np.asarray(saved["p"], dtype=np.float64)
                continue
        announce("fit_progress", model=spec.name, seed=seed, phase="oof", fold=fold + 1,
                 folds=k, epoch=0, epochs=epochs)
        train = prepared.balanced(rows[fold_of != fold], config.balance_by, seed)
        fit_dir = ensure_dir(workdir, folder / str(fold + 1))
        fctx = refit_context(ctx, fit_dir, chosen,
                             progress(announce, spec, seed, "oof", fold + 1, k, epochs))
        predictor = models.fit(spec, prepared.data_for(spec, train, held), fctx)
        p = np.asarray(predictor.predict_proba(X[held]), dtype=np.float64)
        if not np.all(np.isfinite(p)):
            raise RunError(f"{spec.name} (seed {seed}) gave non-finite probabilities on "
                           f"out-of-fold fold {fold + 1}", "the model diverged: try a lower "
                           "learning rate (--lr) or another model")
        write_json(done, {"rows": held.tolist(), "p": p.tolist()}, root=workdir)
        out[held] = p
        shutil.rmtree(fit_dir, ignore_errors=True)
    return out, k


def record_decision(model_dir: Path, result: dict[str, Any]) -> None:
    """Add the operating point and the calibration to the model's ``model.json`` (signed
    with the rest of the directory afterwards), where ``predict`` and Classify read them."""
    path = model_dir / "model.json"
    body = read_json(path) if path.exists() else {}
    if not isinstance(body, dict):
        raise RunError(f"{path} is not a JSON object", "the model's files are damaged")
    body["operating_point"] = result["operating_point"]
    body["calibration"] = result["calibration"]
    write_json(path, body, root=model_dir)


def result_calibrator(result: dict[str, Any]) -> Any:
    """The calibrator a ``score`` result recorded."""
    from .calibration import Calibrator

    return Calibrator.from_json(result["calibration"])


def score(name: str, seed: int, prepared: PreparedData, prob: np.ndarray, *,
          history: list[dict[str, Any]], best_epoch: Any, started: float,
          recipe: Any = None, oof: np.ndarray | None = None) -> dict[str, Any]:
    """Everything a model/seed reports from its probabilities for every clip: the operating
    point and the calibration chosen on out-of-fold predictions (``oof``: a refit model) or
    on validation (the model that did not see it), then the test part (and the ``ood`` part)
    scored once at that threshold, its calibration measured on the calibrated probabilities.
    """
    from .calibration import fit_calibrator
    from .metrics import (OperatingPoint, binary_metrics, brier, calibration_metrics, log_loss,
                          operating_threshold, per_group, rates_with_intervals, stratified_auc)

    ds, split = prepared.dataset, prepared.split_for(seed)
    y = ds.y
    recipe = recipe or ExperimentConfig().recipe
    point = OperatingPoint.parse(recipe.operating_point)
    if oof is not None:
        rows = split.train_val
        source, source_y, source_p = "out-of-fold", y[rows], oof[rows]
    else:
        source, source_y, source_p = "validation", y[split.val], prob[split.val]
    threshold = operating_threshold(source_y, source_p, point)
    calibrator = fit_calibrator(recipe.calibration, source_y, source_p)
    majority = int(round(float(y[split.train].mean())))  # the training majority class
    # the test part is scored here, once, with everything chosen without it
    test = binary_metrics(y[split.test], prob[split.test], threshold, majority_label=majority,
                          seed=seed)
    calibrated = calibrator.apply(prob)
    test.update(_measured(rates_with_intervals(y[split.test], prob[split.test], threshold)))
    test.update(calibration_metrics(y[split.test], calibrated[split.test], seed=seed))
    test["brier_uncalibrated"] = brier(y[split.test], prob[split.test])
    operating_point = {
        "rule": str(point), "source": source, "threshold": threshold,
        "threshold_calibrated": float(calibrator.apply(np.array([threshold]))[0]),
        "folds": None,  # set by the caller for out-of-fold predictions
        # what the source predictions promise at that threshold, with Wilson intervals
        "expected": rates_with_intervals(source_y, source_p, threshold),
    }
    val = binary_metrics(y[split.val], prob[split.val], threshold, majority_label=majority,
                         n_boot=0, seed=seed)
    train_pred = (prob[split.train] >= threshold).astype(int)
    by_group = per_group(
        y[split.test], prob[split.test], threshold,
        {c: ds.meta(c)[split.test] for c in prepared.meta_columns},
    )
    result = {
        "model": name,
        "seed": seed,
        "test": test,
        "validation": val,
        "train": {
            "accuracy": float((train_pred == y[split.train]).mean()),
            "loss": log_loss(y[split.train], prob[split.train]),
        },
        "test_loss": log_loss(y[split.test], prob[split.test]),
        "by_group": by_group,
        # AUC within each value of every metadata column, pooled: what the column cannot explain
        "stratified": {c: stratified_auc(y[split.test], prob[split.test],
                                         ds.meta(c)[split.test], seed=seed)
                       for c in prepared.meta_columns},
        "threshold": threshold,
        "operating_point": operating_point,
        "calibration": {**calibrator.to_json(), "source": source,
                        "description": calibrator.describe()},
        "majority_label": majority,
        "best_epoch": best_epoch,
        "history": history,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if split.ood is not None:  # the held-out value of test_group, at the same threshold
        result["ood"] = {"group": split.ood_group, **binary_metrics(
            y[split.ood], prob[split.ood], threshold, majority_label=majority, seed=seed),
            **_measured(rates_with_intervals(y[split.ood], prob[split.ood], threshold)),
            **calibration_metrics(y[split.ood], calibrated[split.ood], seed=seed)}
    return result


def _measured(rates: dict[str, Any]) -> dict[str, Any]:
    """The interval keys of :func:`engine.metrics.rates_with_intervals` (the point values
    are already in binary_metrics' report)."""
    return {k: v for k, v in rates.items()
            if k in ("sensitivity_ci", "specificity_ci", "positive_share", "positive_share_ci")}


def ensemble_results(spec: ModelSpec, prepared: PreparedData, config: ExperimentConfig,
                     run: RunDir, announce: Announcer,
                     results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The ensemble of the run's other models and seeds (one per fold in a k-fold run):
    members and weights chosen on their validation predictions, then scored like any
    model. Already finished ones (a resumed run) are read back."""
    from .ensemble import Member, select

    out = []
    folds = len(prepared.splits) > 1
    for index in range(len(prepared.splits) if folds else 1):
        workdir = run.model_dir(spec.name, index)
        done = workdir / "metrics.json"
        if done.exists():
            out.append(read_json(done))
            continue
        split = prepared.split_for(index)
        candidates: dict[Member, np.ndarray] = {}
        for name, per_seed in results.items():
            if name == spec.name or get_spec(name).name == "majority":
                continue
            for r in per_seed:
                if not folds or r["seed"] == index:
                    candidates[Member(name, r["seed"])] = read_probabilities(run, name, r["seed"])
        if not candidates:
            raise ConfigError("the ensemble needs other models in the run",
                              "add models, e.g. --models logreg_cv,ann,cnn,ensemble")
        announce("model_start", model=spec.name, seed=index, epochs=1, resumed=False)
        started = time.perf_counter()
        y = prepared.dataset.y
        strata = (prepared.dataset.meta(prepared.strata_column)[split.val]
                  if prepared.strata_column else None)
        selection = select(y[split.val], {m: p[split.val] for m, p in candidates.items()},
                           strata=strata)
        prob = selection.average(candidates)
        ensure_dir(run.path, workdir)
        selection.save(workdir)
        from . import trust
        from .metrics import log_loss
        from .models import selection_auc

        record = {"epoch": 1, "train_loss": log_loss(y[split.train], prob[split.train]),
                  "train_acc": float(((prob[split.train] >= 0.5) == y[split.train]).mean()),
                  "val_loss": log_loss(y[split.val], prob[split.val]),
                  "val_acc": float(((prob[split.val] >= 0.5) == y[split.val]).mean()),
                  "val_auc": selection_auc(Part(prob[split.val, None], y[split.val],
                                                strata=strata), prob[split.val])}
        announce("epoch_end", model=spec.name, seed=index, **record)
        oof = members_oof(run, selection, split)
        result = score(spec.name, index, prepared, prob, history=[record], best_epoch=1,
                       started=started, recipe=config.recipe, oof=oof)
        result["members"] = selection.to_json()["members"]
        record_decision(workdir, result)
        trust.sign_model_dir(workdir)  # the member list and the decision a later load reads
        write_predictions(workdir / "predictions.csv", prepared, prob, split, oof=oof,
                          calibrated=result_calibrator(result).apply(prob))
        write_json(done, result)
        announce("model_end", model=spec.name, seed=index, metrics=result["test"],
                 train_acc=result["train"]["accuracy"], train_loss=result["train"]["loss"],
                 test_loss=result["test_loss"], best_epoch=1, threshold=result["threshold"],
                 seconds=result["seconds"])
        out.append(result)
    return out


def members_oof(run: RunDir, selection: Any, split: Any) -> np.ndarray | None:
    """The ensemble's out-of-fold probabilities: its members' out-of-fold predictions,
    averaged with the selection's weights. None when a member has none (a run without
    refit): the ensemble's choices then come from validation, like its members'."""
    from .runs import read_predictions

    oofs = {}
    rows = split.train_val
    for member in selection.weights:
        predictions = read_predictions(run, member.model, member.seed)
        oof = None if predictions is None or predictions.oof is None else np.asarray(
            predictions.oof, dtype=np.float64)
        if oof is None or not np.all(np.isfinite(oof[rows])):
            return None
        oofs[member] = oof
    return selection.average(oofs)


def read_probabilities(run: RunDir, model: str, seed: int) -> np.ndarray:
    """A model/seed's probability per clip (rows in data order) from its predictions.csv."""
    from .runs import read_predictions

    predictions = read_predictions(run, model, seed)
    if predictions is None:
        raise RunError(f"{run.model_dir(model, seed) / 'predictions.csv'} is missing",
                       "resume the run to retrain that model")
    return np.asarray(predictions.probabilities, dtype=np.float64)


def check_balance_column(config: ExperimentConfig, prepared: PreparedData,
                         warn: Callable[[str], None]) -> None:
    """``balance_by`` must name a metadata column; say which values cannot be balanced."""
    from .balance import balanced_indices

    column = config.balance_by
    known = prepared.dataset.clipset.meta_columns
    if column not in known:
        raise ConfigError(f"cannot balance by {column!r}: the data set has no such column",
                          f"columns: {', '.join(known) or 'none'}")
    train = prepared.split.train
    _, one_class = balanced_indices(prepared.dataset.y[train],
                                    prepared.dataset.meta(column)[train], 0)
    if one_class:
        warn(f"balance by {column}: {', '.join(one_class)} hold(s) one class only in the "
             "training part and stay(s) as is")


def max_epochs(spec: ModelSpec, recipe: Any) -> int:
    """The most epochs a part of ``spec`` can take: the recipe's, or 1 for a model fitted in
    one go (the sklearn baselines), so progress and ETA do not count a baseline as 30 steps."""
    return 1 if spec.family in ("sklearn", "ensemble") else int(recipe.epochs)


def n_seeds(config: ExperimentConfig) -> int:
    """Seeds per model; in a k-fold run, one per fold (seed ``i`` trains on fold ``i``)."""
    return config.split.folds if config.split.folds >= 2 else config.seeds


def earlier_epochs(run: RunDir, model: str, seed: int, before: int | None) -> list[dict[str, Any]]:
    """``epoch_end`` records of earlier attempts of ``model``/``seed`` (latest per epoch),
    through the one fold of the event log."""
    from .runs import load_run_state

    part = load_run_state(run).parts.get((model, seed))
    records = part.history if part else []
    return [{k: v for k, v in r.items() if k != "time"} for r in records
            if before is None or (r.get("epoch") or 0) < before]


def summarise(
    config: ExperimentConfig,
    prepared: PreparedData,
    results: dict[str, list[dict[str, Any]]],
    baselines: dict[str, Any],
    warnings: list[str],
    run: RunDir,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Mean and std over seeds of every metric, per model, plus per-group and confounds.
    ``data`` is what ``data.json`` holds (the data_ready fields)."""
    from .metrics import aggregate, aggregate_by_group

    models_out: dict[str, Any] = {}
    for name, per_seed in results.items():
        if not per_seed:
            continue
        agg = aggregate([r["test"] for r in per_seed])
        by_group = aggregate_by_group([r["by_group"] for r in per_seed], prepared.meta_columns)
        confound = next((b["warning"] for b in baselines.values() if b.get("warning")), None)
        cis = [r["test"]["roc_auc_ci"] for r in per_seed if r["test"].get("roc_auc_ci")]
        confounded = next((c for c, b in baselines.items() if b.get("warning")), None)
        models_out[name] = {
            "seeds": [r["seed"] for r in per_seed],
            "metrics": {k: v for k, v in agg.items() if k != "confusion_pooled"},
            # the seeds' 95% bootstrap intervals of the test AUC, averaged bound by bound
            "roc_auc_ci": ([float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))]
                           if cis else None),
            "confusion_pooled": agg.get("confusion_pooled"),
            "train": aggregate([r["train"] for r in per_seed]),
            "by_group": by_group,
            "group_baseline": {c: b["metrics"] for c, b in baselines.items() if b["metrics"]},
            "confound_warning": confound,
            # the headline when a column alone predicts the label: the AUC within each of its
            # values, pooled (metrics.stratified_auc), mean over seeds
            "confound_controlled": controlled(per_seed, confounded),
            # test_group runs: the held-out value (out of distribution), beside "metrics"
            "ood": out_of_distribution(per_seed),
            "refit": all(r.get("refit") for r in per_seed) if name != "ensemble" else None,
            "members": per_seed[0].get("members"),
            "operating_point": decision_summary(per_seed),
            "calibration": calibration_summary(per_seed),
        }
        from .runs import trusted_auc

        models_out[name]["trusted_auc"] = trusted_auc(models_out[name])
        models_out[name]["seed_ensemble"] = seed_ensemble(run, prepared, name, per_seed,
                                                          confounded)
    return {
        "run_id": run.id,
        "preset": config.recipe.preset,
        "data": data,
        "models": models_out,
        "group_baselines": baselines,
        "warnings": warnings,
    }


def seed_ensemble(run: RunDir, prepared: PreparedData, name: str,
                  per_seed: list[dict[str, Any]], confounded: str | None
                  ) -> dict[str, Any] | None:
    """The model as ``predict`` and Classify use it: its seeds' calibrated probabilities
    averaged, labelled against the mean of their calibrated operating points, scored on the
    test part (and within the confounded column, and on the held-out group). None with one
    seed, in a k-fold run (each seed has its own test part) or for runs without
    calibration."""
    from .metrics import binary_metrics, calibration_metrics, stratified_auc
    from .runs import read_predictions

    if len(per_seed) < 2 or len(prepared.splits) > 1:
        return None
    cal, cuts = [], []
    for r in per_seed:
        predictions = read_predictions(run, name, r["seed"])
        point = r.get("operating_point") or {}
        if predictions is None or predictions.calibrated is None or \
                point.get("threshold_calibrated") is None:
            return None
        cal.append(np.asarray(predictions.calibrated, dtype=np.float64))
        cuts.append(float(point["threshold_calibrated"]))
    p, cut = np.mean(cal, axis=0), float(np.mean(cuts))
    y, split = prepared.dataset.y, prepared.split
    majority = per_seed[0].get("majority_label")
    test = binary_metrics(y[split.test], p[split.test], cut, majority_label=majority)
    cm = calibration_metrics(y[split.test], p[split.test])
    test.update({k: cm[k] for k in ("brier", "brier_ci", "ece", "ece_ci")})
    out: dict[str, Any] = {"seeds": len(per_seed), "threshold_calibrated": cut, "test": test}
    if confounded:
        out["confound_controlled"] = {"column": confounded, **{
            k: v for k, v in stratified_auc(y[split.test], p[split.test],
                                            prepared.dataset.meta(confounded)[split.test]
                                            ).items() if k in ("roc_auc", "roc_auc_ci")}}
    if split.ood is not None:
        ood = binary_metrics(y[split.ood], p[split.ood], cut, majority_label=majority)
        out["ood"] = {"group": split.ood_group, "roc_auc": ood["roc_auc"],
                      "roc_auc_ci": ood["roc_auc_ci"]}
    return out


def decision_summary(per_seed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The operating point over seeds: its rule and source, the threshold (mean ± std), and
    what the source predictions promised (expected) beside what the test part measured,
    each mean over seeds with the seeds' Wilson intervals averaged. None for runs made
    before operating points were recorded."""
    from .metrics import mean_interval, mean_std

    points = [r.get("operating_point") for r in per_seed]
    if not all(isinstance(p, dict) for p in points):
        return None
    tests = [r["test"] for r in per_seed]

    def over_seeds(entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return {**mean_std([e.get(key) for e in entries]),
                "ci": mean_interval([e.get(f"{key}_ci") for e in entries])}

    rates = ("sensitivity", "specificity", "positive_share")
    first = points[0]
    return {"rule": first.get("rule"), "source": first.get("source"),
            "folds": first.get("folds"),
            "threshold": mean_std([p.get("threshold") for p in points]),
            "threshold_calibrated": mean_std([p.get("threshold_calibrated") for p in points]),
            "expected": {k: over_seeds([p["expected"] for p in points], k) for k in rates},
            "measured": {k: over_seeds(tests, k) for k in rates}}


def calibration_summary(per_seed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Calibration over seeds: the method, Brier score (calibrated and raw) and ECE on the
    test part (mean ± std, the seeds' bootstrap intervals averaged) and the reliability
    diagram's bins pooled over seeds. None for runs made before calibration existed."""
    from .metrics import mean_interval, mean_std, pool_reliability

    cals = [r.get("calibration") for r in per_seed]
    if not all(isinstance(c, dict) for c in cals):
        return None
    tests = [r["test"] for r in per_seed]
    methods = list(dict.fromkeys(str(c.get("method")) for c in cals))
    return {"method": methods[0] if len(methods) == 1 else "; ".join(methods),
            "source": cals[0].get("source"),
            "informative": all(c.get("informative", True) for c in cals),
            "description": "; ".join(dict.fromkeys(str(c.get("description", "")) for c in cals)),
            "brier": mean_std([t.get("brier") for t in tests]),
            "brier_ci": mean_interval([t.get("brier_ci") for t in tests]),
            "brier_uncalibrated": mean_std([t.get("brier_uncalibrated") for t in tests]),
            "ece": mean_std([t.get("ece") for t in tests]),
            "ece_ci": mean_interval([t.get("ece_ci") for t in tests]),
            "reliability": pool_reliability([t.get("reliability") or [] for t in tests])}


def controlled(per_seed: list[dict[str, Any]], column: str | None) -> dict[str, Any] | None:
    """Mean over seeds of the stratified AUC within ``column`` and its interval."""
    from .metrics import aggregate, mean_interval

    entries = [r["stratified"][column] for r in per_seed
               if column and column in (r.get("stratified") or {})]
    if not entries:
        return None
    return {"column": column,
            "roc_auc": aggregate([{"roc_auc": e["roc_auc"]} for e in entries])["roc_auc"],
            "roc_auc_ci": mean_interval([e["roc_auc_ci"] for e in entries])}


def out_of_distribution(per_seed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``ood`` part's metrics, mean and std over seeds, with the averaged interval."""
    from .metrics import aggregate, mean_interval

    entries = [r["ood"] for r in per_seed if r.get("ood")]
    if not entries:
        return None
    agg = aggregate([{k: v for k, v in e.items() if k != "group"} for e in entries])
    return {"group": entries[0]["group"],
            "metrics": {k: v for k, v in agg.items() if k != "confusion_pooled"},
            "roc_auc_ci": mean_interval([e["roc_auc_ci"] for e in entries])}


def describes_label(values: np.ndarray, y: np.ndarray) -> bool:
    """True for annotation columns filled in for one class only (e.g. ``verified`` for
    PCR-confirmed positives): mostly empty in one class, mostly filled in the other."""
    empty = np.array([str(v).strip() == "" for v in values])
    if not empty.any():
        return False
    rates = [empty[y == k].mean() for k in (0, 1) if (y == k).any()]
    return len(rates) == 2 and max(rates) >= 0.9 and min(rates) <= 0.1


def group_baselines(prepared: PreparedData) -> dict[str, Any]:
    """For each metadata column: how well the column alone predicts the label on test."""
    from .metrics import confound_warning, group_only_baseline

    ds, s = prepared.dataset, prepared.split
    out: dict[str, Any] = {}
    for column in prepared.meta_columns:
        g = ds.meta(column)
        if describes_label(g, ds.y):
            out[column] = {"metrics": {}, "warning": None,
                           "note": f"'{column}' is filled in for one class only: it describes "
                                   "the label, not the recording, so it is not a confound check"}
            continue
        metrics = group_only_baseline(ds.y[s.train], g[s.train], ds.y[s.test], g[s.test])
        auc = metrics.get("roc_auc")
        out[column] = {
            "metrics": metrics,
            "warning": confound_warning(auc, column=column) if auc is not None else None,
        }
    return out


def run_study(config: ExperimentConfig, prepared: PreparedData, run: RunDir,
              announce: Announcer, stop: StopFlag, device: str, precision: str,
              model_names: list[str], options: ExecutorOptions
              ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Every model x seed of the study (:func:`engine.plan.plan_study`) that has not finished
    yet, on the executor ``options`` pick (:mod:`engine.executors`); finished ones (a resumed
    run) are read back. Returns the results per model, in seed order, and the tasks that
    failed (key -> reason; only a Ray worker that died twice fails a task and not the run)."""
    from .executors import RayExecutor, SequentialExecutor, Study, choose_executor
    from .plan import plan_study

    seeds = n_seeds(config)
    kind = choose_executor(options, device, len(model_names) * seeds)
    ray_executor = RayExecutor(options) if kind == "ray" else None
    use_gpu = False
    if ray_executor is not None:
        cluster = ray_executor.connect()
        use_gpu = config.device != "cpu" and cluster.get("GPU", 0) > 0
        if config.device == "cuda" and not use_gpu:
            ray_executor.close()
            from .errors import UnavailableError

            raise UnavailableError("--device cuda was requested but the Ray cluster has no GPU",
                                   "start the Ray nodes on GPU machines, or use --device auto")
    tasks = plan_study(config, model_names, seeds, use_gpu=use_gpu,
                       tasks_per_gpu=options.tasks_per_gpu, cpus_per_task=options.cpus)
    finished = {t.key: read_json(run.model_dir(t.model, t.seed) / "metrics.json")
                for t in tasks if (run.model_dir(t.model, t.seed) / "metrics.json").exists()}
    todo = [t for t in tasks if t.key not in finished]
    study = Study(prepared, config, run, announce, stop, device, precision)
    try:
        outcome = (ray_executor or SequentialExecutor()).run(todo, study)
    finally:
        if ray_executor is not None:
            ray_executor.close()
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in model_names}
    for task in tasks:
        result = finished.get(task.key) or outcome.results.get(task.key)
        if result is not None:
            results[task.model].append(result)
    return results, outcome.failed


def run_experiment(
    config: ExperimentConfig,
    run: RunDir,
    *,
    resume: bool = False,
    listeners: list[Listener] | None = None,
    preprocess_progress: Callable[[int, int], None] | None = None,
    stop: StopFlag | None = None,
    argv: list[str] | None = None,
    executor: ExecutorOptions | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``config`` in ``run``; returns the summary.

    Holds the run's lock (:class:`~engine.runs.RunLock`) throughout; ``argv`` is the command
    line recorded in ``run_start`` and ``env.json`` (default ``sys.argv``); ``executor`` says
    who runs the tasks (:mod:`engine.executors`; default: chosen for this machine).

    Raises :class:`Interrupted` when stopped by a signal (the run is marked interrupted and is
    resumable) and re-raises any other error after marking the run failed.
    """
    stop = stop or StopFlag()
    from . import ddp
    from .launch import launch_info

    launch = launch_info()
    if launch.distributed and launch.rank > 0:  # under torchrun/srun: rank 0's orders
        with stop_on_signals(stop):
            return ddp.follow(config, stop, lambda c, workers: prepare_data(c, workers=workers))
    run.path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run.path)
    lock.acquire()  # one writer per run: a second --resume or the same --run-id stops here
    try:
        with ddp.lead(launch):  # the other ranks train each torch fit with this one
            return _run_locked(config, run, resume=resume, listeners=listeners,
                               preprocess_progress=preprocess_progress, stop=stop,
                               rank=launch.rank, argv=argv,
                               executor=executor)
    finally:
        lock.release()


def _run_locked(
    config: ExperimentConfig,
    run: RunDir,
    *,
    resume: bool,
    listeners: list[Listener] | None,
    preprocess_progress: Callable[[int, int], None] | None,
    stop: StopFlag,
    rank: int,
    argv: list[str] | None,
    executor: ExecutorOptions | None = None,
) -> dict[str, Any]:
    if resume:
        state = read_json(run.status_path).get("state") if run.status_path.exists() else None
        if state == "finished":
            raise RunError(f"{run.path} already finished", "nothing to resume")
    remove_stale_temps(run.path)  # left by a writer killed mid-write (we hold the lock)
    from .refit import resolve_preset_choices

    # config.toml records refit, augmentation and padding
    config = resolve_preset_choices(config, resume=resume)
    if not resume:
        atomic_write_text(run.config_path, config.to_toml())
    run.set_status("running")
    listeners = list(listeners or [])
    if rank == 0:
        from .mirror import MetricsMirror

        listeners += [MetricsMirror(kind, run.path, run.id) for kind in config.loggers]
    log = EventLog(run.events_path)
    announce = Announcer(log, listeners)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        announce("warning", message=message)

    started = time.perf_counter()
    import sys

    argv = list(sys.argv if argv is None else argv)
    announce("run_start", run_id=run.id, resumed=resume, config=config.to_dict(), argv=argv)
    try:
        with stop_on_signals(stop):
            from .devices import resolve_device, precision_for

            device, notice = resolve_device(config.device)
            if notice:
                warn(notice)
            precision = precision_for(device)
            write_env(run, environment(argv, device, list(range(n_seeds(config))),
                                       config.split.seed), resumed=resume)
            model_names = list(config.models) or default_models(config, warn)
            specs = [get_spec(n) for n in model_names]
            if not specs:
                raise ConfigError("no model can run", "name models with --models")

            prepared = prepare_data(config, preprocess_progress)
            from .ddp import data_ready

            data_ready(prepared, config)  # under DDP: the other ranks read it from the cache
            if resume:
                check_split_unchanged(run, prepared)
            else:
                write_split(run, prepared)
            ready = data_ready_fields(prepared)
            write_json(run.path / "data.json", ready)
            announce("data_ready", device=device, precision=precision,
                     models=model_names, seeds=n_seeds(config),
                     epochs={s.name: max_epochs(s, config.recipe) for s in specs}, **ready)
            for message in getattr(prepared.dataset, "warnings", []):
                warn(message)  # e.g. the cache could not be written: the run goes on without
            if prepared.dataset.clipset.synthetic:
                warn("synthetic demo data: these numbers say nothing about real coughs")

            if config.balance_by:
                check_balance_column(config, prepared, warn)
            baselines = group_baselines(prepared)
            for column, b in baselines.items():
                if b["warning"]:
                    warn(b["warning"])
            # choices on validation (checkpoints, C, ensemble members) must not reward the
            # confound: they are made on the AUC within each value of the column
            prepared.strata_column = next((c for c, b in baselines.items() if b["warning"]),
                                          None)

            results, failed = run_study(config, prepared, run, announce, stop, device,
                                        precision, model_names, executor or ExecutorOptions())
            for spec in specs:
                if spec.family == "ensemble":
                    results[spec.name] = ensemble_results(spec, prepared, config, run,
                                                          announce, results)
            summary = summarise(config, prepared, results, baselines, warnings, run, ready)
            write_json(run.summary_path, summary)
            try:
                from .figures import write_figures

                write_figures(run.path, figure_inputs(run, results, baselines))
            except Exception as exc:  # figures are a by-product: never lose the run over them
                warn(f"figures not written: {exc}")
    except Interrupted as exc:
        _record_end(run, announce, log, started, "interrupted", reason=str(exc))
        raise
    except KeyboardInterrupt:
        _record_end(run, announce, log, started, "interrupted", reason="KeyboardInterrupt")
        raise Interrupted("KeyboardInterrupt") from None
    except BaseException as exc:
        hint = exc.hint if isinstance(exc, CoughscopeError) else ""
        message = str(exc) if isinstance(exc, CoughscopeError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            hint = hint or f"the disk holding {run.path} is full: free space, then --resume it"
        _record_end(run, announce, log, started, "failed", error=(message, hint))
        raise
    if failed:  # the study went on without them: say so, and let --resume run them again
        reason = (f"{len(failed)} task(s) failed: "
                  + "; ".join(f"{k} ({why})" for k, why in failed.items()))
        run.set_status("incomplete", ended=now_iso(), failed_tasks=failed, reason=reason)
        announce("run_end", state="incomplete", reason=reason,
                 seconds=round(time.perf_counter() - started, 2))
    else:
        run.set_status("finished", ended=now_iso())
        announce("run_end", state="finished", seconds=round(time.perf_counter() - started, 2))
    log.close()
    remove_stale_temps(run.path)
    from .ddp import finish

    finish(summary)  # under DDP: the other ranks return it too
    return summary


def _record_end(run: RunDir, announce: Announcer, log: EventLog, started: float, state: str,
                reason: str | None = None, error: tuple[str, str] | None = None) -> None:
    """Mark the run ``state`` in status.json and the event log, as far as the disk allows:
    on a full disk the status (small, rewritten in place of the old one) is tried first, and
    failing writes do not hide the error that ended the run."""
    extra: dict[str, Any] = {"reason": reason} if reason else {}
    if error:
        extra["error"] = error[0]
    try:
        run.set_status(state, **extra)
    except OSError:
        pass
    try:
        if error:
            announce("error", message=error[0], hint=error[1])
        announce("run_end", state=state, reason=reason,
                 seconds=round(time.perf_counter() - started, 2))
    except OSError:
        pass
    try:
        log.close()
    except OSError:
        pass
    remove_stale_temps(run.path)


def figure_inputs(run: RunDir, results: dict[str, list[dict[str, Any]]],
                  baselines: dict[str, Any]) -> dict[str, Any]:
    """Reshape per-seed results (plus their predictions.csv) for :mod:`engine.figures`."""
    out: dict[str, Any] = {}
    for name, per_seed in results.items():
        seeds: dict[int, Any] = {}
        for r in per_seed:
            ys, ps = [], []
            pred_path = run.model_dir(name, r["seed"]) / "predictions.csv"
            with open(pred_path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    if row["split"] == "test":
                        ys.append(LABELS.index(row["label"]))
                        ps.append(float(row["probability"]))
            seeds[r["seed"]] = {"history": r["history"], "test_y": ys, "test_p": ps,
                                "metrics": r["test"]}
        out[name] = {"seeds": seeds,
                     "points": [r.get("operating_point") or {} for r in per_seed],
                     "group_baseline": {c: b["metrics"] for c, b in baselines.items()
                                        if b["metrics"]}}
    return out
