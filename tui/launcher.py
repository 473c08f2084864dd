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

from engine import paths
from engine.config import ExperimentConfig
from engine.errors import RunError
from engine.runs import RunDir, new_run_id, pid_alive, runner_log_tail


@dataclass(frozen=True)
class ExperimentRequest:
    """What the Models screen asks for, as the command-line flags it stands for.

    :meth:`config` resolves them exactly as ``coughscope --headless`` does (one config layer:
    the preset, then explicit values), and the runner is started with that config as a TOML
    file (``--config``), never with a hand-built copy of the flag logic.
    """

    data: str
    models: tuple[str, ...]
    seeds: int
    epochs: int
    preset: str = "default"
    device: str = "auto"
    # None: not given, as a flag left out (refit and augment then follow the preset)
    refit: bool | None = None  # --refit / --no-refit
    augment: bool | None = None  # --augment / --no-augment
    feature_set: str | None = None  # --feature-set
    pad: str | None = None  # --pad repeat|zero (None: the preset's choice)
    test_group: str | None = None  # --test-group COLUMN=VALUE
    balance_by: str | None = None  # --balance-by COLUMN

    def flags(self) -> list[str]:
        flags = ["--data", self.data, "--models", ",".join(self.models),
                 "--seeds", str(self.seeds), "--epochs", str(self.epochs),
                 "--preset", self.preset, "--device", self.device]
        for name, value in (("refit", self.refit), ("augment", self.augment)):
            if value is not None:
                flags.append(f"--{name}" if value else f"--no-{name}")
        for name, text in (("feature-set", self.feature_set), ("pad", self.pad),
                           ("test-group", self.test_group), ("balance-by", self.balance_by)):
            if text is not None:
                flags.append(f"--{name}={text}")  # one word: a value may start with "-"
        return flags

    def config(self) -> ExperimentConfig:
        """The :class:`~engine.config.ExperimentConfig` these choices make (raises the same
        ConfigError the command line would)."""
        from engine.cli import build_run_parser
        from engine.commands.experiment import build_config

        return build_config(build_run_parser().parse_args(["--headless", *self.flags()]))


@dataclass
class LaunchedRun:
    """A runner process this app started."""

    run: RunDir
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path | None = None  # where its output goes until the run directory exists

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def log_path(self) -> Path:
        inside = self.run.path / "runner.log"
        if self.log is None or inside.exists() or not self.log.exists():
            return inside
        return self.log


def _spawn(argv: list[str], run: RunDir, log_path: Path, root: Path,
           env: dict[str, str] | None = None) -> LaunchedRun:
    """Start ``argv`` with its output appended to ``log_path``, a file inside ``root`` (the
    runs folder or the run), never through a link (:func:`engine.paths.open_append`)."""
    with paths.open_append(root, log_path) as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session: survives the app and a dropped SSH link
            cwd=os.getcwd(),
            env=env,
        )
    return LaunchedRun(run, process, log_path)


def launch_dir(runs_dir: Path) -> Path:
    """Where a run started by the app keeps its config and output until the runner has
    checked everything and created the run directory (same filesystem: the log is renamed
    into the run, open as it is)."""
    return runs_dir / ".launch"


def start_run(request: ExperimentRequest, runs_dir: Path, run_id: str | None = None) -> LaunchedRun:
    """Start a new run; the app picks the run id so it knows which directory to follow.

    The runner creates the run directory itself, after its checks: a refused request (no
    data, no GPU, no weights) leaves only its message, in ``<runs>/.launch/<id>.log``.
    """
    from engine.commands.experiment import LAUNCH_LOG_ENV

    run_id = run_id or new_run_id()
    run = RunDir(runs_dir / run_id)
    if run.path.exists():
        raise RunError(f"run directory {run.path} already exists", "pick another run id")
    config = request.config()
    staging = paths.ensure_dir(runs_dir, launch_dir(runs_dir))  # never through a link
    config_path = staging / f"{run_id}.toml"
    paths.atomic_write_text(config_path, config.to_toml(), root=runs_dir)
    log_path = staging / f"{run_id}.log"
    argv = [sys.executable, "-m", "engine", "--headless", "--config", str(config_path),
            "--runs-dir", str(runs_dir), "--run-id", run_id]
    env = {**os.environ, LAUNCH_LOG_ENV: str(log_path)}
    return _spawn(argv, run, log_path, runs_dir, env)


def resume_run(run: RunDir) -> LaunchedRun:
    """Continue an interrupted or failed run where it stopped."""
    state = run.status().get("state")
    if state == "running":
        raise RunError(f"run {run.id} is still running", "open it to follow it instead")
    if state == "finished":
        raise RunError(f"run {run.id} has already finished", "start a new run to train again")
    return _spawn([sys.executable, "-m", "engine", "--headless", "--resume", str(run.path)], run,
                  run.path / "runner.log", run.path)


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


__all__ = ["ExperimentRequest", "LaunchedRun", "launch_dir", "resume_run", "runner_log_tail",
           "start_run", "stop_pid"]
