"""engine.devices: device resolution, description, precision (on this machine's real torch)."""

from __future__ import annotations

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
    assert "no CUDA GPU" in info.value.message
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
    assert precision_for("cuda") in ("bf16-mixed", "32-true")
