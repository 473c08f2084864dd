"""engine.trainer: recipe resolution, losses, real Fabric training on tiny data, checkpoints,
resumption and interruption (CPU, 1-5 epochs, seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine import trainer
from engine.config import TrainRecipe
from engine.errors import ConfigError, DataError
from engine.models import FitContext, Part, TrainData, get_spec


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def features(n: int, seed: int, shift: float = 2.0, pos: float = 0.5) -> Part:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos).astype(np.int64)
    X = rng.normal(size=(n, 26)).astype(np.float32) * 3 + 10  # not standardised
    X[:, :4] += shift * 3 * y[:, None]
    return Part(X, y)


def spectrograms(n: int, seed: int, frames: int = 32) -> Part:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.int64)
    X = rng.normal(-40, 5, size=(n, 128, frames)).astype(np.float16)
    X[:, 16:48, :] += (8.0 * y)[:, None, None].astype(np.float16)
    return Part(X, y)


def context(tmp_path: Path, records: list[dict[str, Any]] | None = None, **recipe: Any) -> FitContext:
    sink = records if records is not None else []
    return FitContext(
        recipe=TrainRecipe(**{"epochs": 3, "batch_size": 32, **recipe}),
        seed=0,
        workdir=tmp_path / "m" / "0",
        on_epoch=sink.append,
    )


# ---------------------------------------------------------------- recipes


def test_paper_recipe_uses_the_papers_choices() -> None:
    paper = TrainRecipe(preset="paper", class_weighting=False, early_stopping_patience=None)
    ann = trainer.resolve_recipe(get_spec("ann"), paper)
    assert (ann.optimizer, ann.lr, ann.loss, ann.momentum) == ("sgd", 0.01, "mse", 0.0)
    assert ann.weight_decay == 0.0 and not ann.class_weighting
    assert ann.early_stopping_patience is None
    cnn = trainer.resolve_recipe(get_spec("cnn"), paper)
    assert (cnn.optimizer, cnn.lr, cnn.loss) == ("adam", 1e-3, "bce")


def test_default_recipe_is_adamw_weighted_ce_with_early_stopping() -> None:
    r = trainer.resolve_recipe(get_spec("resnet50"), TrainRecipe())
    assert (r.optimizer, r.lr, r.loss) == ("adamw", 1e-4, "ce")
    assert r.class_weighting and r.early_stopping_patience == 8 and r.weight_decay == 1e-4
    assert trainer.resolve_recipe(get_spec("ann"), TrainRecipe()).lr == 3e-3


def test_explicit_choices_override_the_preset() -> None:
    recipe = TrainRecipe(preset="paper", optimizer="adamw", lr=0.5, loss="bce")
    r = trainer.resolve_recipe(get_spec("ann"), recipe)
    assert (r.optimizer, r.lr, r.loss) == ("adamw", 0.5, "bce")


@pytest.mark.parametrize(
    "settings, word",
    [
        ({"optimizer": "rmsprop"}, "'rmsprop'"),
        ({"loss": "hinge"}, "'hinge'"),
        ({"preset": "fast"}, "'fast'"),
        ({"lr": -1.0}, "-1.0"),
    ],
)
def test_bad_recipe_values_are_named(settings: dict[str, Any], word: str) -> None:
    """A bad value is refused where the recipe is made (engine.config checks every field)."""
    with pytest.raises(ConfigError) as info:
        TrainRecipe(**settings)
    assert word in info.value.message


# ---------------------------------------------------------------- losses


def _loop(tmp_path: Path, **recipe: Any) -> trainer.EpochLoop:
    ctx = context(tmp_path, **recipe)
    data = TrainData(features(100, 0, pos=0.2), features(40, 1))
    return trainer.EpochLoop(get_spec("ann"), data, ctx, trainer.make_fabric(ctx))


def test_class_weighting_changes_the_loss(tmp_path: Path) -> None:
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.3, 0.2], [2.0, -1.0]])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    for loss in ("bce", "ce", "mse"):
        weighted = _loop(tmp_path, loss=loss, class_weighting=True)
        plain = _loop(tmp_path, loss=loss, class_weighting=False)
        assert not torch.isclose(weighted.loss(logits, y), plain.loss(logits, y)), loss
    loop = _loop(tmp_path, loss="bce", class_weighting=True)
    counts = np.bincount(features(100, 0, pos=0.2).y)
    assert loop.pos_weight.item() == pytest.approx(counts[0] / counts[1])
    assert loop.class_weights.tolist() == pytest.approx((100 / (2 * counts)).tolist())


def test_mse_is_softmax_against_one_hot(tmp_path: Path) -> None:
    loop = _loop(tmp_path, loss="mse", class_weighting=False)
    zero = torch.zeros(3, 2)
    assert loop.loss(zero, torch.tensor([1.0, 0.0, 1.0])).item() == pytest.approx(0.25)
    sure = torch.tensor([[-20.0, 20.0]])
    assert loop.loss(sure, torch.tensor([1.0])).item() == pytest.approx(0.0, abs=1e-6)


def test_bce_margin_matches_softmax_probability(tmp_path: Path) -> None:
    loop = _loop(tmp_path, loss="bce", class_weighting=False)
    logits = torch.tensor([[0.5, 1.5]])
    p = torch.softmax(logits, 1)[0, 1]
    assert loop.loss(logits, torch.tensor([1.0])).item() == pytest.approx(-torch.log(p).item())


# ---------------------------------------------------------------- training


def test_ann_learns_separable_features(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=5, batch_size=16, lr=1e-2)
    predictor = trainer.fit(get_spec("ann"), TrainData(features(240, 0), features(80, 1)), ctx)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_auc"):
        assert all(np.isfinite(r[key]) for r in records), key
    assert max(r["val_auc"] for r in records) > 0.9
    test = features(60, 2)
    assert trainer.roc_auc(test.y, predictor.predict_proba(test.X)) > 0.9
    meta = json.loads((ctx.workdir / "model.json").read_text())
    assert meta["model"] == "ann" and meta["input_shape"] == [26]
    assert len(meta["norm"]["mean"]) == 26 and meta["norm"]["mean"][5] == pytest.approx(10, abs=1)
    assert meta["best_epoch"] == max(records, key=lambda r: (r["val_auc"], -r["val_loss"]))["epoch"]


def test_cnn_learns_a_band_and_reloads(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=3, batch_size=16)
    train = spectrograms(96, 0)
    predictor = trainer.fit(get_spec("cnn"), TrainData(train, spectrograms(32, 1)), ctx)
    assert max(r["val_auc"] for r in records) > 0.9
    reloaded = trainer.load(get_spec("cnn"), ctx.workdir)
    probe = spectrograms(8, 3).X
    assert np.allclose(reloaded.predict_proba(probe), predictor.predict_proba(probe), atol=1e-5)
    # spectrograms with an explicit channel axis are accepted too
    assert np.allclose(predictor.predict_proba(probe[:, None]), predictor.predict_proba(probe))
    meta = json.loads((ctx.workdir / "model.json").read_text())
    assert meta["input_shape"] == [1, 128, 32] and meta["norm"]["mean"] == pytest.approx(
        train.X.astype(np.float64).mean()
    )
    assert meta["norm"]["std"] == pytest.approx(train.X.astype(np.float64).std())


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    data = TrainData(features(160, 0, shift=0.5), features(60, 1, shift=0.5))
    spec = get_spec("ann")
    full: list[dict[str, Any]] = []
    straight = trainer.fit(spec, data, context(tmp_path / "a", full, epochs=4))

    part: list[dict[str, Any]] = []
    ctx = context(tmp_path / "b", part, epochs=4)
    ctx.should_stop = lambda: len(part) >= 2
    with pytest.raises(trainer.Interrupted) as info:
        trainer.fit(spec, data, ctx)
    assert info.value.epoch == 2 and len(part) == 2
    last = torch.load(ctx.workdir / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and [h["epoch"] for h in last["history"]] == [1, 2]

    ctx.should_stop = lambda: False
    ctx.resume = True
    resumed = trainer.fit(spec, data, ctx)
    assert [r["epoch"] for r in part] == [1, 2, 3, 4]
    for a, b in zip(full, part):
        for key in ("train_loss", "train_acc", "val_loss", "val_auc"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    probe = features(20, 5).X
    assert np.allclose(straight.predict_proba(probe), resumed.predict_proba(probe), atol=1e-6)


def test_stop_before_the_first_epoch_completes(tmp_path: Path) -> None:
    ctx = context(tmp_path, epochs=3)
    ctx.should_stop = lambda: True
    with pytest.raises(trainer.Interrupted) as info:
        trainer.fit(get_spec("ann"), TrainData(features(64, 0), features(32, 1)), ctx)
    assert info.value.epoch == 0
    assert str(ctx.workdir / "last.pt") in str(info.value)
    assert torch.load(ctx.workdir / "last.pt", weights_only=True)["epoch"] == 0


def test_early_stopping_after_patience(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = TrainData(
        Part(rng.normal(size=(96, 26)).astype(np.float32), rng.integers(0, 2, 96)),
        Part(rng.normal(size=(48, 26)).astype(np.float32), rng.integers(0, 2, 48)),
    )
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=40, early_stopping_patience=2)
    trainer.fit(get_spec("ann"), noise, ctx)
    assert len(records) < 40
    assert records[-1]["epoch"] - records[-1]["best_epoch"] == 2


def test_one_class_training_part_is_a_data_error(tmp_path: Path) -> None:
    one = features(40, 0)
    one.y[:] = 0
    with pytest.raises(DataError) as info:
        trainer.fit(get_spec("ann"), TrainData(one, features(20, 1)), context(tmp_path))
    assert "only one class" in info.value.message and "40 negative" in info.value.message


def test_wrong_input_kind_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        trainer.fit(get_spec("cnn"), TrainData(features(40, 0), features(20, 1)), context(tmp_path))
    assert "cnn takes spectrogram" in info.value.message and "[40, 26]" in info.value.message


def test_several_devices_need_torchrun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    ctx = context(tmp_path)
    ctx.devices, ctx.strategy = 2, "ddp"
    with pytest.raises(ConfigError) as info:
        trainer.fit(get_spec("ann"), TrainData(features(40, 0), features(20, 1)), ctx)
    assert "torchrun --nproc_per_node 2" in info.value.hint


def test_resnets_train_from_given_weights(tmp_path: Path) -> None:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    weights_file = tmp_path / "r50.pth"
    torch.save(resnet50().state_dict(), weights_file)
    small = TrainData(spectrograms(6, 0, frames=32), spectrograms(4, 1, frames=32))
    for name in ("imagenet50", "resnet50"):
        records: list[dict[str, Any]] = []
        ctx = context(tmp_path / name, records, epochs=1, batch_size=6)
        ctx.weights = weights_file
        predictor = trainer.fit(get_spec(name), TrainData(
            Part(small.train.X[:, :32], small.train.y), Part(small.val.X[:, :32], small.val.y)
        ), ctx)
        assert len(records) == 1 and np.isfinite(records[0]["train_loss"])
        conv1 = predictor.net.backbone.conv1.weight.detach().cpu()
        start = torch.load(weights_file, weights_only=True)["conv1.weight"]
        # the frozen extractor keeps its ImageNet weights; fine-tuning moves them
        assert torch.equal(conv1, start) == (name == "imagenet50")
        if name == "imagenet50":  # the head sees features standardised on the training part
            assert not torch.equal(predictor.net.feature_std.cpu(), torch.ones(2048))
            assert predictor.net.feature_mean.abs().sum() > 0
        reloaded = trainer.load(get_spec(name), ctx.workdir)
        probe = small.val.X[:, :32]
        assert np.allclose(reloaded.predict_proba(probe), predictor.predict_proba(probe), atol=1e-5)



def test_predictor_refuses_inputs_of_another_shape(tmp_path: Path) -> None:
    predictor = trainer.fit(get_spec("ann"), TrainData(features(40, 0), features(20, 1)),
                            context(tmp_path, epochs=1))
    with pytest.raises(DataError) as info:
        predictor.predict_proba(np.zeros((2, 30), dtype=np.float32))
    assert "[26]" in info.value.message and "[30]" in info.value.message


def test_resume_from_a_foreign_checkpoint_is_a_run_error(tmp_path: Path) -> None:
    from engine.errors import RunError

    ctx = context(tmp_path, epochs=1)
    ctx.workdir.mkdir(parents=True)
    (ctx.workdir / "last.pt").write_bytes(b"not a checkpoint")
    ctx.resume = True
    with pytest.raises(RunError) as info:
        trainer.fit(get_spec("ann"), TrainData(features(40, 0), features(20, 1)), ctx)
    assert str(ctx.workdir / "last.pt") in info.value.message
    assert "delete" in info.value.hint


# ---------------------------------------------------------------- checkpoint I/O (issue 12)


@pytest.fixture()
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files the trainer writes, in order (the real writes still happen)."""
    seen: list[str] = []
    real = trainer.atomic_write_bytes

    def recording(path: Path, data: bytes) -> None:
        seen.append(Path(path).name)
        real(path, data)

    monkeypatch.setattr(trainer, "atomic_write_bytes", recording)
    return seen


def test_last_pt_is_written_every_n_epochs_not_every_epoch(tmp_path: Path, writes: list[str]) -> None:
    ctx = context(tmp_path, epochs=5, early_stopping_patience=None, checkpoint_seconds=1e6,
                  checkpoint_epochs=2)
    trainer.fit(get_spec("ann"), TrainData(features(64, 0), features(32, 1)), ctx)
    assert writes.count("last.pt") == 2  # after epochs 2 and 4
    assert torch.load(ctx.workdir / "last.pt", weights_only=True)["epoch"] == 4


def test_best_pt_is_written_once_even_when_saved_again(tmp_path: Path, writes: list[str]) -> None:
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=4, checkpoint_seconds=1e6)
    predictor = trainer.fit(get_spec("ann"), TrainData(features(96, 0), features(32, 1)), ctx)
    assert len({r["best_epoch"] for r in records}) > 1  # the best epoch moved during the fit
    assert writes == ["best.pt"] and not (ctx.workdir / "last.pt").exists()
    predictor.save(ctx.workdir)  # what the runner does after every fit
    assert writes == ["best.pt"]
    other = tmp_path / "copy"
    other.mkdir()
    predictor.save(other)  # another directory gets its own copy
    assert writes == ["best.pt", "best.pt"]
    reloaded = trainer.load(get_spec("ann"), other)
    probe = features(10, 4).X
    assert np.allclose(reloaded.predict_proba(probe), predictor.predict_proba(probe), atol=1e-6)


def test_stop_mid_epoch_saves_and_resumes_exactly(tmp_path: Path, writes: list[str]) -> None:
    """The cnn has dropout (CPU RNG) and 6 batches an epoch; the stop comes in epoch 2."""
    data = TrainData(spectrograms(90, 0, frames=16), spectrograms(30, 1, frames=16))
    spec = get_spec("cnn")
    full: list[dict[str, Any]] = []
    straight = trainer.fit(spec, data, context(tmp_path / "a", full, epochs=3, batch_size=16,
                                               checkpoint_seconds=1e6))
    part: list[dict[str, Any]] = []
    ctx = context(tmp_path / "b", part, epochs=3, batch_size=16, checkpoint_seconds=1e6)
    polls = [0]

    def stop_in_epoch_two() -> bool:
        polls[0] += 1
        return polls[0] > 6 + 3  # epoch 1's six batches, then three of epoch 2

    ctx.should_stop = stop_in_epoch_two
    writes.clear()
    with pytest.raises(trainer.Interrupted) as info:
        trainer.fit(spec, data, ctx)
    assert info.value.epoch == 1 and writes == ["best.pt", "last.pt"]  # on stop only
    last = torch.load(ctx.workdir / "last.pt", weights_only=True)
    assert (last["epoch"], last["batch"]) == (1, 3)
    ctx.should_stop, ctx.resume = (lambda: False), True
    resumed = trainer.fit(spec, data, ctx)
    assert [r["epoch"] for r in part] == [1, 2, 3]
    for a, b in zip(full, part):
        for key in ("train_loss", "train_acc", "val_loss", "val_auc"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    probe = spectrograms(6, 5, frames=16).X
    assert np.allclose(straight.predict_proba(probe), resumed.predict_proba(probe), atol=1e-6)


def test_undefined_validation_values_are_none_not_nan(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = []
    one_class = features(30, 1)
    one_class.y[:] = 0
    warnings: list[str] = []
    ctx = context(tmp_path, records, epochs=2)
    ctx.warn = warnings.append
    trainer.fit(get_spec("ann"), TrainData(features(64, 0), one_class), ctx)
    assert [r["val_auc"] for r in records] == [None, None]
    json.dumps(records, allow_nan=False)  # the event writer refuses NaN
    assert any("validation AUC undefined" in w for w in warnings)


def test_imagenet50_keeps_only_its_head_as_best_state(tmp_path: Path, writes: list[str]) -> None:
    data = TrainData(spectrograms(12, 0, frames=32), spectrograms(6, 1, frames=32))
    spec = get_spec("imagenet50")
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=3, batch_size=6, checkpoint_seconds=1e6)
    ctx.pretrained = False
    ctx.should_stop = lambda: len(records) >= 2
    with pytest.raises(trainer.Interrupted):
        trainer.fit(spec, data, ctx)
    assert writes == ["last.pt"]  # the best head travels inside last.pt: no 98 MB best.pt
    last = torch.load(ctx.workdir / "last.pt", weights_only=True)
    assert set(last["best_model"]) == {"head.weight", "head.bias", "feature_mean", "feature_std"}
    assert set(last["model"]) == {"weight", "bias"}
    ctx.should_stop, ctx.resume = (lambda: False), True
    predictor = trainer.fit(spec, data, ctx)
    assert writes == ["last.pt", "best.pt"]
    reloaded = trainer.load(spec, ctx.workdir)
    assert np.allclose(reloaded.predict_proba(data.val.X), predictor.predict_proba(data.val.X),
                       atol=1e-5)


def test_checkpoint_settings_cannot_be_negative() -> None:
    """Refused where the recipe is made (engine.config checks every field)."""
    with pytest.raises(ConfigError) as info:
        TrainRecipe(checkpoint_seconds=-1)
    assert "checkpoint_seconds = -1" in info.value.message and "60" in info.value.hint
    with pytest.raises(ConfigError) as info:
        TrainRecipe(checkpoint_epochs=-2)
    assert "checkpoint_epochs = -2" in info.value.message


# ---------------------------------------------------------------- layout and casts (issue 12)


def test_inputs_are_cast_once_to_bf16_and_the_resnet_image_is_channels_last(tmp_path: Path) -> None:
    ctx = context(tmp_path, epochs=1, batch_size=4)
    ctx.precision, ctx.pretrained = "bf16-mixed", False  # CPU autocast computes in bf16 too
    torch.manual_seed(0)  # EpochLoop built directly: no fit() to seed the initialisation
    # 64 frames, not fewer: oneDNN's CPU bf16 convolution (torch 2.14, AVX-512-bf16/AMX) reads
    # uninitialised memory in a 3x3 stride-2 convolution whose input is 1-2 columns wide, so
    # at 16 or 32 frames layer3/layer4's first block gave garbage or NaN, depending on what
    # the heap held (flaky, more often after other tests). At 64 the narrowest such input is
    # 4 wide. The app never trains in bf16 on a CPU (precision_for: 32-true there).
    data = TrainData(spectrograms(8, 0, frames=64), spectrograms(4, 1, frames=64))
    loop = trainer.EpochLoop(get_spec("resnet50"), data, ctx, trainer.make_fabric(ctx))
    xb = loop.rows(loop.X, torch.arange(4))
    assert loop.X.dtype == torch.float16 and xb.dtype == torch.bfloat16
    image = loop.net.image(xb)
    assert image.dtype == torch.bfloat16  # the adapter does not promote back to fp32
    assert image.shape[1] == 3 and image.is_contiguous(memory_format=torch.channels_last)
    full = loop.net.image(torch.zeros(2, 1, 8, 8))
    assert full.dtype == torch.float32 and full.is_contiguous(memory_format=torch.channels_last)
    assert np.isfinite(loop.train_epoch(1)[0])


def test_gather_rows_stays_on_the_device_it_was_given() -> None:
    X = torch.arange(20.0).view(10, 2)
    out = trainer.gather_rows(X, torch.tensor([3, 1]), torch.device("cpu"))
    assert out.tolist() == [[6.0, 7.0], [2.0, 3.0]]


# ---------------------------------------------------------------- on a CUDA GPU (skipped here)

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def cuda_context(tmp_path: Path, records: list[dict[str, Any]] | None = None,
                 **recipe: Any) -> FitContext:
    from engine.devices import precision_for

    ctx = context(tmp_path, records, **recipe)
    ctx.device, ctx.precision, ctx.pretrained = "cuda", precision_for("cuda"), False
    return ctx


@cuda_only
def test_cuda_trainer_smoke_uses_bf16_mixed(tmp_path: Path) -> None:  # pragma: no cover
    major, _ = torch.cuda.get_device_capability()
    ctx = cuda_context(tmp_path, epochs=2, batch_size=16)
    assert ctx.precision == ("bf16-mixed" if major >= 8 else "16-mixed")
    data = TrainData(spectrograms(64, 0, frames=32), spectrograms(32, 1, frames=32))
    loop = trainer.EpochLoop(get_spec("cnn"), data, ctx, trainer.make_fabric(ctx))
    assert loop.fabric.strategy.precision.precision == ctx.precision
    assert loop.X.device.type == "cuda" and loop.rows(loop.X, torch.arange(4)).dtype == (
        torch.bfloat16 if major >= 8 else torch.float16)
    records: list[dict[str, Any]] = []
    trainer.fit(get_spec("cnn"), data, cuda_context(tmp_path / "fit", records, epochs=3,
                                                    batch_size=16))
    assert len(records) == 3 and max(r["val_auc"] for r in records) > 0.9


@cuda_only
def test_cuda_resume_mid_epoch(tmp_path: Path) -> None:  # pragma: no cover
    data = TrainData(spectrograms(90, 0, frames=16), spectrograms(30, 1, frames=16))
    spec = get_spec("cnn")
    full: list[dict[str, Any]] = []
    straight = trainer.fit(spec, data, cuda_context(tmp_path / "a", full, epochs=3, batch_size=16,
                                                    checkpoint_seconds=1e6))
    part: list[dict[str, Any]] = []
    ctx = cuda_context(tmp_path / "b", part, epochs=3, batch_size=16, checkpoint_seconds=1e6)
    polls = [0]
    ctx.should_stop = lambda: (polls.__setitem__(0, polls[0] + 1) or polls[0] > 9)
    with pytest.raises(trainer.Interrupted):
        trainer.fit(spec, data, ctx)
    last = torch.load(ctx.workdir / "last.pt", weights_only=True)
    assert last["batch"] == 3 and last["ranks"][0]["rng_cuda"].numel() > 0
    if ctx.precision == "16-mixed":  # the loss scaler's state travels with the checkpoint
        assert last["scaler"] and "scale" in last["scaler"]
    ctx.should_stop, ctx.resume = (lambda: False), True
    resumed = trainer.fit(spec, data, ctx)
    assert [r["epoch"] for r in part] == [1, 2, 3]
    probe = spectrograms(6, 5, frames=16).X  # cudnn may pick other kernels: close, not equal
    assert np.allclose(straight.predict_proba(probe), resumed.predict_proba(probe), atol=2e-2)


@cuda_only
def test_cuda_inference_on_cuda_and_cpu(tmp_path: Path) -> None:  # pragma: no cover
    data = TrainData(spectrograms(64, 0, frames=32), spectrograms(32, 1, frames=32))
    ctx = cuda_context(tmp_path, epochs=2, batch_size=16)
    trainer.fit(get_spec("cnn"), data, ctx)
    on_cpu = trainer.load(get_spec("cnn"), ctx.workdir)  # the default: the CPU
    on_gpu = trainer.load(get_spec("cnn"), ctx.workdir, device="cuda")
    assert on_cpu.device.type == "cpu" and on_gpu.device.type == "cuda"
    probe = spectrograms(16, 3, frames=32).X
    assert np.allclose(on_cpu.predict_proba(probe), on_gpu.predict_proba(probe), atol=1e-4)
    assert np.allclose(on_cpu.predict_proba(probe[:1]), on_gpu.predict_proba(probe[:1]), atol=1e-4)


@cuda_only
def test_cuda_rows_from_host_memory_come_through_pinned_memory() -> None:  # pragma: no cover
    X = torch.arange(40.0, dtype=torch.float16).view(20, 2)
    out = trainer.gather_rows(X, torch.tensor([5, 0, 19]), torch.device("cuda"))
    assert out.device.type == "cuda"
    assert out.cpu().tolist() == [[10.0, 11.0], [0.0, 1.0], [38.0, 39.0]]


@cuda_only
def test_cuda_fp16_mixed_keeps_its_loss_scaler_in_last_pt(tmp_path: Path) -> None:  # pragma: no cover
    ctx = cuda_context(tmp_path, epochs=2, batch_size=16, checkpoint_epochs=1)
    ctx.precision = "16-mixed"
    trainer.fit(get_spec("ann"), TrainData(features(64, 0), features(32, 1)), ctx)
    last = torch.load(ctx.workdir / "last.pt", weights_only=True)
    assert last["scaler"] and last["scaler"]["scale"] > 0


def test_compile_wraps_the_network_and_checkpoints_stay_plain(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``compile=True`` goes through torch.compile (here with the eager backend: dynamo traces
    the network without the minutes inductor needs on this CPU); best.pt keeps plain keys."""
    compiled: list[Any] = []
    real_compile = torch.compile

    def eager_compile(module: Any, **kwargs: Any) -> Any:
        compiled.append(module)
        return real_compile(module, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    records: list[dict[str, Any]] = []
    ctx = context(tmp_path, records, epochs=2, batch_size=16, lr=1e-2, compile=True)
    predictor = trainer.fit(get_spec("ann"), TrainData(features(96, 0), features(32, 1)), ctx)
    # (Fabric unwraps a compiled module and compiles it again around its own wrapper)
    assert compiled and type(compiled[0]).__name__ == "ANN"
    assert len(records) == 2 and max(r["val_auc"] for r in records) > 0.8
    state = torch.load(ctx.workdir / "best.pt", weights_only=True)
    assert not any("_orig_mod" in k for k in state)
    reloaded = trainer.load(get_spec("ann"), ctx.workdir)
    probe = features(10, 3).X
    assert np.allclose(reloaded.predict_proba(probe), predictor.predict_proba(probe), atol=1e-6)


def test_resume_with_fewer_processes_than_wrote_the_checkpoint(tmp_path: Path) -> None:
    """A checkpoint from 2 ranks (say, 2 GPUs) resumed by 1: a warning, not a failure, and the
    epoch's partial sums from both ranks are kept."""
    data = TrainData(features(96, 0), features(32, 1))
    full: list[dict[str, Any]] = []
    trainer.fit(get_spec("ann"), data, context(tmp_path / "a", full, epochs=2, batch_size=16))
    part: list[dict[str, Any]] = []
    ctx = context(tmp_path, part, epochs=2, batch_size=16, checkpoint_seconds=1e6)
    polls = [0]
    ctx.should_stop = lambda: (polls.__setitem__(0, polls[0] + 1) or polls[0] > 6 + 2)
    with pytest.raises(trainer.Interrupted):
        trainer.fit(get_spec("ann"), data, ctx)
    path = ctx.workdir / "last.pt"
    last = torch.load(path, weights_only=True)
    assert last["batch"] == 2 and len(last["ranks"]) == 1
    half = {k: v.clone() for k, v in last["ranks"][0].items()}
    half["partial"] = last["ranks"][0]["partial"] / 2
    last["ranks"] = [half, dict(half)]  # as if two ranks had each seen half
    torch.save(last, path)
    warnings: list[str] = []
    ctx.should_stop, ctx.resume, ctx.warn = (lambda: False), True, warnings.append
    trainer.fit(get_spec("ann"), data, ctx)
    assert [r["epoch"] for r in part] == [1, 2]
    assert any("resumed with 1 process(es) where the checkpoint had 2" in w for w in warnings)
    # the ann has no dropout: with both "ranks'" sums counted once, epoch 2 is as uninterrupted
    for key in ("train_loss", "train_acc", "val_loss"):
        assert part[-1][key] == pytest.approx(full[-1][key], rel=1e-5), key
