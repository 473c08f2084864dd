"""The run record (engine.runs): one writer, one fold, one follower, typed readers.

Fake runs here are written through the real writer (:class:`EventLog`, ``write_json``), so a
fixture cannot drift from what the runner writes. The command-line cases run the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import runs as R
from engine.runs import EventLog, RunDir, RunFollower, RunLock, RunState, write_json

ROOT = Path(__file__).resolve().parents[1]


def cs(args, *, cwd=None, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def make_run(root: Path, run_id: str, *, started: float, state: str = "finished",
             config: dict | None = None, synthetic: bool = True) -> RunDir:
    """A run directory as the runner leaves it (status, config, events, data.json)."""
    run = RunDir(root / run_id)
    run.path.mkdir(parents=True)
    cfg = {"data": "demo" if synthetic else "/data/coswara", "models": ["logreg"], "seeds": 1,
           **(config or {})}
    import tomli_w

    run.config_path.write_text(tomli_w.dumps(cfg))
    write_json(run.status_path, {"state": state, "pid": 0, "started_unix": started,
                                 "started": "2026-01-01T00:00:00+00:00"})
    write_json(run.data_path, {"synthetic": synthetic})
    with EventLog(run.events_path) as log:
        log.emit("run_start", run_id=run_id, config=cfg, time=started)
        if state != "running":
            log.emit("run_end", state=state, seconds=1.0, time=started + 1)
    return run


# ----------------------------------------------------------------- schema and writer


def test_readme_event_table_matches_the_schema():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", text, re.M))
    assert set(R.EVENT_CLASSES) <= set(rows), "README's event table lacks a type"
    for kind, cls in R.EVENT_CLASSES.items():
        documented = set(re.findall(r"`(\w+)`", rows[kind]))
        fields = set(cls.field_names())
        assert fields - documented == set(), f"{kind}: README misses {fields - documented}"
        assert documented - fields - {"finished", "failed", "interrupted", "incomplete"} == set(), \
            f"{kind}: README documents fields the schema does not have"


def test_events_never_hold_nan_and_unknown_fields_are_refused(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.emit("epoch_end", model="ann", seed=0, epoch=1, train_loss=0.5,
                 val_auc=float("nan"), val_loss=float("inf"))
        log.emit("model_end", model="ann", seed=0, metrics={"roc_auc": float("nan")})
        with pytest.raises(TypeError, match="no field"):
            log.emit("epoch_end", model="ann", seed=0, epoch=2, bogus=1)
        with pytest.raises(ValueError):
            log.emit("no_such_type")

    def refuse(token):
        raise AssertionError(f"{token} is not JSON")

    lines = [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]
    assert lines[0]["val_auc"] is None and lines[0]["val_loss"] is None
    assert lines[1]["metrics"]["roc_auc"] is None
    assert all(line["v"] == R.SCHEMA_VERSION for line in lines)


def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.emit("run_start", run_id="x")
    with open(path, "a") as fh:
        fh.write('{"v": 1, "type": "epoch_end", "mod')  # a writer killed mid-line
    with EventLog(path) as log:
        assert log.repaired
        log.emit("run_start", run_id="x", resumed=True)
    events, problems = R.read_all_events(path)
    assert not problems
    assert [(e.type, e.resumed) for e in events] == [("run_start", False), ("run_start", True)]


def test_a_reader_keeps_fields_of_a_newer_writer(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"v": 1, "type": "warning", "time": 1.0, "message": "m",
                                "new_field": 3}) + "\n")
    (event,), _, problems = R.read_events(path)
    assert not problems and event.message == "m" and event.extra == {"new_field": 3}


# ----------------------------------------------------------------- the fold


def _log(tmp_path, *events):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for kind, fields in events:
            log.emit(kind, **fields)
    return RunDir(tmp_path)


def test_parts_are_what_data_ready_announced_for_folds_and_default_models(tmp_path):
    # --folds 3 (seeds stays 4 in the config) and default models (none named)
    run = _log(tmp_path,
               ("run_start", dict(run_id="r", config={"models": [], "seeds": 4,
                                                      "split": {"folds": 3},
                                                      "recipe": {"epochs": 5}})),
               ("data_ready", dict(models=["ann", "logreg"], seeds=3)))
    state = R.load_run_state(run)
    assert sorted(state.parts) == [("ann", 0), ("ann", 1), ("ann", 2),
                                   ("logreg", 0), ("logreg", 1), ("logreg", 2)]
    assert state.progress() == (0, 30)


def test_a_resumed_part_keeps_its_earlier_epochs(tmp_path):
    epoch = lambda n: ("epoch_end", dict(model="cnn", seed=0, epoch=n, val_auc=0.5,  # noqa: E731
                                         seconds=2.0))
    run = _log(tmp_path,
               ("run_start", dict(run_id="r", config={"models": ["cnn"], "seeds": 1,
                                                      "recipe": {"epochs": 4}})),
               ("data_ready", dict(models=["cnn"], seeds=1)),
               ("model_start", dict(model="cnn", seed=0, epochs=4)),
               epoch(1), epoch(2),
               ("run_end", dict(state="interrupted", seconds=3.0)),
               ("run_start", dict(run_id="r", resumed=True,
                                  config={"models": ["cnn"], "seeds": 1,
                                          "recipe": {"epochs": 4}})),
               ("model_start", dict(model="cnn", seed=0, epochs=4, resumed=True)),
               epoch(3))
    state = RunState()
    for event in run.iter_events():
        state.apply(event)
    part = state.parts[("cnn", 0)]
    assert [r["epoch"] for r in part.history] == [1, 2, 3]
    assert state.state == "running" and state.attempts == 2
    assert state.progress() == (3, 4)
    assert state.eta_seconds() == pytest.approx(2.0)  # one epoch left at 2 s an epoch


def test_eta_weights_each_model_by_its_own_pace():
    state = RunState()
    state.apply({"type": "run_start", "config": {"models": ["logreg", "cnn"], "seeds": 1,
                                                  "recipe": {"epochs": 10}}})
    state.apply({"type": "data_ready", "models": ["logreg", "cnn"], "seeds": 1})
    state.apply({"type": "epoch_end", "model": "logreg", "seed": 0, "epoch": 1,
                 "seconds": 0.01})
    state.apply({"type": "model_end", "model": "logreg", "seed": 0, "seconds": 0.01})
    state.apply({"type": "model_start", "model": "cnn", "seed": 0, "epochs": 10})
    state.apply({"type": "epoch_end", "model": "cnn", "seed": 0, "epoch": 1, "seconds": 5.0})
    assert state.eta_seconds() == pytest.approx(45.0)  # 9 cnn epochs at 5 s, not at 0.01 s


def test_a_baseline_counts_one_step_not_the_recipe_epochs(tmp_path):
    run = _log(tmp_path,
               ("run_start", dict(run_id="r", config={"models": ["logreg", "ann"], "seeds": 1,
                                                      "recipe": {"epochs": 10}})),
               ("data_ready", dict(models=["logreg", "ann"], seeds=1,
                                   epochs={"logreg": 1, "ann": 10})))
    assert R.load_run_state(run).progress() == (0, 11)


def test_follower_keeps_following_across_a_resume(tmp_path):
    run = RunDir(tmp_path)
    alive = {"now": True}
    follower = RunFollower(run, alive=lambda: alive["now"])
    with EventLog(run.events_path) as log:
        log.emit("run_start", run_id="r", config={"models": ["ann"], "seeds": 1})
        log.emit("run_end", state="interrupted", seconds=1.0)
    assert follower.poll() and follower.state.is_over
    assert not follower.done  # the resumed writer is alive: keep following
    with EventLog(run.events_path) as log:
        log.emit("run_start", run_id="r", resumed=True, config={"models": ["ann"]})
    assert follower.poll() and follower.state.state == "running"
    with EventLog(run.events_path) as log:
        log.emit("run_end", state="finished", seconds=2.0)
    alive["now"] = False
    assert follower.poll() and follower.done and follower.state.state == "finished"


def test_follower_reports_a_writer_that_died_without_run_end(tmp_path):
    run = RunDir(tmp_path)
    with EventLog(run.events_path) as log:
        log.emit("run_start", run_id="r", config={})
    with open(run.events_path, "a") as fh:
        fh.write('{"v": 1, "type": "epo')
    (tmp_path / "runner.log").write_text("Traceback ...\nMemoryError\n")
    follower = RunFollower(run, alive=lambda: False)
    follower.poll()
    assert follower.done and follower.state.state == "failed"
    assert any("incomplete" in p for p in follower.state.problems)
    assert "MemoryError" in follower.state.errors[0][1]


# ----------------------------------------------------------------- identity and order


def test_runs_are_ordered_by_recorded_start_not_folder_mtime(tmp_path):
    old = make_run(tmp_path, "b-old", started=1000.0)
    make_run(tmp_path, "a-new", started=2000.0)
    (old.path / "evaluations").mkdir()  # what `coughscope evaluate OLD` does to the folder
    os.utime(old.path, (5000, 5000))
    assert [r.id for r in R.list_runs(tmp_path)] == ["a-new", "b-old"]
    assert R.resolve_run("latest", tmp_path).id == "a-new"


def test_latest_opens_a_running_run_but_predicts_with_the_newest_finished(tmp_path):
    make_run(tmp_path, "done", started=1000.0)
    live = make_run(tmp_path, "live", started=2000.0, state="running")
    with RunLock(live.path):
        assert live.status()["state"] == "running"
        assert R.resolve_run("latest", tmp_path).id == "live"
        assert R.resolve_run("latest", tmp_path, finished=True).id == "done"
    # without its writer, a "running" status is reported as interrupted
    assert live.status()["state"] == "interrupted"


def test_run_ids_stay_inside_the_runs_directory(tmp_path):
    for bad in ("../x", "/tmp/x", "a/b", ".hidden", "", ".."):
        out = cs(["--headless", "--data", "demo:24", "--models", "majority", "--seeds", "1",
                  "--runs-dir", str(tmp_path / "runs"), "--run-id", bad])
        assert out.returncode == 2, (bad, out.stderr)
        assert "not a plain name" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists() and not Path("/tmp/x/config.toml").exists()


# ----------------------------------------------------------------- the command line


@pytest.mark.parametrize("args, code, words", [
    (["--data", "/no/such/data"], 2, "does not exist"),
    (["--data", "demo:24", "--device", "cuda"], 3, "cuda"),
    (["--data", "demo:24", "--models", "resnet50"], 3, "weights"),
    (["--data", "NEGATIVES"], 2, "no usable positive"),
])
def test_a_refused_command_leaves_no_run_directory(tmp_path, args, code, words):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    from tests.conftest import write_cough

    if "NEGATIVES" in args:
        for i in range(4):
            write_cough(tmp_path / "neg" / "negative" / f"{i}.wav", seed=i)
        (tmp_path / "neg" / "positive").mkdir()
        args = ["--data", str(tmp_path / "neg")]
    runs = tmp_path / "runs"
    out = cs(["--headless", *args, "--models", "logreg", "--seeds", "1",
              "--runs-dir", str(runs), "--json", *(["--models", "resnet50"]
                                                   if "resnet50" in args else [])],
             env={"TORCH_HOME": str(tmp_path / "torch")})
    assert out.returncode == code, out.stderr
    assert words in out.stderr.lower() or words in out.stderr
    error = json.loads(out.stdout)  # --json: a JSON error object, nothing else
    assert set(error) == {"error", "hint", "exit_code"} and error["exit_code"] == code
    assert not runs.exists() or [p for p in runs.iterdir()] == []
    assert "Traceback" not in out.stderr


def test_library_output_goes_to_stderr(capfd):
    from engine.cli import library_output_to_stderr

    with library_output_to_stderr():
        print("from python")
        os.write(1, b"from C\n")
    print("data")
    captured = capfd.readouterr()
    assert captured.out == "data\n"
    assert "from python" in captured.err and "from C" in captured.err


def test_runs_json_into_a_closed_pipe_exits_quietly(tmp_path):
    for i in range(3):
        make_run(tmp_path, f"r{i}", started=1000.0 + i)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "runs", "--json", "--runs-dir",
                             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_runs_list_show_and_diff(tmp_path):
    a = make_run(tmp_path, "a", started=1000.0, config={"seeds": 1})
    b = make_run(tmp_path, "b", started=2000.0, config={"seeds": 3}, synthetic=False)
    write_json(a.env_path, {"versions": {"torch": "2.14.1"}, "host": "h1"})
    write_json(b.env_path, {"versions": {"torch": "2.14.1"}, "host": "h2"})
    out = cs(["runs", "--runs-dir", str(tmp_path)])
    assert out.returncode == 0 and f"runs in {tmp_path}" in out.stdout
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["b", "a"]  # newest first
    assert "demo (synthetic)" in out.stdout and "coswara" in out.stdout
    shown = cs(["runs", "show", "a", "--runs-dir", str(tmp_path)])
    assert shown.returncode == 0 and "[environment]" in shown.stdout and "h1" in shown.stdout
    diff = json.loads(cs(["runs", "diff", "a", "b", "--runs-dir", str(tmp_path),
                          "--json"]).stdout)["differences"]
    assert diff["config"]["seeds"] == {"a": 1, "b": 3}
    assert diff["env"] == {"host": {"a": "h1", "b": "h2"}}  # equal torch versions not shown
    empty = cs(["runs", "--runs-dir", str(tmp_path / "none")])
    assert "no runs in" in empty.stdout and str(tmp_path / "none") in empty.stdout


# ----------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    home = tmp_path_factory.mktemp("home")
    env = {"COUGHSCOPE_DATA_DIR": str(home / "data"), "COUGHSCOPE_CACHE_DIR": str(home / "c")}
    out = cs(["--headless", "--data", "demo:24", "--models", "ann,logreg", "--seeds", "1",
              "--epochs", "4", "--runs-dir", str(root), "--run-id", "r", "--json"], env=env)
    assert out.returncode == 0, out.stderr
    return RunDir(root / "r"), env, out


def test_a_finished_run_records_env_and_its_trainer_best_epoch(small_run):
    run, _, out = small_run
    json.loads(out.stdout)  # stdout is the result object only
    env = R.read_env(run)
    assert env["argv"][:1] == ["--headless"] or "--headless" in env["argv"]
    assert env["versions"]["torch"] and env["versions"]["scikit-learn"]
    assert env["seeds"] == [0] and env["device"] == "cpu" and env["host"]
    metrics = R.read_metrics(run, "ann", 0)
    ends = [e for e in run.iter_events() if e.type == "model_end" and e.model == "ann"]
    epochs = [e for e in run.iter_events() if e.type == "epoch_end" and e.model == "ann"]
    assert metrics.best_epoch == ends[0].best_epoch == epochs[-1].best_epoch
    assert not (run.path / ".lock").read_text().strip() == "" and not run.writer_alive()


def test_predict_names_its_run_and_warns_about_synthetic_training(small_run, tmp_path):
    run, env, _ = small_run
    from tests.conftest import write_cough

    wav = write_cough(tmp_path / "c.wav")
    out = cs(["predict", str(wav), "--runs-dir", str(run.path.parent), "--json"], env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["run_id"] == "r" and result["synthetic"] is True
    assert "SYNTHETIC" in result["warning"] and "using run r" in out.stderr


def test_two_writers_of_one_run_cannot_both_run(small_run):
    run, env, _ = small_run
    R.write_json(run.status_path, {**json.loads(run.status_path.read_text()),
                                   "state": "interrupted"})
    with RunLock(run.path):  # another process is writing this run
        out = cs(["--headless", "--resume", str(run.path)], env=env)
    assert out.returncode == 2, out.stderr
    assert "still running" in out.stderr or "in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_two_runs_with_one_run_id_started_together(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "engine", "--headless", "--data",
                               "demo:24", "--models", "majority", "--seeds", "1",
                               "--runs-dir", str(tmp_path), "--run-id", "same"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "already exists" in loser or "in use" in loser


def test_resume_removes_temporary_files_a_killed_writer_left(small_run):
    run, env, _ = small_run
    stale = run.model_dir("ann", 0) / ".last.pt.99999.tmp"
    stale.write_bytes(b"")
    R.write_json(run.status_path, {**json.loads(run.status_path.read_text()),
                                   "state": "interrupted"})
    out = cs(["--headless", "--resume", str(run.path)], env=env)
    assert out.returncode == 0, out.stderr
    assert not stale.exists()


def test_a_full_disk_fails_cleanly(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(mnt)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): "
                    f"{made.stderr.decode().strip()}")
    try:
        out = cs(["--headless", "--data", "demo:24", "--models", "majority", "--seeds", "1",
                  "--runs-dir", str(mnt), "--run-id", "r"])
        assert out.returncode == 3, out.stderr  # README: 3, something needed (disk space)
        assert "Traceback" not in out.stderr and "full" in out.stderr
        run = RunDir(mnt / "r")
        assert run.status()["state"] != "running"
        assert list(mnt.rglob(".*.tmp")) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_every_config_field_has_a_validation_rule():
    """A field added to a config class without its rule would crash every run (KeyError)."""
    import dataclasses

    from engine import config

    for cls_name, rules in config.RULES.items():
        cls = getattr(config, cls_name)
        missing = {f.name for f in dataclasses.fields(cls)} - set(rules)
        assert not missing, f"{cls_name}: no rule for {sorted(missing)} in engine.config.RULES"


def test_fit_progress_is_folded_beside_the_curve_not_into_it():
    """A refit run announces its out-of-fold folds and refit as ``fit_progress``: the state
    keeps the latest one on the part and never plots it (a follower that could not fold it
    stopped following, so the app never saw such a run end)."""
    state = RunState()
    state.apply({"type": "model_start", "model": "ann", "seed": 0, "epochs": 3})
    state.apply({"type": "epoch_end", "model": "ann", "seed": 0, "epoch": 1, "val_auc": 0.6})
    state.apply({"type": "fit_progress", "model": "ann", "seed": 0, "phase": "oof", "fold": 2,
                 "folds": 5, "epoch": 1, "epochs": 3})
    part = state.parts[("ann", 0)]
    assert part.fit == {"phase": "oof", "fold": 2, "folds": 5, "epoch": 1, "epochs": 3}
    assert [r["epoch"] for r in part.history] == [1] and state.problems == []
