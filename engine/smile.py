"""openSMILE functionals: the optional ``egemaps`` and ``compare`` feature sets.

The ``opensmile`` package (audEERING; ``pip install 'coughscope[opensmile]'``, which ``./dev
setup`` does) ships its own binary and configs and works offline. Two of its sets, each one
row of *functionals* per clip:

* ``egemaps`` -- eGeMAPSv02, the extended Geneva Minimalistic Acoustic Parameter Set: 88
  features (pitch, jitter, shimmer, loudness, formants, spectral slopes, MFCC 1-4, ...).
* ``compare`` -- ComParE_2016, the Computational Paralinguistics Challenge set: 6,373
  features (the ComParE 2021 COVID-19 cough and COVID-19 Sounds baselines' input).

:mod:`engine.features` computes them on each clip's cleaned waveform (trimmed, resampled to
the config's sample rate, never padded) and puts them after the paper's 26; the column names
are openSMILE's own feature names, which no other column of coughscope uses.

openSMILE is imported only here, inside functions: ``import engine`` and the app's first
frame never load it. Choosing one of these sets without the package installed raises
:class:`~engine.errors.ConfigError` naming the set and the command that installs it.

Non-finite values: on a clip too short for its analysis windows (below ~0.1 s, which the
default ``min_duration`` of 0.2 s already excludes) openSMILE returns NaN for every feature.
Such a clip is *excluded with a reason* (:func:`engine.features.nonfinite_reason`), never
imputed: a made-up value would look like a measurement to the model.

Licence: the ``opensmile`` package's licence text (its ``License`` metadata and ``LICENSE``
file; its trove classifier says MIT, the text does not) is the "audEERING Research License
Agreement": free for non-commercial use (teaching, academic research, personal
experimentation) and for commercial *research* that is not product development; any use in
a product, including of features extracted with it, needs a commercial licence from
audEERING. coughscope's MIT licence does not cover it (README, "The features").
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import ConfigError

# coughscope's name -> (openSMILE's FeatureSet member, number of functionals)
SETS: dict[str, tuple[str, int]] = {
    "egemaps": ("eGeMAPSv02", 88),
    "compare": ("ComParE_2016", 6373),
}
INSTALL_HINT = ("install it with: pip install 'coughscope[opensmile]' (./dev setup does), "
                "or pick another feature set (paper, extended, mel_stats)")


def is_smile_set(feature_set: str) -> bool:
    """Whether ``feature_set`` is computed by openSMILE."""
    return feature_set in SETS


def _opensmile(feature_set: str) -> Any:
    """The ``opensmile`` module (~0.4 s to import), or a ConfigError that says how to get it."""
    try:
        import opensmile  # ~0.4 s
    except ImportError:
        raise ConfigError(
            f"feature set {feature_set!r} needs the openSMILE package (opensmile), "
            "which is not installed", INSTALL_HINT) from None
    return opensmile


@lru_cache(maxsize=4)
def _extractor(feature_set: str) -> Any:
    """One ``opensmile.Smile`` per set and process (its configuration is parsed once)."""
    opensmile = _opensmile(feature_set)
    member, _ = SETS[feature_set]
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, member),
                           feature_level=opensmile.FeatureLevel.Functionals)


def check_available(feature_set: str) -> None:
    """Raise ConfigError when ``feature_set`` needs openSMILE and it is not installed."""
    if is_smile_set(feature_set):
        _extractor(feature_set)


def names(feature_set: str) -> list[str]:
    """openSMILE's feature names for the set, in its column order."""
    names_ = list(_extractor(feature_set).feature_names)
    expected = SETS[feature_set][1]
    if len(names_) != expected:  # another openSMILE version changed the set
        raise ConfigError(
            f"openSMILE's {SETS[feature_set][0]} has {len(names_)} features here, not the "
            f"{expected} coughscope expects", "install opensmile>=2.5 (pip install "
            "'coughscope[opensmile]')")
    return names_


def functionals(samples: np.ndarray, sample_rate: int, feature_set: str) -> np.ndarray:
    """The set's functionals of one clip, float32 ``(n,)``; NaN where openSMILE has none
    (a clip shorter than its windows): the caller excludes such a clip."""
    smile = _extractor(feature_set)
    y = np.ascontiguousarray(samples, dtype=np.float32)
    with warnings.catch_warnings():
        # "Segment too short, filling with NaN": handled by the caller, with a reason
        warnings.simplefilter("ignore", UserWarning)
        row = smile.process_signal(y, sample_rate).to_numpy(dtype=np.float64)[0]
    with np.errstate(over="ignore"):
        return row.astype(np.float32)  # a value beyond float32 becomes inf: excluded too
