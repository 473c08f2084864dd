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

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

NETS = ("ann", "cnn", "resnet50", "imagenet50")
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
    """A fresh network by name. ``backbone_state`` is a ResNet-50 state dict (ImageNet
    weights, see :mod:`engine.weights`) or None for random initialisation."""
    if name == "ann":
        return ANN(n_features)
    if name == "cnn":
        return CNN(n_mels, n_frames)
    if name == "resnet50":
        return ResNet50(backbone_state)
    if name == "imagenet50":
        return ImageNet50(backbone_state)
    raise ConfigError(f"no torch network named {name!r}", f"torch networks: {', '.join(NETS)}")


def uses_channels_last(name: str) -> bool:
    """The ResNets run faster with channels-last tensors on GPUs."""
    return name in ("resnet50", "imagenet50")
