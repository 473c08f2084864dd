"""Which device trains: resolving ``--device``, describing it, and picking its precision.

``auto`` prefers CUDA, then Apple's MPS, then the CPU (with a notice saying so). Asking for a
device that is not here is an :class:`~engine.errors.UnavailableError`, never a silent
fallback. torch is imported inside the functions (it costs ~2 s).
"""

from __future__ import annotations

import os

from .errors import ConfigError, UnavailableError

DEVICES = ("auto", "cpu", "cuda", "mps")
CPU_NOTICE = "no GPU found; training on CPU"
# torch's CUDA 13.0 wheels (torch 2.14.1+cu130) need NVIDIA's R580 driver or newer
DRIVER_HINT = ("torch {torch} is built for CUDA {cuda}, which needs NVIDIA driver 580 or newer:"
               " `nvidia-smi` shows the driver version in its first lines")


def _gpu_but_unusable() -> str | None:
    """A notice when the machine has an NVIDIA GPU (``nvidia-smi`` is installed) that torch
    cannot use: usually a driver older than torch's CUDA build needs."""
    import shutil

    import torch

    if shutil.which("nvidia-smi") is None or torch.cuda.is_available():
        return None
    return DRIVER_HINT.format(torch=torch.__version__, cuda=torch.version.cuda or "none")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str = "auto") -> tuple[str, str | None]:
    """``requested`` -> (``"cpu"`` | ``"cuda"`` | ``"mps"``, a notice for the user or None)."""
    if requested not in DEVICES:
        raise ConfigError(f"unknown device {requested!r}", f"use one of: {', '.join(DEVICES)}")
    import torch

    if requested == "cpu":
        return "cpu", None
    if requested == "cuda":
        if not torch.cuda.is_available():
            unusable = _gpu_but_unusable()
            raise UnavailableError(
                "--device cuda was requested but no CUDA GPU is usable on this machine"
                f" (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'})",
                (f"{unusable}; " if unusable else "") +
                "use --device auto (falls back to the CPU) or --device cpu; on a GPU server"
                " check nvidia-smi and CUDA_VISIBLE_DEVICES",
            )
        return "cuda", None
    if requested == "mps":
        if not _mps_available():
            raise UnavailableError(
                "--device mps was requested but Apple's MPS backend is not available here",
                "use --device auto or --device cpu",
            )
        return "mps", None
    if torch.cuda.is_available():
        return "cuda", None
    if _mps_available():
        return "mps", None
    unusable = _gpu_but_unusable()
    return "cpu", (f"an NVIDIA GPU is installed but torch cannot use it ({unusable});"
                   " training on CPU" if unusable else CPU_NOTICE)


def describe_device(device: str) -> str:
    """A one-line description, e.g. ``NVIDIA H100 80GB HBM3 (79.6 GiB)`` or ``CPU (2 cores)``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.cuda.current_device() if device == "cuda" else int(device.split(":")[1])
        props = torch.cuda.get_device_properties(index)
        return f"{props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device == "mps":
        return "Apple GPU (MPS)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cores} cores)"


def precision_for(device: str) -> str:
    """Fabric precision: ``bf16-mixed`` on CUDA GPUs with native bf16 (compute capability 8.0+:
    A100, H100, H200, RTX 30xx+), ``16-mixed`` (fp16 with a loss scaler) on older CUDA GPUs
    (V100, T4), where bf16 would only be emulated, slowly; ``32-true`` elsewhere."""
    import torch

    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return "32-true"
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return "bf16-mixed"
    return "16-mixed"


def inference_device(requested: str = "cpu") -> str:
    """Where a finished model predicts: ``requested`` resolved like ``--device`` (``auto``: a
    GPU when there is one). Without a notice: predicting on the CPU is normal."""
    return resolve_device(requested)[0]
