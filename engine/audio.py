"""Decoding and cleaning one recording: file -> mono, resampled, trimmed samples.

* :func:`decode` reads a file at its native rate: soundfile (libsndfile) for wav, flac, ogg
  and mp3; the ``ffmpeg`` binary for webm, m4a, aac, opus and mp4.
* :func:`clean` turns decoded samples into a :class:`CleanAudio`: mono (mean of channels),
  quality checks, resampling to ``cfg.sample_rate`` (soxr, HQ -- what ``librosa.load`` uses),
  trimming of leading/trailing silence and removal of long internal silent gaps.
* :func:`load_clip` is both.
* :func:`probe` reads only a file's header (format, rate, channels, length) and refuses what
  cannot be a cough recording before anything reads the whole file: larger than
  :data:`MAX_FILE_BYTES`, a rate outside :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`,
  longer than :data:`MAX_SECONDS`. :func:`decode` checks the same limits from the header
  before it reads the samples, so a lying header cannot make it allocate terabytes.

A file that cannot be used raises :class:`ClipRejected` with a short human reason
(``"empty file (0 bytes)"``, ``"silent (all zeros)"``, ``"clipped (3.1% of samples at full
scale)"``, ``"too short after trimming (0.12 s < 0.2 s)"`` ...); the preprocessing stage turns
it into an :class:`~engine.clips.Exclusion`, so nothing is dropped silently.

Silence is decided on 25 ms frames (10 ms hop) of the resampled signal: a frame is silent when
its RMS is more than ``cfg.trim_top_db`` dB below the loudest frame's; each loud stretch is
then tightened to its first and last sample above that level. Leading and trailing silence is
cut; an internal silent gap longer than ``cfg.max_gap`` seconds is cut out entirely (shorter
gaps, the pauses inside a cough, are kept). Quality checks (empty, silent, clipped) look at
the decoded samples, before resampling.

The fixed-length version (:meth:`CleanAudio.fixed`) is the trimmed clip zero-padded at the end,
or cropped *from the start* when longer: after trimming a clip starts at its first cough, and
the start is what every clip has in common.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .clips import file_problem
from .config import PreprocessConfig
from .errors import DataError

SOUNDFILE_EXTS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"})
FFMPEG_EXTS = frozenset({".webm", ".m4a", ".aac", ".opus", ".mp4", ".weba", ".mkv", ".3gp"})
AUDIO_EXTS = SOUNDFILE_EXTS | FFMPEG_EXTS

FULL_SCALE = 0.999  # |sample| at or above this counts as "at full scale" (clipping check)
SILENT_PEAK_DBFS = -60.0  # a peak below this is a silent recording
MAX_SAMPLE = 1e6  # a float WAV beyond this is not scaled as audio (1 is full scale)
TRIM_FRAME_S = 0.025
TRIM_HOP_S = 0.010

# Limits on one recording (README, "Limits"): beyond them a file is excluded with the reason.
MAX_FILE_BYTES = 1 << 30  # 1 GiB: an hour of 48 kHz stereo 16-bit wav is 0.7 GB
MIN_SAMPLE_RATE = 4000  # Hz; below it no cough is left (phones record at 8000)
MAX_SAMPLE_RATE = 384_000  # Hz; the highest rate audio interfaces offer
MAX_SECONDS = 600.0  # 10 minutes; a cough recording is seconds long
MAX_CHANNELS = 64

# Incremented by every decode() in this process; lets tests prove a cached run decodes nothing.
DECODE_COUNT = 0


class ClipRejected(DataError):
    """This recording cannot be used; ``reason`` is a short human string saying why."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(
            f"{where}{reason}",
            "check the recording (play it); excluded clips are listed with their reasons",
        )
        self.reason = reason
        self.path = None if path is None else str(path)


class FfmpegMissing(DataError):
    """The file's format needs the ffmpeg program, and it is not installed here."""


@dataclass(frozen=True)
class Header:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int | None  # None when the container does not say (some streams)

    @property
    def seconds(self) -> float | None:
        return None if self.frames is None else self.frames / self.sample_rate


def check_size(path: Path) -> int:
    """The size of the regular file ``path``; :class:`ClipRejected` when it is not one, is
    empty, or is larger than :data:`MAX_FILE_BYTES` (only ``stat``: nothing is read)."""
    problem = file_problem(path)
    if problem is not None:
        raise ClipRejected(problem.reason, path)
    size = path.stat().st_size
    if size == 0:
        raise ClipRejected("empty file (0 bytes)", path)
    if size > MAX_FILE_BYTES:
        raise ClipRejected(
            f"file too large ({_bytes(size)}; the limit for one recording is "
            f"{_bytes(MAX_FILE_BYTES)})", path)
    return size


def _bytes(n: int) -> str:
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_plausible(sample_rate: int, channels: int, frames: int | None) -> None:
    """:class:`ClipRejected` for a rate, channel count or length no cough recording has."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ClipRejected(
            f"implausible sample rate {sample_rate} Hz (recordings must be "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ClipRejected(f"implausible channel count {channels} (1-{MAX_CHANNELS})")
    if frames is not None and frames / sample_rate > MAX_SECONDS:
        raise ClipRejected(
            f"too long ({frames / sample_rate:.0f} s; the limit for one recording is "
            f"{MAX_SECONDS:.0f} s)")


def probe(path: str | Path) -> Header:
    """Read ``path``'s header only and check it (:func:`check_size`, :func:`check_plausible`).

    Raises :class:`ClipRejected` (naming the file) for what cannot be used, and
    :class:`FfmpegMissing` when the format needs ffmpeg and it is not installed.
    """
    path = Path(path)
    check_size(path)
    try:
        header = _probe_ffmpeg(path) if path.suffix.lower() in FFMPEG_EXTS else _probe_sf(path)
        check_plausible(header.sample_rate, header.channels, header.frames)
    except ClipRejected as exc:
        raise ClipRejected(exc.reason, path) from None
    return header


def _probe_sf(path: Path) -> Header:
    import soundfile as sf  # ~15 ms

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise ClipRejected(_sf_reason(exc, path)) from None
    return Header(int(info.samplerate), int(info.channels), int(info.frames))


def _sf_reason(exc: Exception, path: Path) -> str:
    """libsndfile's complaint without the path (a cached reason must not name a file: the
    cache is keyed by content, and another file may share it) and without its misleading
    "does not exist" for a file that exists but is no audio it knows."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    detail = detail.replace(f"Error opening {str(path)!r}: ", "").replace(str(path), "<file>")
    problem = file_problem(path)
    if problem is not None:
        return problem.reason
    if "does not exist" in detail or "not a regular file" in detail:
        detail = "format not recognised"
    detail = detail[:1].lower() + detail[1:]
    return f"unreadable: not an audio file (soundfile: {detail.rstrip('.')})"


@dataclass
class CleanAudio:
    """A cleaned recording: ``samples`` is the trimmed mono clip at ``sample_rate``.

    ``orig_sample_rate``/``channels``/``raw_duration`` describe the file as decoded;
    ``trimmed_duration`` is ``len(samples) / sample_rate``; ``gaps_removed`` counts the
    internal silent gaps cut out.
    """

    samples: np.ndarray  # float32 (n,)
    sample_rate: int
    orig_sample_rate: int
    channels: int
    raw_duration: float
    trimmed_duration: float
    gaps_removed: int = 0

    def fixed(self, n_samples: int) -> np.ndarray:
        """The clip zero-padded at the end, or cropped from the start, to ``n_samples``."""
        out = np.zeros(n_samples, dtype=np.float32)
        n = min(n_samples, len(self.samples))
        out[:n] = self.samples[:n]
        return out

    def info(self) -> dict[str, float | int]:
        """What the dataset keeps per clip (sample_rate is the file's original rate)."""
        return {
            "sample_rate": int(self.orig_sample_rate),
            "channels": int(self.channels),
            "duration": round(float(self.raw_duration), 4),
            "trimmed_duration": round(float(self.trimmed_duration), 4),
        }


# --------------------------------------------------------------------------- decoding


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` at its native rate: ``(samples float32 (n, channels), sample_rate)``.

    Raises :class:`ClipRejected` for a missing, empty or unreadable file, and
    :class:`FfmpegMissing` (a :class:`~engine.errors.DataError`) when the format needs
    ffmpeg and it is not installed.
    """
    global DECODE_COUNT
    DECODE_COUNT += 1
    path = Path(path)
    check_size(path)
    try:
        if path.suffix.lower() in FFMPEG_EXTS:
            return _decode_ffmpeg(path)
        return _decode_soundfile(path)
    except ClipRejected as exc:
        raise ClipRejected(exc.reason, path) from None
    except OSError as exc:  # e.g. permission denied between the checks and the read
        from .clips import os_problem

        raise ClipRejected(os_problem(exc).reason, path) from None


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf  # ~15 ms

    try:
        with sf.SoundFile(str(path)) as fh:
            # the header's claims are checked before the samples are allocated
            check_plausible(int(fh.samplerate), int(fh.channels), int(fh.frames))
            data = fh.read(dtype="float32", always_2d=True) if fh.seekable() \
                else _read_unseekable(fh)
            sr = int(fh.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise ClipRejected(_sf_reason(exc, path)) from None
    return np.ascontiguousarray(data), sr


def _read_unseekable(fh: Any) -> np.ndarray:
    """All samples of a file libsndfile reads but cannot seek in (GSM 6.10 WAV, some
    ADPCM): block by block, each block's total checked against the plausibility limits, so
    a lying header cannot make it read without end."""
    blocks, total = [], 0
    while True:
        block = fh.read(1 << 16, dtype="float32", always_2d=True)
        if not len(block):
            break
        total += len(block)
        check_plausible(int(fh.samplerate), int(fh.channels), total)
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, int(fh.channels)), np.float32)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _require_ffmpeg(path: Path) -> None:
    if not ffmpeg_available():
        raise FfmpegMissing(
            f"{path}: {path.suffix} files are decoded with ffmpeg, which is not installed",
            "install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install "
            "ffmpeg), or convert the file to wav/flac/mp3",
        )


def _ffmpeg_detail(stderr: str, path: Path, fallback: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else fallback).replace(str(path), "<file>")


def _probe_ffmpeg(path: Path) -> Header:
    _require_ffmpeg(path)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels:format=duration", "-of", "default=noprint_wrappers=1",
         str(path)],
        capture_output=True, text=True, check=False,
    )
    values = dict(line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line)
    rate, channels = values.get("sample_rate", ""), values.get("channels", "")
    if probe.returncode != 0 or not rate.isdigit() or not channels.isdigit():
        detail = _ffmpeg_detail(probe.stderr, path, "no audio stream")
        raise ClipRejected(f"unreadable: no audio stream (ffmpeg: {detail})")
    try:
        seconds = float(values.get("duration", ""))
    except ValueError:
        seconds = float("nan")
    frames = int(seconds * int(rate)) if seconds == seconds and seconds >= 0 else None
    return Header(int(rate), int(channels), frames)


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    header = _probe_ffmpeg(path)
    check_plausible(header.sample_rate, header.channels, header.frames)
    sr, channels = header.sample_rate, header.channels
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
         "-t", f"{MAX_SECONDS + 1:g}",  # a container that hides its length is cut here
         "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True, check=False,
    )
    if proc.returncode != 0:
        detail = _ffmpeg_detail(proc.stderr.decode(errors="replace"), path, "failed")
        raise ClipRejected(f"unreadable: ffmpeg could not decode it ({detail})")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    usable = len(data) - len(data) % channels
    check_plausible(sr, channels, usable // channels)
    return data[:usable].reshape(-1, channels).astype(np.float32), sr


# --------------------------------------------------------------------------- cleaning


def clean(samples: np.ndarray, sr: int, cfg: PreprocessConfig = PreprocessConfig()) -> CleanAudio:
    """Mono, quality checks, resample to ``cfg.sample_rate``, trim silence (module docstring).

    ``samples`` is ``(n,)`` or ``(n, channels)`` float. Raises :class:`ClipRejected`.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    n, channels = x.shape[0], x.shape[1]
    if n == 0:
        raise ClipRejected("empty (no samples)")
    check_plausible(int(sr), int(channels), int(n))
    if not np.isfinite(x).all():
        raise ClipRejected("unreadable: samples are not finite numbers (NaN/inf)")
    peak = float(np.abs(x).max())
    if peak > MAX_SAMPLE:  # float samples scaled far past full scale: features overflow
        raise ClipRejected(f"unreadable: samples reach {peak:.3g}, far outside the audio range "
                           f"(full scale is 1; at most {MAX_SAMPLE:g} is accepted)")
    mono = x[:, 0] if channels == 1 else x.mean(axis=1, dtype=np.float32)
    _check_silence(x)
    check_clipping(x, cfg)
    y = resample(mono, sr, cfg.sample_rate)
    trimmed, gaps = trim_silence(y, cfg)
    duration = len(trimmed) / cfg.sample_rate
    if duration < cfg.min_duration:
        raise ClipRejected(
            f"too short after trimming ({duration:.2f} s < {cfg.min_duration:g} s)"
        )
    return CleanAudio(
        samples=trimmed,
        sample_rate=cfg.sample_rate,
        orig_sample_rate=int(sr),
        channels=int(channels),
        raw_duration=n / sr,
        trimmed_duration=duration,
        gaps_removed=gaps,
    )


def _check_silence(x: np.ndarray) -> None:
    peak = float(np.abs(x).max())
    if peak == 0.0:
        raise ClipRejected("silent (all zeros)")
    if 20 * np.log10(peak) < SILENT_PEAK_DBFS:
        raise ClipRejected(f"silent (peak below {SILENT_PEAK_DBFS:g} dBFS)")


def check_clipping(x: np.ndarray, cfg: PreprocessConfig) -> None:
    """Raise :class:`ClipRejected` when more than ``cfg.clip_fraction`` of samples are at
    full scale (``|x| >= 0.999``)."""
    frac = float(np.count_nonzero(np.abs(x) >= FULL_SCALE)) / max(x.size, 1)
    if frac > cfg.clip_fraction:
        raise ClipRejected(f"clipped ({100 * frac:.1f}% of samples at full scale)")


def resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    """soxr HQ resampling (what ``librosa.load`` does by default); a no-op at equal rates."""
    if sr == target:
        return np.ascontiguousarray(y, dtype=np.float32)
    import soxr  # ~5 ms

    return soxr.resample(y, sr, target, quality="HQ").astype(np.float32, copy=False)


def trim_silence(y: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, int]:
    """Cut leading/trailing silence and internal silent gaps longer than ``cfg.max_gap``.

    Returns the trimmed samples and the number of internal gaps removed.
    """
    sr = cfg.sample_rate
    frame = max(1, int(round(TRIM_FRAME_S * sr)))
    hop = max(1, int(round(TRIM_HOP_S * sr)))
    loud, level = _loud_frames(y, frame, hop, cfg.trim_top_db)
    if not loud.any():
        return y[:0], 0
    segments = _runs(loud)  # [(first_frame, last_frame_exclusive)]
    max_gap = int(round(cfg.max_gap * sr))
    keep: list[list[int]] = []
    gaps = 0
    for first, last in segments:
        start, end = _tighten(y, first * hop, min(len(y), (last - 1) * hop + frame), level)
        if keep and start - keep[-1][1] <= max_gap:
            keep[-1][1] = end
        else:
            gaps += 1 if keep else 0
            keep.append([start, end])
    pieces = [y[s:e] for s, e in keep]
    out = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return np.ascontiguousarray(out, dtype=np.float32), gaps


def _loud_frames(y: np.ndarray, frame: int, hop: int, top_db: float
                 ) -> tuple[np.ndarray, float]:
    """Boolean per frame: RMS within ``top_db`` of the loudest frame's; and that threshold
    as an amplitude."""
    if len(y) < frame:
        y = np.pad(y, (0, frame - len(y)))
    n_frames = 1 + (len(y) - frame) // hop
    csum = np.concatenate(([0.0], np.cumsum(y.astype(np.float64) ** 2)))
    starts = np.arange(n_frames) * hop
    energy = (csum[starts + frame] - csum[starts]) / frame
    threshold = energy.max() * 10.0 ** (-top_db / 10.0)
    if threshold <= 0:
        return np.zeros(n_frames, dtype=bool), 0.0
    return energy > threshold, float(np.sqrt(threshold))


def _tighten(y: np.ndarray, start: int, end: int, level: float) -> tuple[int, int]:
    """Move a loud segment's edges in to the first/last sample above ``level``: frames
    straddle an onset, so frame edges alone would keep up to a frame of silence."""
    above = np.flatnonzero(np.abs(y[start:end]) > level)
    if len(above) == 0:
        return start, end
    return start + int(above[0]), start + int(above[-1]) + 1


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/end (exclusive) indices of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def load_clip(path: str | Path, cfg: PreprocessConfig = PreprocessConfig()) -> CleanAudio:
    """Decode and clean one file; a :class:`ClipRejected` from here names the file."""
    data, sr = decode(path)
    try:
        return clean(data, sr, cfg)
    except ClipRejected as exc:
        raise ClipRejected(exc.reason, path) from None
