"""bench/gpu_check.sh, the GPU check as one unattended command, rehearsed on the CPU.

The whole rehearsal (``QUICK=1 bench/gpu_check.sh``, ~4 min on 2 busy cores) is run by hand
(README, "Running on a GPU server"); here its contract: the time limits fit 9 minutes, and a
run of its quick steps prints one table and leaves at most 8 small text files and no run
directory or scratch behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def test_the_steps_time_limits_fit_nine_minutes() -> None:
    text = SCRIPT.read_text()
    full = re.search(r"^\s*LIMITS=\(([\d ]+)\)\s*#\s*\d+ s = 9 min", text, re.M)
    assert full, "the full run's LIMITS line"
    limits = [int(x) for x in full.group(1).split()]
    assert len(limits) == 5 and sum(limits) <= 9 * 60
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    assert "python3" in text and "${PYTHON:-python3}" in text  # never a bare `python`


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_quick_run_prints_one_table_and_leaves_a_few_small_files(tmp_path: Path) -> None:
    out, temp = tmp_path / "results", tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, QUICK="1", ONLY="imports,ddp", PYTHON=sys.executable,
               OUT=str(out), TMPDIR=str(temp))
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=280, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    table = done.stdout[done.stdout.index("coughscope GPU check"):]
    assert table.count("step         status") == 1
    rows = {line.split()[0]: line for line in table.splitlines()[2:-1]}
    assert set(rows) == {"imports", "cuda_tests", "throughput", "study", "ddp"}
    assert rows["imports"].split()[1] == "ok" and rows["ddp"].split()[1] == "ok"
    assert "run finished in" in rows["ddp"]
    assert all(rows[s].split()[1] == "skipped" for s in ("cuda_tests", "throughput", "study"))
    files = list(out.iterdir())
    assert 1 <= len(files) <= 8 and all(f.is_file() and f.stat().st_size < 100_000
                                        for f in files)
    assert (out / "summary.txt").read_text().strip() == table.strip()
    # its scratch (data, cache, run directories) removed
    assert [p for p in temp.iterdir() if p.name.startswith("coughscope-")] == []
    assert not list(out.rglob("*.jsonl")) and not list(out.rglob("status.json"))
