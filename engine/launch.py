"""Several processes, one run: what torchrun or SLURM launched us as, and rank-0-first checks.

Under ``torchrun`` (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``) or ``srun``
(``SLURM_NTASKS`` > 1, ``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NNODES``) every rank runs the
same command line. :func:`launch_info` reads the launcher's environment, so ``--devices`` need
not repeat what the launcher already says (:func:`fabric_layout` gives Fabric its ``devices``
and ``num_nodes``). :func:`rank_zero_first` runs the command line's checks (does the run exist,
is it still running) on rank 0 only and hands the result, or the error, to every rank: a rank
never trips over what rank 0 has just created.

A rank that dies must not leave the others waiting for ever: the process group gets a
timeout (:func:`process_group_timeout`, ``COUGHSCOPE_DIST_TIMEOUT`` seconds, default 600) for
the collectives of training, and a second group (:func:`orders_group`, gloo, on the CPU) with a
long one carries rank 0's orders to the others (:mod:`engine.ddp`), whose wait for rank 0's CPU
work (preprocessing, baselines, tabular fits) may rightly take longer. A SLURM job with
several tasks whose process was not started by ``srun`` is refused with the command to use:
every task would otherwise wait for peers that never start.

torch is imported inside the functions (it costs ~2 s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping, TypeVar

from .errors import ConfigError, CoughscopeError, RunError

T = TypeVar("T")


@dataclass(frozen=True)
class Launch:
    """This process's place among the launched ones (one process, rank 0, when not launched)."""

    external: bool  # started by torchrun or srun with more than one process in all
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    num_nodes: int = 1
    local_world_size: int = 1  # processes (= devices) on this node

    @property
    def distributed(self) -> bool:
        return self.external and self.world_size > 1


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ConfigError(f"the launcher set {name}={value!r}, which is not a number",
                          "launch with torchrun or srun, which set it") from None


def launch_info(env: Mapping[str, str] | None = None) -> Launch:
    """Read torchrun's or SLURM's variables (``env`` defaults to ``os.environ``)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "LOCAL_RANK" in env:  # torchrun (and anything like it)
        world = _int(env, "WORLD_SIZE", 1)
        local_world = _int(env, "LOCAL_WORLD_SIZE", world)
        nodes = _int(env, "GROUP_WORLD_SIZE", max(1, world // max(local_world, 1)))
        return Launch(external=True, rank=_int(env, "RANK", 0),
                      local_rank=_int(env, "LOCAL_RANK", 0), world_size=world,
                      num_nodes=nodes, local_world_size=local_world)
    if _int(env, "SLURM_NTASKS", 1) > 1 and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        if not _srun_step(env):
            raise ConfigError(
                f"SLURM_NTASKS={env.get('SLURM_NTASKS')} but this process was not started by "
                "srun (no SLURM_STEP_ID): each of the job's tasks would wait for the others "
                "for ever",
                "start every task with srun inside the batch script: srun python -m engine "
                "--headless ... (or ask for one task: #SBATCH --ntasks=1)")
        world = _int(env, "SLURM_STEP_NUM_TASKS", _int(env, "SLURM_NTASKS", 1))
        if world <= 1:  # srun -n 1 inside a larger allocation: one process
            return Launch(external=False)
        nodes = _int(env, "SLURM_STEP_NUM_NODES", _int(env, "SLURM_NNODES", 1))
        per_node = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
        local_world = int(per_node) if per_node.isdigit() else max(1, world // nodes)
        return Launch(external=True, rank=_int(env, "SLURM_PROCID", 0),
                      local_rank=_int(env, "SLURM_LOCALID", 0), world_size=world,
                      num_nodes=nodes, local_world_size=local_world)
    return Launch(external=False)


# the step ids SLURM gives a batch script and the job's "extern" step: not srun's tasks
_NOT_SRUN_STEPS = {"batch", "extern", "4294967294", "4294967295", "4294967293"}


def _srun_step(env: Mapping[str, str]) -> bool:
    """True when srun started this process as a task of a job step (srun sets
    ``SLURM_STEP_ID``; the batch script itself runs outside any srun step)."""
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID", "")).strip()
    return bool(step) and step not in _NOT_SRUN_STEPS and "SLURM_PROCID" in env


TIMEOUT_ENV = "COUGHSCOPE_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
ORDERS_TIMEOUT = timedelta(days=7)  # rank 0's CPU work between two fits may take hours


def process_group_timeout(env: Mapping[str, str] | None = None) -> timedelta:
    """How long a collective of training waits for a missing rank before it fails:
    ``COUGHSCOPE_DIST_TIMEOUT`` seconds, default 600 (torch's own default is 30 minutes)."""
    env = os.environ if env is None else env
    text = env.get(TIMEOUT_ENV, "").strip()
    if not text:
        return timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{TIMEOUT_ENV}={text!r} is not a positive number of seconds",
                          f"e.g. {TIMEOUT_ENV}=600 (ten minutes), or leave it unset")
    return timedelta(seconds=seconds)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random streams (dropout, initialisation before DDP copies
    rank 0's weights): the model's seed on rank 0, so one process trains as before, and
    another stream on every other rank (the same seed everywhere correlates the dropout
    masks of the ranks). Data order and splits have their own seeded generators."""
    return int(seed) + 1_000_003 * int(rank)


def preprocess_workers(launch: Launch | None = None, cpus: int | None = None) -> int:
    """Audio workers for one rank that preprocesses beside the others of its node: the node's
    cores shared out (never more processes than cores, whatever the number of ranks)."""
    launch = launch or launch_info()
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus // max(launch.local_world_size, 1))


def fabric_layout(devices: int, launch: Launch | None = None) -> tuple[int, int]:
    """Fabric's ``(devices, num_nodes)``: the launcher's when launched, else ``devices`` on one
    node. ``--devices`` other than 1 (the default) must agree with the launcher."""
    launch = launch or launch_info()
    if not launch.external:
        return devices, 1
    if devices not in (1, launch.local_world_size):
        raise ConfigError(
            f"--devices {devices} but the launcher started {launch.local_world_size} process(es)"
            f" per node ({launch.world_size} on {launch.num_nodes} node(s))",
            f"leave --devices out under torchrun/srun, or use --nproc_per_node {devices}",
        )
    return launch.local_world_size, launch.num_nodes


def ensure_process_group(launch: Launch | None = None) -> bool:
    """Join the launched processes' default process group now (before Fabric, which then reuses
    it): ``gloo`` for CPU tensors and, where CUDA is usable, ``nccl`` for CUDA tensors -- the
    backends Fabric would pick. False when not launched as several processes."""
    launch = launch or launch_info()
    if not launch.distributed:
        return False
    import torch
    import torch.distributed as dist

    _leave_process_group_at_exit()
    if dist.is_initialized():
        return True
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
    from lightning_fabric.utilities.distributed import _init_dist_connection

    cluster = TorchElasticEnvironment() if TorchElasticEnvironment.detect() else SLURMEnvironment()
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(launch.local_rank % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    _init_dist_connection(cluster, backend, launch.rank, launch.world_size,
                          timeout=process_group_timeout())
    orders_group()  # rank 0's orders (engine.ddp) travel on the CPU, apart from training's
    return True


_ORDERS: list[Any] = []


def orders_group() -> Any:
    """The gloo group that carries rank 0's orders and every pickled object (a long timeout,
    CPU tensors only). Made on first use, which every rank reaches at the same point (a
    collective): with the default group, by :func:`ensure_process_group`."""
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError("orders_group() before the process group (ensure_process_group)")
    if not _ORDERS:
        _ORDERS.append(dist.new_group(backend="gloo", timeout=ORDERS_TIMEOUT))
    return _ORDERS[-1]


_LEAVING: list[bool] = []


def _leave_process_group_at_exit() -> None:
    """Destroy the default process group when the interpreter exits (once per process).

    A process that exits without :func:`torch.distributed.destroy_process_group` leaves gloo's
    C++ worker threads to be torn down during interpreter finalisation, which aborts the
    process now and then (``terminate called without an active exception``, SIGABRT): a
    finished run would exit with a failure code under torchrun. Destroying the group is local
    to this rank (no collective), so it cannot wait on a rank that has already gone."""
    if _LEAVING:
        return
    _LEAVING.append(True)
    import atexit

    def leave() -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    atexit.register(leave)


def rank_zero_first(check: Callable[[], T], launch: Launch | None = None) -> T:
    """``check()`` on rank 0 only; every rank waits for it and gets its result, or raises the
    :class:`CoughscopeError` it raised (rank 0 has the whole story; other ranks exit with the
    same code). Not launched as several processes: just ``check()``."""
    launch = launch or launch_info()
    if not ensure_process_group(launch):
        return check()
    import torch.distributed as dist

    box: list[Any] = [None, None]
    if launch.rank == 0:
        try:
            box[0] = check()
        except BaseException as exc:  # the other ranks must not wait for an answer forever
            box[1] = ((type(exc), exc.message, exc.hint) if isinstance(exc, CoughscopeError) else
                      (RunError, f"rank 0 failed: {type(exc).__name__}: {exc}",
                       "see rank 0's output"))
            dist.broadcast_object_list(box, src=0, group=orders_group())
            raise
    dist.broadcast_object_list(box, src=0, group=orders_group())
    if box[1] is not None:
        klass, message, hint = box[1]
        raise klass(message, hint)
    return box[0]


def quiet_unless_rank_zero(launch: Launch | None = None) -> bool:
    """True on rank 0 (and when not launched); ranks above 0 send stdout to ``os.devnull``
    (rank 0 prints the progress and the results; errors still reach stderr)."""
    launch = launch or launch_info()
    if launch.rank == 0:
        return True
    import sys

    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 -- for the process
    return False
