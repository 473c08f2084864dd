"""Empty means an error, never the default (issue 21): ``--resume ''`` started a full default
run, and ``models = []`` in a config trained the whole default model list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def headless(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "--headless", "--runs-dir",
                           str(tmp_path / "runs"), *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def assert_refused(done: subprocess.CompletedProcess[str], tmp_path: Path, named: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_empty_resume_is_refused_and_starts_nothing(tmp_path: Path) -> None:
    done = headless(tmp_path, "--resume", "")
    assert_refused(done, tmp_path, "coughscope: error: --resume is empty")


def test_models_empty_in_a_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text('data = "demo:16"\nmodels = []\n')
    done = headless(tmp_path, "--config", str(config))
    assert_refused(done, tmp_path, f'{config}: models = [] is empty')


def test_empty_data_is_refused_from_a_flag_and_from_a_config(tmp_path: Path) -> None:
    assert_refused(headless(tmp_path, "--data", ""), tmp_path, "--data is empty")
    config = tmp_path / "exp.toml"
    config.write_text('data = ""\n')
    assert_refused(headless(tmp_path, "--config", str(config)), tmp_path,
                   f'{config}: data = "" is empty')
