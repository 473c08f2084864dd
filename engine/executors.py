"""Executors: who runs a study's tasks (:mod:`engine.plan`), and where.

* :class:`SequentialExecutor` -- in this process, one task after another: the behaviour of
  a one-device machine, and the default (see :func:`choose_executor`).
* :class:`RayExecutor` -- on Ray: a local Ray instance uses every GPU and core of one server
  (several small tasks share a GPU through fractional GPU resources); with ``address`` it
  joins a cluster started by ``ray start`` (by hand, under SLURM, or KubeRay on Kubernetes).

**One writer.** The driver (the process that runs :func:`engine.runner.run_experiment`)
stays the run directory's one writer. A Ray worker trains its task in a scratch folder of
its own machine, sends its events to the driver through a Ray queue as they happen, and
returns the task's model folder as bytes with its result; the driver writes the folder
into a hidden staging folder of the run and renames it into place (so a half-installed
folder is never seen), re-signs the model files with the driver user's key
(:mod:`engine.trust`), and only then announces ``model_end``. Nothing needs a shared file
system: the preprocessed arrays travel from the driver in Ray's object store (one copy per
node), so workers need neither the data nor the feature cache.

**Failures.** A worker process that dies (killed, out of memory, its node lost) costs its
task one retry; a second death marks the task ``failed`` with the reason, and the study goes
on: the run then ends ``incomplete`` and ``--resume`` re-runs the failed tasks. An error the
task itself raises (a diverged model, bad data) fails the run as in a sequential run.

**Resume.** Finished tasks (their ``metrics.json``) are never queued again. A task that was
cut short is re-run from its start under Ray (its worker's scratch folder is gone); in
process it continues from its last checkpoint.

Ray is imported only by :class:`RayExecutor` (never by ``import engine``).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, CoughscopeError, Interrupted, RunError, UnavailableError
from .plan import DEFAULT_CPUS_PER_TASK, DEFAULT_TASKS_PER_GPU, Task

EXECUTORS = ("auto", "sequential", "ray")
# test hooks, read only by Ray workers: {"ann/0": 2} kills the worker of task ann/0 on its
# first 2 attempts (a marker file per kill in KILL_DIR_ENV); {"ann/1": PATH} holds task ann/1
# before it trains until PATH exists
KILL_ENV = "COUGHSCOPE_TEST_KILL_TASKS"
KILL_DIR_ENV = "COUGHSCOPE_TEST_KILL_DIR"
HOLD_ENV = "COUGHSCOPE_TEST_HOLD_TASKS"
RETRIES = 1  # a task whose worker died is run once more before it is marked failed


@dataclass(frozen=True)
class ExecutorOptions:
    """How a study's tasks run (not part of the experiment: a resumed run may use others)."""

    kind: str = "auto"  # auto | sequential | ray
    address: str | None = None  # a Ray cluster (HOST:PORT or "auto"); None: a local Ray
    tasks_per_gpu: int = DEFAULT_TASKS_PER_GPU
    # CPU cores each task holds; None: 1, and on a CPU each task computes with the driver's
    # torch thread count (the in-process run's results, bit for bit); given: that many threads
    cpus_per_task: float | None = None

    @property
    def cpus(self) -> float:
        return DEFAULT_CPUS_PER_TASK if self.cpus_per_task is None else self.cpus_per_task

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.kind!r}",
                              f"use one of: {', '.join(EXECUTORS)}")
        if self.tasks_per_gpu < 1:
            raise ConfigError(f"--tasks-per-gpu {self.tasks_per_gpu} is below 1",
                              "give how many tasks share one GPU, e.g. 4")
        if self.cpus_per_task is not None and self.cpus_per_task <= 0:
            raise ConfigError(f"--cpus-per-task {self.cpus_per_task:g} is not positive",
                              "give the CPU cores each task holds, e.g. 1")
        if self.address is not None and self.kind == "sequential":
            raise ConfigError(f"--address {self.address} needs --executor ray",
                              "add --executor ray, or leave --address out")


def executor_options(table: Any = None, source: str = "config", *, kind: str | None = None,
                     address: str | None = None, tasks_per_gpu: int | None = None,
                     cpus_per_task: float | None = None) -> ExecutorOptions:
    """The options of a config file's ``[executor]`` table (``kind``, ``address``,
    ``tasks_per_gpu``, ``cpus_per_task``) with the command line's on top; an ``address``
    alone means Ray."""
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [executor] must be a table", "see the README, "
                          "'Running on a cluster'")
    types = {"kind": (str,), "address": (str,), "tasks_per_gpu": (int,),
             "cpus_per_task": (int, float)}
    for key, value in table.items():
        if key not in types:
            raise ConfigError(f"{source}: unknown setting {key!r} in [executor]",
                              f"valid settings: {', '.join(types)}")
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise ConfigError(f"{source}: [executor] {key} = {value!r} has the wrong type",
                              "kind and address are strings, tasks_per_gpu a whole number, "
                              "cpus_per_task a number")
    given = {"kind": kind, "address": address, "tasks_per_gpu": tasks_per_gpu,
             "cpus_per_task": cpus_per_task}
    merged = {**table, **{k: v for k, v in given.items() if v is not None}}
    if merged.get("address") and "kind" not in merged:
        merged["kind"] = "ray"
    return ExecutorOptions(**merged)


@dataclass
class Study:
    """What every task of a run shares (built by the runner)."""

    prepared: Any  # engine.runner.PreparedData
    config: Any  # engine.config.ExperimentConfig
    run: Any  # engine.runs.RunDir
    announce: Callable[..., None]
    stop: Any  # engine.runner.StopFlag
    device: str
    precision: str


@dataclass
class Outcome:
    """Per task key: its result (as ``metrics.json`` holds it), or why it failed."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def choose_executor(options: ExecutorOptions, device: str, n_tasks: int) -> str:
    """``sequential`` or ``ray`` for ``options.kind``.

    ``auto`` is Ray when it is installed, the run trains on CUDA, the machine has two or more
    GPUs and the study more than one task; otherwise (one device; a CPU; under torchrun/SLURM,
    where DDP is the grain) in process. On one GPU or many cores ``--executor ray`` is an
    explicit choice: on the 2-core machine this was measured on, a local Ray was slower
    (README, "Running on a GPU server" and Benchmarks)."""
    from .launch import launch_info

    launched = launch_info().world_size > 1
    if options.kind == "ray" or options.address:
        if launched:
            raise ConfigError("--executor ray cannot run under torchrun/srun (DDP)",
                              "launch one process (python -m engine ... --executor ray); "
                              "Ray places the tasks itself")
        if not ray_installed():
            raise UnavailableError("--executor ray needs Ray, which is not installed",
                                   "pip install 'coughscope[ray]'")
        return "ray"
    if options.kind == "sequential" or launched or n_tasks < 2:
        return "sequential"
    if device == "cuda" and ray_installed():
        import torch

        if torch.cuda.device_count() >= 2:
            return "ray"
    return "sequential"


class SequentialExecutor:
    """Tasks one after another in this process (today's loop; identical results)."""

    name = "sequential"

    def run(self, tasks: list[Task], study: Study) -> Outcome:
        from .models import get_spec
        from .runner import train_one

        out = Outcome()
        for task in tasks:
            if study.stop():
                raise Interrupted(study.stop.reason or "stopped")
            out.results[task.key] = train_one(
                get_spec(task.model), task.seed, study.prepared, study.config, study.run,
                study.announce, study.stop, study.device, study.precision)
        return out


# ============================================================================ the worker


class _Relay:
    """The worker's announcer: checks each event against the schema and sends it to the
    driver; ``model_end`` is held back and returned with the result (the driver announces
    it once the model's files are in the run)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.held: list[dict[str, Any]] = []

    def __call__(self, type: str, **fields: Any) -> None:
        from .runs import clean_json, make_event

        make_event(type, **fields)  # a schema error surfaces here, in the worker
        fields = clean_json(fields)
        if type == "model_end":
            self.held.append(fields)
        else:
            self.queue.put((type, fields))


def _where() -> tuple[str, str]:
    """(this worker: ``HOST pid N``, its device: ``cuda:0`` as Ray assigned it, or cpu)."""
    import ray

    ctx = ray.get_runtime_context()
    gpus = ctx.get_accelerator_ids().get("GPU") or []
    host = ray.util.get_node_ip_address()
    return f"{host} pid {os.getpid()}", ("cuda:" + ",".join(map(str, gpus)) if gpus else "cpu")


def _test_hooks(key: str) -> None:
    """The test hooks: die like an out-of-memory kill would (:data:`KILL_ENV`), or wait for
    a file (:data:`HOLD_ENV`)."""
    import json
    import time

    hold = json.loads(os.environ.get(HOLD_ENV) or "{}").get(key)
    while hold and not os.path.exists(hold):
        time.sleep(0.05)
    wanted = json.loads(os.environ.get(KILL_ENV) or "{}").get(key, 0)
    folder = os.environ.get(KILL_DIR_ENV)
    if not wanted or not folder:
        return
    stem = "kill-" + key.replace("/", "-")
    if len([p for p in os.listdir(folder) if p.startswith(stem)]) < int(wanted):
        Path(folder, f"{stem}-{len(os.listdir(folder))}").write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)


def run_task_in_worker(task: Task, prepared: Any, config: Any, run_id: str, queue: Any,
                       threads: int) -> dict[str, Any]:
    """One task on a Ray worker: train it in a scratch folder, stream its events, and
    return its result, its held-back ``model_end`` and its model folder as bytes.

    On a CPU the task uses ``threads`` torch threads (by default the driver's): a
    convolution's sums are split by thread, so another count changes the last bits of a
    CNN's outputs (by ~1e-4 in a probability), and the results would no longer be those of
    the in-process run with its thread count."""
    from .devices import precision_for
    from .models import get_spec
    from .runner import StopFlag, train_one
    from .runs import RunDir

    worker, device_name = _where()
    queue.put(("task", {"model": task.model, "seed": task.seed, "state": "running",
                        "worker": worker, "device": device_name,
                        "resources": task.resources.describe()}))
    _test_hooks(task.key)
    device = "cuda" if device_name.startswith("cuda") else "cpu"
    if device == "cpu":
        import torch

        torch.set_num_threads(max(1, int(threads)))
    scratch = Path(tempfile.mkdtemp(prefix="coughscope-task-"))
    try:
        run = RunDir(scratch / run_id)
        run.path.mkdir()
        relay = _Relay(queue)
        result = train_one(get_spec(task.model), task.seed, prepared, config, run, relay,
                           StopFlag(), device, precision_for(device))
        folder = run.model_dir(task.model, task.seed)
        files = {str(p.relative_to(folder)): p.read_bytes()
                 for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}
        return {"result": result, "model_end": relay.held, "files": files,
                "worker": worker, "device": device_name}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ============================================================================ the driver


def install_model_dir(run: Any, model: str, seed: int, files: dict[str, bytes]) -> Path:
    """Write a task's model folder into the run: into a hidden staging folder first, then
    renamed into place (replacing what an earlier, unfinished attempt left); every model
    folder in it signed again with this user's key."""
    from . import trust
    from .paths import atomic_write_bytes, ensure_dir, inside

    target = run.model_dir(model, seed)
    staging = inside(run.path, run.path / model / f".{seed}.incoming")
    old = inside(run.path, run.path / model / f".{seed}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    ensure_dir(run.path, staging)
    for rel, data in files.items():
        atomic_write_bytes(staging / rel, data, root=staging)
    for sig in sorted(staging.rglob(trust.SIGNATURE)):  # the worker's key is not ours, and
        # the signature binds the place the folder is used at (engine.trust.context)
        trust.sign_model_dir(sig.parent, root=staging,
                             at=target / sig.parent.relative_to(staging))
    if os.path.lexists(target):
        os.rename(inside(run.path, target), old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _crash_reason(exc: BaseException) -> str | None:
    """Why a worker died (its process, not the task's code), or None for a task error."""
    import ray.exceptions as rex

    if isinstance(exc, (rex.WorkerCrashedError, rex.NodeDiedError, rex.OutOfMemoryError,
                        rex.LocalRayletDiedError)):
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    if isinstance(exc, rex.RayTaskError) and isinstance(
            getattr(exc, "cause", None), (rex.WorkerCrashedError, rex.OutOfMemoryError)):
        return _crash_reason(exc.cause)
    return None


def _runtime_env() -> dict[str, Any]:
    """What the workers need from the driver's environment: its PYTHONPATH (a checkout not
    installed on the workers) and coughscope's own settings."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("COUGHSCOPE_") or k == "PYTHONPATH"}
    return {"env_vars": env} if env else {}


def task_options(task: Task, runtime_env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Ray options a task is submitted with: its CPU cores and GPU share (Ray packs
    tasks whose shares add up to one GPU on the same GPU), no retries by Ray (the driver
    retries a dead worker's task itself, and says so)."""
    options: dict[str, Any] = {"num_cpus": task.resources.cpus,
                               "num_gpus": task.resources.gpus, "max_retries": 0,
                               "name": f"coughscope {task.key}"}
    if runtime_env:
        options["runtime_env"] = runtime_env
    return options


class RayExecutor:
    """Tasks on Ray, each with its resources (:class:`engine.plan.Resources`)."""

    name = "ray"

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options
        self.started_ray = False

    def connect(self) -> dict[str, float]:
        """Join ``options.address`` (or start a local Ray); returns the cluster's resources."""
        import ray

        if not ray.is_initialized():
            try:
                ray.init(address=self.options.address, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = self.options.address or "a local Ray instance"
                raise UnavailableError(f"cannot start or join Ray at {where}: {exc}",
                                       "start the cluster first (ray start --head), check "
                                       "the address it printed, or leave --address out for "
                                       "a local Ray") from None
            self.started_ray = True
        return dict(ray.cluster_resources())

    def close(self) -> None:
        if self.started_ray:
            import ray

            ray.shutdown()
            self.started_ray = False

    def run(self, tasks: list[Task], study: Study) -> Outcome:
        import ray
        from ray.util.queue import Empty, Queue

        import torch

        announce = study.announce
        # the in-process run's thread count (see run_task_in_worker), unless the user chose
        threads = (torch.get_num_threads() if self.options.cpus_per_task is None
                   else max(1, int(self.options.cpus_per_task)))
        queue = Queue(actor_options={"num_cpus": 0})
        data = ray.put(study.prepared)
        remote = ray.remote(run_task_in_worker)
        env = _runtime_env()
        pending: dict[Any, tuple[Task, int]] = {}
        out = Outcome()

        def submit(task: Task, attempt: int) -> None:
            ref = remote.options(**task_options(task, env)).remote(
                task, data, study.config, study.run.id, queue, threads)
            pending[ref] = (task, attempt)

        def drain() -> None:
            while True:
                try:
                    type_, fields = queue.get_nowait()
                except Empty:
                    return
                announce(type_, **fields)

        for task in tasks:
            announce("task", model=task.model, seed=task.seed, state="queued",
                     resources=task.resources.describe())
            submit(task, 1)
        try:
            while pending:
                if study.stop():
                    raise Interrupted(study.stop.reason or "stopped")
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                drain()
                for ref in ready:
                    task, attempt = pending.pop(ref)
                    try:
                        value = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        reason = _crash_reason(exc)
                        if reason is None:
                            cause = getattr(exc, "cause", None)
                            if isinstance(cause, (CoughscopeError, Interrupted)):
                                raise cause from None
                            raise RunError(f"task {task.key} failed on its worker: "
                                           f"{type(cause or exc).__name__}: {cause or exc}",
                                           "see the traceback in the Ray worker's log") from exc
                        if attempt <= RETRIES:
                            announce("task", model=task.model, seed=task.seed, state="retry",
                                     attempt=attempt, reason=reason)
                            submit(task, attempt + 1)
                        else:
                            announce("task", model=task.model, seed=task.seed, state="failed",
                                     attempt=attempt, reason=reason)
                            out.failed[task.key] = reason
                        continue
                    install_model_dir(study.run, task.model, task.seed, value["files"])
                    for fields in value["model_end"]:
                        announce("model_end", **fields)
                    announce("task", model=task.model, seed=task.seed, state="done",
                             attempt=attempt, worker=value["worker"], device=value["device"])
                    out.results[task.key] = value["result"]
        finally:
            for ref in pending:  # interrupted or failed: nothing keeps running for us
                ray.cancel(ref, force=True)
            try:
                drain()
            except Exception:  # noqa: BLE001 - the queue's actor may be gone on the way out
                pass
            ray.kill(queue.actor)
        return out

