"""One malformed file never breaks everything (issue 21): a run folder whose ``status.json``
or ``config.toml`` nests 100,000 levels deep is listed as damaged, with its reason, by
``coughscope runs``, ``runs show`` and the app; the other runs stay listed and usable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.bounded import TooDeep, loads_json, loads_toml

try:
    from test_tui_support import drive, make_app, make_finished_run, text_of
except ImportError:  # tests/ is a package
    from tests.test_tui_support import drive, make_app, make_finished_run, text_of

REPO = Path(__file__).resolve().parents[1]
DEEP = 100_000


def damaged_runs(runs: Path) -> tuple[Path, Path, Path]:
    """Three hand-written finished runs; the second's status.json and the third's
    config.toml nest :data:`DEEP` levels deep."""
    good = make_finished_run(runs, "20240501-120000-good")
    bad_status = make_finished_run(runs, "20240502-120000-bads")
    bad_config = make_finished_run(runs, "20240503-120000-badc")
    (bad_status / "status.json").write_text("[" * DEEP + "]" * DEEP)
    (bad_config / "config.toml").write_text("x = " + "[" * DEEP + "]" * DEEP + "\n")
    return good, bad_status, bad_config


def cs(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_deep_nesting_is_a_value_error_not_a_recursion_error() -> None:
    with pytest.raises(TooDeep, match=f"nested {DEEP} levels deep"):
        loads_json("[" * DEEP + "]" * DEEP)
    with pytest.raises(TooDeep):
        loads_toml("x = " + "{a = " * 100 + "1" + "}" * 100)
    assert loads_json('{"a": ["[[[[", {"b": [1]}]}') == {"a": ["[[[[", {"b": [1]}]}
    assert loads_toml('a = "[[[[" # [[[[\n[t]\nb = [[1], [2]]\n') == {
        "a": "[[[[", "t": {"b": [[1], [2]]}}


def test_runs_lists_a_damaged_run_with_its_reason_and_the_others(tmp_path: Path) -> None:
    good, bad_status, bad_config = damaged_runs(tmp_path / "runs")
    done = cs("runs", "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith(good.name) and "finished" in line for line in lines)
    assert any(line.startswith(bad_status.name) and "damaged" in line for line in lines)
    assert any(line.startswith(bad_config.name) and "damaged" in line for line in lines)
    assert (f"damaged: {bad_status.name}: {bad_status / 'status.json'} is not valid JSON: "
            f"nested {DEEP} levels deep") in done.stdout
    assert (f"damaged: {bad_config.name}: {bad_config / 'config.toml'} cannot be read: "
            f"nested {DEEP} levels deep") in done.stdout

    done = cs("runs", "--runs-dir", str(tmp_path / "runs"), "--json")
    assert done.returncode == 0
    rows = {r["id"]: r for r in json.loads(done.stdout)["runs"]}
    assert rows[good.name]["problem"] is None and rows[good.name]["state"] == "finished"
    assert "nested" in rows[bad_status.name]["problem"]
    assert rows[bad_status.name]["state"] == "damaged"
    assert "nested" in rows[bad_config.name]["problem"]

    for bad in (bad_status, bad_config):
        done = cs("runs", "show", str(bad))
        assert done.returncode == 0 and "Traceback" not in done.stderr
        assert f"problem: {bad}" in done.stderr and "nested" in done.stderr


def test_the_app_starts_and_lists_the_damaged_run(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    good, bad_status, bad_config = damaged_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await pilot.press("6")
        table = app.query_one("#runs-table", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i)[1] for i in range(table.row_count)}
        assert rows == {good.name: "finished", bad_status.name: "damaged",
                        bad_config.name: "damaged"}
        index = list(rows).index(bad_config.name)
        table.move_cursor(row=index)
        await pilot.pause()
        assert f"damaged: {bad_config / 'config.toml'} cannot be read" in text_of(
            app, "#runs-detail")

    drive(app, body)
