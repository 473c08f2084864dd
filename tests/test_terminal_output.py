"""Control sequences from files never reach the terminal raw (issue 21): a crafted name in a
run folder could hide what ``runs trust`` is about to trust, and ``data summary`` printed
manifest values as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.bounded import printable

try:
    from tiny_run import copy_run, cs, tiny_run
    from conftest import write_cough
except ImportError:  # tests/ is a package
    from tests.tiny_run import copy_run, cs, tiny_run
    from tests.conftest import write_cough

ESC = "\x1b[2K\r\x1b[1A"  # erase the line, go back, go up: hides what came before
CSV_ESC = "\x1b[2K\x1b[1A"  # the same without the carriage return (a CSV row break)


def test_printable_escapes_every_control_and_keeps_the_rest() -> None:
    assert printable(f"a{ESC}b") == "a\\x1b[2K\\r\\x1b[1Ab"
    assert printable("x\ty\nz\x7f\x9b\u202e") == "x\\ty\\nz\\x7f\\x9b\\u202e"
    assert printable("coughs é 中 ✓") == "coughs é 中 ✓"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def test_runs_trust_shows_a_crafted_run_name_escaped(finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / f"their{ESC}run")
    (run / "majority" / "0" / "signature.json").unlink()  # needs trusting
    done = cs(finished.parents[1], "runs", "trust", str(run))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "\x1b" not in done.stdout + done.stderr and "\r" not in done.stdout + done.stderr
    assert "their\\x1b[2K\\r\\x1b[1Arun" in done.stdout
    assert "majority/0: NOT TRUSTED" in done.stdout
    assert "nothing was trusted" in done.stderr


def test_data_summary_shows_crafted_names_and_values_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    rows = ["path,label,group,site"]
    for i in range(4):
        name = f"c{i}{CSV_ESC}.wav" if i == 0 else f"c{i}.wav"
        write_cough(folder / name, seed=i)
        rows.append(f"audio/{name},{'positive' if i % 2 else 'negative'},p{i},site{CSV_ESC}{i % 2}")
    rows.append(f"audio/missing{CSV_ESC}.wav,positive,p9,x")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = cs(tmp_path, "data", "summary", str(tmp_path / "m.csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b" not in done.stdout + done.stderr
    assert "missing\\x1b[2K\\x1b[1A.wav" in done.stdout
    assert "site\\x1b[2K\\x1b[1A" in done.stdout
