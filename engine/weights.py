"""ImageNet weights for the ResNet-50 models (``resnet50``, ``imagenet50``).

Where the weights come from, in order:

1. ``--weights PATH``: a ResNet-50 state dict, loaded with ``torch.load(weights_only=True)``
   and checked key by key against torchvision's ResNet-50 (the ``fc.*`` head may have any
   shape or be absent: the models replace it).
2. torchvision's ``ResNet50_Weights.IMAGENET1K_V2`` (or ``V1``) from ``TORCH_HOME``'s cache
   (``torch.hub.get_dir()/checkpoints/<file>``); downloaded only when that file is absent.
3. Nothing: an :class:`~engine.errors.UnavailableError` that names the file and the folder to
   put it in. A transfer-learning model is never trained from random weights silently;
   ``--no-pretrained`` (``pretrained=False``) makes random initialisation an explicit choice.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigError, UnavailableError

# torchvision's enum member names, most preferred first
WEIGHT_VERSIONS = ("IMAGENET1K_V2", "IMAGENET1K_V1")


def _weights_enum(version: str) -> Any:
    from torchvision.models import ResNet50_Weights

    return getattr(ResNet50_Weights, version)


def cache_path(version: str = WEIGHT_VERSIONS[0]) -> Path:
    """Where torchvision keeps (or would keep) the ``version`` weights file."""
    import torch

    url = _weights_enum(version).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _cached_version() -> str | None:
    for version in WEIGHT_VERSIONS:
        if cache_path(version).is_file():
            return version
    return None


def weights_available(explicit: Path | None = None, pretrained: bool = True) -> tuple[bool, str]:
    """Whether ResNet-50 weights can be had without a download, and why (or why not)."""
    if not pretrained:
        return True, "random initialisation (--no-pretrained)"
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.exists():  # whether it is a ResNet-50 state dict: check_weights
            return True, f"weights from {path}"
        return False, f"weights file {path} does not exist"
    version = _cached_version()
    if version is not None:
        return True, f"torchvision {version} weights cached at {cache_path(version)}"
    return False, (
        f"ImageNet ResNet-50 weights are not in the torchvision cache ({cache_path()});"
        " pass --weights PATH, put the file there, or use --no-pretrained"
    )


def resolve_resnet_weights(explicit: Path | None, pretrained: bool) -> dict[str, Any] | None:
    """The ResNet-50 state dict to start from, or None for an explicit random initialisation."""
    if not pretrained:
        return None
    if explicit is not None:
        return load_state_dict_file(Path(explicit).expanduser())
    version = _cached_version()
    if version is not None:
        return _load_cached(version)
    return _download(WEIGHT_VERSIONS[0])


def check_weights(path: str | Path) -> None:
    """Check a ``--weights`` file before any work: it must load as a plain state dict with
    ResNet-50's keys and shapes. Raises :class:`ConfigError` naming the file and the problem."""
    load_state_dict_file(Path(path).expanduser())


def load_state_dict_file(path: Path) -> dict[str, Any]:
    """Load and shape-check a ResNet-50 state dict saved with ``torch.save``."""
    import torch

    if not path.exists():
        raise ConfigError(
            f"weights file {path} does not exist",
            "pass --weights with the path of a ResNet-50 state dict (.pth), or --no-pretrained",
        )
    if not path.is_file():
        raise ConfigError(
            f"weights file {path} is not a regular file",
            "pass --weights with the path of a ResNet-50 state dict (.pth), or --no-pretrained",
        )
    try:
        with warnings.catch_warnings():  # torch warns about some files before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ConfigError(f"weights file {path} cannot be read: {exc.strerror or exc}",
                          "check the file's permissions") from None
    except Exception as exc:  # any file that is not a torch state dict (text: IndexError)
        raise ConfigError(
            f"weights file {path} is not a plain state dict ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            "save it with torch.save(model.state_dict(), path); pickled models are refused",
        ) from None
    check_resnet50_state(state, path)
    return state


def check_resnet50_state(state: Any, path: Path | str) -> None:
    """Raise ConfigError naming ``path`` and the first key that does not fit ResNet-50."""
    if not isinstance(state, dict):
        raise ConfigError(
            f"weights file {path} holds a {type(state).__name__}, not a state dict",
            "save it with torch.save(model.state_dict(), path)",
        )
    expected = _resnet50_shapes()
    for key, shape in expected.items():
        if key.startswith("fc."):
            continue
        if key not in state:
            raise ConfigError(
                f"weights file {path} does not fit ResNet-50: key {key!r} is missing",
                "pass a torchvision resnet50 state dict (keys like 'conv1.weight', "
                "'layer1.0.conv1.weight'), or --no-pretrained",
            )
        got = tuple(getattr(state[key], "shape", ()))
        if got != shape:
            raise ConfigError(
                f"weights file {path} does not fit ResNet-50: key {key!r} has shape "
                f"{list(got)}, expected {list(shape)}",
                "pass the weights of a torchvision resnet50 (not another depth or width)",
            )
    extra = [k for k in state if k not in expected]
    if extra:
        raise ConfigError(
            f"weights file {path} does not fit ResNet-50: unexpected key {extra[0]!r}",
            "pass a plain torchvision resnet50 state dict (no 'module.' prefixes or wrappers)",
        )


def _resnet50_shapes() -> dict[str, tuple[int, ...]]:
    from torchvision.models import resnet50

    return {k: tuple(v.shape) for k, v in resnet50().state_dict().items()}


def _load_cached(version: str) -> dict[str, Any]:
    import torch

    path = cache_path(version)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn download, a corrupt file
        raise UnavailableError(
            f"cached ImageNet weights {path} cannot be read ({type(exc).__name__})",
            f"delete {path} and retry with network, or pass --weights PATH",
        ) from None


def _download(version: str) -> dict[str, Any]:
    import torch

    url = _weights_enum(version).url
    target = cache_path(version)
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except Exception as exc:  # no network, proxy, hash mismatch
        raise UnavailableError(
            f"ImageNet ResNet-50 weights could not be downloaded from {url}"
            f" ({type(exc).__name__}: {exc})",
            f"download {url} elsewhere and put it at {target} (TORCH_HOME={target.parents[2]}),"
            " or pass --weights PATH to a resnet50 state dict, or use --no-pretrained for an"
            " explicitly random initialisation",
        ) from None
