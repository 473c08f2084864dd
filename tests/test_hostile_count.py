"""The closing count of the bad-input corpus (issue 21): scripts/hostile_count.py runs every
hostile input through the real command line and must count no silent acceptance and no
traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_bad_input_corpus_is_refused_with_reasons_and_no_traceback() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "hostile_count.py")],
                          capture_output=True, text=True, timeout=900, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    last = done.stdout.strip().splitlines()[-1]
    tried = int(last.split()[1].rstrip(":"))
    assert tried >= 38
    assert last == (f"tried {tried}: refused with a reason {tried}, silent 0, tracebacks 0"), \
        done.stdout + done.stderr[-3000:]
    assert done.returncode == 0 and "Traceback" not in done.stderr
