"""``coughscope --headless``: run an experiment in the foreground.

Progress goes to stderr, one line per epoch and per finished model; the results table (or,
with ``--json``, one JSON object) goes to stdout. Ctrl+C, SIGTERM and SIGHUP stop cleanly and
leave a resumable run: ``coughscope --headless --resume RUN``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..config import FEATURE_SETS, PRESETS, ExperimentConfig
from ..errors import ExitCode, RunError
from ..plan import DEFAULT_CPUS_PER_TASK, DEFAULT_TASKS_PER_GPU
from ..runs import RunDir, new_run_id, resolve_run

if TYPE_CHECKING:
    from ..executors import ExecutorOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..models import MODELS  # the registry: every model's name, nothing listed here

    g = parser.add_argument_group("experiment (with --headless)")
    g.add_argument("--headless", action="store_true",
                   help="run in the foreground without the app (progress on stderr)")
    g.add_argument("--data", metavar="SPEC",
                   help="demo (default), a Coswara root, a manifest CSV, or a folder with "
                        "positive/ and negative/")
    g.add_argument("--sound", metavar="NAME",
                   help="Coswara recording to use (default cough-heavy; cough-shallow, ...)")
    g.add_argument("--models", metavar="LIST",
                   help="comma-separated models (default: every model that can run here): "
                        + ", ".join(MODELS))
    g.add_argument("--seeds", type=int, metavar="N", help="seeds per model (default 4)")
    g.add_argument("--epochs", type=int, metavar="N",
                   help="maximum epochs (default 30; the paper preset uses 100)")
    g.add_argument("--batch-size", type=int, metavar="N",
                   help="batch size (default: each model's own, 16 for cnn and 64 for the "
                        "rest; 64 with --preset paper)")
    g.add_argument("--lr", type=float, metavar="LR", help="learning rate for every model")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the ann/cnn/resnet networks (opt-in: compiling takes "
                        "tens of seconds per model and seed; pays on long GPU runs)")
    g.add_argument("--preset", choices=PRESETS,
                   help="default: class-weighted loss, AdamW, early stopping on validation "
                        "AUC; paper: the paper's optimisers and losses, 100 epochs")
    g.add_argument("--config", metavar="FILE.toml",
                   help="experiment settings from a TOML file (flags override it)")
    g.add_argument("--runs-dir", metavar="DIR",
                       help=f"where run directories go ({paths.RUNS_DIR_HELP})")
    g.add_argument("--run-id", metavar="ID", help="name of the new run directory")
    g.add_argument("--resume", metavar="RUN",
                   help="continue an interrupted run (a path, an id under --runs-dir)")
    g.add_argument("--json", action="store_true",
                   help="print one JSON object with the results on stdout")
    p = parser.add_argument_group("preprocessing")
    p.add_argument("--sample-rate", type=int, metavar="HZ",
                   help="resample every clip to HZ (default 22050 as the paper; 8000 puts phone "
                        "and microphone recordings on one bandwidth)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="fixed clip length in seconds after trimming silence (default 3)")
    p.add_argument("--balance-by", metavar="COLUMN",
                   help="rebalance the training part so every value of this metadata column "
                        "(e.g. source) holds as many positives as negatives: the model cannot "
                        "learn the label from the recording channel")
    p.add_argument("--feature-set", choices=FEATURE_SETS,
                   help="features of the feature models: paper (the 26, default), extended "
                        "(92), mel_stats (the 26 plus mean and std of every log-mel band), "
                        "egemaps / compare (the 26 plus openSMILE's eGeMAPSv02 88 or "
                        "ComParE_2016 6,373 functionals; needs pip install "
                        "'coughscope[opensmile]'); the columns after the 26 go to the baselines")
    p.add_argument("--pad", choices=("repeat", "zero"),
                   help="how a clip shorter than --duration fills the log-mel of the "
                        "spectrogram models: repeat (the clip again until the image is full; "
                        "default) or zero (silence after it; --preset paper)")
    p.add_argument("--test-group", metavar="COLUMN=VALUE",
                   help="leave one value out: its clips (e.g. source=telegram) are an "
                        "out-of-distribution test part, reported beside the usual test part "
                        "of the other clips")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="retrain each final model on train + validation once validation has "
                        "chosen epochs, checkpoint and threshold (default: on, off with "
                        "--preset paper)")
    p.add_argument("--operating-point", metavar="POINT",
                   help="where the decision threshold is put: youden (default: the most "
                        "sensitivity + specificity), sensitivity=0.8 (the DiCOVA point) or "
                        "specificity=0.95. Chosen on out-of-fold predictions of the final "
                        "model's recipe (refit) or on validation (--no-refit), never on test")
    p.add_argument("--calibration", choices=("platt", "temperature", "isotonic", "none"),
                   help="how raw outputs become P(positive), fitted on the same predictions "
                        "(default platt)")
    p.add_argument("--oof-folds", type=int, metavar="K",
                   help="participant-disjoint folds of train + validation whose out-of-fold "
                        "predictions set a refit model's operating point and calibration "
                        "(default 5; each costs one fit of the final recipe)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="augment the spectrogram models' training batches (shift, crop, gain, "
                        "channel, SpecAugment, mixup; [augment] in --config to tune; default: "
                        "on, off with --preset paper)")
    p.add_argument("--test-size", type=float, metavar="F",
                   help="held-out test fraction, by participant (default 0.3)")
    p.add_argument("--val-size", type=float, metavar="F",
                   help="validation fraction of the rest, by participant (default 0.2)")
    p.add_argument("--split-seed", type=int, metavar="N", help="seed of the split (default 0)")
    p.add_argument("--split-file", metavar="CSV",
                   help="use this published split (from `coughscope data split`, or a run's "
                        "split.csv) instead of drawing one: clips it names that the data set "
                        "lacks are refused, usable clips it does not name are left out with "
                        "that reason")
    p.add_argument("--folds", type=int, metavar="K",
                   help="k-fold cross-validation by participant: K test folds, one model per "
                        "fold (replaces --seeds; seed i trains on fold i)")
    d = parser.add_argument_group("devices and weights")
    d.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"),
                   help="where to train (default auto: a GPU when there is one)")
    d.add_argument("--devices", type=int, metavar="N", help="GPUs to use (with --strategy ddp)")
    d.add_argument("--strategy", choices=("auto", "ddp"), help="multi-GPU strategy")
    x = parser.add_argument_group("executor: who runs the study's tasks (model x seed)")
    x.add_argument("--executor", choices=("auto", "sequential", "ray"),
                   help="sequential: in this process, one task after another; ray: on Ray, "
                        "several at once (a local Ray, or --address). Default auto: ray on a "
                        "machine with 2+ GPUs when Ray is installed, else sequential")
    x.add_argument("--address", metavar="HOST:PORT",
                   help="join the Ray cluster at HOST:PORT (or 'auto': the one started on "
                        "this machine with ray start); implies --executor ray")
    x.add_argument("--tasks-per-gpu", type=int, metavar="N",
                   help=f"small networks packed on one GPU under Ray (default "
                        f"{DEFAULT_TASKS_PER_GPU}; resnet50/imagenet50 at most 2)")
    x.add_argument("--cpus-per-task", type=float, metavar="N",
                   help=f"CPU cores each task holds under Ray (default "
                        f"{DEFAULT_CPUS_PER_TASK:g}). On a CPU, given, each task also "
                        "computes with that many torch threads (faster, but CNN outputs "
                        "then differ in their last digits from an in-process run with "
                        "another thread count); left out, with this process's count")
    d.add_argument("--weights", metavar="PATH",
                   help="ImageNet ResNet-50 state dict for resnet50/imagenet50 (offline use)")
    d.add_argument("--no-pretrained", action="store_true",
                   help="train resnet50/imagenet50 from random weights (an explicit choice)")
    d.add_argument("--logger", action="append", choices=("tensorboard", "wandb"),
                   help="also mirror metrics to TensorBoard or Weights & Biases")


# setting (``section.name`` for a table's) -> the flag that sets it, for error messages
FLAG_NAMES = {
    "data": "--data", "sound": "--sound", "models": "--models", "seeds": "--seeds",
    "recipe.epochs": "--epochs", "recipe.batch_size": "--batch-size", "recipe.lr": "--lr",
    "recipe.preset": "--preset", "preprocess.sample_rate": "--sample-rate",
    "preprocess.duration": "--duration", "balance_by": "--balance-by",
    "split.test": "--test-size", "split.val": "--val-size", "split.seed": "--split-seed",
    "split.folds": "--folds", "device": "--device", "devices": "--devices",
    "strategy": "--strategy", "weights": "--weights", "pretrained": "--no-pretrained",
    "loggers": "--logger", "recipe.compile": "--compile", "recipe.refit": "--refit",
    "augment.enabled": "--augment", "preprocess.feature_set": "--feature-set",
    "split.test_group": "--test-group", "preprocess.pad": "--pad",
    "recipe.operating_point": "--operating-point", "recipe.calibration": "--calibration",
    "recipe.oof_folds": "--oof-folds", "split.file": "--split-file",
}


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gives explicitly (None: flag not given)."""
    from ..models import parse_models

    return {
        "data": args.data, "sound": args.sound,
        "models": tuple(parse_models(args.models)) if args.models is not None else None,
        "seeds": args.seeds, "recipe.epochs": args.epochs, "recipe.batch_size": args.batch_size,
        "recipe.lr": args.lr, "recipe.preset": args.preset,
        "preprocess.sample_rate": args.sample_rate, "preprocess.duration": args.duration,
        "balance_by": args.balance_by, "split.test": args.test_size, "split.val": args.val_size,
        "split.seed": args.split_seed, "split.folds": args.folds, "device": args.device,
        "devices": args.devices, "strategy": args.strategy, "weights": args.weights,
        "pretrained": False if args.no_pretrained else None,
        "loggers": tuple(args.logger) if args.logger else None,
        "recipe.compile": True if getattr(args, "compile", False) else None,
        "recipe.refit": args.refit, "augment.enabled": args.augment,
        "preprocess.feature_set": args.feature_set, "split.test_group": args.test_group,
        "preprocess.pad": args.pad, "recipe.operating_point": args.operating_point,
        "recipe.calibration": args.calibration, "recipe.oof_folds": args.oof_folds,
        "split.file": _split_file(getattr(args, "split_file", None)),
    }


def _split_file(value: str | None) -> str | None:
    """``--split-file`` as an absolute path (config.toml records where it was); a blank
    value is passed on for the config's check to refuse."""
    if value is None or not value.strip():
        return value
    return str(Path(value).expanduser().absolute())


def executor_options(args: argparse.Namespace) -> "ExecutorOptions":
    """``--executor``, ``--address``, ``--tasks-per-gpu`` and ``--cpus-per-task`` over the
    ``[executor]`` table of ``--config`` (not part of the experiment's config.toml: a
    resumed run may run its tasks elsewhere)."""
    from ..config import read_toml
    from ..executors import executor_options as merge

    table = read_toml(Path(args.config)).get("executor") if args.config else None
    return merge(table, str(args.config), kind=args.executor, address=args.address,
                 tasks_per_gpu=args.tasks_per_gpu, cpus_per_task=args.cpus_per_task)


def build_config(args: argparse.Namespace) -> ExperimentConfig:
    """The config file (if any) with the explicit flags on top; the preset (from either)
    fills every recipe value neither gives (see :meth:`ExperimentConfig.from_sources`)."""
    config = ExperimentConfig.from_sources(args.config, config_flags(args), FLAG_NAMES)
    if config.split.file and args.config and not Path(config.split.file).is_absolute():
        # `[split] file` in a config file is relative to that file's folder; config.toml
        # records where it was
        import dataclasses

        where = (Path(args.config).expanduser().parent / config.split.file).absolute()
        config = config.replace(split=dataclasses.replace(config.split, file=str(where)))
    if config.loggers:
        from ..mirror import check_available

        for kind in config.loggers:  # before any work, not after the first epoch
            check_available(kind)
    return config


class ConsolePrinter:
    """Prints events as short progress lines on stderr."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()

    def _p(self, text: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:7.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, e: dict[str, Any]) -> None:
        t = e["type"]
        if t == "data_ready":
            labels = e["labels"]
            kind = " (SYNTHETIC demo data)" if e.get("synthetic") else ""
            self._p(f"data: {e['usable']} usable clips{kind}, {labels['positive']} positive / "
                    f"{labels['negative']} negative, {e['groups']} participants, "
                    f"{e['excluded']} excluded; device {e['device']}")
            for part, d in e["split"].items():
                self._p(f"  {part:<5} {d['clips']:>5} clips, {d['positives']:>4} positive, "
                        f"{d['groups']:>5} participants")
        elif t == "model_start":
            again = " (resuming)" if e.get("resumed") else ""
            self._p(f"{e['model']} seed {e['seed']}: training{again}")
        elif t == "epoch_end":
            auc = e.get("val_auc")
            auc_s = f"{auc:.3f}" if isinstance(auc, (int, float)) else "n/a"
            self._p(f"{e['model']} seed {e['seed']} epoch {e['epoch']}: "
                    f"train loss {e.get('train_loss', float('nan')):.4f} "
                    f"val loss {e.get('val_loss', float('nan')):.4f} val AUC {auc_s}")
        elif t == "fit_progress":
            # one line when each extra fit starts (an epoch-per-line log would double)
            if e.get("epoch") == 0:
                unit = "epoch" if e.get("epochs") == 1 else "epochs"
                what = (f"out-of-fold fit {e.get('fold')}/{e.get('folds')} (for the threshold "
                        "and calibration)" if e.get("phase") == "oof"
                        else "final fit on train + validation")
                self._p(f"{e['model']} seed {e['seed']}: {what}, {e.get('epochs')} {unit}")
        elif t == "model_end":
            m = e["metrics"]
            self._p(f"{e['model']} seed {e['seed']}: test AUC {_fmt(m.get('roc_auc'))} "
                    f"accuracy {_fmt(m.get('accuracy'))} "
                    f"(majority {_fmt(m.get('majority_accuracy'))}) in {e['seconds']}s")
        elif t == "task":
            self._p(task_line(e))
        elif t == "warning":
            self._p(f"warning: {e['message']}")
        elif t == "error":
            self._p(f"error: {e['message']}")
        elif t == "run_end":
            self._p(f"run {e['state']} in {e['seconds']}s")


def task_line(e: Any) -> str:
    """A ``task`` event (Ray) as a progress line: where the task runs, or why it waits."""
    who = f"{e['model']} seed {e['seed']}"
    state = e.get("state")
    if state == "queued":
        return f"{who}: queued (needs {e.get('resources')})"
    if state == "running":
        return f"{who}: running on {e.get('worker')}, {e.get('device')}"
    if state == "retry":
        return f"{who}: its worker died ({e.get('reason')}); retrying"
    if state == "failed":
        return f"{who}: FAILED after {e.get('attempt')} attempts ({e.get('reason')})"
    return f"{who}: {state} on {e.get('worker')}"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "n/a"


def preprocess_bar(stream: Any = None):
    stream = stream or sys.stderr
    tty = stream.isatty()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < (0.1 if tty else 5.0):
            return
        last[0] = now
        width = 30
        fill = int(width * done / max(total, 1))
        line = f"preprocessing [{'#' * fill}{'.' * (width - fill)}] {done}/{total} clips"
        if tty:
            print(f"\r{line}", end="\n" if done >= total else "", file=stream, flush=True)
        else:
            print(line, file=stream, flush=True)

    return progress


def results_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per model, mean ± std over seeds."""
    cols = [("roc_auc", "AUC"), ("accuracy", "acc"), ("majority_accuracy", "majority"),
            ("balanced_accuracy", "bal.acc"), ("sensitivity", "sens"),
            ("specificity", "spec"), ("spec_at_80_sens", "spec@80"), ("f1", "F1")]
    head = f"{'model':<11}" + "".join(f"{label:>15}" for _, label in cols)
    lines = [head, "-" * len(head)]
    for name, m in summary["models"].items():
        cells = []
        for key, _ in cols:
            v = m["metrics"].get(key) or {}
            mean, std = v.get("mean"), v.get("std")
            if mean is None:
                cells.append("n/a")
            else:  # std is None with a single seed
                cells.append(f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}")
        lines.append(f"{name:<11}" + "".join(f"{c:>15}" for c in cells))
    for name, m in summary["models"].items():
        ci = m.get("roc_auc_ci")
        if ci:
            lines.append(f"{name}: 95% bootstrap interval of test AUC {ci[0]:.3f}–{ci[1]:.3f} "
                         "(mean over seeds)")
    for name, m in summary["models"].items():
        ood = m.get("ood")
        auc = ((ood or {}).get("metrics") or {}).get("roc_auc") or {}
        if auc.get("mean") is not None:
            ci = ood.get("roc_auc_ci")
            lines.append(f"{name}: held-out {ood['group']} (out of distribution) AUC "
                         f"{auc['mean']:.3f}" + (f" [{ci[0]:.3f}–{ci[1]:.3f}]" if ci else ""))
    for name, m in summary["models"].items():
        cc = m.get("confound_controlled")
        if cc and (cc.get("roc_auc") or {}).get("mean") is not None:
            ci = cc.get("roc_auc_ci")
            lines.append(f"{name}: AUC within each {cc['column']}, pooled (confound-controlled) "
                         f"{cc['roc_auc']['mean']:.3f}"
                         + (f" [{ci[0]:.3f}–{ci[1]:.3f}]" if ci else ""))
    lines += decision_lines(summary["models"])
    for name, m in summary["models"].items():
        se = m.get("seed_ensemble")
        if not se or (se.get("test") or {}).get("roc_auc") is None:
            continue
        extra = ""
        cc, ood = se.get("confound_controlled"), se.get("ood")
        if cc and cc.get("roc_auc") is not None:
            extra += f", within {cc['column']} {cc['roc_auc']:.3f}{_span(cc.get('roc_auc_ci'))}"
        if ood and ood.get("roc_auc") is not None:
            extra += f", held-out {ood['group']} {ood['roc_auc']:.3f}{_span(ood.get('roc_auc_ci'))}"
        t = se["test"]
        lines.append(f"{name}: its {se['seeds']} seed{'s' if se['seeds'] != 1 else ''} averaged (what predict and Classify "
                     f"use): AUC {t['roc_auc']:.3f}{_span(t.get('roc_auc_ci'))}{extra}; "
                     f"sens {_fmt(t.get('sensitivity'))}, spec {_fmt(t.get('specificity'))}, "
                     f"Brier {_fmt(t.get('brier'))}")
    # the run's warnings are diagnostics: they went to stderr as they happened, never to
    # stdout, which carries the results only (issue 20, bug 8)
    return "\n".join(lines)


def _span(ci: Any) -> str:
    return f" [{ci[0]:.2f}–{ci[1]:.2f}]" if isinstance(ci, list) and len(ci) == 2 else ""


def decision_lines(models: dict[str, Any]) -> list[str]:
    """Per model: where the operating point was put and what it promised beside what the
    test part measured; how well calibrated P(positive) is (Brier, ECE, with intervals)."""
    lines = []
    for name, m in models.items():
        op = m.get("operating_point")
        if isinstance(op, dict) and op.get("expected"):
            folds = f", {op['folds']} folds" if op.get("folds") else ""
            t = (op.get("threshold") or {}).get("mean")
            parts = []
            for key, label in (("sensitivity", "sens"), ("specificity", "spec"),
                               ("positive_share", "called positive")):
                e, me = op["expected"].get(key) or {}, (op.get("measured") or {}).get(key) or {}
                if e.get("mean") is None or me.get("mean") is None:
                    continue
                parts.append(f"{label} {e['mean']:.2f}{_span(e.get('ci'))} expected, "
                             f"{me['mean']:.2f}{_span(me.get('ci'))} measured")
            lines.append(f"{name}: operating point {op.get('rule')} on {op.get('source')} "
                         f"predictions{folds}" + (f", threshold {t:.3f}" if t is not None else "")
                         + ("; " + "; ".join(parts) if parts else ""))
    for name, m in models.items():
        metrics, cal = m.get("metrics") or {}, m.get("calibration")
        brier = (metrics.get("brier") or {}).get("mean") if isinstance(
            metrics.get("brier"), dict) else None
        if brier is None:
            continue
        ece = (metrics.get("ece") or {}).get("mean")
        raw = (metrics.get("brier_uncalibrated") or {}).get("mean")
        method = cal.get("method") if isinstance(cal, dict) else m.get("calibration_method")
        ci_b = (cal or {}).get("brier_ci") if isinstance(cal, dict) else metrics.get("brier_ci")
        ci_e = (cal or {}).get("ece_ci") if isinstance(cal, dict) else metrics.get("ece_ci")
        lines.append(f"{name}: calibration {method or 'n/a'}: Brier {brier:.3f}{_span(ci_b)}"
                     + (f" (uncalibrated {raw:.3f})" if raw is not None else "")
                     + (f", ECE {ece:.3f}{_span(ci_e)}" if ece is not None else ""))
    return lines


def json_result(run: RunDir, summary: dict[str, Any], state: str) -> dict[str, Any]:
    models = {}
    for name, m in summary.get("models", {}).items():
        models[name] = {**m["metrics"], "roc_auc_ci": m.get("roc_auc_ci"),
                        "confound_controlled": m.get("confound_controlled"),
                        "ood": m.get("ood"), "refit": m.get("refit"),
                        "operating_point": m.get("operating_point"),
                        "calibration": m.get("calibration"),
                        "trusted_auc": m.get("trusted_auc"),
                        "seed_ensemble": m.get("seed_ensemble"),
                        "by_group": m["by_group"],
                        "confusion_pooled": m["confusion_pooled"], "seeds": m["seeds"]}
    return {"run_dir": str(run.path), "run_id": run.id, "state": state,
            "data": summary.get("data"), "models": models,
            "group_baselines": summary.get("group_baselines"),
            "warnings": summary.get("warnings", [])}


def _open_run(args: argparse.Namespace, root: Path) -> tuple[ExperimentConfig, RunDir, bool]:
    """The config, the run directory and whether it is resumed, after checking everything
    (:func:`engine.runner.preflight`: data, device, models, weights). Nothing is created
    until the checks pass; then the run directory is made here, once (on rank 0)."""
    from ..cli import library_output_to_stderr
    from ..runner import preflight
    from ..runs import check_run_id

    if args.resume is not None:
        if not args.resume.strip():  # '' would otherwise start a new, default run
            raise RunError("--resume is empty", "name the run to resume: coughscope "
                           "--headless --resume RUN (coughscope runs lists them)")
        run_dir = resolve_run(args.resume, root)
        st = run_dir.status()
        if st.get("state") == "running":
            raise RunError(f"{run_dir.path} is still running (pid {st.get('pid')})",
                           "wait for it, or stop it first")
        if st.get("state") == "finished":
            raise RunError(f"{run_dir.path} already finished", "nothing to resume")
        config = ExperimentConfig.from_toml(run_dir.config_path)
        resume = True
    else:
        config = build_config(args)
        run_id = check_run_id(args.run_id) if args.run_id is not None else new_run_id()
        run_dir = RunDir(root / run_id)
        if run_dir.path.exists():
            raise RunError(f"run directory {run_dir.path} already exists",
                           "choose another --run-id, or --resume it")
        if root.exists() and not root.is_dir():
            raise RunError(f"runs directory {root} is a file, not a folder",
                           "pass --runs-dir DIR with a folder")
        resume = False
    with library_output_to_stderr():
        preflight(config)
        if not resume:
            try:
                run_dir.path.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise RunError(f"run directory {run_dir.path} already exists",
                               "choose another --run-id, or --resume it") from None
            except OSError as exc:
                raise RunError(f"cannot create the run directory {run_dir.path}: "
                               f"{exc.strerror}", "pass --runs-dir DIR with a writable "
                               "folder") from None
            adopt_launch_log(run_dir)
    return config, run_dir, resume


def run(args: argparse.Namespace) -> int:
    """Check everything, then create the run directory and run; see the module docstring.

    A run that fails after it started stays recorded as ``failed``. Library output during
    the work goes to stderr: stdout is the results only. Under torchrun/SLURM, rank 0 checks
    and creates the run and every rank gets its answer.
    """
    from .. import paths
    from ..cli import library_output_to_stderr
    from ..launch import quiet_unless_rank_zero, rank_zero_first
    from ..runner import Interrupted, run_experiment

    root = paths.runs_dir(args.runs_dir)
    executor = executor_options(args)  # a bad --executor/--address stops before any work
    config, run_dir, resume = rank_zero_first(lambda: _open_run(args, root))
    rank_zero = quiet_unless_rank_zero()  # ranks > 0 print nothing on stdout
    if rank_zero:
        print(f"run directory: {run_dir.path}", file=sys.stderr)
    with library_output_to_stderr():
        try:
            summary = run_experiment(config, run_dir, resume=resume,
                                     listeners=[ConsolePrinter()] if rank_zero else [],
                                     preprocess_progress=preprocess_bar() if rank_zero
                                     else None, executor=executor)
        except Interrupted:
            print(f"interrupted; continue with: coughscope --headless --resume {run_dir.path}",
                  file=sys.stderr)
            summary = None
    if summary is None:
        if args.json:
            print(json.dumps({"run_dir": str(run_dir.path), "run_id": run_dir.id,
                              "state": "interrupted"}, allow_nan=False))
        return int(ExitCode.INTERRUPT)
    # ranks > 0 have no run directory (engine.ddp; a second node may not share its disk),
    # and under DDP no task is left out: only Ray's executor leaves a run incomplete
    status = run_dir.status() if rank_zero else {}
    state = "incomplete" if status.get("state") == "incomplete" else "finished"
    if state == "incomplete":
        print(f"coughscope: {status.get('reason')}; the results leave them out. Run them "
              f"again with: coughscope --headless --resume {run_dir.path}", file=sys.stderr)
    if args.json:
        from ..runs import dumps

        print(dumps(json_result(run_dir, summary, state)))
    else:
        print(results_table(summary))
        print(f"\nrun directory: {run_dir.path}")
        count = len(summary.get("warnings") or [])
        if count:
            print(f"{count} warning{'s' if count != 1 else ''}: the 'warning:' lines above "
                  "(also in summary.json)", file=sys.stderr)
    return int(ExitCode.OK if state == "finished" else ExitCode.FAILURE)


LAUNCH_LOG_ENV = "COUGHSCOPE_LAUNCH_LOG"


def adopt_launch_log(run_dir: RunDir) -> None:
    """When the app started this runner, its output goes to a log beside the runs directory
    until the run directory exists (so that a refused run leaves no directory); move that
    log into the run as ``runner.log``. The open file descriptors follow the rename."""
    import os

    log = os.environ.get(LAUNCH_LOG_ENV)
    if not log:
        return
    try:
        os.replace(log, run_dir.path / "runner.log")
        Path(log).with_suffix(".toml").unlink(missing_ok=True)  # config.toml holds it now
    except OSError:
        pass
