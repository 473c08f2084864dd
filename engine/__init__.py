"""coughscope's engine: data sources, preprocessing, training, evaluation and inference.

``import engine`` is cheap: heavy libraries (torch, librosa, sklearn, pandas, ...) load only
inside the functions that need them. Public names are exported lazily (PEP 562), so
``from engine import load_source`` imports only the module that defines it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Clip": "engine.clips",
    "ClipSet": "engine.clips",
    "Exclusion": "engine.clips",
    "LABELS": "engine.clips",
    "CoughscopeError": "engine.errors",
    "DataError": "engine.errors",
    "ConfigError": "engine.errors",
    "ExitCode": "engine.errors",
    "PreprocessConfig": "engine.config",
    "ExperimentConfig": "engine.config",
    "TrainRecipe": "engine.config",
    "SplitConfig": "engine.config",
    "RunDir": "engine.runs",
    "list_runs": "engine.runs",
    "read_events": "engine.runs",
    "load_source": "engine.sources",
    "summarize": "engine.sources",
    "Dataset": "engine.preprocess",
    "make_split": "engine.splits",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
