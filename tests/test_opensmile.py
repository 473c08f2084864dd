"""The openSMILE feature sets (egemaps, compare): columns, values, the cache, the columns the
paper's networks take, non-finite rows, and the error when the package is missing.

Real parts: real openSMILE on synthetic coughs written to disk (the preprocessing path) and on
real covid19-cough clips when ../shared/data is present; the missing package is simulated in a
fresh interpreter where ``import opensmile`` fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import audio
from engine.clips import Clip, ClipSet
from engine.config import PreprocessConfig
from engine.features import (PAPER_FEATURES, compute_batch, feature_names, model_columns)
from engine.preprocess import preprocess

from conftest import write_cough

N_EXTRA = {"egemaps": 88, "compare": 6373}
MEMBER = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def opensmile():
    return pytest.importorskip("opensmile", reason="the optional opensmile package is not "
                               "installed (pip install 'coughscope[opensmile]')")


def _direct(samples: np.ndarray, sr: int, feature_set: str) -> np.ndarray:
    """openSMILE called directly, as its documentation shows."""
    import opensmile

    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, MEMBER[feature_set]),
                            feature_level=opensmile.FeatureLevel.Functionals)
    return smile.process_signal(samples, sr).to_numpy()[0]


def _clipset(paths: list[Path], root: Path) -> ClipSet:
    clips = [Clip(p, "positive" if i % 2 else "negative", f"p{i}", {}) for i, p in
             enumerate(paths)]
    return ClipSet("folders", root, "test clips", clips)


@pytest.fixture(scope="module")
def coughs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("coughs")
    return [write_cough(d / "a.wav", seed=1), write_cough(d / "b.wav", seed=2, seconds=0.6),
            write_cough(d / "c.wav", sr=16000, seed=3)]


@pytest.mark.parametrize("feature_set", ["egemaps", "compare"])
def test_the_26_then_opensmiles_functionals_of_the_trimmed_clip(opensmile, coughs, tmp_path,
                                                                feature_set):
    cfg = PreprocessConfig(feature_set=feature_set)
    names = feature_names(cfg)
    assert len(names) == 26 + N_EXTRA[feature_set] and len(set(names)) == len(names)
    assert names[:26] == PAPER_FEATURES
    assert names[26:] == list(opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, MEMBER[feature_set]),
        feature_level=opensmile.FeatureLevel.Functionals).feature_names)

    ds = preprocess(_clipset(coughs, tmp_path), cfg, cache_dir=tmp_path / "cache", workers=1)
    assert ds.features.shape == (3, 26 + N_EXTRA[feature_set])
    assert ds.feature_names == names and np.isfinite(ds.features).all()
    paper = preprocess(_clipset(coughs, tmp_path), PreprocessConfig(),
                       cache_dir=tmp_path / "cache", workers=1)
    np.testing.assert_array_equal(ds.features[:, :26], paper.features)  # the same 26
    for row, path in enumerate(coughs):
        clean = audio.load_clip(path, cfg)  # trimmed, at 22,050 Hz, never padded
        expected = _direct(clean.samples, cfg.sample_rate, feature_set).astype(np.float32)
        np.testing.assert_allclose(ds.features[row, 26:], expected, rtol=1e-6, atol=1e-6)
    # the log-mel is the same as every other set's
    np.testing.assert_array_equal(ds.logmel, paper.logmel)


def test_real_clips_give_finite_distinct_rows(opensmile, shared_data):
    files = sorted((shared_data / "covid19-cough" / "audio").glob("*.mp3"))[:4]
    cfg = PreprocessConfig(feature_set="egemaps")
    clips = [audio.load_clip(p, cfg) for p in files]
    width = max(len(c.samples) for c in clips)
    waves = np.zeros((len(clips), width), np.float32)
    for i, c in enumerate(clips):
        waves[i, : len(c.samples)] = c.samples
    feats, _ = compute_batch(waves, np.array([len(c.samples) for c in clips]), cfg)
    assert feats.shape == (4, 114) and np.isfinite(feats).all()
    # batching (zero padding after a shorter clip) does not leak into openSMILE's values
    for i, c in enumerate(clips):
        np.testing.assert_allclose(feats[i, 26:], _direct(c.samples, cfg.sample_rate, "egemaps"),
                                   rtol=1e-5, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in feats[:, 26:]}) == 4


def test_second_preprocess_does_no_audio_work(opensmile, coughs, tmp_path, monkeypatch):
    cfg = PreprocessConfig(feature_set="egemaps")
    first = preprocess(_clipset(coughs, tmp_path), cfg, cache_dir=tmp_path / "cache", workers=1)

    def refuse(*args, **kwargs):
        raise AssertionError("audio work: the cache should have answered")

    from engine import features, smile

    monkeypatch.setattr(audio, "decode", refuse)
    monkeypatch.setattr(smile, "functionals", refuse)
    monkeypatch.setattr(features, "compute_batch", refuse)
    again = preprocess(_clipset(coughs, tmp_path), cfg, cache_dir=tmp_path / "cache", workers=1)
    np.testing.assert_array_equal(again.features, first.features)
    assert again.feature_names == first.feature_names
    # another feature set is another cache entry: it misses (and here, refuses to compute)
    with pytest.raises(AssertionError, match="audio work|decoded|cache should"):
        preprocess(_clipset(coughs, tmp_path), PreprocessConfig(feature_set="compare"),
                   cache_dir=tmp_path / "cache", workers=1)


@pytest.mark.parametrize("feature_set", ["egemaps", "compare"])
def test_paper_networks_take_the_26_and_baselines_every_column(opensmile, feature_set):
    cfg = PreprocessConfig(feature_set=feature_set)
    X = np.arange(2 * (26 + N_EXTRA[feature_set]), dtype=np.float32).reshape(2, -1)
    from engine.models import MODELS

    for name in ("ann", "cne", "tabnet"):
        assert X[:, model_columns(cfg, baseline=MODELS[name].baseline)].shape == (2, 26)
    for name in ("logreg", "logreg_cv", "svm", "gbm"):
        cols = X[:, model_columns(cfg, baseline=MODELS[name].baseline)]
        assert cols.shape == X.shape


def test_a_clip_too_short_for_opensmile_is_excluded_with_the_reason(opensmile, tmp_path):
    """openSMILE gives NaN for every functional of a clip shorter than its windows: the clip
    is excluded (stage audio) with a reason, never passed on with NaN or a made-up value."""
    short = write_cough(tmp_path / "short.wav", seconds=0.05, seed=7)
    good = write_cough(tmp_path / "good.wav", seed=8)
    cfg = PreprocessConfig(feature_set="egemaps", min_duration=0.01)
    ds = preprocess(_clipset([short, good], tmp_path), cfg, cache_dir=tmp_path / "cache",
                    workers=1)
    assert [c.path for c in ds.clips] == [good] and np.isfinite(ds.features).all()
    (excluded,) = [e for e in ds.excluded if e.stage == "audio"]
    assert excluded.path == str(short)
    assert "88 of openSMILE's egemaps functionals are not finite" in excluded.reason
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in excluded.reason


MISSING = """
import sys
sys.modules["opensmile"] = None  # `import opensmile` raises ImportError, as when not installed
from engine.config import PreprocessConfig
from engine.errors import ConfigError
from engine.features import feature_names
PreprocessConfig(feature_set="compare")  # a config may name it (e.g. an old run's)
feature_names(PreprocessConfig(feature_set="paper"))  # other sets are unaffected
try:
    feature_names(PreprocessConfig(feature_set="compare"))
except ConfigError as exc:
    print(exc.describe())
else:
    print("no error")
"""


def test_missing_opensmile_is_a_config_error_that_says_how_to_install_it():
    out = subprocess.run([sys.executable, "-c", MISSING], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "feature set 'compare' needs the openSMILE package" in out
    assert "pip install 'coughscope[opensmile]'" in out and "./dev setup" in out
