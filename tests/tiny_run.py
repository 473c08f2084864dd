"""The cheapest finished run (``majority``, one seed, 16 demo clips), trained once per test
session by the real headless runner, for tests that plant something in a copy of a run
(tests/test_containment.py, tests/test_invalid_numbers.py). Tests copy it before changing
anything; :func:`cs` runs the real command line with the run's data folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cs(base: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m engine ARGV`` with the data and cache folders under ``base``."""
    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
           "COUGHSCOPE_CACHE_DIR": str(base / "cache"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<base>/runs/made``: finished; ``<base>`` holds its data and cache folders."""
    base = tmp_path_factory.getbasetemp() / "tiny-run"
    run = base / "runs" / "made"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        status = run / "status.json"
        if status.exists() and json.loads(status.read_text())["state"] == "finished":
            return run
        shutil.rmtree(run, ignore_errors=True)
        done = cs(base, "--headless", "--data", "demo:16", "--models", "majority", "--seeds",
                  "1", "--runs-dir", str(run.parent), "--run-id", run.name)
        assert done.returncode == 0, done.stderr[-3000:]
    return run


def copy_run(run: Path, dest: Path) -> Path:
    """A copy of ``run`` at ``dest``, trusted (a signature binds the run folder's name)."""
    from engine import trust

    shutil.copytree(run, dest, symlinks=True)
    for model_dir in trust.run_model_dirs(dest):
        trust.sign_model_dir(model_dir, root=dest)
    return dest
