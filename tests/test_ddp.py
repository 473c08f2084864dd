"""Two-process DDP on CPU (gloo), launched by torchrun exactly as a multi-GPU user would:
both ranks must end with the same model and metrics, and only rank 0 writes files.

Run as a script, this file is the per-rank worker: ``torchrun ... tests/test_ddp.py MODE OUTDIR``.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data():  # type: ignore[no-untyped-def]
    from engine.models import Part, TrainData

    rng = np.random.default_rng(0)

    def part(n: int) -> Part:
        y = (rng.random(n) < 0.4).astype(np.int64)
        X = rng.normal(size=(n, 26)).astype(np.float32)
        X[:, :3] += 2.0 * y[:, None]
        return Part(X, y)

    return TrainData(part(121), part(41))  # odd sizes: uneven shards across the two ranks


def _spectrograms(n: int, seed: int, mels: int = 16, frames: int = 16):  # type: ignore[no-untyped-def]
    from engine.models import Part

    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    X = rng.normal(-40, 5, size=(n, mels, frames)).astype(np.float16)
    X[:, 4:8, :] += (8.0 * y)[:, None, None].astype(np.float16)
    return Part(X, y)


def _context(out: Path, name: str, records: list, **recipe: Any):  # type: ignore[no-untyped-def]
    from engine.config import TrainRecipe
    from engine.models import FitContext

    return FitContext(recipe=TrainRecipe(**recipe), seed=0, workdir=out / name / "0",
                      device="cpu", on_epoch=records.append, pretrained=False)


def _worker(mode: str, out: Path) -> None:
    import torch

    from engine import trainer
    from engine.models import TrainData, get_spec

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])

    def at_exit() -> None:  # registered first, so it runs after the engine's own exit handlers
        import torch.distributed as dist

        (out / f"{mode}-rank{rank}-exit.json").write_text(
            json.dumps({"group_left": not dist.is_initialized()}))

    atexit.register(at_exit)
    result: dict[str, Any] = {"rank": rank, "world": int(os.environ["WORLD_SIZE"])}
    if mode == "basic":  # the default --devices 1 under torchrun: the launcher's two ranks
        from engine.errors import ConfigError
        from engine.launch import rank_zero_first

        # rank 0's answer, or its error, reaches every rank
        result["checked_by"] = rank_zero_first(lambda: os.getpid())
        result["pid"] = os.getpid()

        def refuse() -> None:
            raise ConfigError(f"refused by pid {os.getpid()}", "a hint")

        try:
            rank_zero_first(refuse)
        except ConfigError as exc:
            result["error"] = [exc.message, exc.hint]
        records: list[dict] = []
        ctx = _context(out, "ann", records, epochs=3, batch_size=16, lr=1e-2)
        predictor = trainer.fit(get_spec("ann"), _data(), ctx)
        result.update(records=records, probs=predictor.predict_proba(_data().val.X).tolist(),
                      best_epoch=predictor.meta["best_epoch"])
    elif mode == "one-val-clip":  # rank 1 has no validation rows; resnet50 has BatchNorm
        records = []
        data = TrainData(_spectrograms(8, 0, 32, 32), _spectrograms(1, 1, 32, 32))
        ctx = _context(out, "resnet50", records, epochs=1, batch_size=8)
        trainer.fit(get_spec("resnet50"), data, ctx)
        result.update(records=records)
    elif mode == "resume":  # dropout under DDP, stopped part-way through epoch 2
        spec = get_spec("cnn")
        data = TrainData(_spectrograms(199, 0), _spectrograms(31, 1))
        probe = _spectrograms(7, 2).X
        recipe = dict(epochs=3, batch_size=5, checkpoint_seconds=1e6)
        full: list[dict] = []
        straight = trainer.fit(spec, data, _context(out / "a", "cnn", full, **recipe))
        part: list[dict] = []
        ctx = _context(out / "b", "cnn", part, **recipe)
        polls = [0]

        def stop() -> bool:  # polled every 16 batches: 0, 16, 32 in epoch 1; 0, 16 in epoch 2
            polls[0] += 1
            return polls[0] >= 5

        ctx.should_stop = stop
        try:
            trainer.fit(spec, data, ctx)
        except trainer.Interrupted as exc:
            result["stopped_after"] = exc.epoch
        # every rank resumes from the shared workdir (the runner sends ranks > 0 rank 0's
        # last.pt instead: engine.ddp)
        last = torch.load(ctx.workdir / "last.pt", weights_only=True) if rank == 0 else None
        ctx.should_stop, ctx.resume = (lambda: False), True
        resumed = trainer.fit(spec, data, ctx)
        result.update(full=full, part=part,
                      straight=straight.predict_proba(probe).tolist(),
                      resumed=resumed.predict_proba(probe).tolist(),
                      batch=None if last is None else int(last["batch"]),
                      ranks_saved=None if last is None else len(last["ranks"]))
    elif mode == "tabular":  # pytorch-tabular: every rank fits alone, on its own device
        from engine.models import fit

        records = []
        ctx = _context(out / f"rank{rank}", "cne", records, epochs=2, batch_size=32)
        predictor = fit(get_spec("cne"), _data(), ctx)
        result.update(records=records,
                      probs=predictor.predict_proba(_data().val.X[:5]).tolist(),
                      world_after=os.environ.get("WORLD_SIZE"))
    elif mode == "checks":  # three checks in one launch (each launch costs ~10 s here)
        result["objects"] = _objects_check(out)
        result["batchnorm"] = _batchnorm_check(out, rank)
        result["seeds"] = _seeds_check(out)
    elif mode == "timeout":  # a rank that never joins: the others fail, not wait 30 min
        import time

        import torch.distributed as dist

        from engine.launch import ensure_process_group

        import lightning_fabric.plugins.environments  # noqa: F401 -- imported before joining
        import lightning_fabric.utilities.distributed  # noqa: F401

        ready = out / "timeout-rank1-ready"  # the timeout also bounds joining: join together
        if rank == 1:
            ready.write_text("ready")
        else:
            while not ready.exists():
                time.sleep(0.05)
        ensure_process_group()
        done = out / "timeout-rank0-failed"
        if rank == 0:
            try:
                dist.all_reduce(torch.ones(1))
                result["error"] = None
            except RuntimeError as exc:
                result["error"] = str(exc)[:300]
            done.write_text("done")
        else:
            while not done.exists():  # rank 0 has given up on us
                time.sleep(0.05)
    elif mode == "run":  # the runner under torchrun, counted per rank (defects 5 and 6)
        result.update(_run_counted(rank, out))
    (out / f"{mode}-rank{rank}.json").write_text(json.dumps(result))


def _objects_check(out: Path) -> list[str]:
    """What travels pickled between ranks during a fit: never a torch tensor (defect 2)."""
    import torch
    import torch.distributed as dist

    from engine import trainer
    from engine.launch import ensure_process_group
    from engine.models import get_spec

    ensure_process_group()
    seen: list[str] = []

    def holds_tensor(obj: Any) -> bool:
        if isinstance(obj, torch.Tensor):
            return True
        if isinstance(obj, dict):
            return any(holds_tensor(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return any(holds_tensor(v) for v in obj)
        return False

    original = dist.broadcast_object_list

    def recording(objects, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append("tensor" if holds_tensor(list(objects)) else "plain")
        return original(objects, *args, **kwargs)

    dist.broadcast_object_list = recording
    try:  # checkpoint_epochs=1: the checkpoint decision is broadcast after every epoch
        ctx = _context(out / "objects", "ann", [], epochs=3, batch_size=16, checkpoint_epochs=1)
        trainer.fit(get_spec("ann"), _data(), ctx)
    finally:
        dist.broadcast_object_list = original
    return seen


def _batchnorm_check(out: Path, rank: int) -> dict[str, Any]:
    """cnn2 has BatchNorm: the saved model scores what the trainer chose on (defect 3)."""
    from engine import trainer
    from engine.metrics import roc_auc
    from engine.models import TrainData, get_spec

    spec = get_spec("cnn2")
    train, val = _spectrograms(64, 0, 32, 32), _spectrograms(41, 1, 32, 32)
    val.y[::3] = 1 - val.y[::3]  # a third of the labels wrong: an AUC below 1
    data = TrainData(train, val)
    records: list[dict] = []
    ctx = _context(out, "cnn2", records, epochs=3, batch_size=8)
    predictor = trainer.fit(spec, data, ctx)
    if rank != 0:
        return {}
    saved = trainer.load(spec, ctx.workdir)  # best.pt, as predict would read it
    p = saved.predict_proba(data.val.X).astype(np.float64)
    y = data.val.y
    best = next(r for r in records if r["epoch"] == predictor.meta["best_epoch"])
    # the trainer's validation loss: cross-entropy weighted N / (2 N_c) (training counts)
    counts = np.bincount(data.train.y, minlength=2)
    w = (counts.sum() / (2.0 * counts))[y]
    nll = -np.log(np.where(y == 1, p, 1 - p))
    return {"best": best, "saved_auc": roc_auc(y, p),
            "saved_loss": float((w * nll).sum() / w.sum())}


def _seeds_check(out: Path) -> dict[str, Any]:
    """Each rank its own random streams on the same model and data order (defect 7)."""
    import torch

    from engine.models import TrainData, get_spec
    from engine.trainer import _Fit

    ctx = _context(out, "cnn", [], epochs=1, batch_size=8)
    f = _Fit(get_spec("cnn"), TrainData(_spectrograms(32, 0), _spectrograms(9, 1)), ctx)
    draws = torch.rand(8).tolist()  # what dropout draws from next
    weights = [float(t.double().sum()) for t in f.loop.net.state_dict().values()]
    gen = torch.Generator().manual_seed(ctx.seed * 100_003 + 1)  # train_epoch's order
    if f.writer is not None:
        f.writer.close()
    return {"draws": draws, "weights": weights,
            "order": torch.randperm(len(f.loop.X), generator=gen).tolist()}


def _run_counted(rank: int, out: Path) -> dict[str, Any]:
    """Run the command line on this rank, counting the work each function does here; rank 0
    stops the first run at its first fit's second epoch, then every rank resumes it."""
    import builtins

    import engine.figures
    import engine.models.baselines
    import engine.preprocess
    import engine.runner
    from engine import cli, trainer

    counts: dict[str, Any] = {"preprocess_workers": [], "audio_builds": 0, "audio_jobs": [],
                              "default_models": 0,
                              "baseline_fits": 0, "figures": 0, "torch_fits": [],
                              "run_dir_reads": []}
    runs = out / "runs"

    def count(module: Any, name: str, key: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[key] += 1
            return original(*args, **kwargs)
        setattr(module, name, wrapper)

    original_compute = engine.preprocess._compute

    def compute(jobs: list, *args: Any, **kwargs: Any) -> Any:  # the audio work itself
        counts["audio_jobs"].append(len(jobs))
        return original_compute(jobs, *args, **kwargs)
    engine.preprocess._compute = compute
    count(engine.preprocess, "_build", "audio_builds")
    count(engine.models.baselines, "fit", "baseline_fits")
    count(engine.figures, "write_figures", "figures")
    original_preprocess = engine.preprocess.preprocess

    def preprocess(*args: Any, **kwargs: Any) -> Any:
        counts["preprocess_workers"].append(kwargs.get("workers"))
        return original_preprocess(*args, **kwargs)
    engine.preprocess.preprocess = preprocess

    # ranks whose weight caches differ would list different models: rank 0's list counts
    def default_models(config: Any, warn: Any) -> list[str]:
        counts["default_models"] += 1
        return ["cnn2", "logreg"] if rank == 0 else ["ann"]
    engine.runner.default_models = default_models

    original_fit = trainer.fit

    def fit(spec: Any, data: Any, ctx: Any) -> Any:
        counts["torch_fits"].append([spec.name, ctx.seed, ctx.recipe.epochs, ctx.refit,
                                     ctx.resume_from is not None])
        return original_fit(spec, data, ctx)
    trainer.fit = fit

    armed = [rank == 0]
    original_epoch = trainer.EpochLoop.train_epoch

    def train_epoch(self: Any, epoch: int, should_stop: Any = lambda: False, **kw: Any) -> Any:
        def stop() -> bool:  # rank 0 asks to stop at the first fit's second epoch
            return (armed[0] and epoch == 2) or bool(should_stop())
        return original_epoch(self, epoch, stop, **kw)
    trainer.EpochLoop.train_epoch = train_epoch

    import io

    original_open = builtins.open

    def open_(file: Any, *args: Any, **kwargs: Any) -> Any:  # rank 1 reads no run file
        if rank > 0 and not isinstance(file, int) and str(runs) in os.path.abspath(file):
            counts["run_dir_reads"].append(str(file))
        return original_open(file, *args, **kwargs)
    builtins.open = io.open = open_  # pathlib opens through io.open

    args = ["--headless", "--runs-dir", str(runs), "--json", "--data", "demo:40",
            "--seeds", "1", "--epochs", "3", "--oof-folds", "2", "--device", "cpu"]
    counts["first_exit"] = cli.main(args + ["--run-id", "r"])
    counts["fits_before_resume"] = len(counts["torch_fits"])
    armed[0] = False
    counts["resume_exit"] = cli.main(["--headless", "--runs-dir", str(runs), "--json",
                                      "--resume", "r"])
    builtins.open = io.open = original_open
    return counts


def _torchrun(mode: str, tmp_path: Path, timeout: float = 55,
              env: dict[str, str] | None = None) -> tuple[dict, dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"), **(env or {}))
    env.pop("LOCAL_RANK", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc_per_node", "2", __file__, mode, str(tmp_path)]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{mode}: the two ranks did not finish in {timeout} s (a hang?)\n"
                    f"{(exc.stderr or b'')[-2000:]!r}")
    assert done.returncode == 0, done.stderr[-3000:]
    for r in (0, 1):  # a rank that leaves gloo's threads to interpreter shutdown may abort
        exit_record = json.loads((tmp_path / f"{mode}-rank{r}-exit.json").read_text())
        assert exit_record == {"group_left": True}, (mode, r)
    return tuple(json.loads((tmp_path / f"{mode}-rank{r}.json").read_text())  # type: ignore
                 for r in (0, 1))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_process_ddp_on_cpu_with_default_devices(tmp_path: Path) -> None:
    r0, r1 = _torchrun("basic", tmp_path)
    assert r0["world"] == r1["world"] == 2
    assert r0["checked_by"] == r1["checked_by"] == r0["pid"] != r1["pid"]
    assert r0["error"] == r1["error"] == [f"refused by pid {r0['pid']}", "a hint"]
    # rank 0 reports epochs; rank 1 stays quiet (with --devices 1 taken literally, every
    # rank trained alone and reported)
    assert [r["epoch"] for r in r0["records"]] == [1, 2, 3] and r1["records"] == []
    # both ranks hold the same trained model
    assert np.allclose(r0["probs"], r1["probs"], atol=1e-6)
    assert r0["best_epoch"] == r1["best_epoch"]
    assert max(r["val_auc"] for r in r0["records"]) > 0.8
    workdir = tmp_path / "ann" / "0"
    assert {p.name for p in workdir.iterdir()} >= {"best.pt", "model.json"}
    assert json.loads((workdir / "model.json").read_text())["model"] == "ann"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_rank_without_validation_rows_does_not_hang(tmp_path: Path) -> None:
    r0, r1 = _torchrun("one-val-clip", tmp_path)
    assert [r["epoch"] for r in r0["records"]] == [1] and r1["records"] == []
    assert r0["records"][0]["val_auc"] is None  # one clip: one class


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_resume_under_ddp_restores_every_ranks_own_random_state(tmp_path: Path) -> None:
    r0, r1 = _torchrun("resume", tmp_path)
    assert r0["stopped_after"] == r1["stopped_after"] == 1
    assert r0["batch"] == 16 and r0["ranks_saved"] == 2  # stopped mid-epoch, both ranks' states
    assert [r["epoch"] for r in r0["part"]] == [1, 2, 3]
    for a, b in zip(r0["full"], r0["part"]):
        for key in ("train_loss", "val_loss", "val_auc"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    for r in (r0, r1):
        assert np.allclose(r["straight"], r["resumed"], atol=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_pytorch_tabular_under_torchrun_fits_on_every_rank_alone(tmp_path: Path) -> None:
    r0, r1 = _torchrun("tabular", tmp_path, timeout=110)
    assert [r["epoch"] for r in r0["records"]] == [1, 2] == [r["epoch"] for r in r1["records"]]
    assert np.allclose(r0["probs"], r1["probs"], atol=1e-6)  # same seed, same model
    assert r0["world_after"] == r1["world_after"] == "2"  # the launcher's variables are back


def test_ranks_that_prepared_other_data_are_named() -> None:
    from engine.ddp import _check_same_data
    from engine.errors import RunError

    _check_same_data("a", ["a", "a"])
    with pytest.raises(RunError) as err:
        _check_same_data("a", ["a", "a", "b", "c"])
    assert "rank(s) 2, 3 prepared other data than rank 0" in err.value.message
    assert "same data set" in err.value.hint


def test_one_process_leads_nobody_and_sends_nothing(tmp_path: Path) -> None:
    from engine.ddp import lead, leading, send_fit
    from engine.launch import launch_info
    from engine.models import get_spec

    with lead(launch_info({})) as leader:
        assert leader is None and leading() is None
        send_fit(get_spec("ann"), _data(), _context(tmp_path, "ann", []))  # rows unknown: fine


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """One two-rank launch for the three checks below (each launch costs ~10 s here)."""
    return _torchrun("checks", tmp_path_factory.mktemp("checks"), timeout=110)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_torch_tensor_is_pickled_between_ranks(checks: tuple[dict, dict]) -> None:
    """Defect 2: the checkpoint decision went through broadcast_object_list as a device
    tensor, which every rank unpickled onto cuda:0 (a CUDA context on GPU 0 per rank)."""
    for r in checks:
        assert len(r["objects"]) >= 3 and set(r["objects"]) == {"plain"}, r["objects"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_saved_model_scores_the_auc_the_trainer_chose_on(checks: tuple[dict, dict]) -> None:
    """Defect 3: with BatchNorm (cnn2) every rank's running statistics differed, validation
    mixed them, and the saved model (rank 0's) did not score what the trainer chose on."""
    r0 = checks[0]["batchnorm"]
    best = r0["best"]
    assert r0["saved_auc"] == pytest.approx(best["val_auc"], abs=1e-9)
    assert r0["saved_loss"] == pytest.approx(best["val_loss"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_each_rank_draws_its_own_random_numbers_on_the_same_model_and_order(
        checks: tuple[dict, dict]) -> None:
    """Defect 7: every rank had the same seed, so the dropout masks of the ranks matched."""
    r0, r1 = (r["seeds"] for r in checks)
    assert r0["draws"] != r1["draws"]
    assert r0["weights"] == r1["weights"]  # rank 0's initial weights, copied by DDP
    assert r0["order"] == r1["order"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_rank_that_never_joins_fails_the_others_at_the_timeout(tmp_path: Path) -> None:
    """Defect 4: no timeout was passed to the process group, so a dead rank left the others
    waiting for torch's default (30 minutes)."""
    r0, _ = _torchrun("timeout", tmp_path, env={"COUGHSCOPE_DIST_TIMEOUT": "6"})
    assert r0["error"] and "timed out" in r0["error"].lower()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_under_torchrun_rank_zero_does_the_cpu_work_and_decides_and_resume_needs_no_copy(
        tmp_path: Path) -> None:
    """Defects 5 and 6 on one run (default preset: refit, out-of-fold fits, augmentation)
    stopped at its first fit's second epoch and resumed. Before: every rank preprocessed with
    a worker per core, fitted the baselines, drew its own model list (rank 1's: ann, so it
    trained another model than rank 0), and a resumed rank 1 copied the run directory."""
    r0, r1 = _torchrun("run", tmp_path, timeout=230)
    assert r0["first_exit"] == r1["first_exit"] == 130  # interrupted, resumable
    assert r0["resume_exit"] == r1["resume_exit"] == 0
    # preprocessing: rank 0 did the audio work once; rank 1 read the cache, with its share
    # of the cores
    assert r0["audio_builds"] == 1 and r0["audio_jobs"] == [40]
    assert r1["audio_builds"] == 0 and r1["audio_jobs"] == []
    assert r0["preprocess_workers"][0] is None
    assert set(r1["preprocess_workers"]) == {max(1, (os.cpu_count() or 1) // 2)}
    # baselines, figures and the model list: rank 0 alone
    assert r0["baseline_fits"] > 0 and r1["baseline_fits"] == 0
    assert r0["figures"] == 1 and r1["figures"] == 0
    assert r0["default_models"] > 0 and r1["default_models"] == 0
    # every torch fit trained together: the same model, seed, epochs and refit on both
    assert [f[:4] for f in r0["torch_fits"]] == [f[:4] for f in r1["torch_fits"]]
    assert {f[0] for f in r1["torch_fits"]} == {"cnn2"}
    # the resumed fit: rank 1 got rank 0's last.pt sent, and read nothing of the run
    resumed = r1["torch_fits"][r1["fits_before_resume"]]
    assert resumed[4] is True and r1["run_dir_reads"] == []
    summary = json.loads((tmp_path / "runs" / "r" / "summary.json").read_text())
    assert set(summary["models"]) == {"cnn2", "logreg"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_runs_the_default_preset_and_resumes_it_after_ctrl_c(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 2 -m engine --headless` with the default preset (refit,
    out-of-fold fits, augmentation): Ctrl+C to rank 0 during the first model leaves an
    interrupted run, and --resume finishes it. Rank 0 alone checks the run directory and
    prints; no rank copies the run (nothing in TMPDIR). Refit and its out-of-fold fits train
    the epochs validation chose (defect 1: rank 1 refit for the recipe's epochs while rank 0
    refit for the chosen ones, and the ranks desynchronised)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(temp),
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("LOCAL_RANK", None)
    runs = tmp_path / "runs"
    config = tmp_path / "c.toml"
    # patience 1 over 4 epochs: validation stops early and chooses fewer than 4 epochs
    config.write_text('[recipe]\nepochs = 4\nearly_stopping_patience = 1\noof_folds = 2\n')
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", "2", "-m", "engine", "--headless", "--runs-dir", str(runs),
                "--json", "--device", "cpu"]
    args = ["--config", str(config), "--data", "demo:40", "--models", "cnn,ann,logreg",
            "--seeds", "1", "--run-id", "r"]
    events = runs / "r" / "events.jsonl"
    with open(tmp_path / "out1", "w") as out, open(tmp_path / "err1", "w") as err:
        first = subprocess.Popen(torchrun + args, env=env, stdout=out, stderr=err, cwd=ROOT)
        try:
            while first.poll() is None and not (events.exists()
                                                and '"epoch_end"' in events.read_text()):
                time.sleep(0.05)  # waiting for the first epoch to end
            os.kill(json.loads((runs / "r" / "status.json").read_text())["pid"], signal.SIGINT)
            first.wait(timeout=200)
        finally:
            if first.poll() is None:
                first.kill()
    assert json.loads((runs / "r" / "status.json").read_text())["state"] == "interrupted", \
        (tmp_path / "err1").read_text()[-3000:]
    assert json.loads((tmp_path / "out1").read_text())["state"] == "interrupted"
    done = subprocess.run(torchrun + ["--resume", "r"], env=env, capture_output=True,
                          text=True, timeout=200, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # one JSON object: rank 1 prints nothing on stdout
    assert result["state"] == "finished" and set(result["models"]) == {"cnn", "ann", "logreg"}
    assert done.stderr.count("run directory: ") == 1
    assert json.loads((runs / "r" / "status.json").read_text())["state"] == "finished"
    assert [p.name for p in temp.iterdir() if p.name.startswith("coughscope-")] == []
    log = [json.loads(line) for line in events.read_text().splitlines()]
    starts = [e["model"] for e in log if e["type"] == "model_start"]
    assert starts.count("cnn") == 2 and starts.count("ann") == 1  # cnn continued, not redone
    for model in ("cnn", "ann"):
        metrics = json.loads((runs / "r" / model / "0" / "metrics.json").read_text())
        chosen = metrics["refit"]["chosen"].get("epochs")
        fits = [e for e in log if e["type"] == "fit_progress" and e["model"] == model]
        assert fits and {e["epochs"] for e in fits} == {chosen or 4}


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]))
