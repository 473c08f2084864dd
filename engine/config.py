"""Frozen configuration dataclasses, loadable from and savable to TOML.

* :class:`PreprocessConfig` -- everything that changes what a clip turns into; its
  :meth:`~PreprocessConfig.digest` is part of every cache key.
* :class:`TrainRecipe` -- how one model is trained (optimiser, loss, epochs, imbalance).
* :class:`ExperimentConfig` -- a whole run: data, preprocessing, split, models, seeds,
  recipe. Saved as ``config.toml`` in the run directory, enough to run it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields, asdict
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class PreprocessConfig:
    """How a file becomes features and a log-mel spectrogram.

    Defaults follow the paper (librosa defaults: 22,050 Hz, n_fft 2048, hop 512, 128 mels).
    """

    sample_rate: int = 22050
    duration: float = 3.0  # seconds after trimming; shorter clips are zero-padded, longer cropped
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    trim_top_db: float = 40.0  # frames quieter than peak - top_db count as silence
    max_gap: float = 0.25  # internal silent gaps longer than this (s) are removed
    min_duration: float = 0.2  # shorter than this after trimming: excluded ("too short")
    clip_fraction: float = 0.01  # more samples than this at full scale: excluded ("clipped")
    feature_set: str = "paper"  # "paper" (26) or "extended"

    def __post_init__(self) -> None:
        if self.sample_rate < 4000 or self.sample_rate > 96000:
            raise ConfigError(
                f"sample_rate {self.sample_rate} Hz is out of range",
                "use a rate between 4000 and 96000 Hz, e.g. 22050 (the paper) or 8000",
            )
        if self.duration <= 0:
            raise ConfigError(f"duration {self.duration} s must be positive", "e.g. 3.0")
        if self.feature_set not in ("paper", "extended"):
            raise ConfigError(
                f"unknown feature_set {self.feature_set!r}", "use 'paper' or 'extended'"
            )

    @property
    def n_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    def digest(self) -> str:
        """A short stable hash of every field (part of cache keys)."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained. ``preset`` records where the values came from."""

    preset: str = "default"
    epochs: int = 30
    batch_size: int = 64
    lr: float | None = None  # None: the model's preset learning rate
    optimizer: str | None = None  # None: per model family, see engine.presets
    loss: str | None = None
    class_weighting: bool = True  # weighted loss so the minority class counts as much
    early_stopping_patience: int | None = 8  # epochs without val AUC gain; None: off
    weight_decay: float = 1e-4
    # torch models write last.pt (resumable state) once this many seconds have passed since
    # the last write, or every checkpoint_epochs epochs (0: by time only), and always on stop
    checkpoint_seconds: float = 60.0
    checkpoint_epochs: int = 0
    compile: bool = False  # torch.compile the ann/cnn/resnet networks (opt-in)


@dataclass(frozen=True)
class SplitConfig:
    """Group-disjoint, label-stratified split. ``test`` is the held-out fraction (paper: 0.3);
    ``val`` is the fraction of the remaining train+val part used for validation."""

    test: float = 0.3
    val: float = 0.2
    folds: int = 0  # >1: k-fold over groups instead of one test split
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.test < 1 and 0 < self.val < 1):
            raise ConfigError(
                f"split fractions test={self.test}, val={self.val} must be between 0 and 1",
                "e.g. test=0.3, val=0.2",
            )
        if self.folds == 1 or self.folds < 0:
            raise ConfigError(f"folds={self.folds}: k-fold needs at least 2 folds",
                              "use folds >= 2, or 0 for one train/validation/test split")


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        d["loggers"] = list(self.loggers)
        return {k: v for k, v in d.items() if v is not None}

    def to_toml(self) -> str:
        import tomli_w

        def clean(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items() if v is not None}
            return obj

        return tomli_w.dumps(clean(self.to_dict()))

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config") -> "ExperimentConfig":
        d = dict(d)
        sub = {"preprocess": PreprocessConfig, "split": SplitConfig, "recipe": TrainRecipe}
        kwargs: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, value in d.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown setting {key!r}",
                    f"valid settings: {', '.join(sorted(known))}",
                )
            if key in sub:
                kwargs[key] = _sub_from_dict(sub[key], value, f"{source} [{key}]")
            elif key in ("models", "loggers"):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: Path) -> "ExperimentConfig":
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist", "check the path") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the file") from None
        return cls.from_dict(raw, source=str(path))

    def replace(self, **changes: Any) -> "ExperimentConfig":
        return dataclasses.replace(self, **changes)


def _sub_from_dict(klass: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table", "see the README's config section")
    known = {f.name for f in fields(klass)}
    unknown = set(value) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}",
            f"valid settings: {', '.join(sorted(known))}",
        )
    return klass(**value)
