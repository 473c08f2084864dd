"""A finished run of every non-ResNet model family, trained once per test session by the real
headless runner (and so signed with the session's key), for tests/test_security.py and
tests/test_tampered_runs.py. Tests copy it before changing anything.

Also :func:`planted_pickle`: a pickle that creates a marker file when it is unpickled.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# one model per saved format: state dict (ann), parameters (majority, logreg), sklearn pickle
# (gbm), pytorch-tabular pickles (cne, tabnet)
MODELS = "ann,majority,logreg,gbm,cne,tabnet"
DATA = "demo:24"


@dataclass(frozen=True)
class SignedRun:
    run: Path
    data_dir: Path
    cache_dir: Path

    def copy(self, dest: Path) -> Path:
        """A copy of the run at ``dest`` (a folder of its own, safe to change), trusted as
        `coughscope runs trust` would: a signature binds the run id, which is the folder's
        name, so a copy under another name is another run until it is trusted."""
        from engine import trust

        shutil.copytree(self.run, dest, symlinks=True)
        for model_dir in trust.run_model_dirs(dest):
            trust.sign_model_dir(model_dir, root=dest)
        return dest


def signed_run(tmp_path_factory: pytest.TempPathFactory) -> SignedRun:
    base = tmp_path_factory.getbasetemp() / "signed-run"
    out = SignedRun(base / "runs" / "all", base / "data", base / "cache")
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        status = out.run / "status.json"
        if status.exists() and json.loads(status.read_text())["state"] == "finished":
            return out
        shutil.rmtree(out.run, ignore_errors=True)
        env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(out.data_dir),
               "COUGHSCOPE_CACHE_DIR": str(out.cache_dir)}
        cmd = [sys.executable, "-m", "engine", "--headless", "--data", DATA, "--models", MODELS,
               "--seeds", "1", "--epochs", "1", "--runs-dir", str(out.run.parent),
               "--run-id", out.run.name, "--json"]
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    return out


class _Planted:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def planted_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Planted(marker), protocol=4)
