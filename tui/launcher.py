"""Starting, resuming and stopping the engine's runner as a detached child process.

The app never trains in its own process (DESIGN.md, "One executor, two faces"): it starts
``python -m engine --headless ...`` in a new process session, with stdout and stderr going to
``<run>/runner.log``, so the run survives the app closing or the SSH connection dropping.
Stopping sends SIGINT to the runner's process group; the runner then marks the run
``interrupted`` and leaves it resumable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import RunError
from engine.runs import RunDir, new_run_id, pid_alive


@dataclass(frozen=True)
class ExperimentRequest:
    """What the Models screen asks for."""

    data: str
    models: tuple[str, ...]
    seeds: int
    epochs: int
    preset: str = "default"
    device: str = "auto"

    def argv(self, runs_dir: Path, run_id: str) -> list[str]:
        return [
            sys.executable, "-m", "engine", "--headless",
            "--data", self.data,
            "--models", ",".join(self.models),
            "--seeds", str(self.seeds),
            "--epochs", str(self.epochs),
            "--preset", self.preset,
            "--device", self.device,
            "--runs-dir", str(runs_dir),
            "--run-id", run_id,
        ]


@dataclass
class LaunchedRun:
    """A runner process this app started."""

    run: RunDir
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.run.path / "runner.log"


def _spawn(argv: list[str], run: RunDir) -> LaunchedRun:
    run.path.mkdir(parents=True, exist_ok=True)
    with open(run.path / "runner.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session: survives the app and a dropped SSH link
            cwd=os.getcwd(),
        )
    return LaunchedRun(run, process)


def start_run(request: ExperimentRequest, runs_dir: Path, run_id: str | None = None) -> LaunchedRun:
    """Start a new run; the app picks the run id so it knows which directory to follow."""
    run_id = run_id or new_run_id()
    run = RunDir(runs_dir / run_id)
    if run.exists():
        raise RunError(f"run directory {run.path} already exists", "pick another run id")
    return _spawn(request.argv(runs_dir, run_id), run)


def resume_run(run: RunDir) -> LaunchedRun:
    """Continue an interrupted or failed run where it stopped."""
    state = run.status().get("state")
    if state == "running":
        raise RunError(f"run {run.id} is still running", "open it to follow it instead")
    if state == "finished":
        raise RunError(f"run {run.id} has already finished", "start a new run to train again")
    return _spawn([sys.executable, "-m", "engine", "--headless", "--resume", str(run.path)], run)


def stop_pid(pid: int) -> bool:
    """Ask a runner to stop (SIGINT to its process group when it leads one).

    Returns False when the process is already gone."""
    if not pid_alive(pid):
        return False
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGINT)
        else:
            os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def runner_log_tail(run: RunDir, lines: int = 8) -> str:
    """The last lines of ``runner.log`` (what a runner that died early printed)."""
    try:
        text = (run.path / "runner.log").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
