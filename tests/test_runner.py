"""The headless runner end to end: real demo data, real training, real run directories.

Each test runs ``python -m engine --headless`` in a subprocess (as users and the TUI do) with
the data and cache directories in a per-session temporary folder.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from engine.runs import RunDir, read_all_events

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("coughscope-home")
    e = dict(os.environ)
    e.update(COUGHSCOPE_DATA_DIR=str(base / "data"), COUGHSCOPE_CACHE_DIR=str(base / "cache"),
             PYTHONUNBUFFERED="1")
    return e


def cs(args, env, *, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, env=env, cwd=cwd or ROOT, timeout=timeout)


def start(args, env):
    return subprocess.Popen([sys.executable, "-m", "engine", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_epochs(run: RunDir, n: int, proc, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        events, _ = read_all_events(run.events_path)
        if sum(e["type"] == "epoch_end" for e in events) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"runner exited early: {proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("no epochs in time")


@pytest.fixture(scope="module")
def finished_run(env, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    out = cs(["--headless", "--data", "demo", "--models", "ann,logreg", "--seeds", "2",
              "--epochs", "3", "--runs-dir", str(runs), "--run-id", "r1", "--json"], env)
    assert out.returncode == 0, out.stderr
    return RunDir(runs / "r1"), json.loads(out.stdout), out.stderr


def test_json_output_matches_summary(finished_run):
    run, result, _ = finished_run
    assert result["state"] == "finished" and result["run_dir"] == str(run.path)
    summary = json.loads(run.summary_path.read_text())
    for model in ("ann", "logreg"):
        got = result["models"][model]
        for key in ("roc_auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity",
                    "majority_accuracy"):
            assert set(got[key]) >= {"mean", "std"}, key
            assert got[key] == summary["models"][model]["metrics"][key]
        assert 0.0 <= got["roc_auc"]["mean"] <= 1.0
        assert got["seeds"] == [0, 1]
    # logistic regression on the demo set's learnable difference beats chance
    assert result["models"]["logreg"]["roc_auc"]["mean"] > 0.6


def test_run_directory_layout_and_events(finished_run):
    run, _, stderr = finished_run
    assert run.status()["state"] == "finished"
    config = tomllib.loads(run.config_path.read_text())
    assert config["models"] == ["ann", "logreg"] and config["seeds"] == 2
    events, problems = read_all_events(run.events_path)
    assert not problems
    types = [e["type"] for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert types.index("data_ready") < types.index("model_start")
    assert all(e["v"] == 1 for e in events)
    epochs = [e for e in events if e["type"] == "epoch_end" and e["model"] == "ann"]
    assert {e["seed"] for e in epochs} == {0, 1}
    assert {"train_loss", "val_loss", "val_acc", "val_auc"} <= set(epochs[0])
    assert "SYNTHETIC" in stderr  # the demo data says what it is
    for model in ("ann", "logreg"):
        for seed in (0, 1):
            d = run.model_dir(model, seed)
            metrics = json.loads((d / "metrics.json").read_text())
            assert 0 < metrics["threshold"] < 1
            assert set(metrics["test"]["confusion"]) == {"tn", "fp", "fn", "tp"}
            assert sum(metrics["test"]["confusion"].values()) == metrics["test"]["n"]


def test_predictions_follow_a_participant_disjoint_split(finished_run):
    run, _, _ = finished_run
    with open(run.path / "split.csv", newline="") as fh:
        split = list(csv.DictReader(fh))
    parts: dict[str, set[str]] = {}
    for row in split:
        parts.setdefault(row["split"], set()).add(row["group"])
    assert set(parts) == {"train", "val", "test"}
    assert not parts["train"] & parts["test"]
    assert not parts["train"] & parts["val"]
    assert not parts["val"] & parts["test"]
    with open(run.model_dir("ann", 0) / "predictions.csv", newline="") as fh:
        preds = list(csv.DictReader(fh))
    assert [(r["clip"], r["split"]) for r in preds] == [(r["clip"], r["split"]) for r in split]
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in preds)


def test_sigterm_interrupts_then_resume_continues(env, tmp_path):
    args = ["--headless", "--data", "demo", "--models", "ann", "--seeds", "1", "--epochs",
            "400", "--preset", "paper", "--runs-dir", str(tmp_path), "--run-id", "r"]
    proc = start(args, env)
    run = RunDir(tmp_path / "r")
    wait_for_epochs(run, 3, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    assert run.status()["state"] == "interrupted"
    events, _ = read_all_events(run.events_path)
    done = max(e["epoch"] for e in events if e["type"] == "epoch_end")
    assert events[-1]["type"] == "run_end" and events[-1]["state"] == "interrupted"

    resumed = start(["--headless", "--resume", str(run.path), "--runs-dir", str(tmp_path)], env)
    wait_for_epochs(run, done + 2, resumed)
    resumed.send_signal(signal.SIGINT)
    resumed.communicate(timeout=60)
    events, _ = read_all_events(run.events_path)
    last_start = max(i for i, e in enumerate(events) if e["type"] == "model_start")
    assert events[last_start]["resumed"] is True
    after = [e["epoch"] for e in events[last_start:] if e["type"] == "epoch_end"]
    # the resumed attempt picks up at the epoch after the last completed one
    assert after[:2] == [done + 1, done + 2]


def test_kill9_leaves_a_readable_resumable_run(env, tmp_path):
    args = ["--headless", "--data", "demo", "--models", "ann", "--seeds", "1", "--epochs",
            "6", "--preset", "paper", "--runs-dir", str(tmp_path), "--run-id", "k"]
    proc = start(args, env)
    run = RunDir(tmp_path / "k")
    wait_for_epochs(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert run.status()["state"] == "interrupted"  # status.json says running; pid is gone
    events, _ = read_all_events(run.events_path)
    assert events and events[0]["type"] == "run_start"
    out = cs(["--headless", "--resume", "k", "--runs-dir", str(tmp_path), "--json"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "finished"
    assert run.status()["state"] == "finished"
    metrics = json.loads((run.model_dir("ann", 0) / "metrics.json").read_text())
    # the history spans both attempts: epochs before the kill come from the event log
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4, 5, 6]


def test_unknown_model_lists_the_valid_ones(env, tmp_path):
    out = cs(["--headless", "--models", "ann,xgboost", "--runs-dir", str(tmp_path)], env)
    assert out.returncode == 2
    assert "xgboost" in out.stderr and "logreg" in out.stderr and "cnn" in out.stderr


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda_visible(), reason="this machine has a CUDA GPU: --device cuda works")
def test_cuda_requested_without_gpu_is_a_clear_error(env, tmp_path):
    out = cs(["--headless", "--models", "ann", "--device", "cuda", "--seeds", "1",
              "--epochs", "1", "--runs-dir", str(tmp_path)], env)
    assert out.returncode == 3, out.stderr
    assert "cuda" in out.stderr.lower() and "--device" in out.stderr


def test_one_class_data_set_is_refused(env, tmp_path, shared_data):
    coswara = shared_data / "coswara-sample"
    out = cs(["--headless", "--data", str(coswara), "--models", "logreg", "--seeds", "1",
              "--runs-dir", str(tmp_path)], env)
    assert out.returncode == 2, out.stderr
    assert "negative" in out.stderr and "positive" in out.stderr


def test_weights_of_the_wrong_shape_are_refused(env, tmp_path):
    torch = pytest.importorskip("torch")
    bad = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, bad)
    out = cs(["--headless", "--models", "imagenet50", "--weights", str(bad), "--seeds", "1",
              "--epochs", "1", "--runs-dir", str(tmp_path)], env)
    assert out.returncode == 2, out.stderr
    assert "bad.pt" in out.stderr


def test_evaluate_scores_another_data_set(env, finished_run):
    run, _, _ = finished_run
    out = cs(["evaluate", str(run.path), "--data", "demo:60", "--json"], env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result["models"]) == {"ann", "logreg"}
    for m in result["models"].values():
        assert set(m["roc_auc"]) >= {"mean", "std"}
        assert "by_group" in m
    assert list((run.path / "evaluations").glob("*.json"))


def test_kfold_run_trains_one_model_per_fold(env, tmp_path):
    out = cs(["--headless", "--data", "demo", "--models", "logreg", "--folds", "3",
              "--runs-dir", str(tmp_path), "--run-id", "kf", "--json"], env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["models"]["logreg"]["seeds"] == [0, 1, 2]
    run = RunDir(tmp_path / "kf")
    with open(run.path / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    folds = ["split", "split_fold1", "split_fold2"]
    # every clip is a test clip in exactly one fold, and each fold's predictions follow it
    assert all(sum(r[c] == "test" for c in folds) == 1 for r in rows)
    for seed, column in enumerate(folds):
        with open(run.model_dir("logreg", seed) / "predictions.csv", newline="") as fh:
            preds = list(csv.DictReader(fh))
        assert [p["split"] for p in preds] == [r[column] for r in rows]


def test_one_fold_is_refused(env, tmp_path):
    out = cs(["--headless", "--models", "logreg", "--folds", "1", "--runs-dir", str(tmp_path)],
             env)
    assert out.returncode == 2 and "folds" in out.stderr


def test_tensorboard_mirror_gets_every_epoch(env, tmp_path):
    pytest.importorskip("tensorboardX")
    out = cs(["--headless", "--models", "ann", "--seeds", "1", "--epochs", "3", "--preset",
              "paper", "--logger", "tensorboard", "--runs-dir", str(tmp_path), "--run-id", "tb"],
             env)
    assert out.returncode == 0, out.stderr
    files = list((tmp_path / "tb" / "tensorboard" / "ann" / "seed0").glob("events.out.tfevents*"))
    assert files
    import struct

    from tensorboardX.proto import event_pb2

    steps: dict[str, list[int]] = {}
    data = files[0].read_bytes()
    pos = 0
    while pos < len(data):  # TFRecord: length, crc, payload, crc
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
        pos += 12 + length + 4
        for value in event.summary.value:
            steps.setdefault(value.tag, []).append(event.step)
    assert steps["val_auc"] == [1, 2, 3] and steps["train_loss"] == [1, 2, 3]
    assert "test_roc_auc" in steps


def test_too_few_clips_for_the_split_is_refused(env, tmp_path):
    out = cs(["--headless", "--data", "demo:8", "--models", "logreg", "--seeds", "1",
              "--runs-dir", str(tmp_path), "--run-id", "few"], env)
    assert out.returncode == 2, out.stderr
    assert "too few" in out.stderr
    assert RunDir(tmp_path / "few").status()["state"] == "failed"


def test_balance_by_a_column(env, tmp_path):
    out = cs(["--headless", "--models", "logreg", "--seeds", "1", "--balance-by", "nosuch",
              "--runs-dir", str(tmp_path), "--run-id", "bad"], env)
    assert out.returncode == 2 and "nosuch" in out.stderr and "source" in out.stderr
    out = cs(["--headless", "--models", "logreg", "--seeds", "1", "--balance-by", "source",
              "--runs-dir", str(tmp_path), "--run-id", "bal", "--json"], env)
    assert out.returncode == 0, out.stderr
    assert tomllib.loads((tmp_path / "bal" / "config.toml").read_text())["balance_by"] == "source"
