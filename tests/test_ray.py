"""Task-parallel studies on Ray (engine.plan, engine.executors) against a real local Ray.

One Ray instance for the module (2 CPUs and one fake GPU, for the packing logic); the runs
train on the CPU. What is checked: the planner's tasks and resources; the same results as
the in-process executor; a worker killed once is retried, killed twice its task is marked
failed while the study goes on (and ``--resume`` runs it again); SIGINT of the driver, then
``--resume`` re-runs only the unfinished task; four tasks of a quarter GPU each are given
the same GPU at the same time (by Ray's assignment, not by timing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import ExperimentConfig, TrainRecipe
from engine.errors import ConfigError
from engine.plan import Resources, plan_study, resources_for
from engine.runs import RunDir, load_run_state, read_all_events, read_json

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--data", "demo:40", "--models", "logreg,ann", "--seeds", "2", "--epochs", "2",
        "--oof-folds", "2", "--device", "cpu"]


def config(**recipe) -> ExperimentConfig:
    return ExperimentConfig(data="demo:40", models=("logreg", "ann"), seeds=2, device="cpu",
                            recipe=TrainRecipe(epochs=2, oof_folds=2, **recipe))


def wait_until(condition, what: str, proc=None, timeout: float = 300) -> None:
    """Poll ``condition`` (no sleeps for timing: the bound only ends a hung test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver exited before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------- the planner


def test_plan_lists_every_task_with_its_fits_and_resources():
    cfg = ExperimentConfig(models=("logreg", "ann", "ensemble"), seeds=3,
                           recipe=TrainRecipe(refit=True, oof_folds=3))
    tasks = plan_study(cfg, ["logreg", "ann", "ensemble"], 3, use_gpu=True, tasks_per_gpu=4)
    assert [t.key for t in tasks] == ["logreg/0", "logreg/1", "logreg/2", "ann/0", "ann/1",
                                      "ann/2"]  # the ensemble runs on the driver, after them
    assert tasks[3].fits == ("selection", "oof 1/3", "oof 2/3", "oof 3/3", "refit")
    assert tasks[0].resources == Resources(cpus=1.0, gpus=0.0)  # sklearn: never a GPU
    assert tasks[3].resources == Resources(cpus=1.0, gpus=0.25)
    no_refit = plan_study(ExperimentConfig(recipe=TrainRecipe(refit=False)), ["cnn"], 1)
    assert no_refit[0].fits == ("fit",) and no_refit[0].resources.gpus == 0.0
    assert resources_for("resnet50", use_gpu=True, tasks_per_gpu=8).gpus == 0.5
    assert resources_for("cne", use_gpu=True).gpus == 0.0  # pytorch-tabular trains on CPU
    with pytest.raises(ConfigError, match="tasks-per-gpu 0"):
        resources_for("cnn", use_gpu=True, tasks_per_gpu=0)


def test_sequential_with_an_address_is_refused():
    from engine.executors import ExecutorOptions

    with pytest.raises(ConfigError, match="needs --executor ray"):
        ExecutorOptions(kind="sequential", address="10.0.0.1:6379")


# ---------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray of 2 CPUs and one fake GPU for the whole module; its GCS address."""
    ray = pytest.importorskip("ray")
    info = ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
                    configure_logging=False)
    try:
        yield info.address_info["gcs_address"]
    finally:
        ray.shutdown()


def run_in_process(run_path: Path, kind: str, cpus_per_task: float | None = None):
    from engine.executors import ExecutorOptions
    from engine.runner import run_experiment

    run = RunDir(run_path)
    summary = run_experiment(config(), run, argv=["test"],
                             executor=ExecutorOptions(kind=kind, cpus_per_task=cpus_per_task))
    return run, summary


def predictions(run: RunDir) -> dict[str, str]:
    return {f"{m}/{s}": (run.model_dir(m, s) / "predictions.csv").read_text()
            for m in ("logreg", "ann") for s in (0, 1)}


@pytest.mark.slow
def test_ray_gives_the_sequential_results(ray_cluster, tmp_path):
    seq, seq_summary = run_in_process(tmp_path / "seq", "sequential")
    par, par_summary = run_in_process(tmp_path / "ray", "ray")
    assert predictions(par) == predictions(seq)  # every probability, to 8 decimals
    for model in ("logreg", "ann"):
        a, b = seq_summary["models"][model], par_summary["models"][model]
        assert a["metrics"]["roc_auc"] == b["metrics"]["roc_auc"]
        assert a["operating_point"] == b["operating_point"]
    # the driver wrote the run: every file the sequential run has, signed with our key
    def files(run: RunDir) -> list[str]:
        return sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())

    assert files(par) == files(seq)
    from engine.trust import verify_model_dir

    verify_model_dir(par.model_dir("ann", 1))
    events, problems = read_all_events(par.events_path)
    assert not problems
    tasks = [e for e in events if e["type"] == "task"]
    assert [e["state"] for e in tasks].count("queued") == 4
    running = [e for e in tasks if e["state"] == "running"]
    assert len(running) == 4 and all(e["device"] == "cpu" and " pid " in e["worker"]
                                     for e in running)
    # model_end comes after the files are in the run: a follower may read them at once
    for e in events:
        if e["type"] == "model_end":
            assert (par.model_dir(e["model"], e["seed"]) / "metrics.json").exists()
    state = load_run_state(par)
    assert state.state == "finished" and {p.task_state for p in state.parts.values()} == {"done"}
    assert not any(e["type"] == "task" for e in read_all_events(seq.events_path)[0])


@pytest.mark.slow
def test_a_dead_worker_is_retried_then_its_task_marked_failed(ray_cluster, tmp_path,
                                                               monkeypatch):
    from engine.executors import HOLD_ENV, KILL_DIR_ENV, KILL_ENV

    markers = tmp_path / "kills"
    markers.mkdir()
    monkeypatch.setenv(KILL_ENV, json.dumps({"ann/0": 1, "logreg/1": 2}))
    monkeypatch.setenv(KILL_DIR_ENV, str(markers))
    monkeypatch.delenv(HOLD_ENV, raising=False)
    run, summary = run_in_process(tmp_path / "r", "ray", cpus_per_task=1)  # 1 thread each
    assert len(list(markers.iterdir())) == 3  # ann/0 died once, logreg/1 twice
    status = read_json(run.status_path)
    assert status["state"] == "incomplete"
    assert list(status["failed_tasks"]) == ["logreg/1"]
    assert "WorkerCrashedError" in status["failed_tasks"]["logreg/1"]
    events, _ = read_all_events(run.events_path)
    states = [(e["model"], e["seed"], e["state"]) for e in events if e["type"] == "task"]
    assert ("ann", 0, "retry") in states and ("ann", 0, "done") in states
    assert ("logreg", 1, "retry") in states and ("logreg", 1, "failed") in states
    assert ("logreg", 1, "done") not in states
    assert events[-1]["type"] == "run_end" and events[-1]["state"] == "incomplete"
    assert "logreg/1" in events[-1]["reason"]
    # the study went on: the other three are there, the failed one is left out
    assert summary["models"]["logreg"]["seeds"] == [0]
    assert summary["models"]["ann"]["seeds"] == [0, 1]
    state = load_run_state(run)
    assert state.state == "incomplete" and state.parts[("logreg", 1)].state == "failed"

    # --resume runs the failed task again (the hook has had its two kills), nothing else
    from engine.executors import ExecutorOptions
    from engine.runner import run_experiment

    summary = run_experiment(ExperimentConfig.from_toml(run.config_path), run, resume=True,
                             executor=ExecutorOptions(kind="ray", cpus_per_task=1),
                             argv=["test"])
    events, _ = read_all_events(run.events_path)
    last = max(i for i, e in enumerate(events) if e["type"] == "run_start")
    again = {(e["model"], e["seed"]) for e in events[last:] if e["type"] == "model_start"}
    assert again == {("logreg", 1)}
    assert summary["models"]["logreg"]["seeds"] == [0, 1]
    assert read_json(run.status_path)["state"] == "finished"


@pytest.mark.slow
def test_sigint_of_the_driver_then_resume_runs_only_the_unfinished(ray_cluster, tmp_path):
    from engine.executors import HOLD_ENV

    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    env[HOLD_ENV] = json.dumps({"ann/1": str(tmp_path / "never")})  # held until interrupted
    cmd = [sys.executable, "-m", "engine", "--headless", *ARGS, "--runs-dir", str(tmp_path),
           "--run-id", "r", "--address", ray_cluster, "--cpus-per-task", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    run = RunDir(tmp_path / "r")

    def three_done_and_ann1_running() -> bool:
        events, _ = read_all_events(run.events_path)
        done = {(e["model"], e["seed"]) for e in events if e["type"] == "model_end"}
        running = any(e["type"] == "task" and e["state"] == "running" and e["model"] == "ann"
                      and e["seed"] == 1 for e in events)
        return len(done) == 3 and running

    try:
        wait_until(three_done_and_ann1_running, "three tasks done and ann/1 running", proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert run.status()["state"] == "interrupted"
    assert not run.model_dir("ann", 1).exists()  # nothing half-made in the run

    del env[HOLD_ENV]
    out = subprocess.run([sys.executable, "-m", "engine", "--headless", "--resume",
                          str(run.path), "--address", ray_cluster, "--cpus-per-task", "1",
                          "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    events, _ = read_all_events(run.events_path)
    last = max(i for i, e in enumerate(events) if e["type"] == "run_start")
    queued = [(e["model"], e["seed"]) for e in events[last:]
              if e["type"] == "task" and e["state"] == "queued"]
    assert queued == [("ann", 1)]
    assert json.loads(out.stdout)["models"]["ann"]["seeds"] == [0, 1]


@pytest.mark.slow
def test_four_quarter_gpu_tasks_share_one_gpu_at_once(ray_cluster):
    """The planner gives ann a quarter GPU with --tasks-per-gpu 4; submitted with the
    executor's own options, four such tasks are running together on GPU 0: each waits at a
    barrier until all four have arrived, which only happens if Ray placed them at once."""
    import ray

    from engine.executors import task_options

    tasks = plan_study(config(), ["ann"], 4, use_gpu=True, tasks_per_gpu=4, cpus_per_task=0.5)
    assert [t.resources for t in tasks] == [Resources(cpus=0.5, gpus=0.25)] * 4

    @ray.remote(num_cpus=0)
    class Barrier:
        def __init__(self) -> None:
            self.arrived = 0

        def arrive(self) -> int:
            self.arrived += 1
            return self.arrived

        def count(self) -> int:
            return self.arrived

    def probe(barrier, n: int) -> tuple[list[str], int]:
        ray.get(barrier.arrive.remote())
        deadline = time.monotonic() + 120  # only a failing test waits this long
        while ray.get(barrier.count.remote()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        gpus = ray.get_runtime_context().get_accelerator_ids()["GPU"]
        return list(gpus), ray.get(barrier.count.remote())

    barrier = Barrier.remote()
    remote = ray.remote(probe)
    refs = [remote.options(**task_options(t)).remote(barrier, len(tasks)) for t in tasks]
    results = ray.get(refs, timeout=300)
    assert [r[1] for r in results] == [4, 4, 4, 4]  # all four were in flight together
    assert [r[0] for r in results] == [["0"]] * 4  # on the one GPU


def test_progress_shows_which_task_runs_where_and_what_is_queued():
    """The run state folds ``task`` events; the Training screen and the headless lines
    say which task runs on which worker and device, what waits, and what failed."""
    from engine.commands.experiment import task_line
    from engine.runs import RunState, make_event
    from tui.screens.training import part_line, tasks_text

    state = RunState(run_id="r")
    for model, seed in (("cnn", 0), ("cnn", 1), ("ann", 0)):
        state.apply(make_event("task", model=model, seed=seed, state="queued",
                               resources="1 CPU, 0.25 GPU"))
    state.apply(make_event("task", model="cnn", seed=0, state="running",
                           worker="10.0.0.2 pid 811", device="cuda:0"))
    state.apply(make_event("model_start", model="cnn", seed=0, epochs=3))
    state.apply(make_event("task", model="ann", seed=0, state="retry", attempt=1,
                           reason="WorkerCrashedError: killed"))
    text = tasks_text(state).plain
    assert "running: cnn s0 on 10.0.0.2 pid 811 (cuda:0)" in text
    assert "queued (2): cnn s1, ann s0" in text
    assert part_line(state.parts[("cnn", 1)]).plain == "· cnn s1 queued"
    assert part_line(state.parts[("ann", 0)]).plain == "· ann s0 retrying"
    state.apply(make_event("task", model="ann", seed=0, state="failed", attempt=2,
                           reason="WorkerCrashedError: killed"))
    assert state.parts[("ann", 0)].state == "failed"
    assert part_line(state.parts[("ann", 0)]).plain == "✗ ann s0 failed"
    assert "failed: ann s0" in tasks_text(state).plain
    assert task_line(make_event("task", model="cnn", seed=0, state="running",
                                worker="10.0.0.2 pid 811", device="cuda:0")) == \
        "cnn seed 0: running on 10.0.0.2 pid 811, cuda:0"
    assert tasks_text(RunState(run_id="plain")).plain == ""  # a run in one process


def test_the_default_executor_is_in_process_here_and_ray_is_refused_under_torchrun(
        monkeypatch):
    from engine.executors import ExecutorOptions, choose_executor

    assert choose_executor(ExecutorOptions(), "cpu", 8) == "sequential"  # a CPU: in process
    assert choose_executor(ExecutorOptions(kind="ray"), "cpu", 8) == "ray"
    assert choose_executor(ExecutorOptions(address="auto"), "cpu", 8) == "ray"
    import torch  # no GPU here: the count is what a 2-GPU server reports

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert choose_executor(ExecutorOptions(), "cuda", 8) == "ray"
    assert choose_executor(ExecutorOptions(), "cuda", 1) == "sequential"  # one task
    for name, value in (("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("RANK", "0")):
        monkeypatch.setenv(name, value)
    assert choose_executor(ExecutorOptions(), "cuda", 8) == "sequential"  # DDP's grain
    with pytest.raises(ConfigError, match="cannot run under torchrun"):
        choose_executor(ExecutorOptions(kind="ray"), "cpu", 8)


def test_an_executor_table_in_the_config_file_with_flags_on_top(tmp_path):
    from engine.executors import ExecutorOptions, executor_options

    path = tmp_path / "study.toml"
    path.write_text('seeds = 3\n[executor]\naddress = "10.0.0.1:6379"\ntasks_per_gpu = 8\n')
    from engine.config import read_toml

    table = read_toml(path)["executor"]
    assert executor_options(table, str(path)) == ExecutorOptions(
        kind="ray", address="10.0.0.1:6379", tasks_per_gpu=8)
    assert executor_options(table, str(path), tasks_per_gpu=2, cpus_per_task=0.5) == \
        ExecutorOptions(kind="ray", address="10.0.0.1:6379", tasks_per_gpu=2,
                        cpus_per_task=0.5)
    # how the tasks run is not the experiment: the config ignores the table
    assert ExperimentConfig.from_sources(path).seeds == 3
    with pytest.raises(ConfigError, match=r"unknown setting 'gpus' in \[executor\]"):
        executor_options({"gpus": 2}, str(path))
    with pytest.raises(ConfigError, match="tasks_per_gpu = '4' has the wrong type"):
        executor_options({"tasks_per_gpu": "4"}, str(path))
    with pytest.raises(ConfigError, match="tasks-per-gpu 0 is below 1"):
        executor_options({}, str(path), tasks_per_gpu=0)
