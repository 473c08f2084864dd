"""Recording: the real no-device path of PortAudio, and the recorder against a fake stream.

This machine (like a GPU server over SSH) has PortAudio installed but no sound card, so the
"no microphone" path is exercised for real. The recording flow itself runs against a fake
input stream injected at the sounddevice boundary.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from engine.recording import (RecordingUnavailable, default_input_device, level_dbfs, record,
                              recording_status)


def _has_input_device() -> bool:
    try:
        default_input_device()
    except RecordingUnavailable:
        return False
    return True


@pytest.mark.skipif(_has_input_device(), reason="this machine has a microphone")
def test_no_input_device_is_explained():
    with pytest.raises(RecordingUnavailable) as err:
        default_input_device()
    text = err.value.describe()
    assert "no input device" in text and "coughscope predict" in text
    ok, sentence = recording_status()
    assert not ok and "microphone" in sentence


def test_missing_portaudio_is_explained(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(RecordingUnavailable) as err:
        default_input_device()
    assert "libportaudio2" in err.value.hint


class FakeStream:
    """Feeds a sine burst to the callback from a thread, like PortAudio does."""

    def __init__(self, samplerate, channels, callback, blocksize, dtype):
        self.rate, self.callback, self.blocksize = samplerate, callback, blocksize
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = 0
        while not self._stop.is_set():
            t = (np.arange(self.blocksize) + t0) / self.rate
            block = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
            self.callback(block, self.blocksize, None, None)
            t0 += self.blocksize
            self._stop.wait(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_record_writes_the_requested_length_and_meters(tmp_path):
    levels = []
    out = record(0.5, tmp_path / "c.wav", samplerate=16000, stream_factory=FakeStream,
                 on_level=lambda db, t: levels.append((db, t)))
    audio, rate = sf.read(out)
    assert rate == 16000 and len(audio) == 8000
    assert np.isclose(np.abs(audio).max(), 0.5, atol=0.01)
    assert levels and all(abs(db - level_dbfs(np.full(10, 0.5 / np.sqrt(2)))) < 0.5
                          for db, _ in levels)
    assert levels[-1][1] == pytest.approx(0.5, abs=0.06)


def test_record_stops_early_and_keeps_what_it_has(tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 4

    out = record(5.0, tmp_path / "early.wav", samplerate=16000, stream_factory=FakeStream,
                 should_stop=stop)
    audio, _ = sf.read(out)
    assert 0 < len(audio) < 16000 * 5
