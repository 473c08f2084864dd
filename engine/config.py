"""Frozen configuration dataclasses, loadable from and savable to TOML, validated on creation.

* :class:`PreprocessConfig` -- everything that changes what a clip turns into; its
  :meth:`~PreprocessConfig.digest` is part of every cache key.
* :class:`TrainRecipe` -- how one model is trained (optimiser, loss, epochs, imbalance).
  :meth:`TrainRecipe.from_preset` is the one place a preset (``default``, ``paper``) turns
  into values; explicit values override the preset's.
* :class:`ExperimentConfig` -- a whole run: data, preprocessing, split, models, seeds,
  recipe. Saved as ``config.toml`` in the run directory, enough to run it again.
  :meth:`ExperimentConfig.from_sources` builds one from a TOML file and command-line flags
  (flags win), so the command line, a config file and the app build the same config.

Every field of every class has a type and a valid range (:data:`RULES`); a value of the wrong
type or out of range is a :class:`~engine.errors.ConfigError` that names where it came from
(the file and ``[section] key``, or the flag), the value, and what is valid. The checks run in
``__post_init__``, so a config built in code, read from ``--config``, or read back from a
run's own ``config.toml`` (``--resume``, ``predict``, ``evaluate``) is checked the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import stat
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

PRESETS = ("default", "paper")
OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("bce", "ce", "mse")
DEVICES = ("auto", "cpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp")
LOGGERS = ("tensorboard", "wandb")
FEATURE_SETS = ("paper", "extended", "mel_stats", "egemaps", "compare")
PADS = ("zero", "repeat")
CALIBRATIONS = ("platt", "temperature", "isotonic", "none")
# engine.metrics.OperatingPoint parses it; this pattern refuses anything else at load time
OPERATING_POINT_PATTERN = r"(?i)\s*(youden|(sensitivity|specificity)\s*=\s*(0?\.\d*[1-9]\d*))\s*"

# What each preset sets in a TrainRecipe; anything given explicitly overrides it.
RECIPE_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},  # the dataclass defaults: class-weighted loss, early stopping, AdamW
    "paper": {  # the paper's recipe: 100 epochs, imbalance ignored, no early stopping
        "epochs": 100,
        "batch_size": 64,
        "class_weighting": False,
        "early_stopping_patience": None,
        "weight_decay": 0.0,
    },
}

MAX_CONFIG_BYTES = 1 << 20  # a config file larger than this is not a config file


@dataclass(frozen=True)
class Rule:
    """The valid values of one field, beyond its type."""

    lo: float | None = None  # inclusive minimum
    hi: float | None = None  # inclusive maximum
    above: float | None = None  # exclusive minimum
    below: float | None = None  # exclusive maximum
    choices: tuple[Any, ...] = ()
    pattern: str | None = None  # strings: must match (fullmatch)
    hint: str = ""


# class name -> field -> Rule. Every field of every config class is listed (a test checks it).
RULES: dict[str, dict[str, Rule]] = {
    "PreprocessConfig": {
        "sample_rate": Rule(lo=4000, hi=96000, hint="e.g. 22050 (the paper) or 8000"),
        "duration": Rule(above=0, hi=60, hint="seconds kept after trimming, e.g. 3.0"),
        "n_fft": Rule(lo=64, hi=16384, hint="the STFT window in samples, e.g. 2048"),
        "hop_length": Rule(lo=16, hi=16384, hint="samples between frames, e.g. 512"),
        "n_mels": Rule(lo=8, hi=512, hint="mel bands, e.g. 128"),
        "trim_top_db": Rule(above=0, hi=120, hint="dB below the peak that count as silence, e.g. 40"),
        "max_gap": Rule(lo=0, hi=60, hint="seconds; longer internal silences are cut, e.g. 0.25"),
        "min_duration": Rule(lo=0, hi=60, hint="seconds; shorter clips are excluded, e.g. 0.2"),
        "clip_fraction": Rule(lo=0, hi=1, hint="a fraction of samples, e.g. 0.01"),
        "pad": Rule(choices=PADS, hint="'repeat' (the clip repeated to fill the log-mel) or "
                                       "'zero' (silence after it, the paper's); leave it out "
                                       "for the preset's choice"),
        "feature_set": Rule(choices=FEATURE_SETS,
                            hint="'paper' (26 features), 'extended' (92), 'mel_stats' (282), "
                                 "'egemaps' (26 + openSMILE eGeMAPSv02's 88) or 'compare' "
                                 "(26 + openSMILE ComParE_2016's 6,373)"),
    },
    "TrainRecipe": {
        "preset": Rule(choices=PRESETS, hint="'default' or 'paper'"),
        "epochs": Rule(lo=1, hi=100_000, hint="e.g. 30"),
        "batch_size": Rule(lo=1, hi=1 << 20, hint="e.g. 64; leave it out for each model's "
                                                 "own (cnn 16, the rest 64)"),
        "lr": Rule(above=0, hi=10, hint="e.g. 1e-3; leave it out for each model's own rate"),
        "optimizer": Rule(choices=OPTIMIZERS, hint="leave it out for each model's own choice"),
        "loss": Rule(choices=LOSSES, hint="leave it out for each model's own choice"),
        "class_weighting": Rule(hint="true or false"),
        "early_stopping_patience": Rule(lo=1, hi=100_000,
                                        hint="epochs without a validation gain, e.g. 8; "
                                             "0 turns early stopping off"),
        "weight_decay": Rule(lo=0, hi=1, hint="e.g. 1e-4"),
        "checkpoint_seconds": Rule(lo=0, hint="seconds between resumable checkpoints, e.g. 60 "
                                              "(a huge value: by epochs only)"),
        "checkpoint_epochs": Rule(lo=0, hi=100_000,
                                  hint="epochs between resumable checkpoints; 0: by time only"),
        "compile": Rule(hint="true or false"),
        "refit": Rule(hint="true or false; leave it out for the preset's choice (default: "
                           "true, paper: false)"),
        "operating_point": Rule(pattern=OPERATING_POINT_PATTERN,
                                hint="youden, sensitivity=0.8 (the DiCOVA point) or "
                                     "specificity=0.95: where the decision threshold is put"),
        "calibration": Rule(choices=CALIBRATIONS,
                            hint="'platt' (default), 'temperature', 'isotonic' or 'none'"),
        "oof_folds": Rule(lo=2, hi=20, hint="participant-disjoint folds of train + validation "
                                            "whose out-of-fold predictions set a refit model's "
                                            "threshold and calibration, e.g. 5"),
    },
    "SplitConfig": {
        "test": Rule(above=0, below=1, hint="a fraction, e.g. 0.3"),
        "val": Rule(above=0, below=1, hint="a fraction of the rest, e.g. 0.2"),
        "folds": Rule(lo=0, hi=100, hint="0 for one train/validation/test split, or 2 or more"),
        "seed": Rule(lo=0, hi=2**32 - 1, hint="a whole number, e.g. 0"),
        "test_group": Rule(pattern=r"\s*[^=\s][^=]*=\s*\S.*",
                           hint="COLUMN=VALUE, e.g. source=telegram"),
        "file": Rule(pattern=r"(?s).*\S.*",
                     hint="a split file written by `coughscope data split` (or a run's "
                          "split.csv)"),
    },
    "AugmentConfig": {
        "enabled": Rule(hint="true or false; leave it out for the preset's choice (default: "
                             "true, paper: false)"),
        "time_shift": Rule(lo=0, hi=1, hint="a fraction of the frames, e.g. 0.15 (0: off)"),
        "crop": Rule(above=0, hi=1, hint="the smallest kept fraction, e.g. 0.6 (1: off)"),
        "gain_db": Rule(lo=0, hi=60, hint="dB, e.g. 6 (0: off)"),
        "time_masks": Rule(lo=0, hi=100, hint="masks per clip, e.g. 2 (0: off)"),
        "time_mask_width": Rule(lo=0, hi=1, hint="a fraction of the frames, e.g. 0.1"),
        "freq_masks": Rule(lo=0, hi=100, hint="masks per clip, e.g. 2 (0: off)"),
        "freq_mask_width": Rule(lo=0, hi=1, hint="a fraction of the mel bands, e.g. 0.1"),
        "mixup": Rule(lo=0, hi=100, hint="the Beta parameter, e.g. 0.2 (0: off)"),
        "band_limit": Rule(lo=0, hi=1, hint="a probability, e.g. 0.5 (0: off)"),
        "eq_db": Rule(lo=0, hi=60, hint="dB, e.g. 6 (0: off)"),
        "noise": Rule(lo=0, hi=1, hint="a probability, e.g. 0.3 (0: off)"),
    },
    "ExperimentConfig": {
        "data": Rule(pattern=r"(?s).*\S.*",
                     hint="demo, a Coswara root, a manifest CSV, or a folder with positive/ "
                          "and negative/"),
        "sound": Rule(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                      hint="a Coswara recording name such as cough-heavy (no folders)"),
        "models": Rule(pattern=r"[A-Za-z0-9_-]+", hint="model names, e.g. [\"ann\", \"cnn\"]"),
        "seeds": Rule(lo=1, hi=1000, hint="e.g. 4"),
        "device": Rule(choices=DEVICES, hint="auto, cpu, cuda or mps"),
        "devices": Rule(lo=1, hi=4096, hint="the number of GPUs, e.g. 1"),
        "strategy": Rule(choices=STRATEGIES, hint="auto or ddp"),
        "weights": Rule(pattern=r"(?s).*\S.*", hint="the path of a ResNet-50 state dict"),
        "pretrained": Rule(hint="true or false"),
        "loggers": Rule(choices=LOGGERS, hint="tensorboard and/or wandb"),
        "balance_by": Rule(pattern=r"(?s).*\S.*", hint="a metadata column, e.g. source"),
        "preprocess": Rule(hint="a [preprocess] table"),
        "split": Rule(hint="a [split] table"),
        "recipe": Rule(hint="a [recipe] table"),
        "augment": Rule(hint="an [augment] table"),
    },
}

SECTIONS = {"PreprocessConfig": "preprocess", "SplitConfig": "split", "TrainRecipe": "recipe",
            "AugmentConfig": "augment", "ExperimentConfig": ""}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(cls_name: str, name: str, value: Any) -> str:
    section = SECTIONS.get(cls_name, "")
    return f"{'[' + section + '] ' if section else ''}{name} = {_show(value)}"


def _type_name(tp: Any) -> str:
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"
            }.get(tp, getattr(tp, "__name__", str(tp)))


def check_field(cls: type, name: str, value: Any, label: str | None = None) -> Any:
    """``value`` for field ``name`` of config class ``cls``, type-checked, range-checked and
    normalised (an int for a float field becomes a float, a list for a tuple field a tuple).

    Raises :class:`ConfigError` naming ``label`` (default ``[section] name = value``).
    """
    label = label or _label(cls.__name__, name, value)
    rule = RULES[cls.__name__][name]
    tp = _hints(cls)[name]
    optional = False
    args = typing.get_args(tp)
    if type(None) in args:  # X | None
        optional = True
        tp = next(a for a in args if a is not type(None))
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{label}: a value is required", rule.hint)
    if typing.get_origin(tp) is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{label}: must be a list of strings", rule.hint)
        return tuple(_check_scalar(str, v, rule, f"{label} (item {_show(v)})") for v in value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ConfigError(f"{label}: must be {rule.hint or 'a table'}", rule.hint)
        return value
    return _check_scalar(tp, value, rule, label)


def _check_scalar(tp: Any, value: Any, rule: Rule, label: str) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{label}: must be a finite number", rule.hint)
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise ConfigError(f"{label}: must be {_type_name(tp)}, not {type(value).__name__}",
                          rule.hint)
    if rule.choices and value not in rule.choices:
        raise ConfigError(f"{label}: must be one of {', '.join(map(str, rule.choices))}",
                          rule.hint)
    if rule.pattern is not None and not re.fullmatch(rule.pattern, value):
        raise ConfigError(f"{label}: {'is empty' if not value.strip() else 'is not valid'}",
                          rule.hint)
    bounds = [(rule.lo, lambda v, b: v >= b, "at least"), (rule.hi, lambda v, b: v <= b, "at most"),
              (rule.above, lambda v, b: v > b, "more than"),
              (rule.below, lambda v, b: v < b, "less than")]
    for bound, ok_fn, words in bounds:
        if bound is not None and not ok_fn(value, bound):
            raise ConfigError(f"{label}: must be {words} {bound:g}", rule.hint)
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _validate(obj: Any) -> None:
    """Check and normalise every field of a frozen config dataclass in place."""
    for f in fields(obj):
        value = check_field(type(obj), f.name, getattr(obj, f.name))
        object.__setattr__(obj, f.name, value)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a file becomes features and a log-mel spectrogram.

    Defaults follow the paper (librosa defaults: 22,050 Hz, n_fft 2048, hop 512, 128 mels).
    """

    sample_rate: int = 22050
    duration: float = 3.0  # seconds after trimming; shorter clips padded (``pad``), longer cropped
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    trim_top_db: float = 40.0  # frames quieter than peak - top_db count as silence
    max_gap: float = 0.25  # internal silent gaps longer than this (s) are removed
    min_duration: float = 0.2  # shorter than this after trimming: excluded ("too short")
    clip_fraction: float = 0.01  # more samples than this at full scale: excluded ("clipped")
    # "paper" (26), "extended" (92), "mel_stats" (282), "egemaps" (26 + 88) or "compare"
    # (26 + 6,373); the last two need the optional openSMILE package (engine.features)
    feature_set: str = "paper"
    # how a clip shorter than ``duration`` fills the log-mel: "zero" (silence after it) or
    # "repeat" (the clip again); None: by preset (engine.refit: default "repeat", paper
    # "zero"). A config never resolved (an older run's config.toml) means "zero", which is
    # what coughscope did before the option existed.
    pad: str | None = None

    def __post_init__(self) -> None:
        _validate(self)
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f"[preprocess] hop_length = {self.hop_length} is larger than n_fft = {self.n_fft}",
                "frames would skip samples; use hop_length <= n_fft, e.g. 512 with 2048",
            )
        if self.n_mels > self.n_fft // 2 + 1:
            raise ConfigError(
                f"[preprocess] n_mels = {self.n_mels} is more than the {self.n_fft // 2 + 1} "
                f"frequency bins of n_fft = {self.n_fft}",
                "use fewer mel bands or a larger n_fft, e.g. 128 with 2048",
            )
        if self.n_samples < self.n_fft:
            raise ConfigError(
                f"[preprocess] duration = {self.duration:g} s is {self.n_samples} samples at "
                f"{self.sample_rate} Hz, shorter than one n_fft = {self.n_fft} window",
                "use a longer duration or a smaller n_fft",
            )
        if self.min_duration > self.duration:
            raise ConfigError(
                f"[preprocess] min_duration = {self.min_duration:g} s is longer than "
                f"duration = {self.duration:g} s",
                "min_duration excludes clips shorter than it; keep it below duration, e.g. 0.2",
            )

    @property
    def n_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    def digest(self) -> str:
        """A short stable hash of every field (part of cache keys)."""
        fields_ = asdict(self)
        if fields_["pad"] in (None, "zero"):  # the padding before the option: caches stay valid
            del fields_["pad"]
        blob = json.dumps(fields_, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained. ``preset`` records where the values came from.

    Build one with :meth:`from_preset` to get the preset's values; constructing the class
    directly takes every value as given (the preset name is then only a label, though the
    trainer still picks the preset's optimiser, loss and learning rate per model).
    """

    preset: str = "default"
    epochs: int = 30
    # None: each model's own (engine.models: 16 for the paper cnn, whose ~7 steps an epoch at
    # 64 on a few hundred clips were too few to learn from; 64 for the rest)
    batch_size: int | None = None
    lr: float | None = None  # None: the model's preset learning rate
    optimizer: str | None = None  # None: per model family, see engine.trainer
    loss: str | None = None
    class_weighting: bool = True  # weighted loss so the minority class counts as much
    early_stopping_patience: int | None = 8  # epochs without val AUC gain; None: off
    weight_decay: float = 1e-4
    # torch models write last.pt (resumable state) once this many seconds have passed since
    # the last write, or every checkpoint_epochs epochs (0: by time only), and always on stop
    checkpoint_seconds: float = 60.0
    checkpoint_epochs: int = 0
    compile: bool = False  # torch.compile the ann/cnn/resnet networks (opt-in)
    # retrain the final model on train + validation once validation has chosen the epochs,
    # the checkpoint and the threshold (engine.refit); None: by preset (default on, paper off)
    refit: bool | None = None
    # where the decision threshold is put on the ROC curve (engine.metrics.OperatingPoint):
    # "youden" (max sensitivity + specificity), "sensitivity=0.8", "specificity=0.95"; chosen
    # on out-of-fold predictions of the refit recipe (refit) or on validation (no refit)
    operating_point: str = "youden"
    # how raw outputs become P(positive) (engine.calibration), fitted on the same predictions
    calibration: str = "platt"
    # the participant-disjoint folds of train + validation for those out-of-fold predictions
    oof_folds: int = 5

    def __post_init__(self) -> None:
        if self.early_stopping_patience == 0 and not isinstance(self.early_stopping_patience,
                                                                 bool):
            object.__setattr__(self, "early_stopping_patience", None)  # 0 means off (TOML)
        _validate(self)

    @classmethod
    def from_preset(cls, name: str = "default", **overrides: Any) -> "TrainRecipe":
        """The recipe of preset ``name``, with ``overrides`` (explicit values) on top."""
        check_field(cls, "preset", name)
        unknown = set(overrides) - {f.name for f in fields(cls)} | ({"preset"} & set(overrides))
        if unknown:
            raise ConfigError(f"unknown recipe setting(s) {', '.join(sorted(unknown))}",
                              f"valid settings: {', '.join(f.name for f in fields(cls))}")
        return cls(preset=name, **{**RECIPE_PRESETS[name], **overrides})


@dataclass(frozen=True)
class SplitConfig:
    """Group-disjoint, label-stratified split. ``test`` is the held-out fraction (paper: 0.3);
    ``val`` is the fraction of the remaining train+val part used for validation."""

    test: float = 0.3
    val: float = 0.2
    folds: int = 0  # >1: k-fold over groups instead of one test split
    seed: int = 0
    # "COLUMN=VALUE": those clips are an out-of-distribution test part (leave one source out)
    test_group: str | None = None
    # a published split (engine.split_file): the run uses its parts instead of drawing them
    file: str | None = None

    def __post_init__(self) -> None:
        _validate(self)
        if self.folds == 1:
            raise ConfigError("[split] folds = 1: k-fold needs at least 2 folds",
                              "use folds >= 2, or 0 for one train/validation/test split")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation of the training batches of spectrogram models (see engine.augment).

    ``enabled`` None: by preset (on for ``default``, off for ``paper``; the run's config.toml
    records the choice). Each augmentation is switched off by its zero (or ``crop = 1``).
    """

    # The defaults are the light recipe that measured best on covid19-cough with 15 epochs on
    # a CPU (README, bench/quality.py): time shift, one mask per axis, band-limiting. The
    # others are there to switch on (e.g. crop = 0.6, gain_db = 6, mixup = 0.2, eq_db = 6,
    # noise = 0.3); all of them at once slowed the paper CNN's learning too much at 15 epochs.
    enabled: bool | None = None
    time_shift: float = 0.15  # shift by up to this fraction of the frames, either way
    crop: float = 1.0  # random crop: keep a window of at least this fraction (1: off)
    gain_db: float = 0.0  # random gain within +-gain_db
    time_masks: int = 1  # SpecAugment time masks per clip ...
    time_mask_width: float = 0.1  # ... each up to this fraction of the frames
    freq_masks: int = 1  # SpecAugment frequency masks per clip ...
    freq_mask_width: float = 0.1  # ... each up to this fraction of the mel bands
    mixup: float = 0.0  # mixup Beta(alpha, alpha); 0: off
    band_limit: float = 0.5  # probability of a random low-pass (as through 8 kHz phone audio)
    eq_db: float = 0.0  # random smooth equalisation curve within +-eq_db
    noise: float = 0.0  # probability of added background noise

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs; written to ``config.toml``."""

    data: str = "demo"
    sound: str = "cough-heavy"  # Coswara sound file to use
    models: tuple[str, ...] = ()
    seeds: int = 4
    device: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    weights: str | None = None  # ImageNet ResNet-50 state dict for resnet50/imagenet50
    pretrained: bool = True
    loggers: tuple[str, ...] = ()  # "tensorboard", "wandb"
    # metadata column (e.g. "source") within whose values the training part is rebalanced
    # so that every value holds as many positive as negative clips (see engine.balance)
    balance_by: str | None = None
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    recipe: TrainRecipe = field(default_factory=TrainRecipe)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        d["loggers"] = list(self.loggers)
        if d["recipe"]["early_stopping_patience"] is None:
            d["recipe"]["early_stopping_patience"] = 0  # "off" must survive the TOML round trip
        return {k: v for k, v in d.items() if v is not None}

    def to_toml(self) -> str:
        import tomli_w

        def clean(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items() if v is not None}
            return obj

        return tomli_w.dumps(clean(self.to_dict()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "config") -> "ExperimentConfig":
        """A config from parsed TOML; ``source`` (a file name) prefixes every error.

        The ``[recipe]`` table is resolved with :meth:`TrainRecipe.from_preset`: its
        ``preset`` supplies every value the table does not give.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"{source}: must be a table of settings", "see the README")
        try:
            return cls._from_dict(d, source)
        except ConfigError as err:
            if err.message.startswith(f"{source}: "):
                raise
            raise ConfigError(f"{source}: {err.message}", err.hint) from None

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any], source: str) -> "ExperimentConfig":
        sub = {"preprocess": PreprocessConfig, "split": SplitConfig, "recipe": TrainRecipe,
               "augment": AugmentConfig}
        kwargs: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, value in d.items():
            if key == "executor":  # how the tasks run, not what the experiment is: read by
                continue  # engine.executors.executor_options, never in a run's config.toml
            if key not in known:
                home = [s for s, k in sub.items() if key in {f.name for f in fields(k)}]
                raise ConfigError(
                    f"unknown setting {key!r}",
                    f"{key} belongs in the [{home[0]}] table" if home else
                    f"valid settings: {', '.join(sorted(known))}",
                )
            if key in sub:
                kwargs[key] = _sub_from_dict(sub[key], value, f"[{key}]")
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: Path | str) -> "ExperimentConfig":
        """Read and check a TOML config file (a run's ``config.toml`` or ``--config``)."""
        return cls.from_dict(read_toml(Path(path)), source=str(path))

    @classmethod
    def from_sources(cls, toml: Path | str | None = None,
                     flags: Mapping[str, Any] | None = None,
                     flag_names: Mapping[str, str] | None = None) -> "ExperimentConfig":
        """The config a TOML file (optional) and explicit flags describe; flags win.

        ``flags`` maps a setting to its value: ``"seeds"``, or ``"recipe.epochs"`` for a
        table's setting; ``None`` values are ignored (flag not given). ``flag_names`` maps the
        same keys to the flag a user typed (``"recipe.epochs": "--epochs"``) for error
        messages. ``recipe.preset`` from the flags replaces the file's preset, and the preset
        then supplies every recipe value that neither the file nor a flag gives explicitly:
        ``--preset paper`` and ``preset = "paper"`` make the same recipe.
        """
        raw: dict[str, Any] = dict(read_toml(Path(toml))) if toml is not None else {}
        source = str(toml) if toml is not None else "command line"
        names = dict(flag_names or {})
        _refuse_empty(raw, flags or {}, names, source)
        classes = {"preprocess": PreprocessConfig, "split": SplitConfig, "recipe": TrainRecipe,
                   "augment": AugmentConfig}
        for key, value in (flags or {}).items():
            if value is None:
                continue
            section, _, name = key.rpartition(".")
            klass = classes[section] if section else cls
            shown = names.get(key)
            label = f"{shown} {_show(value)}" if shown else None
            value = check_field(klass, name, value, label)  # named as the user typed it
            if section:
                table = raw.setdefault(section, {})
                if isinstance(table, dict):  # else from_dict names the file's bad table
                    raw[section] = {**table, name: value}
            else:
                raw[name] = value
        return cls.from_dict(raw, source=source)

    def replace(self, **changes: Any) -> "ExperimentConfig":
        return dataclasses.replace(self, **changes)


def _sub_from_dict(klass: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, not {_show(value)}",
                          "see the README's config section")
    known = {f.name for f in fields(klass)}
    unknown = set(value) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}",
            f"valid settings: {', '.join(sorted(known))}",
        )
    if klass is TrainRecipe:
        rest = {k: v for k, v in value.items() if k != "preset"}
        return TrainRecipe.from_preset(value.get("preset", "default"), **rest)
    return klass(**value)


# settings where an empty value would silently mean "the default" (all models, the demo)
_NOT_EMPTY = {"models": 'name at least one model, e.g. models = ["ann"], or leave the '
                        "setting out for the default list",
              "data": "give a data set (a Coswara root, a manifest CSV, a folder or demo), or "
                      "leave the setting out for the demo"}


def _refuse_empty(raw: Mapping[str, Any], flags: Mapping[str, Any], names: Mapping[str, str],
                  source: str) -> None:
    """An empty ``models`` or ``data``, from the file or a flag, is an error naming it."""
    for key, hint in _NOT_EMPTY.items():
        flag = flags.get(key)
        if flag is not None and not (flag.strip() if isinstance(flag, str) else flag):
            raise ConfigError(f"{names.get(key, key)} is empty", hint.replace(
                'models = ["ann"]', "--models ann").replace("the setting", "the flag"))
        if key in raw and isinstance(raw[key], (str, list, tuple)) and not (
                raw[key].strip() if isinstance(raw[key], str) else raw[key]):
            raise ConfigError(f"{source}: {key} = {raw[key]!r} is empty".replace("'", '"'),
                              hint)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, or raise a :class:`ConfigError` saying why it cannot be one."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", "check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}",
                          "check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"config file {path} is a directory", "give a .toml file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"config file {path} is not a regular file (a pipe or a device)",
                          "give a .toml file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is {st.st_size} bytes: too large for a config",
                          f"a config is a short TOML file (at most {MAX_CONFIG_BYTES} bytes)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text (a binary file?)",
                          "give a TOML text file, e.g. a run's config.toml") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}",
                          "check the path and its permissions") from None
    from .bounded import loads_toml

    try:
        return loads_toml(text)
    except ValueError as exc:  # TOMLDecodeError, or nested too deeply (TooDeep)
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the file") from None
