"""Two-process DDP on CPU (gloo), launched by torchrun exactly as a multi-GPU user would:
both ranks must end with the same model and metrics, and only rank 0 writes files.

Run as a script, this file is the per-rank worker: ``torchrun ... tests/test_ddp.py OUTDIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _data():  # type: ignore[no-untyped-def]
    from engine.models import Part, TrainData

    rng = np.random.default_rng(0)

    def part(n: int) -> Part:
        y = (rng.random(n) < 0.4).astype(np.int64)
        X = rng.normal(size=(n, 26)).astype(np.float32)
        X[:, :3] += 2.0 * y[:, None]
        return Part(X, y)

    return TrainData(part(121), part(41))  # odd sizes: uneven shards across the two ranks


def _worker(out: Path) -> None:
    import torch

    from engine import trainer
    from engine.config import TrainRecipe
    from engine.models import FitContext, get_spec

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    records: list[dict] = []
    ctx = FitContext(
        recipe=TrainRecipe(epochs=3, batch_size=16, lr=1e-2),
        seed=0,
        workdir=out / "ann" / "0",
        device="cpu",
        devices=2,
        strategy="ddp",
        on_epoch=records.append,
    )
    predictor = trainer.fit(get_spec("ann"), _data(), ctx)
    probe = _data().val.X
    result = {
        "rank": rank,
        "world": int(os.environ["WORLD_SIZE"]),
        "records": records,
        "probs": predictor.predict_proba(probe).tolist(),
        "best_epoch": predictor.meta["best_epoch"],
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               COUGHSCOPE_DATA_DIR=str(tmp_path / "data"),
               COUGHSCOPE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("LOCAL_RANK", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc_per_node", "2", __file__, str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=170,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    # rank 0 reports epochs; rank 1 stays quiet
    assert [r["epoch"] for r in r0["records"]] == [1, 2, 3] and r1["records"] == []
    # both ranks hold the same trained model
    assert np.allclose(r0["probs"], r1["probs"], atol=1e-6)
    assert r0["best_epoch"] == r1["best_epoch"]
    assert max(r["val_auc"] for r in r0["records"]) > 0.8
    workdir = tmp_path / "ann" / "0"
    assert {p.name for p in workdir.iterdir()} >= {"best.pt", "last.pt", "model.json"}
    assert json.loads((workdir / "model.json").read_text())["model"] == "ann"


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
