"""The paper's torch networks, built by name: ``ann``, ``cnn``, ``resnet50``, ``imagenet50``.

Every network returns two logits (negative, positive); P(positive) is ``softmax(logits)[:, 1]``,
which equals ``sigmoid(logit_pos - logit_neg)``. The trainer's losses use exactly that:
``bce`` on the logit difference, ``ce`` on the two logits, ``mse`` (the paper's) between the
softmax and the one-hot label. So every loss trains the same head and means the same
probability.

Inputs: ``ann`` takes standardised feature rows ``(B, F)``; the others take normalised log-mel
images ``(B, 1, n_mels, T)``.

``imagenet50`` is our reading of the paper's "ImageNet50" (its only reference is the ImageNet
data set paper): an ImageNet-pretrained ResNet-50 used as a *frozen feature extractor* (kept in
eval mode, features computed without gradients) with a trained linear head. ``resnet50`` is
the same backbone fine-tuned end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ANN(nn.Module):
    """The paper's Figure 3: F -> 16 -> 8 -> 4 -> 2, ReLU between layers."""

    def __init__(self, n_features: int = 26) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, 16), nn.ReLU(),
            nn.Linear(16, 8), nn.ReLU(),
            nn.Linear(8, 4), nn.ReLU(),
            nn.Linear(4, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 5, padding="same"), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 5, padding="same"), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.15),
    ]


class CNN(nn.Module):
    """The paper's Figure 4: maxpool 2; [2 x conv 5x5 (16), maxpool 2, dropout .15]; the same
    block with 32 filters; flatten; one fully connected layer to the 2 outputs.

    The figure says the block is "repeated", so the 32-filter convolutions have ReLUs too.
    """

    def __init__(self, n_mels: int = 128, n_frames: int = 130) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.MaxPool2d(2), *_conv_block(1, 16), *_conv_block(16, 32))
        n_flat = 32 * (n_mels // 8) * (n_frames // 8)  # three 2x2 max-pools, "same" convs
        if n_flat == 0:
            raise ConfigError(
                f"a {n_mels} x {n_frames} log-mel is too small for the paper's CNN",
                "use at least 8 mel bands and 8 frames (longer clips or a smaller hop)",
            )
        self.fc = nn.Linear(n_flat, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def _bn_block(c_in: int, c_out: int, dropout: float) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.AvgPool2d(2), nn.Dropout2d(dropout),
    ]


class CNN2(nn.Module):
    """A stronger small CNN for 500-2,000 clips (not the paper's): max-pool 2, four blocks of
    two 3x3 convolutions with batch norm (16, 32, 64, 64 filters, average-pool 2, channel
    dropout .1), then the mean and the max over time and frequency (position-free: a cough
    anywhere in the clip counts the same), dropout .3 and one linear layer: 146k
    parameters (the paper CNN has 62k, half of them in its position-bound FC)."""

    def __init__(self, n_mels: int = 128, n_frames: int = 130) -> None:
        super().__init__()
        if n_mels < 32 or n_frames < 32:
            raise ConfigError(
                f"a {n_mels} x {n_frames} log-mel is too small for cnn2",
                "use at least 32 mel bands and 32 frames (longer clips or a smaller hop)",
            )
        self.features = nn.Sequential(
            nn.MaxPool2d(2), *_bn_block(1, 16, 0.1), *_bn_block(16, 32, 0.1),
            *_bn_block(32, 64, 0.1), *_bn_block(64, 64, 0.1),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


class _ImageInput(nn.Module):
    """Normalised log-mel (B, 1, H, W) -> 3-channel ImageNet-normalised image.

    The trainer z-scores log-mels with the training mean/std; here that z is mapped to a
    "pixel" ``z * mean(IMAGENET_STD) + mean(IMAGENET_MEAN)``, repeated to RGB, and normalised
    per channel with ImageNet's statistics, so the backbone sees inputs on its usual scale.
    The image is channels-last and keeps the input's dtype.
    """

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", std.mean() / std, persistent=False)
        self.register_buffer("shift", (mean.mean() - mean) / std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in x's dtype (the trainer casts inputs once, to the autocast dtype), ending in
        # channels-last, the layout the ResNet's convolutions run fastest in on GPUs
        image = x.expand(-1, 3, -1, -1) * self.scale.to(x.dtype) + self.shift.to(x.dtype)
        return image.contiguous(memory_format=torch.channels_last)


def _resnet_backbone(state: dict[str, Any] | None) -> nn.Module:
    from torchvision.models import resnet50

    net = resnet50()
    if state is not None:
        missing, unexpected = net.load_state_dict(
            {k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False
        )
        assert not unexpected and all(k.startswith("fc.") for k in missing), (missing, unexpected)
    net.fc = nn.Identity()
    return net


class ResNet50(nn.Module):
    """torchvision ResNet-50 on the log-mel image, fine-tuned end to end, 2-way head."""

    frozen_backbone = False

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.image = _ImageInput()
        self.backbone = _resnet_backbone(state)
        self.head = nn.Linear(2048, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.image(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ImageNet50(ResNet50):
    """Our reading of the paper's "ImageNet50": an ImageNet-pretrained ResNet-50 as a frozen
    feature extractor (eval mode, no gradients, batch-norm statistics untouched) with a
    trained linear head on standardised features. Only ``head`` has trainable parameters."""

    frozen_backbone = True

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__init__(state)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        # the head sees backbone features standardised with training-part statistics
        # (set by the trainer; saved in the state dict)
        self.register_buffer("feature_mean", torch.zeros(2048))
        self.register_buffer("feature_std", torch.ones(2048))

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.standardise(self.features(x)))

    def train(self, mode: bool = True) -> "ImageNet50":
        super().train(mode)
        self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return super().features(x)


def build_net(
    name: str,
    *,
    n_features: int = 26,
    n_mels: int = 128,
    n_frames: int = 130,
    backbone_state: dict[str, Any] | None = None,
) -> nn.Module:
    """A fresh network by name, from the :func:`network` registry. ``backbone_state`` is a
    ResNet-50 state dict (ImageNet weights, see :mod:`engine.weights`) or None for random
    initialisation."""
    builder = NETWORKS.get(name)
    if builder is None:
        raise ConfigError(f"no torch network named {name!r}",
                          f"torch networks: {', '.join(NETWORKS)}")
    return builder(Shape(n_features, n_mels, n_frames, backbone_state))


@dataclass(frozen=True)
class Shape:
    """What a network builder may need: input sizes and, for the ResNets, a backbone."""

    n_features: int
    n_mels: int
    n_frames: int
    backbone_state: dict[str, Any] | None


NETWORKS: dict[str, Callable[[Shape], nn.Module]] = {}


def network(name: str) -> Callable[[Callable[[Shape], nn.Module]], Callable[[Shape], nn.Module]]:
    """Register a network builder under a model name (the torch family's half of a model;
    the other half is its :class:`~engine.models.ModelSpec`, registered with
    :func:`engine.models.register_model`). ``tests/test_nets.py`` checks the two agree."""
    def register(builder: Callable[[Shape], nn.Module]) -> Callable[[Shape], nn.Module]:
        if name in NETWORKS:
            raise ValueError(f"network {name!r} registered twice")
        NETWORKS[name] = builder
        return builder
    return register


@network("ann")
def _ann(shape: Shape) -> nn.Module:
    return ANN(shape.n_features)


@network("cnn")
def _cnn(shape: Shape) -> nn.Module:
    return CNN(shape.n_mels, shape.n_frames)


@network("cnn2")
def _cnn2(shape: Shape) -> nn.Module:
    return CNN2(shape.n_mels, shape.n_frames)


@network("resnet50")
def _resnet50(shape: Shape) -> nn.Module:
    return ResNet50(shape.backbone_state)


@network("imagenet50")
def _imagenet50(shape: Shape) -> nn.Module:
    return ImageNet50(shape.backbone_state)


def uses_channels_last(name: str) -> bool:
    """The ResNets run faster with channels-last tensors on GPUs."""
    return name in ("resnet50", "imagenet50")
