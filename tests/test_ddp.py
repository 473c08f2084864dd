"""Two-process DDP on CPU (gloo), launched by torchrun exactly as a multi-GPU user would:
both ranks must end with the same model and metrics, and only rank 0 writes files.

Run as a script, this file is the per-rank worker: ``torchrun ... tests/test_ddp.py MODE OUTDIR``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
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
        # every rank resumes from rank 0's files (the runner gives ranks > 0 a copy)
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
    (out / f"{mode}-rank{rank}.json").write_text(json.dumps(result))


def _torchrun(mode: str, tmp_path: Path, timeout: float = 55) -> tuple[dict, dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"))
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


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_headless_run_under_torchrun_checks_on_rank_zero_and_cleans_up(tmp_path: Path) -> None:
    """Every rank runs the command line; rank 0 alone checks the run directory and prints, and
    rank 1's private copy (a temporary directory) is gone when it exits."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(temp),
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("LOCAL_RANK", None)
    runs = tmp_path / "runs"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", "2", "-m", "engine", "--headless", "--runs-dir", str(runs),
                "--json"]
    args = ["--data", "demo:40", "--models", "ann", "--seeds", "1", "--epochs", "1",
            "--run-id", "r1"]
    done = subprocess.run(torchrun + args, env=env, capture_output=True, text=True,
                          timeout=170, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # one JSON object: rank 1 prints nothing on stdout
    assert result["state"] == "finished" and "ann" in result["models"]
    assert done.stderr.count("run directory: ") == 1
    assert json.loads((runs / "r1" / "status.json").read_text())["state"] == "finished"
    assert [p.name for p in temp.iterdir() if p.name.startswith("coughscope-")] == []



@pytest.mark.slow
@pytest.mark.timeout(300)
def test_refit_under_torchrun_trains_the_epochs_rank_zero_chose(tmp_path: Path) -> None:
    """Refit and its out-of-fold fits train the epoch count validation chose. Only rank 0
    sees the epochs, so every rank must take rank 0's choice: before, rank 1 refit for the
    recipe's epochs while rank 0 refit for the chosen ones, and the ranks desynchronised
    (a crash, or a hang until the process group's timeout)."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("LOCAL_RANK", None)
    runs = tmp_path / "runs"
    config = tmp_path / "c.toml"
    # patience 1 over 4 epochs: validation stops early and chooses fewer than 4 epochs
    config.write_text('[recipe]\nepochs = 4\nearly_stopping_patience = 1\noof_folds = 2\n')
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", "2", "-m", "engine", "--headless", "--runs-dir", str(runs),
                "--json", "--config", str(config)]
    args = ["--data", "demo:40", "--models", "cnn,ann", "--seeds", "1", "--run-id", "r2"]
    done = subprocess.run(torchrun + args, env=env, capture_output=True, text=True,
                          timeout=280, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["state"] == "finished"
    events = [json.loads(line) for line in (runs / "r2" / "events.jsonl").read_text().splitlines()]
    for model in ("cnn", "ann"):
        metrics = json.loads((runs / "r2" / model / "0" / "metrics.json").read_text())
        chosen = metrics["refit"]["chosen"].get("epochs")
        fits = [e for e in events if e["type"] == "fit_progress" and e["model"] == model]
        assert fits and {e["epochs"] for e in fits} == {chosen or 4}


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]))
