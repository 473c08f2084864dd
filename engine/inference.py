"""Using a finished run's models on new recordings (evaluation and prediction).

:func:`load_run_models` reloads every model and seed a run finished, each with the decision
threshold it chose on validation. The preprocessing is the run's own (its ``config.toml``), so
a new clip becomes exactly what the model was trained on.

Checkpoints load as tensors only (``weights_only=True``); pickled pytorch-tabular and sklearn
models load only from run directories coughscope wrote (their hashes are checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import ExperimentConfig
from .errors import RunError
from .models import ModelSpec, get_spec
from .runs import RunDir, finished_parts, read_data, read_metrics


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
    return [(name, seed) for name, seed in finished_parts(run)
            if wanted is None or name in wanted]


def load_run_models(run: RunDir, models: Iterable[str] | None = None,
                    device: str | None = None) -> list[LoadedModel]:
    """Every finished model/seed of ``run`` (or only ``models``), ready to predict; torch
    networks on ``device`` (a resolved name; default the CPU)."""
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
        info = read_metrics(run, name, seed)
        assert info is not None  # finished_parts found its metrics.json
        majority = info.raw.get("majority_label", 0)
        test_auc = info.test.get("roc_auc")
        loaded.append(LoadedModel(
            spec=spec,
            seed=seed,
            predictor=registry.load(spec, model_dir, device),
            threshold=info.threshold,
            majority_label=majority if majority in (0, 1) else 0,
            test_auc=float(test_auc) if isinstance(test_auc, (int, float)) else None,
        ))
    return loaded


def evaluate_run(run: RunDir, data: str, *, models: Iterable[str] | None = None,
                 progress: Any = None, device: str | None = None) -> dict[str, Any]:
    """Score a finished run's models on another data set (external validation).

    Every usable clip of ``data`` is a test clip; the thresholds are the run's own. Returns,
    per model, mean and std over seeds of every metric and ``by_group`` per metadata column.
    """
    from .metrics import aggregate, aggregate_by_group, binary_metrics, group_columns, per_group
    from .preprocess import preprocess
    from .sources import load_source

    config = run_config(run)
    loaded = load_run_models(run, models, device)
    clipset = load_source(data, sound=config.sound)
    dataset = preprocess(clipset, config.preprocess, progress=progress)
    y = dataset.y
    columns = group_columns({c: dataset.meta(c) for c in clipset.meta_columns})
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
        by_group = aggregate_by_group([m["by_group"] for m in ms], columns)
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


# --------------------------------------------------------------------------- classifying files

DISCLAIMER = ("coughscope is a research tool, not a diagnostic device: these probabilities must "
              "not be used to decide whether anyone has COVID-19.")


@dataclass
class ModelVerdict:
    """One model's answer for one clip, over the run's seeds."""

    model: str
    probability: float  # mean over seeds of P(positive)
    spread: float  # std over seeds (0 with one seed)
    label: str  # at the mean of the seeds' validation-chosen thresholds
    agreement: float  # share of seeds whose own label equals ``label``
    seeds: list[float]
    threshold: float
    test_auc: float | None  # the run's held-out AUC for this model (mean over seeds)

    def as_dict(self) -> dict[str, Any]:
        return {"probability": round(self.probability, 4), "spread": round(self.spread, 4),
                "label": self.label, "agreement": round(self.agreement, 3),
                "seeds": [round(p, 4) for p in self.seeds], "threshold": round(self.threshold, 4),
                "test_auc": self.test_auc}


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
        self.run = run
        self.config = run_config(run)
        self.models = load_run_models(run, models, device)  # one clip: the CPU by default
        reference = read_data(run).get("reference")
        self.reference = reference if isinstance(reference, dict) else {}

    def classify(self, path: str | Any) -> FileResult:
        """Check and classify one file. Refusals (unreadable, silent, too short) become
        ``error``; doubtful inputs (clipped, unusual level, no burst) become ``warnings``."""
        import dataclasses

        from .audio import ClipRejected, check_clipping, clean, decode
        from .features import compute_batch

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
        warnings += self.level_warnings(feats[0])
        if not has_cough_burst(audio.samples, cfg.sample_rate):
            warnings.append("no cough-like burst found (a sharp onset followed by a decay): is "
                            "this a cough? The models were trained on coughs only")
        verdicts = [self._verdict(name, feats, logmel) for name in self.model_names]
        return FileResult(str(path), warnings, verdicts=verdicts,
                          duration=round(audio.trimmed_duration, 3), samples=audio.samples,
                          logmel=logmel[0])

    @property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys(m.spec.name for m in self.models))

    def _verdict(self, name: str, feats: np.ndarray, logmel: np.ndarray) -> ModelVerdict:
        ms = [m for m in self.models if m.spec.name == name]
        probs = [float(np.asarray(m.predictor.predict_proba(m.inputs(feats, logmel)))[0])
                 for m in ms]
        threshold = float(np.mean([m.threshold for m in ms]))
        mean = float(np.mean(probs))
        label = "positive" if mean >= threshold else "negative"
        own = ["positive" if p >= m.threshold else "negative" for p, m in zip(probs, ms)]
        aucs = [m.test_auc for m in ms if m.test_auc is not None]
        return ModelVerdict(
            model=name, probability=mean, spread=float(np.std(probs)), label=label,
            agreement=own.count(label) / len(own), seeds=probs, threshold=threshold,
            test_auc=float(np.mean(aucs)) if aucs else None,
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
