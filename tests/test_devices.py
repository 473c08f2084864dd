"""engine.devices: device resolution, description, precision (on this machine's real torch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.devices import CPU_NOTICE, describe_device, precision_for, resolve_device
from engine.errors import ConfigError, ExitCode, UnavailableError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@no_cuda
def test_cuda_requested_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(UnavailableError) as info:
        resolve_device("cuda")
    assert "--device cuda" in info.value.message
    assert "no CUDA GPU is usable" in info.value.message
    assert "--device auto" in info.value.hint
    assert info.value.exit_code == ExitCode.UNAVAILABLE


@no_cuda
def test_auto_falls_back_to_cpu_with_a_notice() -> None:
    if torch.backends.mps.is_available():
        pytest.skip("MPS present")
    assert resolve_device("auto") == ("cpu", CPU_NOTICE)
    assert CPU_NOTICE == "no GPU found; training on CPU"


def test_cpu_is_always_available_without_notice() -> None:
    assert resolve_device("cpu") == ("cpu", None)


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device("tpu")
    assert "'tpu'" in info.value.message
    assert "auto, cpu, cuda, mps" in info.value.hint


def test_describe_cpu_counts_cores() -> None:
    text = describe_device("cpu")
    assert text.startswith("CPU (") and text.endswith(" cores)")
    assert int(text[5:].split()[0]) >= 1


def test_precision_is_full_on_cpu() -> None:
    assert precision_for("cpu") == "32-true"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_description_and_bf16() -> None:  # pragma: no cover - GPU machines only
    assert resolve_device("auto") == ("cuda", None)
    assert "GiB" in describe_device("cuda")
    major, _ = torch.cuda.get_device_capability()
    assert precision_for("cuda") == ("bf16-mixed" if major >= 8 else "16-mixed")


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "16-mixed")])
def test_bf16_only_where_the_gpu_has_it_natively(monkeypatch: pytest.MonkeyPatch, native: bool,
                                                 expected: str) -> None:
    """A V100 or T4 'supports' bf16 only by emulation (slow): those get fp16 with a loss
    scaler. The GPU's answers are simulated here; test_cuda_* below ask a real one."""
    asked: list[bool] = []

    def bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return native or including_emulation  # emulation is always "available"

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16_supported)
    assert precision_for("cuda") == expected
    assert precision_for("cuda:1") == expected
    assert asked and not any(asked)  # never counting emulation
    assert precision_for("cpu") == "32-true" and precision_for("mps") == "32-true"


def test_inference_device_defaults_to_the_cpu() -> None:
    from engine.devices import inference_device

    assert inference_device() == "cpu"
    assert inference_device("cpu") == "cpu"
    assert inference_device("auto") == resolve_device("auto")[0]


@no_cuda
def test_inference_on_cuda_without_a_gpu_is_a_clear_error() -> None:
    from engine.devices import inference_device

    with pytest.raises(UnavailableError):
        inference_device("cuda")


# ---------------------------------------------------------------- launcher environment


def test_launch_info_reads_torchrun() -> None:
    from engine.launch import fabric_layout, launch_info

    env = {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4",
           "GROUP_WORLD_SIZE": "2"}
    info = launch_info(env)
    assert (info.external, info.rank, info.local_rank, info.world_size) == (True, 5, 1, 8)
    assert (info.num_nodes, info.local_world_size, info.distributed) == (2, 4, True)
    # the default --devices 1 takes the launcher's layout; a matching --devices is fine too
    assert fabric_layout(1, info) == (4, 2) == fabric_layout(4, info)


def test_launch_info_reads_slurm() -> None:
    from engine.launch import fabric_layout, launch_info

    env = {"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4(x2)",
           "SLURM_PROCID": "6", "SLURM_LOCALID": "2", "SLURM_JOB_NAME": "train",
           "SLURM_STEP_ID": "0"}  # srun's task of step 0
    info = launch_info(env)
    assert (info.rank, info.local_rank, info.world_size, info.num_nodes) == (6, 2, 8, 2)
    assert fabric_layout(1, info) == (4, 2)
    # an interactive allocation running the command directly is not a launch
    assert not launch_info(dict(env, SLURM_JOB_NAME="bash")).external
    # srun -n 1 inside the allocation: one process
    assert not launch_info(dict(env, SLURM_STEP_NUM_TASKS="1")).external


@pytest.mark.parametrize("step", [None, "batch", "4294967294"])
def test_a_slurm_job_of_several_tasks_not_started_by_srun_is_refused(step: str | None) -> None:
    """`python -m engine` in an sbatch script of --ntasks 2: every task would wait for peers
    that never start (it hung after "MEMBER: 1/2"). The message says how to launch it."""
    from engine.launch import launch_info

    env = {"SLURM_NTASKS": "2", "SLURM_NNODES": "1", "SLURM_NTASKS_PER_NODE": "2",
           "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_JOB_NAME": "train"}
    if step is not None:
        env["SLURM_STEP_ID"] = step
    with pytest.raises(ConfigError) as err:
        launch_info(env)
    assert "SLURM_NTASKS=2" in err.value.message and "srun" in err.value.message
    assert "srun python -m engine --headless" in err.value.hint


def test_the_process_group_timeout_is_ten_minutes_unless_set() -> None:
    from datetime import timedelta

    from engine.launch import process_group_timeout

    assert process_group_timeout({}) == timedelta(minutes=10)
    assert process_group_timeout({"COUGHSCOPE_DIST_TIMEOUT": "90"}) == timedelta(seconds=90)
    for bad in ("ten", "0", "-5", "inf", "nan"):
        with pytest.raises(ConfigError) as err:
            process_group_timeout({"COUGHSCOPE_DIST_TIMEOUT": bad})
        assert f"COUGHSCOPE_DIST_TIMEOUT={bad!r}" in err.value.message


def test_preprocessing_workers_share_the_node_between_its_ranks() -> None:
    from engine.launch import Launch, preprocess_workers

    assert preprocess_workers(Launch(external=True, world_size=16, local_world_size=8),
                              cpus=16) == 2
    assert preprocess_workers(Launch(external=False), cpus=16) == 16
    assert preprocess_workers(Launch(external=True, world_size=8, local_world_size=8),
                              cpus=4) == 1


def test_rank_seeds_differ_and_rank_zero_keeps_the_model_seed() -> None:
    from engine.launch import rank_seed

    assert rank_seed(3, 0) == 3
    assert len({rank_seed(s, r) for s in range(4) for r in range(8)}) == 32


def test_devices_without_a_launcher_are_refused_before_any_work(tmp_path: Path) -> None:
    """Defect 7: `--devices 2` as one process was refused only after preprocessing, in a
    run directory left "failed". Now: before anything is read or made."""
    from engine.cli import main

    runs, cache = tmp_path / "runs", tmp_path / "user-cache"  # conftest's cache
    code = main(["--headless", "--data", "demo:40", "--models", "ann", "--devices", "2",
                 "--device", "cpu", "--runs-dir", str(runs), "--run-id", "x"])
    assert code == 2
    assert not (runs / "x").exists()
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_devices_that_disagree_with_the_launcher_are_named() -> None:
    from engine.launch import fabric_layout, launch_info

    info = launch_info({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2",
                        "LOCAL_WORLD_SIZE": "2"})
    with pytest.raises(ConfigError) as err:
        fabric_layout(4, info)
    assert "--devices 4" in err.value.message and "2 process(es) per node" in err.value.message
    assert fabric_layout(3, launch_info({})) == (3, 1)  # not launched: --devices as given


def test_rank_zero_first_without_a_launcher_just_checks() -> None:
    from engine.launch import launch_info, rank_zero_first

    assert rank_zero_first(lambda: 42, launch_info({})) == 42
    with pytest.raises(ConfigError):
        rank_zero_first(lambda: (_ for _ in ()).throw(ConfigError("bad", "fix")), launch_info({}))


@no_cuda
def test_a_gpu_torch_cannot_use_is_named_with_the_driver_it_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """nvidia-smi installed but CUDA unusable (typically a driver older than R580)."""
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else real_which(name))
    if not torch.backends.mps.is_available():
        device, notice = resolve_device("auto")
        assert device == "cpu" and notice is not None
        assert "driver 580 or newer" in notice and "training on CPU" in notice
    with pytest.raises(UnavailableError) as info:
        resolve_device("cuda")
    assert "driver 580 or newer" in info.value.hint and "nvidia-smi" in info.value.hint
