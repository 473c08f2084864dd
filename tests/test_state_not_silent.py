"""State is never silent (issue 21): ``predict`` and ``evaluate`` name every model or seed
they leave out and say when the run is not finished; ``status.json`` is written whole at
each transition; ``latest`` is no run id.

Each case plants its state in a copy of the cheapest real run (tests/tiny_run.py) and runs
the real command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.runs import RunDir

try:
    from conftest import write_cough
    from tiny_run import copy_run, cs, tiny_run
except ImportError:  # tests/ is a package
    from tests.conftest import write_cough
    from tests.tiny_run import copy_run, cs, tiny_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cough(tmp_path_factory.mktemp("wav") / "cough.wav", seed=4)


def predict_json(capsys: pytest.CaptureFixture[str], wav: Path, run: Path,
                 *extra: str) -> tuple[dict, str]:
    code = main(["predict", str(wav), "--run", str(run), "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    return json.loads(out), err


def set_config(run: Path, old: str, new: str) -> None:
    config = run / "config.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_predict_names_a_model_whose_folder_is_missing(finished: Path, wav: Path,
                                                       tmp_path: Path, capsys) -> None:
    run = copy_run(finished, tmp_path / "r")
    set_config(run, '"majority",\n]', '"majority",\n    "logreg",\n]')
    out, err = predict_json(capsys, wav, run)
    assert out["left_out"] == [{"model": "logreg", "seeds": [],
                                "reason": f"its folder {run / 'logreg'} is missing"}]
    assert f"note: left out model logreg: its folder {run / 'logreg'} is missing" in err
    assert list(out["files"][0]["models"]) == ["majority"]
    # named on the command line: the same, not a silent omission
    out, err = predict_json(capsys, wav, run, "--models", "majority,logreg")
    assert [x["model"] for x in out["left_out"]] == ["logreg"]
    # and in the table output, on stdout
    assert main(["predict", str(wav), "--run", str(run)]) == 0
    assert f"NOTE: left out model logreg: its folder {run / 'logreg'} is missing" in \
        capsys.readouterr().out


def test_predict_names_missing_seeds(finished: Path, wav: Path, tmp_path: Path,
                                     capsys) -> None:
    run = copy_run(finished, tmp_path / "r")
    set_config(run, "seeds = 1", "seeds = 3")
    out, err = predict_json(capsys, wav, run)
    assert out["left_out"] == [{"model": "majority", "seeds": [1, 2],
                                "reason": "1 of its 3 seeds finished; the verdict averages "
                                          "those"}]
    assert "note: left out seeds 1, 2 of model majority" in err


def test_a_finished_run_has_nothing_to_note(finished: Path, wav: Path, capsys) -> None:
    out, err = predict_json(capsys, wav, finished)
    assert out["run_state"] == "finished" and out["run_note"] is None
    assert out["left_out"] == [] and "note:" not in err


@pytest.mark.parametrize("state", ["interrupted", "running"])
def test_predict_and_evaluate_say_the_run_is_not_finished(finished: Path, wav: Path,
                                                          tmp_path: Path, capsys,
                                                          state: str) -> None:
    run = copy_run(finished, tmp_path / "r")
    (run / ".lock").unlink(missing_ok=True)  # "running": judged by the pid, which is ours
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": state,
                                                 "pid": os.getpid()}))
    out, err = predict_json(capsys, wav, run)
    assert out["run_state"] == state
    says = {"interrupted": f"run r was interrupted before it finished: only the models that "
                           f"finished are used (resume it: coughscope --headless --resume r)",
            "running": "run r is still running: only the models that have finished so far "
                       "are used"}[state]
    assert says in out["run_note"] and f"note: {says}" in err
    code = main(["evaluate", str(run), "--data", "demo:12", "--json", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["run_state"] == state and says in result["run_note"]
    assert f"note: {says}" in err


def test_status_is_written_whole_so_a_finished_resume_keeps_no_error(
        finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "r")
    first = json.loads((run / "status.json").read_text())
    RunDir(run).set_status("interrupted", error="MemoryError: out of memory",
                           reason="the disk was full")
    assert json.loads((run / "status.json").read_text())["error"].startswith("MemoryError")
    done = cs(finished.parent.parent, "--headless", "--resume", str(run))  # its data folders
    assert done.returncode == 0, done.stderr[-2000:]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished"
    assert "error" not in status and "reason" not in status
    assert status["started"] == first["started"]  # when the run first started is kept


@pytest.mark.parametrize("name", ["latest", "LATEST"])
def test_latest_is_no_run_id(tmp_path: Path, capsys, name: str) -> None:
    code = main(["--headless", "--data", "demo:8", "--models", "majority", "--seeds", "1",
                 "--runs-dir", str(tmp_path), "--run-id", name])
    err = capsys.readouterr().err
    assert code == 2
    assert f"run id {name!r} is reserved: `--run latest` means the newest run" in err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_before_training_exit_130_like_sigint(tmp_path: Path,
                                                                sig: str) -> None:
    """A stop while a command is still at its start (here: preprocessing a data set, before
    any handler of the runner exists) ends as Ctrl+C does: "interrupted", exit code 130."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(tmp_path / "d"),
           "COUGHSCOPE_CACHE_DIR": str(tmp_path / "c"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "data", "summary", "demo:600",
                             "--workers", "1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            env=env, text=True)
    seen = ""
    deadline = time.monotonic() + 300
    while "preprocess" not in seen and time.monotonic() < deadline:  # wait on the condition
        seen += proc.stderr.read(1)
    assert "preprocess" in seen
    proc.send_signal(getattr(signal, sig))
    rest = proc.stderr.read()
    assert proc.wait(timeout=300) == 130, seen + rest
    assert "coughscope: interrupted" in rest and "Traceback" not in rest
