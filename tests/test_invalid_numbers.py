"""Invalid numbers never become verdicts (issue 21): a recording whose numbers are not audio
is refused with its reason, ``predict --json`` prints valid JSON only, and no JSON coughscope
writes holds NaN or Infinity.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import cough_signal
from engine.audio import ClipRejected, clean
from tiny_run import cs, tiny_run


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} in JSON output")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def float_wav(path: Path, scale: float) -> Path:
    sf.write(path, (cough_signal() * scale).astype(np.float32), 22050, subtype="FLOAT")
    return path


def test_samples_far_past_full_scale_are_refused_with_their_reason() -> None:
    with pytest.raises(ClipRejected, match=r"samples reach \S+e\+\d+, far outside the audio"):
        clean(cough_signal() * np.float32(1e20), 22050)
    assert clean(cough_signal() * np.float32(4.0), 22050).samples.size > 0  # loud, still audio


def test_predict_gives_no_verdict_for_a_wav_scaled_by_1e20(finished: Path, tmp_path: Path
                                                           ) -> None:
    """Before: P(positive) NaN, labelled "negative"; --json printed NaN; the table raised."""
    huge = float_wav(tmp_path / "huge.wav", 1e20)
    good = float_wav(tmp_path / "good.wav", 1.0)
    base = finished.parents[1]
    done = cs(base, "predict", str(huge), str(good), "--run", str(finished), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout, parse_constant=_no_constants)
    bad, ok = out["files"]
    assert "far outside the audio range" in bad["error"]
    assert not bad.get("models")
    assert math.isfinite(ok["models"]["majority"]["probability"])

    done = cs(base, "predict", str(huge), "--run", str(finished))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "cannot classify: unreadable: samples reach" in done.stdout
    assert "negative" not in done.stdout and "positive" not in done.stdout.replace(
        "P(positive)", "")


def test_no_json_file_of_a_run_holds_nan_or_infinity(finished: Path) -> None:
    files = [p for p in finished.rglob("*.json")] + [finished / "events.jsonl"]
    assert len(files) > 4
    for path in files:
        for line in (path.read_text().splitlines() if path.suffix == ".jsonl"
                     else [path.read_text()]):
            json.loads(line, parse_constant=_no_constants)
