"""Recording a cough from this machine's microphone (sounddevice / PortAudio).

sounddevice is imported lazily: importing it raises ``OSError`` when the PortAudio library is
missing, and querying the default input raises ``PortAudioError`` ("Error querying device -1")
when there is no microphone -- the normal case on a GPU server reached over SSH. Both become
:class:`RecordingUnavailable` with a message that says why and how to fix it; loading a file
still works.

The recorder reads blocks from an input stream. Tests inject a fake stream through
``stream_factory`` (the sounddevice boundary); everything around it -- level metering, early
stop, the WAV written -- is the real code path.
"""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import UnavailableError

SSH_NOTE = ("Over SSH the microphone is the server's, not your computer's: record on your own "
            "machine, copy the file over, and classify it with `coughscope predict FILE`.")


class RecordingUnavailable(UnavailableError):
    """No way to record here; ``message`` says why, ``hint`` how to fix it."""


@dataclass(frozen=True)
class InputDevice:
    name: str
    samplerate: int
    channels: int


def _sounddevice() -> Any:
    try:
        import sounddevice  # noqa: PLC0415 - needs the PortAudio shared library
    except OSError as exc:
        raise RecordingUnavailable(
            f"recording is unavailable: the PortAudio library is not installed ({exc})",
            "install it (Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install "
            "portaudio), or classify a file instead: coughscope predict FILE",
        ) from None
    return sounddevice


def default_input_device() -> InputDevice:
    """The default microphone, or :class:`RecordingUnavailable` explaining its absence."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(kind="input")
    except Exception as exc:  # sd.PortAudioError: "Error querying device -1"
        over_ssh = bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))
        where = " (you are connected over SSH)" if over_ssh else ""
        raise RecordingUnavailable(
            f"recording is unavailable: no input device (microphone) was found{where} ({exc})",
            f"connect a microphone to this machine, or classify a file instead. {SSH_NOTE}",
        ) from None
    return InputDevice(name=str(info["name"]), samplerate=int(info["default_samplerate"]),
                       channels=max(1, min(int(info["max_input_channels"]), 2)))


def recording_status() -> tuple[bool, str]:
    """(available, a sentence for the UI) without raising."""
    try:
        dev = default_input_device()
    except RecordingUnavailable as exc:
        return False, exc.describe()
    return True, f"microphone: {dev.name} ({dev.samplerate} Hz). {SSH_NOTE}"


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of a block in dB relative to full scale (-120 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if block.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-6))


def record(
    seconds: float,
    out: Path,
    *,
    on_level: Callable[[float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    samplerate: int | None = None,
    stream_factory: Callable[..., Any] | None = None,
) -> Path:
    """Record up to ``seconds`` from the default microphone into the WAV file ``out``.

    ``on_level(level_dbfs, elapsed_seconds)`` is called for every block (a level meter);
    ``should_stop()`` returning True ends the recording early, keeping what was recorded.
    ``stream_factory(samplerate=, channels=, callback=, blocksize=)`` replaces
    ``sounddevice.InputStream`` (tests). Returns ``out``.
    """
    if seconds <= 0 or seconds > 600:
        raise UnavailableError(f"cannot record {seconds} s", "choose between 0.5 and 600 s")
    if stream_factory is None:
        sd = _sounddevice()
        dev = default_input_device()
        stream_factory = sd.InputStream
        rate, channels = samplerate or dev.samplerate, dev.channels
    else:
        rate, channels = samplerate or 48000, 1
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        blocks.put(np.array(indata, dtype=np.float32, copy=True))

    wanted = int(seconds * rate)
    got: list[np.ndarray] = []
    n = 0
    started = time.monotonic()
    with stream_factory(samplerate=rate, channels=channels, callback=callback,
                        blocksize=int(rate * 0.05), dtype="float32"):
        while n < wanted:
            if should_stop is not None and should_stop():
                break
            try:
                block = blocks.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() - started > seconds + 5:
                    raise UnavailableError("the microphone stopped delivering audio",
                                           "check the input device and try again") from None
                continue
            got.append(block)
            n += len(block)
            if on_level is not None:
                on_level(level_dbfs(block), n / rate)
    audio = np.concatenate(got)[:wanted] if got else np.zeros((0, channels), np.float32)
    return save_wav(out, audio, rate)


def save_wav(out: Path, audio: np.ndarray, rate: int) -> Path:
    """Write 16-bit PCM WAV atomically, never through a link (:mod:`engine.paths`)."""
    import io

    import soundfile as sf

    from .paths import atomic_write_bytes

    out = Path(out)
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, subtype="PCM_16", format="WAV")
    atomic_write_bytes(out, buffer.getvalue())  # root: its folder; the file is never a link
    return out
