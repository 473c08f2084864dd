"""pytorch-tabular models (cne, tabnet) trained through coughscope's family API.

Real pytorch-tabular and Lightning on a small separable table (200 rows, a few epochs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.config import TrainRecipe
from engine.errors import RunError
from engine.metrics import roc_auc
from engine.models import FitContext, Part, TrainData, fit, get_spec, load

EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc"}
NAMES = [f"feat_{i}" for i in range(8)]


def table(n: int, seed: int) -> Part:
    """30% positive; features 0 and 1 carry the label, the rest is noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, len(NAMES)))
    X[:, 0] += 3.0 * y
    X[:, 1] -= 2.0 * y
    return Part(X=X, y=y)


DATA = TrainData(train=table(200, 1), val=table(80, 2), feature_names=NAMES)
TEST = table(120, 3)


def context(workdir: Path, records: list[dict], **recipe: object) -> FitContext:
    settings = {"epochs": 3, "batch_size": 64, **recipe}
    return FitContext(recipe=TrainRecipe(**settings), seed=0, workdir=workdir,
                      on_epoch=records.append)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> object:
    """Tiny models: one CPU thread is faster than several on a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Data/cache dirs and the working directory in tmp: nothing may land in the cwd."""
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_cne_trains_quietly_inside_its_workdir_and_round_trips(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    records: list[dict] = []
    workdir = tmp_path / "run" / "cne" / "0"
    workdir.mkdir(parents=True)
    capfd.readouterr()
    predictor = fit(get_spec("cne"), DATA, context(workdir, records))
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # nothing over the terminal
    assert list((tmp_path / "cwd").iterdir()) == []  # no lightning_logs/, .pt_tmp/ in cwd
    assert (workdir / "tabular_logs" / ".pt_tmp").is_dir()
    assert "GPU available" in (workdir / "tabular.log").read_text()  # kept, not printed

    # one epoch_end record per epoch, the same keys as every model
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for r in records:
        assert set(r) == EPOCH_KEYS
        assert 0 <= r["train_acc"] <= 1 and r["train_loss"] > 0 and r["val_loss"] > 0
    assert records[-1]["val_auc"] > 0.8
    # validation AUC is over our validation part: recompute it from the best model
    p_val = predictor.predict_proba(DATA.val.X)
    best = max(records, key=lambda r: r["val_auc"])
    assert predictor.best_epoch == best["epoch"]
    assert roc_auc(DATA.val.y, p_val) == pytest.approx(best["val_auc"], abs=1e-6)
    p = predictor.predict_proba(TEST.X)
    assert roc_auc(TEST.y, p) > 0.8

    predictor.save(workdir)
    manifest = json.loads((workdir / "model.json").read_text())
    assert manifest["format"] == "coughscope.tabular/1" and manifest["feature_names"] == NAMES
    assert "tabular/model.ckpt" in manifest["files"]
    again = load(get_spec("cne"), workdir)
    assert np.array_equal(again.predict_proba(TEST.X), p)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert list((tmp_path / "cwd").iterdir()) == []

    # a changed file is refused, and so is a pickle model.json does not list
    ckpt = workdir / "tabular" / "config.yml"
    original = ckpt.read_bytes()
    ckpt.write_bytes(original + b"\n# edited\n")
    with pytest.raises(RunError, match="config.yml was changed after it was signed") as exc:
        load(get_spec("cne"), workdir)
    assert "pickle" in exc.value.hint and "run code" in exc.value.hint
    ckpt.write_bytes(original)
    (workdir / "tabular" / "exp_logger.sav").write_bytes(b"planted")
    with pytest.raises(RunError, match="exp_logger.sav is not covered by the signature"):
        load(get_spec("cne"), workdir)
    (workdir / "tabular" / "exp_logger.sav").unlink()
    (workdir / "model.json").unlink()
    with pytest.raises(RunError, match="model.json is missing"):
        load(get_spec("cne"), workdir)


def test_tabnet_learns_the_signal(tmp_path: Path) -> None:
    records: list[dict] = []
    # TabNet needs more steps than 3 small epochs; a higher learning rate gets it there
    predictor = fit(get_spec("tabnet"), DATA, context(tmp_path, records, epochs=8, lr=0.03))
    assert predictor.model.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.03)
    assert [r["epoch"] for r in records] == list(range(1, 9))
    assert all(set(r) == EPOCH_KEYS for r in records)
    assert max(r["val_auc"] for r in records) > 0.8
    assert roc_auc(TEST.y, predictor.predict_proba(TEST.X)) > 0.8
    assert list((tmp_path / "cwd").iterdir()) == []


def test_paper_preset_uses_sgd_and_mse(tmp_path: Path) -> None:
    predictor = fit(get_spec("cne"), DATA, context(
        tmp_path, [], preset="paper", epochs=2, class_weighting=False,
        early_stopping_patience=None))
    module = predictor.model.model
    assert module.loss.kind == "mse" and module.loss.class_weights is None
    optimizer = predictor.model.trainer.optimizers[0]
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    assert optimizer.param_groups[0]["momentum"] == 0.0
    assert predictor.info["loss"] == "mse"


def test_same_seed_same_model(tmp_path: Path) -> None:
    a = fit(get_spec("cne"), DATA, context(tmp_path / "a", [], epochs=2))
    b = fit(get_spec("cne"), DATA, context(tmp_path / "b", [], epochs=2))
    assert np.array_equal(a.predict_proba(TEST.X), b.predict_proba(TEST.X))


def test_should_stop_interrupts_the_fit(tmp_path: Path) -> None:
    records: list[dict] = []
    ctx = context(tmp_path, records, epochs=50)
    ctx.should_stop = lambda: len(records) >= 1
    with pytest.raises(Exception) as exc:
        fit(get_spec("cne"), DATA, ctx)
    assert type(exc.value).__name__ == "Interrupted"  # what the runner recognises
    assert "train again from the start" in str(exc.value)
    assert [r["epoch"] for r in records] == [1]  # stopped within epoch 2, not reported


def test_class_weights_balance_the_classes() -> None:
    from engine.models.tabular import TwoLogitLoss, class_weights

    import torch

    w = class_weights(np.array([0, 0, 0, 1]))
    assert w == pytest.approx((4 / 6, 2.0))
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    target = torch.tensor([0, 1, 1])
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert float(TwoLogitLoss("ce")(logits, target)) == pytest.approx(float(ce))
    weighted = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor(w))
    assert float(TwoLogitLoss("ce", w)(logits, target)) == pytest.approx(float(weighted))
    probs = logits.softmax(1)
    onehot = torch.nn.functional.one_hot(target, 2).float()
    mse = torch.nn.functional.mse_loss(probs, onehot)
    assert float(TwoLogitLoss("mse")(logits, target)) == pytest.approx(float(mse))


# ---------------------------------------------------------------- no host syncs (issue 12)


def test_the_epoch_reporter_keeps_losses_and_logits_on_the_device() -> None:
    """Meta tensors cannot be read on the host: any per-batch float()/.cpu() would raise."""
    import torch

    from engine.models import FitContext
    from engine.models.tabular import EpochReporter

    reporter = EpochReporter(FitContext(recipe=None, seed=0, workdir=None))  # type: ignore[arg-type]
    reporter.on_train_epoch_start(None, None)  # type: ignore[arg-type]
    batch = {"target": torch.zeros(4, 1)}
    for _ in range(3):
        reporter.on_train_batch_end(None, None, {"loss": torch.ones((), device="meta")},  # type: ignore[arg-type]
                                    batch, 0)
    assert reporter._train_n == 12 and reporter._train_loss_sum.device.type == "meta"
    reporter.on_validation_epoch_start(None, None)  # type: ignore[arg-type]
    outputs = (torch.zeros(4, 2, device="meta"), torch.zeros(4, 1, device="meta"))
    reporter.on_validation_batch_end(None, None, outputs, batch, 0)  # type: ignore[arg-type]
    assert reporter._val[0][0].device.type == "meta"


def test_class_weights_are_a_buffer_that_moves_with_the_model() -> None:
    import torch

    from engine.models.tabular import TwoLogitLoss

    loss = TwoLogitLoss("ce", (0.5, 2.0))
    assert loss.weights.tolist() == [0.5, 2.0] and "weights" not in loss.state_dict()
    moved = torch.nn.Sequential(loss).to(torch.float64)[0]
    assert moved.weights.dtype == torch.float64  # a registered buffer follows .to()
    logits, target = torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 0])
    per = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert float(loss(logits, target)) == pytest.approx(float((per * torch.tensor([2.0, 0.5])).sum() / 2.5))


def test_under_torchrun_each_rank_fits_on_its_own_gpu(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With devices=1 every rank would take cuda:0. The GPUs are simulated (the config is
    only built); tests/test_ddp.py runs real ranks on the CPU."""
    import torch

    from engine.models import tabular
    from engine.trainer import resolve_recipe

    for key, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2",
                       "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    ctx = FitContext(recipe=TrainRecipe(epochs=1), seed=0, workdir=tmp_path, device="cuda")
    config = tabular._trainer_config(tabular._import_pytorch_tabular(),
                                     resolve_recipe(get_spec("cne"), ctx.recipe), ctx, tmp_path)
    assert config.accelerator == "gpu" and config.devices == [1]  # devices_list becomes devices
    with tabular._cpu_share(2):  # on the CPU: each of the node's 2 processes takes half
        import os

        assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)) // 2)
    with tabular._single_process():  # Lightning sees one process while the fit runs
        import os

        assert "WORLD_SIZE" not in os.environ and "LOCAL_RANK" not in os.environ
    assert os.environ["WORLD_SIZE"] == "2"


def test_tabular_models_train_on_the_cpu_in_a_gpu_run(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny MLPs: the CPU (see engine.models.tabular's docstring). The run's device is cuda;
    the configuration Lightning gets is recorded (no GPU is touched)."""
    from engine.models import tabular

    seen: list[str] = []
    real = tabular._trainer_config

    def recording(pt, recipe, ctx, scratch, device=None):  # type: ignore[no-untyped-def]
        config = real(pt, recipe, ctx, scratch, device)
        seen.append(config.accelerator)
        return config

    monkeypatch.setattr(tabular, "_trainer_config", recording)
    data = TrainData(Part(np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32),
                          np.arange(64) % 2),
                     Part(np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32),
                          np.arange(32) % 2), ["a", "b", "c", "d"])
    ctx = FitContext(recipe=TrainRecipe(epochs=1, batch_size=32), seed=0,
                     workdir=tmp_path / "cne", device="cuda")
    fit(get_spec("cne"), data, ctx)
    assert seen == ["cpu"]
