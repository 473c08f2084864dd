"""What the app remembers between sessions, per user: the last data set, the Models screen's
choices (models, recipe and options) and the theme. One small JSON file under
:func:`engine.paths.config_dir` (``$COUGHSCOPE_CONFIG_DIR`` in tests). A missing or
unreadable file means defaults: settings are a convenience and never stop the app from
starting. A key the file lacks (one written before that choice existed) is ``None``, the
screen's first-time default. Values are only type-checked here; a screen falls back to its
default when a value is not one of its choices."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine import paths
from engine.bounded import loads_json
from engine.errors import CoughscopeError

FILE_NAME = "app.json"


@dataclass
class Settings:
    data: str | None = None  # None: never chosen (the app starts on demo)
    models: list[str] | None = None
    seeds: int | None = None
    epochs: int | None = None
    preset: str | None = None
    device: str | None = None
    # the Models screen's options: "preset" (the preset's choice), "on" or "off"
    refit: str | None = None
    augment: str | None = None
    pad: str | None = None  # "preset", "repeat" or "zero"
    feature_set: str | None = None
    test_group: str | None = None  # "" : none held out (the usual test part)
    balance_by: str | None = None  # "" : no rebalancing
    theme: str | None = None
    problems: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> str:
        values = {k: v for k, v in asdict(self).items() if k != "problems" and v is not None}
        return json.dumps(values, indent=1, allow_nan=False)


def settings_path() -> Path:
    return paths.config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings; defaults (with a note in ``problems``) when the file is bad."""
    path = path or settings_path()
    try:
        raw = loads_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        return Settings(problems=[f"{path}: cannot be read ({exc}); using defaults"])
    if not isinstance(raw, dict):
        return Settings(problems=[f"{path}: not a JSON object; using defaults"])
    settings = Settings()
    types: dict[str, Any] = {"data": str, "preset": str, "device": str, "theme": str,
                             "seeds": int, "epochs": int, "refit": str, "augment": str,
                             "pad": str, "feature_set": str, "test_group": str,
                             "balance_by": str}
    for f in fields(Settings):
        value = raw.get(f.name)
        if f.name == "problems" or value is None:
            continue
        if f.name == "models":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                settings.models = value
            else:
                settings.problems.append(f"{path}: 'models' is not a list of names; ignored")
        elif isinstance(value, types[f.name]) and not isinstance(value, bool):
            setattr(settings, f.name, value)
        else:
            settings.problems.append(f"{path}: {f.name!r} = {value!r} has the wrong type; ignored")
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> str | None:
    """Write the settings; returns an error sentence instead of raising (the app goes on)."""
    path = path or settings_path()
    try:
        paths.atomic_write_text(path, settings.to_json() + "\n")  # never through a link
    except OSError as exc:
        return f"cannot save settings to {path}: {exc}"
    except CoughscopeError as exc:  # a link planted where the file goes
        return f"cannot save settings: {exc.message}"
    return None
