"""Using a finished run's models on new recordings (evaluation and prediction).

:func:`load_run_models` reloads every model and seed a run finished, each with the decision
threshold it chose on validation. The preprocessing is the run's own (its ``config.toml``), so
a new clip becomes exactly what the model was trained on.

Before a model directory is loaded its signature is checked (:mod:`engine.trust`): only
models saved under this user's key (or trusted with ``coughscope runs trust``) are opened, so
no pickle planted in a copied or downloaded run is ever unpickled. Everything else read from
the run (``metrics.json``, ``model.json``, ``data.json``) is checked for types and plausible
ranges first; a damaged or altered file is refused with a :class:`RunError` naming it, never
a traceback or a 64 TB allocation. Checkpoints load as tensors only (``weights_only=True``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import ExperimentConfig
from .errors import CoughscopeError, RunError
from .models import ModelSpec, get_spec
from .runs import (ModelMetrics, RunDir, finished_parts, read_data, read_json, read_metrics,
                   resolve_run)


@dataclass
class LoadedModel:
    spec: ModelSpec
    seed: int
    predictor: Any
    threshold: float
    majority_label: int
    test_auc: float | None  # the held-out AUC of this model/seed in its run
    # the feature columns it takes (engine.features.model_columns)
    columns: slice = field(default_factory=lambda: slice(None))
    # raw output -> P(positive) (engine.calibration); "none" for runs made before it existed
    calibrator: Any = None
    operating_point: str = "youden"  # the rule that put ``threshold`` (model.json)
    decided_on: str = "validation"  # "out-of-fold" | "validation": the predictions it used

    def calibrate(self, p: Any) -> np.ndarray:
        from .calibration import Calibrator

        return (self.calibrator or Calibrator("none")).apply(p)

    @property
    def threshold_calibrated(self) -> float:
        return float(self.calibrate(np.array([self.threshold]))[0])

    def inputs(self, features: np.ndarray, logmel: np.ndarray) -> Any:
        if self.spec.input == "both":  # the ensemble: each member takes its own
            return features, logmel[:, None, :, :]
        return features[:, self.columns] if self.spec.input == "features" else logmel[:, None, :, :]


DAMAGED = ("the run's files were changed or damaged since it was saved: restore the run from "
           "where it came from, or train it again")
# plausible sizes of a torch model's input (model.json ``input_shape``); far beyond any
# preprocessing coughscope allows, far below what would exhaust memory when the net is built
MAX_FEATURES = 4096
MAX_MELS = 1024
MAX_FRAMES = 100_000


def find_run(spec: str, root: Path, *, finished: bool = False) -> RunDir:
    """:func:`engine.runs.resolve_run`, with a run that cannot be read as a :class:`RunError`."""
    try:
        return resolve_run(spec, root, finished=finished)
    except OSError as exc:  # e.g. a run directory without read permission
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        raise RunError(f"{exc.filename or spec} cannot be read ({reason or exc})",
                       "check the run directory's permissions (ls -ld)") from None


def run_config(run: RunDir) -> ExperimentConfig:
    if not os.access(run.path, os.R_OK | os.X_OK):
        raise RunError(f"{run.path} cannot be read (permission denied)",
                       "check the run directory's permissions (ls -ld)")
    if not run.config_path.exists():
        raise RunError(f"{run.path} has no config.toml", "is this a coughscope run directory?")
    try:
        return ExperimentConfig.from_toml(run.config_path)
    except CoughscopeError:
        raise
    except OSError as exc:
        raise RunError(f"{run.config_path} cannot be read: {exc.strerror}",
                       "check the file's permissions") from None
    except Exception as exc:  # a damaged config the config layer did not catch
        raise RunError(f"{run.config_path} cannot be used ({type(exc).__name__}: {exc})",
                       DAMAGED) from None


def finished_pairs(run: RunDir, models: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(model, seed) pairs of ``run`` that have metrics.json, i.e. finished training."""
    wanted = set(models) if models else None
    return [(name, seed) for name, seed in finished_parts(run)
            if wanted is None or name in wanted]


def load_run_models(run: RunDir, models: Iterable[str] | None = None,
                    device: str | None = None) -> list[LoadedModel]:
    """Every finished model/seed of ``run`` (or only ``models``), ready to predict; torch
    networks on ``device`` (a resolved name; default the CPU)."""
    pairs = finished_pairs(run, models)
    if not pairs:
        which = f" for {', '.join(models)}" if models else ""
        raise RunError(f"{run.path} has no finished models{which}",
                       "let the run finish (or resume it) first")
    return [load_model(run, name, seed, device) for name, seed in pairs]


def load_model(run: RunDir, name: str, seed: int, device: str | None = None) -> LoadedModel:
    """One model/seed of ``run``: signature first, then its files checked, then loaded."""
    from . import models as registry
    from . import trust

    model_dir = run.model_dir(name, seed)
    try:
        spec = get_spec(name)
    except CoughscopeError:
        raise RunError(f"{model_dir} is not a model coughscope knows ({name!r})",
                       DAMAGED) from None
    trust.verify_model_dir(model_dir)  # before any of its files is parsed or unpickled
    metrics = read_metrics(run, name, seed)  # the threshold checked there
    if metrics is None:
        raise RunError(f"{model_dir / 'metrics.json'} does not exist",
                       "let the run finish (or resume it) first")
    majority, test_auc = check_metrics(model_dir / "metrics.json", metrics)
    if spec.family == "torch":
        check_torch_model(model_dir, spec)
    try:
        if device is not None and spec.family == "torch":
            predictor = registry.family(spec).load(spec, model_dir, device=device)
        else:
            predictor = registry.family(spec).load(spec, model_dir)
    except CoughscopeError:
        raise
    except Exception as exc:  # a file that verified but that its library cannot read
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RunError(f"the {name} model in {model_dir} cannot be loaded "
                       f"({type(exc).__name__}: {first})", DAMAGED) from None
    from .features import model_columns

    decision = read_decision(model_dir, metrics.threshold)
    return LoadedModel(spec=spec, seed=seed, predictor=predictor, threshold=decision[0],
                       majority_label=majority, test_auc=test_auc,
                       columns=model_columns(run_config(run).preprocess,
                                             baseline=spec.baseline),
                       calibrator=decision[1], operating_point=decision[2],
                       decided_on=decision[3])


def read_decision(model_dir: Path, threshold: float) -> tuple[float, Any, str, str]:
    """``(threshold, calibrator, operating point, source)`` from the model's signed
    ``model.json``. It must agree with ``metrics.json``'s threshold. A run made before
    operating points were recorded has none: its validation-chosen threshold, uncalibrated
    probabilities."""
    from .calibration import Calibrator

    path = model_dir / "model.json"
    body = read_run_json(path) if path.exists() else {}
    point = body.get("operating_point") if isinstance(body, dict) else None
    cal = body.get("calibration") if isinstance(body, dict) else None
    if point is None and cal is None:
        return threshold, Calibrator("none"), "youden", "validation"
    if not isinstance(point, dict) or not isinstance(cal, dict):
        raise RunError(f"{path}: operating_point and calibration must both be objects", DAMAGED)
    t = point.get("threshold")
    if not (_number(t) and 0.0 <= t <= 1.0):
        raise RunError(f"{path}: operating_point.threshold {t!r} is not a probability", DAMAGED)
    if abs(float(t) - threshold) > 1e-9:
        raise RunError(f"{path}: its threshold {t} differs from metrics.json's {threshold}",
                       DAMAGED)
    try:
        calibrator = Calibrator.from_json(cal)
    except ValueError as exc:
        raise RunError(f"{path}: {exc}", DAMAGED) from None
    rule = point.get("rule") if isinstance(point.get("rule"), str) else "youden"
    source = point.get("source") if isinstance(point.get("source"), str) else "validation"
    return float(t), calibrator, rule[:40], source[:40]


def read_run_json(path: Path) -> Any:
    """A JSON file of a run; unreadable files are a :class:`RunError` naming them."""
    try:
        return read_json(path)
    except OSError as exc:  # permission denied, a folder in its place
        raise RunError(f"{path} cannot be read: {exc.strerror or exc}",
                       "check the file's permissions (ls -l)") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_metrics(path: Path, metrics: ModelMetrics) -> tuple[int, float | None]:
    """``(majority_label, test AUC)`` from a model's ``metrics.json`` (read by
    :func:`engine.runs.read_metrics`, which checks the threshold), checked."""
    majority = metrics.raw.get("majority_label", 0)
    if not _whole(majority, 0, 1):
        raise RunError(f"{path}: majority_label {majority!r} is not 0 or 1", DAMAGED)
    auc = metrics.test.get("roc_auc")
    if auc is not None and not (_number(auc) and 0.0 <= auc <= 1.0):
        raise RunError(f"{path}: test roc_auc {auc!r} is not an AUC from 0 to 1", DAMAGED)
    return int(majority), None if auc is None else float(auc)


def check_torch_model(model_dir: Path, spec: ModelSpec) -> None:
    """Check a torch model's ``model.json`` and ``best.pt`` before the network is built:
    the input shape decides how much memory the network takes."""
    import zipfile

    path = model_dir / "model.json"
    meta = read_run_json(path)
    if not isinstance(meta, dict):
        raise RunError(f"{path} holds a {type(meta).__name__}, not a JSON object", DAMAGED)
    if meta.get("model") != spec.name or meta.get("input") != spec.input:
        raise RunError(f"{path} describes model {meta.get('model')!r} on {meta.get('input')!r} "
                       f"input, not {spec.name!r} on {spec.input!r}", DAMAGED)
    shape = meta.get("input_shape")
    if spec.input == "features":
        ok = isinstance(shape, list) and len(shape) == 1 and _whole(shape[0], 1, MAX_FEATURES)
        want = f"[n] with 1 <= n <= {MAX_FEATURES}"
    else:
        ok = (isinstance(shape, list) and len(shape) == 3 and shape[0] == 1
              and _whole(shape[1], 1, MAX_MELS) and _whole(shape[2], 1, MAX_FRAMES))
        want = f"[1, mel bands <= {MAX_MELS}, frames <= {MAX_FRAMES}]"
    if not ok:
        raise RunError(f"{path}: input_shape {shape!r} is not a plausible {spec.name} input "
                       f"({want})", DAMAGED)
    norm = meta.get("norm")
    size = shape[0] if spec.input == "features" else 1
    values = [norm.get("mean"), norm.get("std")] if isinstance(norm, dict) else []
    flat = [v if isinstance(v, list) else [v] for v in values]
    if len(flat) != 2 or any(len(v) != size or not all(_number(x) for x in v) for v in flat) \
            or not all(x > 0 for x in flat[1]):
        raise RunError(f"{path}: norm must hold {size} finite mean(s) and positive std(s)",
                       DAMAGED)
    best = model_dir / "best.pt"
    if not zipfile.is_zipfile(best):
        raise RunError(f"{best} is damaged: not a complete torch checkpoint (truncated?)",
                       DAMAGED)


def evaluate_run(run: RunDir, data: str, *, models: Iterable[str] | None = None,
                 progress: Any = None, device: str | None = None) -> dict[str, Any]:
    """Score a finished run's models on another data set (external validation).

    Every usable clip of ``data`` is a test clip; the thresholds are the run's own. Returns,
    per model, mean and std over seeds of every metric and ``by_group`` per metadata column.
    """
    from .metrics import (aggregate, aggregate_by_group, binary_metrics, brier,
                          calibration_metrics, group_columns, mean_interval, per_group,
                          pool_reliability, rates_with_intervals, stratified_auc)
    from .preprocess import preprocess
    from .sources import load_source

    from .partial import left_out, run_state_note

    config = run_config(run)
    loaded = load_run_models(run, models, device)
    state, state_note = run_state_note(run)
    skipped = left_out(run, models, config.models, config.seeds)
    clipset = load_source(data, sound=config.sound)
    dataset = preprocess(clipset, config.preprocess, progress=progress)
    y = dataset.y
    columns = group_columns({c: dataset.meta(c) for c in clipset.meta_columns})
    per_model: dict[str, list[dict[str, Any]]] = {}
    for lm in loaded:
        p = np.asarray(lm.predictor.predict_proba(lm.inputs(dataset.features, dataset.logmel)),
                       dtype=np.float64)
        m = binary_metrics(y, p, lm.threshold, majority_label=lm.majority_label, seed=lm.seed)
        # calibration on this data set: a model can rank well and still be miscalibrated on
        # a new channel
        m.update(calibration_metrics(y, lm.calibrate(p), seed=lm.seed))
        m["brier_uncalibrated"] = brier(y, p)
        rates = rates_with_intervals(y, p, lm.threshold)
        m.update({k: rates[k] for k in ("sensitivity_ci", "specificity_ci", "positive_share",
                                        "positive_share_ci")})
        m["by_group"] = per_group(y, p, lm.threshold, {c: dataset.meta(c) for c in columns})
        m["stratified"] = {c: stratified_auc(y, p, dataset.meta(c), seed=lm.seed)
                           for c in columns}
        per_model.setdefault(lm.spec.name, []).append(m)
    confounded = [c for c in confounded_columns(run) if c in columns]
    out: dict[str, Any] = {}
    for name, ms in per_model.items():
        agg = aggregate([{k: v for k, v in m.items()
                          if k not in ("by_group", "stratified", "reliability")} for m in ms])
        by_group = aggregate_by_group([m["by_group"] for m in ms], columns)
        stratified = {c: {**aggregate([{"roc_auc": m["stratified"][c]["roc_auc"]} for m in ms]),
                          "roc_auc_ci": mean_interval([m["stratified"][c]["roc_auc_ci"]
                                                       for m in ms])}
                      for c in columns}
        out[name] = {**{k: v for k, v in agg.items() if k != "confusion_pooled"},
                     "roc_auc_ci": mean_interval([m["roc_auc_ci"] for m in ms]),
                     "brier_ci": mean_interval([m.get("brier_ci") for m in ms]),
                     "ece_ci": mean_interval([m.get("ece_ci") for m in ms]),
                     "reliability": pool_reliability([m.get("reliability") or [] for m in ms]),
                     "operating_point": next((x.operating_point for x in loaded
                                              if x.spec.name == name), None),
                     "calibration": next((x.calibrator.method for x in loaded
                                          if x.spec.name == name and x.calibrator), "none"),
                     "confusion_pooled": agg.get("confusion_pooled"),
                     "by_group": by_group,
                     # AUC within each value of every metadata column, pooled (confound-free)
                     "stratified_auc": stratified,
                     "confound_controlled": ({"column": confounded[0],
                                              **stratified[confounded[0]]}
                                             if confounded else None),
                     "seeds": [m.seed for m in loaded if m.spec.name == name]}
    labels = dataset.y
    return {
        "run_dir": str(run.path),
        "data": {"spec": data, "description": clipset.description,
                 "synthetic": clipset.synthetic, "usable": len(dataset.clips),
                 "positive": int(labels.sum()), "negative": int((1 - labels).sum()),
                 "excluded": len(dataset.excluded)},
        "models": out,
        "run_state": state,
        "run_note": state_note,
        "left_out": [x.as_dict() for x in skipped],
    }


def trusted_aucs(run: RunDir) -> dict[str, dict[str, Any]]:
    """Per model, the AUC the recording channel cannot inflate (engine.runs.trusted_auc)
    from the run's summary; empty when it has none."""
    from .runs import read_summary, trusted_auc

    summary = read_summary(run)
    out = {}
    for name, m in (summary.models.items() if summary else []):
        t = trusted_auc(m.raw)
        if t is not None:
            out[name] = t
    return out


def confounded_columns(run: RunDir) -> list[str]:
    """The metadata columns the run's own confound check flagged (its summary's group
    baselines with a warning); empty when the run has no summary."""
    from .runs import read_summary

    summary = read_summary(run)
    baselines = (summary.raw.get("group_baselines") if summary else None) or {}
    return [c for c, b in baselines.items() if isinstance(b, dict) and b.get("warning")]


# --------------------------------------------------------------------------- classifying files

DISCLAIMER = ("coughscope is a research tool, not a diagnostic device: these probabilities must "
              "not be used to decide whether anyone has COVID-19.")


@dataclass
class ModelVerdict:
    """One model's answer for one clip, over the run's seeds."""

    model: str
    probability: float  # mean over seeds of P(positive)
    spread: float  # std over seeds (0 with one seed)
    label: str  # calibrated mean against the seeds' calibrated thresholds (their mean)
    agreement: float  # share of seeds whose own label equals ``label``
    seeds: list[float]
    threshold: float  # the mean of the seeds' thresholds on the raw output
    test_auc: float | None  # the run's in-distribution test AUC for this model (mean)
    # P(positive) after each seed's calibration, mean over seeds (the raw output's mean when
    # the run has no calibration: ``calibration`` is then "none")
    calibrated: float | None = None
    calibrated_threshold: float | None = None  # the operating point on that scale
    calibration: str = "none"
    operating_point: str = "youden"
    # the AUC the recording channel cannot inflate (engine.runs.trusted_auc): kind, label,
    # roc_auc, roc_auc_ci
    trusted_auc: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(v, 4)

        return {"probability": r(self.probability), "spread": r(self.spread),
                "calibrated_probability": r(self.calibrated),
                "calibration": self.calibration, "label": self.label,
                "agreement": round(self.agreement, 3),
                "seeds": [r(p) for p in self.seeds], "threshold": r(self.threshold),
                "calibrated_threshold": r(self.calibrated_threshold),
                "operating_point": self.operating_point,
                "test_auc": self.test_auc, "trusted_auc": self.trusted_auc}


@dataclass
class FileResult:
    """What coughscope says about one file: warnings, and a verdict per model (or an error)."""

    path: str
    warnings: list[str]
    error: str | None = None
    verdicts: list[ModelVerdict] | None = None
    duration: float | None = None  # seconds after trimming silence
    samples: Any = None  # the cleaned waveform (for display), not serialised
    logmel: Any = None  # (n_mels, frames) float16, for display
    # how the log-mel was filled after a clip shorter than [preprocess] duration: "repeat"
    # (the clip again, as the run's models saw their training clips) or "zero" (silence);
    # None when the clip fills it. For display, not serialised.
    filled: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "warnings": self.warnings}
        if self.error:
            out["error"] = self.error
        else:
            out["duration"] = self.duration
            out["models"] = {v.model: v.as_dict() for v in self.verdicts or []}
        return out


class Classifier:
    """A finished run's models plus its preprocessing, ready for new recordings."""

    def __init__(self, run: RunDir, models: Iterable[str] | None = None,
                 device: str | None = None) -> None:
        from .partial import left_out, run_state_note

        self.run = run
        self.config = run_config(run)
        self.models = load_run_models(run, models, device)  # one clip: the CPU by default
        # never silent (engine.partial): a run that is not finished, and what is left out
        self.state, self.state_note = run_state_note(run)
        self.left_out = left_out(run, models, self.config.models, self.config.seeds)
        self.reference = check_reference(run.path / "data.json", read_data(run))
        self.trusted = trusted_aucs(run)

    def classify(self, path: str | Any) -> FileResult:
        """Check and classify one file. Refusals (unreadable, silent, too short) become
        ``error``; doubtful inputs (clipped, unusual level, no burst) become ``warnings``."""
        import dataclasses

        from .audio import ClipRejected, check_clipping, clean, decode
        from .features import clip_frames, compute_batch, nonfinite_reason

        cfg = self.config.preprocess
        warnings: list[str] = []
        try:
            raw, sr = decode(path)
            try:
                check_clipping(raw, cfg)
            except ClipRejected as exc:
                warnings.append(f"{exc.reason}: the recording is distorted; record further from "
                                "the microphone or at a lower input gain")
            audio = clean(raw, sr, dataclasses.replace(cfg, clip_fraction=1.0))
        except ClipRejected as exc:
            return FileResult(str(path), warnings, error=plain_reason(exc.reason))
        feats, logmel = compute_batch(audio.samples[None, :], np.array([len(audio.samples)]), cfg)
        bad = nonfinite_reason(feats[0], cfg, audio.trimmed_duration)
        if bad:  # never given to a model (engine.features.nonfinite_reason)
            return FileResult(str(path), warnings, error=bad)
        if not (np.isfinite(feats).all() and np.isfinite(logmel).all()):
            return FileResult(str(path), warnings, error="its audio features are not finite "
                              "numbers (NaN or infinity): no verdict; check the recording")
        warnings += self.level_warnings(feats[0])
        if not has_cough_burst(audio.samples, cfg.sample_rate):
            warnings.append("no cough-like burst found (a sharp onset followed by a decay): is "
                            "this a cough? The models were trained on coughs only")
        verdicts = [self._verdict(name, feats, logmel) for name in self.model_names]
        broken = [v.model for v in verdicts if not np.isfinite(v.seeds).all()]
        if broken:  # a NaN is not "negative": no verdict at all
            return FileResult(str(path), warnings, error=f"{', '.join(broken)} gave no finite "
                              "probability (NaN or infinity) for this recording: no verdict")
        short = clip_frames(len(audio.samples), cfg) < cfg.n_frames
        return FileResult(str(path), warnings, verdicts=verdicts,
                          duration=round(audio.trimmed_duration, 3), samples=audio.samples,
                          logmel=logmel[0], filled=(cfg.pad or "zero") if short else None)

    @property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys(m.spec.name for m in self.models))

    def _verdict(self, name: str, feats: np.ndarray, logmel: np.ndarray) -> ModelVerdict:
        ms = [m for m in self.models if m.spec.name == name]
        probs = [float(np.asarray(m.predictor.predict_proba(m.inputs(feats, logmel)))[0])
                 for m in ms]
        threshold = float(np.mean([m.threshold for m in ms]))
        mean = float(np.mean(probs))
        calibrated = [float(m.calibrate(np.array([p]))[0]) for p, m in zip(probs, ms)]
        cal_threshold = float(np.mean([m.threshold_calibrated for m in ms]))
        cal_mean = float(np.mean(calibrated))
        # seeds' raw outputs live on different scales; calibrated, they are comparable
        label = "positive" if cal_mean >= cal_threshold else "negative"
        own = ["positive" if p >= m.threshold else "negative" for p, m in zip(probs, ms)]
        aucs = [m.test_auc for m in ms if m.test_auc is not None]
        methods = list(dict.fromkeys((m.calibrator.method if m.calibrator else "none")
                                     for m in ms))
        return ModelVerdict(
            model=name, probability=mean, spread=float(np.std(probs)), label=label,
            agreement=own.count(label) / len(own), seeds=probs, threshold=threshold,
            test_auc=float(np.mean(aucs)) if aucs else None,
            calibrated=cal_mean, calibrated_threshold=cal_threshold,
            calibration="; ".join(methods), operating_point=ms[0].operating_point,
            trusted_auc=self.trusted.get(name),
        )

    def level_warnings(self, features: np.ndarray) -> list[str]:
        """Compare the clip's level (the ``rms`` feature) with the training clips'."""
        ref = self.reference.get("rms_db")
        if not ref or features.shape[0] < 2:
            return []
        level = 20 * np.log10(max(float(features[1]), 1e-9))
        lo, hi = ref["p01"], ref["p99"]
        if level > hi + 6:
            return [f"far louder than the training recordings ({level:.0f} dBFS; training "
                    f"{lo:.0f} to {hi:.0f} dBFS): results may not be meaningful"]
        if level < lo - 6:
            return [f"far quieter than the training recordings ({level:.0f} dBFS; training "
                    f"{lo:.0f} to {hi:.0f} dBFS): move closer to the microphone"]
        return []


def check_reference(path: Path, data: Any) -> dict[str, Any]:
    """The training clips' level statistics from ``data.json`` (``reference``), checked."""
    reference = data.get("reference", {}) if isinstance(data, dict) else None
    if not isinstance(reference, dict):
        raise RunError(f"{path}: 'reference' is not a JSON object", DAMAGED)
    rms = reference.get("rms_db")
    if rms and not (isinstance(rms, dict) and _number(rms.get("p01"))
                    and _number(rms.get("p99"))):
        raise RunError(f"{path}: reference.rms_db needs numbers p01 and p99", DAMAGED)
    return reference


def check_writable(folder: Path, root: Path | None = None) -> None:
    """Make ``folder`` if needed and prove a file can be written there (before long work);
    with ``root``, the folder must be inside it and reached through no link."""
    import tempfile

    from .paths import ensure_dir

    try:
        ensure_dir(folder.parent if root is None else root, folder)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise RunError(f"cannot write into {folder}: {exc.strerror or exc}",
                       "make the run directory writable, or copy the run somewhere writable "
                       "and use the copy") from None


def plain_reason(reason: str) -> str:
    """A refusal in plain language, with what to do."""
    if reason.startswith("too short"):
        return f"{reason}: record a whole cough (at least half a second of sound)"
    if reason.startswith("silent") or reason.startswith("empty"):
        return f"{reason}: nothing was recorded; check the microphone and its input level"
    return reason


def has_cough_burst(y: np.ndarray, sr: int) -> bool:
    """True when the clip has a burst: energy rising >= 12 dB within 60 ms to a peak >= 6 dB
    above the clip's median frame level. Coughs do; steady speech, hum or noise do not."""
    hop = max(1, int(0.01 * sr))
    n = len(y) // hop
    if n < 4:
        return False
    frames = y[: n * hop].reshape(n, hop).astype(np.float64)
    e = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    lag = 6  # 60 ms
    rise = np.array([e[i] - e[max(0, i - lag):i].min() for i in range(1, n)])
    return bool(rise.max() >= 12.0 and e.max() - np.median(e) >= 6.0)


def collect_audio_files(paths: Iterable[str]) -> list[str]:
    """Files named directly, plus the audio files inside named folders (sorted)."""
    from .audio import AUDIO_EXTS

    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.suffix.lower() in AUDIO_EXTS)
            if not found:
                raise RunError(f"no audio files in folder {path}",
                               f"accepted: {', '.join(sorted(AUDIO_EXTS))}")
            out += found
        elif path.exists():
            out.append(str(path))
        else:
            raise RunError(f"{path} does not exist", "check the path")
    return out
