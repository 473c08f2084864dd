"""``coughscope predict`` and ``record`` from the command line, on a real (tiny) finished run.

A demo run (ann, cnn, logreg; 2 seeds; 2 epochs) is trained once per test session by the real
headless runner and shared with tests/test_tui_classify.py (see :func:`demo_run`). Inputs are
the demo's own wavs plus files made here: empty, silent, a pure tone, clipped, very quiet,
very loud.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# a GPU server's own Python may lack soundfile: skip here, never fail collection
sf = pytest.importorskip("soundfile")

try:
    from conftest import cough_signal
except ImportError:  # tests/ is a package
    from tests.conftest import cough_signal

REPO = Path(__file__).resolve().parents[1]
SR = 22050


@dataclass(frozen=True)
class DemoRun:
    """A finished run and where its data and cache live."""

    runs_dir: Path
    run: Path
    data_dir: Path
    cache_dir: Path

    @property
    def wavs(self) -> list[Path]:
        return sorted(self.data_dir.glob("demo/*/audio/*.wav"))

    def env(self) -> dict[str, str]:
        return {**os.environ, "COUGHSCOPE_DATA_DIR": str(self.data_dir),
                "COUGHSCOPE_CACHE_DIR": str(self.cache_dir)}


def train_run(base: Path, run_id: str, *extra: str, models: str = "ann,cnn,logreg",
              seeds: int = 2, epochs: int = 2) -> DemoRun:
    """Train ``run_id`` under ``base`` once (a file lock keeps concurrent sessions apart)."""
    demo = DemoRun(base / "runs", base / "runs" / run_id, base / "data", base / "cache")
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".{run_id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        status = demo.run / "status.json"
        if status.exists() and json.loads(status.read_text())["state"] == "finished":
            return demo
        shutil.rmtree(demo.run, ignore_errors=True)
        cmd = [sys.executable, "-m", "engine", "--headless", "--data", "demo", "--models", models,
               "--seeds", str(seeds), "--epochs", str(epochs), "--runs-dir", str(demo.runs_dir),
               "--run-id", run_id, "--json", *extra]
        done = subprocess.run(cmd, cwd=REPO, env=demo.env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    return demo


def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The session's shared demo run (trained on first use)."""
    return train_run(tmp_path_factory.getbasetemp() / "demo-run", "r")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return demo_run(tmp_path_factory)


def predict(demo: DemoRun, *args: str, runs_dir: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "engine", "predict", *args,
           "--runs-dir", str(runs_dir or demo.runs_dir)]
    return subprocess.run(cmd, cwd=REPO, env=demo.env(), capture_output=True, text=True)


def predict_json(demo: DemoRun, *args: str) -> dict:
    done = predict(demo, *args, "--json")
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def write(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    sf.write(str(path), y.astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("odd")
    t = np.arange(2 * SR) / SR
    (d / "empty.wav").write_bytes(b"")
    cough = cough_signal(SR, seconds=0.5, seed=7, level=0.4)
    loud = np.tanh(12 * cough_signal(SR, seconds=0.5, seed=7, level=1.0)) * 0.95
    return {
        "empty": d / "empty.wav",
        "silence": write(d / "silence.wav", np.zeros(SR)),
        "tone": write(d / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t)),
        "clipped": write(d / "clipped.wav", np.clip(cough * 20, -1, 1)),
        "quiet": write(d / "quiet.wav", cough * 0.004),
        "loud": write(d / "loud.wav", loud),
    }


# ------------------------------------------------------------------ files and folders


def test_predict_demo_wavs_json_gives_every_model_per_file(demo: DemoRun) -> None:
    from engine.inference import Classifier
    from engine.runs import RunDir

    files = [str(p) for p in demo.wavs[:2]]
    out = predict_json(demo, *files, "--run", "r")
    assert out["run_dir"] == str(demo.run)
    assert "not a diagnostic device" in out["disclaimer"]
    assert [f["path"] for f in out["files"]] == files
    expected = Classifier(RunDir(demo.run)).classify(files[0])
    first = out["files"][0]
    assert first["warnings"] == expected.warnings
    assert set(first["models"]) == {"ann", "cnn", "logreg"}
    for verdict in expected.verdicts:
        got = first["models"][verdict.model]
        assert got["probability"] == pytest.approx(verdict.probability, abs=1e-4)
        assert got["label"] == verdict.label
        assert got["label"] == ("positive" if got["probability"] >= got["threshold"]
                                else "negative")
        assert len(got["seeds"]) == 2


def test_predict_on_a_folder_lists_each_audio_file(demo: DemoRun, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    for i, wav in enumerate(demo.wavs[:3]):
        shutil.copy(wav, (folder / "sub" if i == 2 else folder) / wav.name)
    (folder / "notes.txt").write_text("not audio")
    out = predict_json(demo, str(folder))
    names = [Path(f["path"]).name for f in out["files"]]
    assert sorted(names) == sorted(w.name for w in demo.wavs[:3])
    for entry in out["files"]:
        assert "error" not in entry
        for verdict in entry["models"].values():
            assert 0.0 <= verdict["probability"] <= 1.0
            assert verdict["label"] in ("positive", "negative")


def test_text_output_has_bars_auc_and_disclaimer(demo: DemoRun) -> None:
    done = predict(demo, str(demo.wavs[0]))
    assert done.returncode == 0, done.stderr
    assert "test AUC" in done.stdout and "of seeds agree" in done.stdout
    assert "research tool, not a diagnostic device" in done.stdout


# ------------------------------------------------------------------ input checks


def test_empty_and_silent_files_are_refused_with_a_reason(demo: DemoRun,
                                                          odd_files: dict[str, Path]) -> None:
    done = predict(demo, str(odd_files["empty"]), str(odd_files["silence"]), "--json")
    assert done.returncode == 2  # nothing could be classified
    files = json.loads(done.stdout)["files"]
    assert files[0]["error"].startswith("empty file (0 bytes)")
    assert files[1]["error"].startswith("silent")
    assert "check the microphone" in files[1]["error"]
    assert all("models" not in f for f in files)


def test_pure_tone_warns_no_cough_burst(demo: DemoRun, odd_files: dict[str, Path]) -> None:
    entry = predict_json(demo, str(odd_files["tone"]))["files"][0]
    assert any("no cough-like burst" in w for w in entry["warnings"])
    assert set(entry["models"]) == {"ann", "cnn", "logreg"}  # warned, still classified


def test_clipped_file_warns(demo: DemoRun, odd_files: dict[str, Path]) -> None:
    entry = predict_json(demo, str(odd_files["clipped"]))["files"][0]
    assert any(w.startswith("clipped") and "distorted" in w for w in entry["warnings"])
    assert "models" in entry


def test_very_quiet_and_very_loud_files_warn_about_level(demo: DemoRun,
                                                         odd_files: dict[str, Path]) -> None:
    out = predict_json(demo, str(odd_files["quiet"]), str(odd_files["loud"]))
    quiet, loud = out["files"]
    assert any("far quieter than the training recordings" in w for w in quiet["warnings"])
    assert any("far louder than the training recordings" in w for w in loud["warnings"])
    assert not any(w.startswith("clipped") for w in loud["warnings"])


# ------------------------------------------------------------------ runs


def test_missing_run_is_a_clear_error(demo: DemoRun) -> None:
    done = predict(demo, str(demo.wavs[0]), "--run", "no-such-run")
    assert done.returncode == 2
    assert "run 'no-such-run' not found" in done.stderr and "hint:" in done.stderr
    assert done.stdout == ""


def test_run_with_no_finished_models_is_a_clear_error(demo: DemoRun, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    empty = runs / "unfinished"
    empty.mkdir(parents=True)
    for name in ("config.toml", "status.json", "events.jsonl", "data.json"):
        shutil.copy(demo.run / name, empty / name)
    done = predict(demo, str(demo.wavs[0]), "--run", "unfinished", runs_dir=runs)
    assert done.returncode == 2
    assert f"{empty} has no finished models" in done.stderr
    assert "let the run finish" in done.stderr


def test_predict_uses_the_runs_own_preprocessing(demo: DemoRun,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    from engine.inference import Classifier
    from engine.runs import RunDir

    # its own runs folder: the shared one's "latest finished run" must stay the default run
    base = tmp_path_factory.getbasetemp() / "demo-run-8k"
    run8k = train_run(base, "r8k", "--sample-rate", "8000", "--pad", "zero",
                      models="logreg,cnn", seeds=1, epochs=1)
    classifier = Classifier(RunDir(run8k.run))
    cfg = classifier.config.preprocess
    assert cfg.sample_rate == 8000
    result = classifier.classify(str(demo.wavs[0]))
    frames = 1 + int(cfg.duration * cfg.sample_rate) // cfg.hop_length
    assert result.logmel.shape == (cfg.n_mels, frames)
    assert len(result.samples) == pytest.approx(result.duration * 8000, abs=8)  # 1 ms rounding
    spec = json.loads((run8k.run / "data.json").read_text())["spectrogram"]
    assert list(result.logmel.shape) == spec  # what the run trained on
    default = Classifier(RunDir(demo.run)).classify(str(demo.wavs[0]))
    assert default.logmel.shape[1] > result.logmel.shape[1]  # 22050 Hz: more frames
    # a clip shorter than the image is filled as each run's clips were: silence after it here,
    # the clip repeated under the default preset (its frames again, not the floor)
    assert result.duration < cfg.duration and result.filled == "zero"
    assert default.filled == "repeat"
    reach = (len(result.samples) + cfg.n_fft) // cfg.hop_length  # frames the window touches
    assert reach < result.logmel.shape[1] and np.all(result.logmel[:, reach + 1:] == -80)
    used = 1 + len(default.samples) // cfg.hop_length
    assert np.array_equal(default.logmel[:, used:2 * used], default.logmel[:, :used])
    out = predict_json(run8k, str(demo.wavs[0]), "--run", "r8k")
    cnn = next(v for v in result.verdicts if v.model == "cnn")
    assert out["files"][0]["models"]["cnn"]["probability"] == pytest.approx(cnn.probability,
                                                                            abs=1e-4)


# ------------------------------------------------------------------ record


def test_record_without_a_microphone_exits_3_with_the_reason(demo: DemoRun,
                                                             tmp_path: Path) -> None:
    from engine.recording import RecordingUnavailable, default_input_device

    try:
        default_input_device()
    except RecordingUnavailable:
        pass
    else:
        pytest.skip("this machine has a microphone")
    cmd = [sys.executable, "-m", "engine", "record", "--seconds", "1", "--countdown", "0",
           "--out", str(tmp_path / "x.wav"), "--runs-dir", str(demo.runs_dir)]
    done = subprocess.run(cmd, cwd=REPO, env=demo.env(), capture_output=True, text=True)
    assert done.returncode == 3
    assert "no input device (microphone) was found" in done.stderr
    assert "coughscope predict FILE" in done.stderr
    assert not (tmp_path / "x.wav").exists()
