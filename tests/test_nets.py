"""engine.models.nets and engine.weights: shapes of every network, the frozen ImageNet50
backbone, and where ResNet-50 weights come from (no download: state dicts made here)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from engine.errors import ConfigError, UnavailableError
from engine.models.nets import ImageNet50, ResNet50, build_net
from engine import weights


@pytest.fixture(scope="module")
def resnet_state_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "resnet50-random.pth"
    torch.save(resnet50().state_dict(), path)
    return path


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "torch"


def test_ann_layers_and_output() -> None:
    net = build_net("ann", n_features=26)
    widths = [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 8, 4, 2]
    assert net(torch.randn(5, 26)).shape == (5, 2)
    assert build_net("ann", n_features=10)(torch.randn(3, 10)).shape == (3, 2)


def test_cnn_follows_figure_4() -> None:
    net = build_net("cnn", n_mels=128, n_frames=32)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(16, (5, 5))] * 2 + [(32, (5, 5))] * 2
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 3
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.15, 0.15]
    # 128x32 -> three halvings -> 16x4 with 32 channels
    assert net.fc.in_features == 32 * 16 * 4
    assert net(torch.randn(2, 1, 128, 32)).shape == (2, 2)
    # the paper's 3 s clips: 130 frames
    assert build_net("cnn")(torch.randn(1, 1, 128, 130)).shape == (1, 2)


def test_cnn_too_small_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_net("cnn", n_mels=4, n_frames=4)
    assert "4 x 4" in info.value.message


def test_unknown_net() -> None:
    with pytest.raises(ConfigError) as info:
        build_net("vgg")
    assert "ann, cnn" in info.value.hint and "imagenet50" in info.value.hint


def test_resnet50_loads_given_weights(resnet_state_file: Path) -> None:
    state = weights.resolve_resnet_weights(resnet_state_file, pretrained=True)
    net = build_net("resnet50", backbone_state=state)
    assert isinstance(net, ResNet50)
    assert torch.equal(net.backbone.conv1.weight, state["conv1.weight"])
    out = net.eval()(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 2)
    assert all(p.requires_grad for p in net.parameters())


def test_imagenet50_backbone_is_frozen_in_eval_mode(resnet_state_file: Path) -> None:
    state = weights.resolve_resnet_weights(resnet_state_file, pretrained=True)
    net = build_net("imagenet50", backbone_state=state)
    assert isinstance(net, ImageNet50)
    net.train()
    assert not net.backbone.training and net.head.training
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    feats = net.features(torch.randn(2, 1, 32, 32))
    assert feats.shape == (2, 2048) and not feats.requires_grad
    net(torch.randn(2, 1, 32, 32)).sum().backward()
    assert net.head.weight.grad is not None and net.backbone.conv1.weight.grad is None


def test_image_input_maps_zscores_to_imagenet_scale() -> None:
    net = build_net("resnet50")
    z = torch.zeros(1, 1, 4, 4)
    img = net.image(z)
    assert img.shape == (1, 3, 4, 4)
    # z = 0 is the average ImageNet pixel: close to (not exactly) zero in every channel
    assert img.abs().max() < 0.2


def test_no_pretrained_is_an_explicit_random_init(torch_home: Path) -> None:
    assert weights.resolve_resnet_weights(None, pretrained=False) is None
    assert weights.weights_available(None, pretrained=False)[0]


def test_wrong_shape_names_file_and_key(tmp_path: Path, resnet_state_file: Path) -> None:
    state = torch.load(resnet_state_file, weights_only=True)
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 1, 1)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ConfigError) as info:
        weights.resolve_resnet_weights(bad, pretrained=True)
    assert str(bad) in info.value.message
    assert "'layer1.0.conv1.weight'" in info.value.message and "[3, 3, 1, 1]" in info.value.message


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    path = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(ConfigError) as info:
        weights.resolve_resnet_weights(path, pretrained=True)
    assert str(path) in info.value.message and "does not fit ResNet-50" in info.value.message


def test_pickled_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module, not a state dict
    with pytest.raises(ConfigError) as info:
        weights.resolve_resnet_weights(path, pretrained=True)
    assert str(path) in info.value.message and "state_dict" in info.value.hint


def test_missing_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(ConfigError) as info:
        weights.resolve_resnet_weights(path, pretrained=True)
    assert str(path) in info.value.message
    assert weights.weights_available(path) == (False, f"weights file {path} does not exist")


def test_no_network_says_where_to_put_the_file(
    torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    expected = torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert weights.cache_path() == expected
    ok, reason = weights.weights_available()
    assert not ok and str(expected) in reason
    with pytest.raises(UnavailableError) as info:
        weights.resolve_resnet_weights(None, pretrained=True)
    assert str(expected) in info.value.hint
    assert "--weights" in info.value.hint and "--no-pretrained" in info.value.hint


def test_cached_weights_are_used_without_download(
    torch_home: Path, resnet_state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download when the cache has the file")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    v1 = weights.cache_path("IMAGENET1K_V1")
    v1.parent.mkdir(parents=True)
    v1.write_bytes(resnet_state_file.read_bytes())
    ok, reason = weights.weights_available()
    assert ok and "IMAGENET1K_V1" in reason
    state = weights.resolve_resnet_weights(None, pretrained=True)
    assert state is not None and state["conv1.weight"].shape == (64, 3, 7, 7)


def test_every_torch_model_has_a_network_and_every_network_a_model() -> None:
    from engine.models import MODELS, register_model
    from engine.models.nets import NETWORKS

    torch_models = {name for name, spec in MODELS.items() if spec.family == "torch"}
    assert torch_models == set(NETWORKS)
    with pytest.raises(ValueError, match="twice"):
        register_model(MODELS["ann"])
