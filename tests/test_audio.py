"""Decoding and cleaning (engine.audio): formats, quality checks, resampling, trimming."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import audio
from engine.audio import ClipRejected, FfmpegMissing, clean, decode, load_clip
from engine.config import PreprocessConfig
from engine.errors import DataError

from conftest import cough_signal, write_cough

CFG = PreprocessConfig()


def test_decode_wav_native_rate_and_channels(tiny_wavs):
    data, sr = decode(tiny_wavs["stereo48k"])
    assert sr == 48000 and data.dtype == np.float32 and data.shape[1] == 2
    assert data.shape[0] == int(0.3 * 48000) + int(0.4 * 48000) + int(0.3 * 48000)


def test_zero_byte_file_is_rejected_with_reason(tiny_wavs):
    with pytest.raises(ClipRejected) as err:
        decode(tiny_wavs["empty"])
    assert err.value.reason == "empty file (0 bytes)"
    assert str(tiny_wavs["empty"]) in str(err.value)


def test_text_file_named_wav_is_unreadable(tiny_wavs):
    with pytest.raises(ClipRejected) as err:
        decode(tiny_wavs["text"])
    assert err.value.reason.startswith("unreadable: not an audio file (soundfile: ")


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(ClipRejected, match="file not found"):
        decode(tmp_path / "nope.wav")


def test_all_zero_and_quiet_are_silent(tiny_wavs):
    with pytest.raises(ClipRejected) as err:
        load_clip(tiny_wavs["zeros"])
    assert err.value.reason == "silent (all zeros)"
    quiet = cough_signal(level=10 ** (-70 / 20))
    with pytest.raises(ClipRejected) as err:
        clean(quiet, 22050, CFG)
    assert err.value.reason == "silent (peak below -60 dBFS)"


def test_empty_array_is_rejected():
    with pytest.raises(ClipRejected) as err:
        clean(np.zeros((0, 2), np.float32), 16000, CFG)
    assert err.value.reason == "empty (no samples)"


def test_clipped_recording_is_rejected_with_percentage(tiny_wavs):
    data, sr = decode(tiny_wavs["clipped"])
    expected = 100 * np.mean(np.abs(data) >= audio.FULL_SCALE)
    assert expected > 1.0
    with pytest.raises(ClipRejected) as err:
        load_clip(tiny_wavs["clipped"])
    assert err.value.reason == f"clipped ({expected:.1f}% of samples at full scale)"
    # a looser threshold lets it through
    assert load_clip(tiny_wavs["clipped"], PreprocessConfig(clip_fraction=0.5)).trimmed_duration > 0


def test_stereo_48k_is_mixed_resampled_and_trimmed(tmp_path):
    sr = 48000
    t = np.arange(int(0.5 * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    y = np.concatenate([np.zeros(sr // 2), tone, np.zeros(sr // 2)])
    stereo = np.stack([y, 0.5 * y], axis=1)  # mono = mean = 0.75 * y
    path = tmp_path / "tone.wav"
    sf.write(str(path), stereo, sr, subtype="FLOAT")
    clip = load_clip(path, CFG)
    assert (clip.sample_rate, clip.orig_sample_rate, clip.channels) == (22050, 48000, 2)
    assert clip.raw_duration == pytest.approx(1.5)
    assert clip.trimmed_duration == pytest.approx(0.5, abs=0.002)
    spectrum = np.abs(np.fft.rfft(clip.samples))
    peak_hz = np.argmax(spectrum) * 22050 / len(clip.samples)
    assert peak_hz == pytest.approx(1000, abs=5)
    assert np.abs(clip.samples).max() == pytest.approx(0.375, abs=0.01)
    assert clip.info() == {"sample_rate": 48000, "channels": 2, "duration": 1.5,
                           "trimmed_duration": round(clip.trimmed_duration, 4)}


def _two_bursts(gap: float, sr: int = 22050) -> np.ndarray:
    a = cough_signal(sr, 0.3, seed=1, lead=0.5, tail=0.0)
    b = cough_signal(sr, 0.3, seed=2, lead=gap, tail=0.5)
    return np.concatenate([a, b])


def test_long_internal_gap_is_removed_short_one_kept():
    long_gap = clean(_two_bursts(1.0), 22050, CFG)
    short_gap = clean(_two_bursts(0.1), 22050, CFG)
    assert long_gap.gaps_removed == 1 and short_gap.gaps_removed == 0
    # each 0.3 s burst decays by < 40 dB, so it is kept whole; the 1 s gap is cut out
    assert long_gap.trimmed_duration == pytest.approx(0.6, abs=0.01)
    assert short_gap.trimmed_duration == pytest.approx(0.7, abs=0.01)
    assert long_gap.raw_duration == pytest.approx(0.5 + 0.3 + 1.0 + 0.3 + 0.5, abs=1e-3)


def test_too_short_after_trimming():
    blip = cough_signal(22050, 0.05, lead=0.5, tail=0.5)
    with pytest.raises(ClipRejected) as err:
        clean(blip, 22050, CFG)
    assert err.value.reason.startswith("too short after trimming (0.0")
    assert err.value.reason.endswith(" s < 0.2 s)")


def test_fixed_length_pads_at_end_and_crops_from_start():
    clip = clean(cough_signal(seconds=0.4), 22050, CFG)
    n = len(clip.samples)
    padded = clip.fixed(n + 100)
    assert np.array_equal(padded[:n], clip.samples) and not padded[n:].any()
    assert np.array_equal(clip.fixed(50), clip.samples[:50])


def _ffmpeg_encode(src: Path, dst: Path, *codec: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(dst)],
                   check=True)
    return dst


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("ext,codec,rate", [("webm", ("-c:a", "libopus"), 48000),
                                            ("m4a", ("-c:a", "aac"), 44100)])
def test_webm_and_m4a_decode_through_ffmpeg(tmp_path, ext, codec, rate):
    src = write_cough(tmp_path / "src.wav", sr=rate, seed=7, seconds=0.6)
    dst = _ffmpeg_encode(src, tmp_path / f"cough.{ext}", *codec)
    data, sr = decode(dst)
    assert sr == rate and data.shape[1] == 1
    original, _ = sf.read(str(src), dtype="float32")
    assert len(data) == pytest.approx(len(original), abs=0.06 * rate)  # codec priming/padding
    clip = load_clip(dst)
    reference = load_clip(src)
    assert clip.trimmed_duration == pytest.approx(reference.trimmed_duration, abs=0.05)


def test_no_ffmpeg_gives_install_hint(tmp_path, monkeypatch):
    path = tmp_path / "cough.webm"
    path.write_bytes(b"\x1aE\xdf\xa3 not really webm")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FfmpegMissing) as err:
        decode(path)
    assert isinstance(err.value, DataError)
    assert str(path) in err.value.message and "ffmpeg" in err.value.message
    assert "apt-get install ffmpeg" in err.value.hint and "brew install ffmpeg" in err.value.hint


def test_coswara_sample_empty_and_zero_wavs_are_rejected(shared_data):
    files = sorted((shared_data / "coswara-sample" / "Extracted_data" / "20200413").glob(
        "*/cough-heavy.wav"))
    assert len(files) == 76
    reasons: dict[str, int] = {}
    rates = set()
    for path in files:
        try:
            clip = load_clip(path)
            rates.add(clip.orig_sample_rate)
            assert clip.sample_rate == 22050 and clip.trimmed_duration >= 0.2
        except ClipRejected as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
    empty_or_zero = reasons.get("empty (no samples)", 0) + reasons.get("silent (all zeros)", 0)
    assert empty_or_zero == 8
    assert reasons.get("empty (no samples)") == 2  # 44-byte files: a wav header, no frames
    assert rates <= {48000, 44100, 16000} and 48000 in rates
