"""The built-in synthetic demo set: cough-like sounds, NOT real coughs.

:func:`generate_demo` writes ``n`` WAV files, a ``manifest.csv`` (``path,label,group,source``
with ``source=synthetic``) and a ``README.txt`` saying what they are. Output is fully
determined by ``(n, seed, sr)``: the same bytes every time.

Each clip is 1-3 *bursts*; a burst is a sharp onset of band-filtered noise with an
exponential decay, sometimes followed by a short voiced (harmonic) tail; the clip gets
leading/trailing silence, background noise and a random gain. The classes differ in
distribution only, and the distributions overlap: positives tend to have more bursts, a
lower ("wetter") noise band, longer decays and more voiced tails. Every synthetic
participant contributes two clips sharing their traits, so group-disjoint splits matter.

:func:`load_demo` generates a set once under ``<data dir>/demo/v1-n<N>-seed<S>`` (into a
temporary folder, then renamed) and reuses it afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from ..clips import ClipSet

DEFAULT_N = 120
VERSION = "v1"
POSITIVE_FRACTION = 0.4
CLIPS_PER_GROUP = 2

# per-class trait distributions: (negative, positive)
BURST_COUNT_P = ((0.45, 0.40, 0.15), (0.25, 0.40, 0.35))
BAND_CENTRE_HZ = (1800.0, 1050.0)  # median centre of the noise band (lognormal, sd 0.3)
DECAY_S = (0.055, 0.090)  # median decay constant (lognormal, sd 0.3)
VOICED_P = (0.25, 0.60)


def generate_demo(dest: Path, n: int = DEFAULT_N, seed: int = 0, sr: int = 22050) -> Path:
    """Write the synthetic set into ``dest`` (created); returns ``dest``."""
    import numpy as np  # ~100 ms

    from ..paths import atomic_write_text, ensure_dir

    dest = Path(dest)
    ensure_dir(dest, dest / "audio")  # every write stays in dest, never through a link
    rng = np.random.default_rng(seed)
    n_groups = -(-n // CLIPS_PER_GROUP)
    n_pos = round(n_groups * POSITIVE_FRACTION)
    group_y = rng.permutation([1] * n_pos + [0] * (n_groups - n_pos))
    rows = ["path,label,group,source"]
    for i in range(n):
        g = i // CLIPS_PER_GROUP
        y = int(group_y[g])
        traits = _traits(np.random.default_rng([seed, g]), y)
        audio = _clip(np.random.default_rng([seed, g, i]), traits, sr)
        rel = f"audio/p{g + 1:04d}-{i % CLIPS_PER_GROUP + 1}.wav"
        _write_wav(dest, dest / rel, audio, sr)
        rows.append(f"{rel},{'positive' if y else 'negative'},p{g + 1:04d},synthetic")
    atomic_write_text(dest / "manifest.csv", "\n".join(rows) + "\n", root=dest)
    atomic_write_text(dest / "README.txt", _readme(n, seed, sr, n_pos, n_groups), root=dest)
    return dest


def load_demo(n: int = DEFAULT_N, *, seed: int = 0, base_dir: Path | None = None) -> ClipSet:
    """The demo set of ``n`` clips for ``seed``, generated on first use."""
    from ..paths import data_dir
    from .manifest import load_manifest

    base = Path(base_dir) if base_dir is not None else data_dir() / "demo"
    folder = base / f"{VERSION}-n{n}-seed{seed}"
    notes = []
    if not (folder / "manifest.csv").is_file():
        try:
            _generate_atomically(folder, n, seed)
        except OSError as exc:  # a read-only or full data dir: the demo goes to a temp folder
            import tempfile

            fallback = Path(tempfile.gettempdir()) / f"coughscope-demo-{os.getuid()}" / folder.name
            if not (fallback / "manifest.csv").is_file():
                _generate_atomically(fallback, n, seed)
            notes.append(f"the data directory {base} cannot be written "
                         f"({exc.strerror or exc}); the demo set was generated in {fallback}")
            folder = fallback
    clipset = load_manifest(folder / "manifest.csv", kind="demo")
    labels = clipset.label_counts()
    return dataclasses.replace(
        clipset,
        synthetic=True,
        notes=[*clipset.notes, *notes],
        description=(
            f"synthetic demo data (not real coughs): {len(clipset.clips)} generated clips, "
            f"{labels['positive']} positive / {labels['negative']} negative, "
            f"{clipset.n_groups()} synthetic participants, seed {seed}"
        ),
    )


def _generate_atomically(folder: Path, n: int, seed: int) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_demo(tmp, n=n, seed=seed)
    try:
        os.rename(tmp, folder)
    except OSError:
        # another process finished first (or a stale partial folder is in the way)
        if (folder / "manifest.csv").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)


def _write_wav(root: Path, path: Path, audio: Any, sr: int) -> None:
    """16-bit mono PCM via the standard library (no per-file fsync, byte-for-byte stable),
    created new inside ``root`` (:func:`engine.paths.create_new`)."""
    import wave

    import numpy as np

    from ..paths import create_new

    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    if os.path.isfile(path) and not os.path.islink(path):  # generated before: made again
        os.unlink(path)
    with create_new(root, path) as raw, wave.open(raw, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(sr)
        fh.writeframes(pcm.tobytes())


def _traits(rng: Any, y: int) -> dict[str, float]:
    """A synthetic participant: what all their clips share."""
    return {
        "bursts_p": BURST_COUNT_P[y],
        "centre": BAND_CENTRE_HZ[y] * rng.lognormal(0.0, 0.3),
        "decay": DECAY_S[y] * rng.lognormal(0.0, 0.3),
        "voiced_p": VOICED_P[y],
        "f0": rng.uniform(95.0, 260.0),
        "bandwidth": rng.uniform(0.8, 1.6),  # octaves
    }


def _clip(rng: Any, traits: dict[str, Any], sr: int) -> Any:
    import numpy as np

    parts = [np.zeros(int(sr * rng.uniform(0.1, 0.5)))]
    n_bursts = 1 + int(rng.choice(3, p=traits["bursts_p"]))
    for k in range(n_bursts):
        if k:
            parts.append(np.zeros(int(sr * rng.uniform(0.06, 0.3))))
        parts.append(_burst(rng, traits, sr) * rng.uniform(0.5, 1.0))
    parts.append(np.zeros(int(sr * rng.uniform(0.1, 0.5))))
    signal = np.concatenate(parts)
    peak = rng.uniform(0.15, 0.8)
    signal *= peak / max(float(np.abs(signal).max()), 1e-9)
    snr_db = rng.uniform(45.0, 65.0)  # background noise level below the peak
    signal += rng.normal(0.0, peak * 10 ** (-snr_db / 20), signal.size)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def _burst(rng: Any, traits: dict[str, Any], sr: int) -> Any:
    """Band-filtered noise with a sharp onset and exponential decay, maybe a voiced tail."""
    import numpy as np

    attack = rng.uniform(0.003, 0.012)
    decay = traits["decay"] * rng.lognormal(0.0, 0.15)
    length = int(sr * (attack + 5 * decay))
    t = np.arange(length) / sr
    envelope = np.where(t < attack, (t / attack) ** 2, np.exp(-(t - attack) / decay))
    centre = traits["centre"] * rng.lognormal(0.0, 0.15)
    burst = _band_noise(rng, length, sr, centre, traits["bandwidth"]) * envelope
    if rng.random() < traits["voiced_p"]:
        burst = _add_voiced_tail(rng, burst, traits["f0"], attack + decay, sr)
    return burst


def _band_noise(rng: Any, length: int, sr: int, centre: float, octaves: float) -> Any:
    import numpy as np

    n_fft = 1 << max(length - 1, 1).bit_length()  # a power of two: fast FFTs
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    distance = np.log2(np.maximum(freqs, 1.0) / centre) / octaves
    shaped = np.fft.irfft(spectrum * (np.exp(-0.5 * distance**2) + 0.03), n_fft)[:length]
    return shaped / max(float(np.abs(shaped).max()), 1e-9)


def _add_voiced_tail(rng: Any, burst: Any, f0: float, start_s: float, sr: int) -> Any:
    import numpy as np

    n = int(sr * rng.uniform(0.08, 0.25))
    t = np.arange(n) / sr
    pitch = f0 * (1.0 - 0.15 * t / t[-1])  # gently falling
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 7))
    tone *= np.hanning(n) * rng.uniform(0.25, 0.6) / np.abs(tone).max()
    start = int(sr * start_s)
    out = np.zeros(max(burst.size, start + n))
    out[: burst.size] += burst
    out[start : start + n] += tone
    return out


def _readme(n: int, seed: int, sr: int, n_pos: int, n_groups: int) -> str:
    return (
        "SYNTHETIC DEMO DATA -- NOT REAL COUGHS\n\n"
        f"Generated by coughscope's demo generator ({VERSION}) with n={n}, seed={seed}, "
        f"sample rate {sr} Hz.\n"
        f"{n_groups} synthetic participants ({n_pos} labelled positive), "
        f"{CLIPS_PER_GROUP} clips each (see manifest.csv).\n\n"
        "Each clip is 1-3 bursts of band-filtered noise with a sharp onset and exponential\n"
        "decay, sometimes a voiced tail, plus silence, background noise and a random gain.\n"
        "The 'positive' class differs from 'negative' only in made-up distributions (more\n"
        "bursts, lower noise band, longer decay, more voiced tails). Nothing learned from\n"
        "these files says anything about COVID-19; they exist so coughscope can be tried\n"
        "and tested offline.\n"
    )
