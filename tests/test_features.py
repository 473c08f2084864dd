"""The fast path (one shared STFT, batched) equals the paper's librosa recipe on real clips.

Tolerances, relative to the recipe's value (measured maxima on covid19-cough in brackets; the
differences are float32 rounding between torch's and numpy's FFT and summation order):

* chroma_stft 1e-5 [1.5e-7] -- the tuning is estimated per clip exactly as librosa does;
  with tuning=0 the difference would be up to ~2.4%, which this test would catch;
* rms 1e-5 [2e-7] -- from the waveform frames, as librosa.feature.rms(y=...);
* zero_crossing_rate 1e-6 [5e-8] -- integer counts;
* spectral_centroid 1e-5 [1.4e-6], spectral_bandwidth 1e-4 [1.2e-5];
* spectral_rolloff 1e-3 [3.5e-5] -- a frame's roll-off may land one FFT bin (10.8 Hz) away;
* mfcc1..20: |fast - recipe| <= 1e-4 * max(|recipe|, 10) [4e-5 relative] -- MFCC means
  near zero make a purely relative bound meaningless.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import load_clip
from engine.config import PreprocessConfig
from engine.features import (EXTENDED_FEATURES, PAPER_FEATURES, compute_batch, compute_clip,
                             feature_names, paper_features_reference)

CFG = PreprocessConfig()
REL_TOL = {"chroma_stft": 1e-5, "rms": 1e-5, "zero_crossing_rate": 1e-6,
           "spectral_centroid": 1e-5, "spectral_bandwidth": 1e-4, "spectral_rolloff": 1e-3}


@pytest.fixture(scope="module")
def real_clips(shared_data):
    files = sorted((shared_data / "covid19-cough" / "audio").glob("*.mp3"))[:6]
    clips = [load_clip(path, CFG) for path in files]
    assert {c.orig_sample_rate for c in clips} == {8000, 48000}  # phone and Telegram
    assert max(len(c.samples) for c in clips) > CFG.n_samples  # one longer than 3 s
    return clips


def _batch(clips, cfg=CFG):
    width = max(len(c.samples) for c in clips)
    waves = np.zeros((len(clips), width), np.float32)
    for i, c in enumerate(clips):
        waves[i, : len(c.samples)] = c.samples
    return compute_batch(waves, np.array([len(c.samples) for c in clips]), cfg)


def test_names_and_order():
    assert len(PAPER_FEATURES) == 26
    assert PAPER_FEATURES[:6] == ["chroma_stft", "rms", "spectral_centroid",
                                  "spectral_bandwidth", "spectral_rolloff", "zero_crossing_rate"]
    assert PAPER_FEATURES[6:] == [f"mfcc{i}" for i in range(1, 21)]
    assert feature_names(CFG) == PAPER_FEATURES
    extended = feature_names(PreprocessConfig(feature_set="extended"))
    assert extended == EXTENDED_FEATURES and len(extended) == 92 and extended[:26] == PAPER_FEATURES


def test_fast_path_equals_paper_recipe_on_real_clips(real_clips):
    feats, _ = _batch(real_clips)
    assert feats.shape == (len(real_clips), 26) and feats.dtype == np.float32
    for row, clip in enumerate(real_clips):
        ref = paper_features_reference(clip.samples, CFG.sample_rate)
        for j, name in enumerate(PAPER_FEATURES):
            if name.startswith("mfcc"):
                bound = 1e-4 * max(abs(ref[j]), 10.0)
            else:
                bound = REL_TOL[name] * abs(ref[j])
            assert abs(feats[row, j] - ref[j]) <= bound, (name, row, feats[row, j], ref[j])


def test_tuning_estimation_matters_for_chroma(real_clips):
    """Chroma with librosa's tuning=0 differs by more than our tolerance on some clip, so the
    equality above really checks the per-clip tuning estimate."""
    import librosa

    feats, _ = _batch(real_clips)
    flat = [float(np.mean(librosa.feature.chroma_stft(y=c.samples, sr=22050, tuning=0.0)))
            for c in real_clips]
    rel = np.abs(feats[:, 0] - flat) / np.abs(flat)
    assert rel.max() > 10 * REL_TOL["chroma_stft"]


def test_batching_does_not_change_values(real_clips):
    together, mel_together = _batch(real_clips)
    for row, clip in enumerate(real_clips[:4]):
        alone, mel_alone = compute_clip(clip.samples, CFG)
        np.testing.assert_allclose(alone, together[row], rtol=2e-5, atol=1e-4)
        np.testing.assert_array_equal(mel_alone, mel_together[row])


def test_logmel_matches_librosa_on_the_fixed_length_clip(real_clips):
    import librosa

    _, logmel = _batch(real_clips)
    assert logmel.shape == (len(real_clips), 128, CFG.n_frames) and logmel.dtype == np.float16
    for row, clip in enumerate(real_clips):
        fixed = clip.fixed(CFG.n_samples)  # padded, or cropped from the start
        mel = librosa.feature.melspectrogram(y=fixed, sr=CFG.sample_rate)
        ref = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        got = logmel[row].astype(np.float32)
        assert got.max() == 0.0 and got.min() >= -80.0
        np.testing.assert_allclose(got, ref, atol=0.07)  # float16 step at 64..80 is 0.0625


def test_short_clip_logmel_tail_is_silence(real_clips):
    short = min(real_clips, key=lambda c: len(c.samples))
    _, logmel = compute_clip(short.samples, CFG)
    frames_with_audio = (len(short.samples) + CFG.n_fft // 2) // CFG.hop_length + 1
    assert frames_with_audio < CFG.n_frames
    tail = logmel[:, frames_with_audio:].astype(np.float32)
    assert np.all(tail == tail[0, 0]) and tail[0, 0] <= -20.0


def test_extended_set_means_stds_and_deltas(real_clips):
    import librosa

    cfg = PreprocessConfig(feature_set="extended")
    feats, _ = _batch(real_clips[:3], cfg)
    paper, _ = _batch(real_clips[:3])
    assert feats.shape == (3, 92)
    np.testing.assert_allclose(feats[:, :26], paper, rtol=1e-6)
    names = EXTENDED_FEATURES
    for row, clip in enumerate(real_clips[:3]):
        y = clip.samples
        rms_std = np.std(librosa.feature.rms(y=y))
        assert feats[row, names.index("rms_std")] == pytest.approx(rms_std, rel=1e-4)
        mfcc = librosa.feature.mfcc(y=y, sr=22050)
        assert feats[row, names.index("mfcc3_std")] == pytest.approx(np.std(mfcc[2]), rel=1e-3)
        delta = librosa.feature.delta(mfcc)
        assert feats[row, names.index("mfcc2_delta_std")] == pytest.approx(
            np.std(delta[1]), rel=1e-3, abs=1e-3)
        assert feats[row, names.index("mfcc1_delta")] == pytest.approx(
            np.mean(delta[0]), abs=1e-3 * max(1.0, abs(np.mean(delta[0]))))


@pytest.mark.parametrize("sr", [8000, 44100])
def test_other_sample_rates_match_the_recipe(sr):
    from conftest import cough_signal

    cfg = PreprocessConfig(sample_rate=sr)
    y = cough_signal(sr, 0.5, seed=3)
    feats, logmel = compute_clip(y, cfg)
    ref = paper_features_reference(y, sr)
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-3)
    assert logmel.shape == (128, cfg.n_frames)


def test_empty_batch():
    f0, m0 = compute_batch(np.zeros((0, 10), np.float32), np.zeros(0, int), CFG)
    assert f0.shape == (0, 26) and m0.shape == (0, 128, CFG.n_frames)


@pytest.mark.parametrize("n_mels", [128, 64])
def test_mel_stats_set_equals_librosa_band_statistics(real_clips, n_mels):
    """mel_stats: the 26 means, then each log-mel band's mean and std over the clip's frames,
    equal to librosa's melspectrogram -> power_to_db(ref=max, top_db=80) on the trimmed clip."""
    import librosa

    cfg = PreprocessConfig(feature_set="mel_stats", n_mels=n_mels)
    names = feature_names(cfg)
    assert len(names) == 26 + 2 * n_mels and names[:26] == PAPER_FEATURES
    assert names[26] == "mel1_mean" and names[-1] == f"mel{n_mels}_std"
    feats, logmel = _batch(real_clips[:3], cfg)
    paper, _ = _batch(real_clips[:3])
    assert feats.shape == (3, 26 + 2 * n_mels) and logmel.shape[1] == n_mels
    np.testing.assert_allclose(feats[:, :26], paper, rtol=1e-6)
    for row, clip in enumerate(real_clips[:3]):
        mel = librosa.feature.melspectrogram(y=clip.samples, sr=cfg.sample_rate, n_fft=cfg.n_fft,
                                             hop_length=cfg.hop_length, n_mels=n_mels)
        db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        np.testing.assert_allclose(feats[row, 26:26 + n_mels], db.mean(axis=1), atol=2e-3)
        np.testing.assert_allclose(feats[row, 26 + n_mels:], db.std(axis=1), atol=2e-3)
    # different clips, different band profiles: the statistics are not constant
    assert np.ptp(feats[:, 26:], axis=0).max() > 1.0


def test_unknown_feature_set_is_refused_naming_the_choices():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        PreprocessConfig(feature_set="bands")
    assert "mel_stats" in err.value.hint
