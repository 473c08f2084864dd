"""Shared fixtures: the real data beside the project, user dirs in tmp, tiny audio files.

* ``shared_data`` -- ``../shared/data`` (real recordings), or the test is skipped.
* every test gets ``COUGHSCOPE_DATA_DIR``/``_CACHE_DIR``/``_CONFIG_DIR`` in its own tmp folder, so
  nothing is written to the home directory or the source tree; each test's config folder holds
  a copy of one session-wide signing key (engine.trust), so runs trained by a module fixture
  load in every test, while the app's remembered settings stay per test.
* ``write_cough(path, ...)`` writes a synthetic cough-like wav; ``tiny_wavs`` is a folder of
  small good and bad files (0-byte, text named .wav, all zeros, clipped, stereo 48 kHz...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` relative to the repository root; skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA} (../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _user_config_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One config folder, so one signing key (engine.trust), for the whole session: a run
    trained by one test's fixture is loaded by others, and the home folder is left alone."""
    patch = pytest.MonkeyPatch()
    patch.setenv("COUGHSCOPE_CONFIG_DIR", str(tmp_path_factory.getbasetemp() / "user-config"))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _user_dirs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "user-cache"))
    import shutil

    from engine import trust

    trust.load_key(create=True)  # the session's key (COUGHSCOPE_CONFIG_DIR is the session's)
    config = tmp_path / "user-config"
    config.mkdir(mode=0o700)
    shutil.copy2(trust.key_path(), config / trust.KEY_FILE)
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(config))


def cough_signal(sr: int = 22050, seconds: float = 0.4, seed: int = 0, lead: float = 0.3,
                 tail: float = 0.3, level: float = 0.5) -> np.ndarray:
    """Silence, a cough-like burst (decaying noise with a voiced component), silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    envelope = np.exp(-t / (seconds / 4)) * (1 - np.exp(-t / 0.005))
    voiced = np.sin(2 * np.pi * (180 + 40 * seed) * t) * 0.3
    burst = (rng.standard_normal(n) + voiced) * envelope
    burst = level * burst / np.abs(burst).max()
    return np.concatenate([np.zeros(int(lead * sr)), burst, np.zeros(int(tail * sr))]).astype(
        np.float32
    )


def write_cough(path: Path, sr: int = 22050, channels: int = 1, seed: int = 0,
                seconds: float = 0.4, level: float = 0.5) -> Path:
    import soundfile as sf

    y = cough_signal(sr, seconds, seed, level=level)
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


@pytest.fixture
def tiny_wavs(tmp_path: Path) -> dict[str, Path]:
    """Small audio files, good and bad, in ``tmp_path / "wavs"``; keys name what each is."""
    import soundfile as sf

    d = tmp_path / "wavs"
    d.mkdir()
    files = {
        "good1": write_cough(d / "good1.wav", seed=1),
        "good2": write_cough(d / "good2.wav", seed=2, seconds=0.6),
        "stereo48k": write_cough(d / "stereo48k.wav", sr=48000, channels=2, seed=3),
        "flac16k": write_cough(d / "flac16k.flac", sr=16000, seed=4),
    }
    (d / "empty.wav").write_bytes(b"")
    files["empty"] = d / "empty.wav"
    (d / "text.wav").write_text("this is not audio\n" * 20)
    files["text"] = d / "text.wav"
    sf.write(str(d / "zeros.wav"), np.zeros(22050, np.float32), 22050, subtype="PCM_16")
    files["zeros"] = d / "zeros.wav"
    clipped = np.clip(cough_signal(seed=5, level=1.0) * 8, -1, 1)
    sf.write(str(d / "clipped.wav"), clipped, 22050, subtype="PCM_16")
    files["clipped"] = d / "clipped.wav"
    return files
