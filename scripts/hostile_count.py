"""The bad-input corpus, counted: every hostile input of tests/hostile_corpus.py and issue 21
through the real command line (``engine.cli.main`` in this process), each in a fresh folder.

Each case is classified by what the user sees:

* ``refused``  -- a one-line ``coughscope: error:`` with a non-zero exit code, or the bad
  entry listed (excluded, damaged, no verdict) with its reason while the rest goes on;
* ``silent``   -- accepted without a word about the bad input (a bug);
* ``traceback`` -- an exception escaped, or a traceback was printed (a bug).

Run:  PYTHONPATH=. python scripts/hostile_count.py   (about a minute; prints one line per case
and the totals; exit code 1 when any case is silent or a traceback)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.cli import main  # noqa: E402
from tests import hostile_corpus as hc  # noqa: E402


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def refused(code: int, err: str) -> bool:
    return code != 0 and "coughscope: error: " in err and "Traceback" not in err


def excluded_with_reason(work: Path, bad: Path | str, *extra: str) -> bool:
    """``data summary`` of good clips plus ``bad``: exit 0, and ``bad`` listed with a reason."""
    csv = hc.manifest_with(work / "set", [(str(bad), "positive")])
    code, out, err = cli("data", "summary", str(csv), "--json", "--workers", "1", *extra)
    if code != 0:
        return refused(code, err)
    listed = json.loads(out)["excluded"]
    return any(e["path"] == str(bad) and e["reason"] for e in listed)


def manifest_refused(work: Path, rows: list[tuple[str, str]], header: str = "path,label") -> bool:
    csv = hc.manifest(work / "m.csv", rows, header=header)
    code, out, err = cli("data", "summary", str(csv), "--json", "--workers", "1")
    if code != 0:
        return refused(code, err)
    return bool(json.loads(out)["excluded"])


def good_rows(work: Path) -> list[tuple[str, str]]:
    return [(str(p), lab) for p, lab, _ in hc.good_clips(work / "good")]


def config_refused(work: Path, text: str) -> bool:
    path = work / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, _, err = cli("--headless", "--config", str(path), "--runs-dir", str(work / "runs"))
    return refused(code, err) and not (work / "runs").exists()


_TRAINED: dict[str, Path] = {}


def trained(work: Path) -> Path:
    """A copy of one small finished run (majority and gbm, one seed), trained on first use."""
    if "run" not in _TRAINED:
        base = Path(tempfile.mkdtemp(prefix="hostile-run-"))
        code, _, err = cli("--headless", "--data", "demo:16", "--models", "majority,gbm",
                           "--seeds", "1", "--runs-dir", str(base), "--run-id", "made")
        assert code == 0, err
        _TRAINED["run"] = base / "made"
    run = work / "made"  # the same name: the signatures bind the run id
    shutil.copytree(_TRAINED["run"], run, symlinks=True)
    return run


def wav(work: Path) -> Path:
    return hc.good_clips(work / "one", n=2)[0][0]


def case_gbm_not_a_model(work: Path) -> bool:
    run = trained(work)
    (run / "gbm" / "0" / "gbm.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    from engine.models.baselines import FORMAT, write_manifest

    write_manifest(run / "gbm" / "0", FORMAT, ["gbm.pkl"], model="gbm", n_iter=1)
    assert cli("runs", "trust", str(run), "--yes")[0] == 0
    return refused(*cli("predict", str(wav(work)), "--run", str(run), "--models", "gbm")[::2])


def case_missing_model_folder(work: Path) -> bool:
    run = trained(work)
    shutil.rmtree(run / "gbm")
    code, _, err = cli("predict", str(wav(work)), "--run", str(run))
    return code == 0 and "left out model gbm: its folder" in err


def case_copied_model_folder(work: Path) -> bool:
    run = trained(work)
    os.rename(run, work / "renamed")  # the run id changes: its model folders are another run's
    return refused(*cli("predict", str(wav(work)), "--run", str(work / "renamed"),
                        "--models", "gbm")[::2])


def case_edited_sample_rate(work: Path) -> bool:
    run = trained(work)
    config = run / "config.toml"
    config.write_text(config.read_text().replace("sample_rate = 22050", "sample_rate = 16000"))
    return refused(*cli("predict", str(wav(work)), "--run", str(run), "--models", "gbm")[::2])


def case_nan_wav(work: Path) -> bool:
    import numpy as np
    import soundfile as sf

    run = trained(work)
    path = work / "huge.wav"
    from tests.conftest import cough_signal

    sf.write(path, cough_signal().astype(np.float64) * 1e20, 22050, subtype="DOUBLE")
    code, out, err = cli("predict", str(path), "--run", str(run), "--json")
    return "Traceback" not in err and "error" in json.loads(out)["files"][0]


def case_linked_events(work: Path) -> bool:
    run = trained(work)
    (run / "status.json").write_text(json.dumps({"state": "interrupted"}))
    outside = work / "outside.jsonl"
    outside.write_text("")
    (run / "events.jsonl").unlink()
    (run / "events.jsonl").symlink_to(outside)
    code, _, err = cli("--headless", "--resume", str(run))
    return refused(code, err) and outside.read_text() == ""


def case_linked_evaluations(work: Path) -> bool:
    run = trained(work)
    (work / "elsewhere").mkdir()
    (run / "evaluations").symlink_to(work / "elsewhere")
    code, _, err = cli("evaluate", str(run), "--data", "demo:12", "--device", "cpu")
    return refused(code, err) and not list((work / "elsewhere").iterdir())


def case_deep_status(work: Path) -> bool:
    runs = work / "runs"
    for name in ("good", "deep"):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.toml").write_text('data = "demo"\n')
    (runs / "good" / "status.json").write_text(json.dumps({"state": "finished"}))
    (runs / "deep" / "status.json").write_text("[" * 100_000)
    code, out, err = cli("runs", "--runs-dir", str(runs), "--json")
    return code == 0 and "damaged" in out and "good" in out


def case_escape_name(work: Path) -> bool:
    bad = hc.random_bytes(work / "set" / "evil\x1b]0;pwned\x07.wav")
    csv = hc.manifest_with(work / "set", [(str(bad), "positive")])
    code, out, err = cli("data", "summary", str(csv), "--workers", "1")
    return code == 0 and "\x1b" not in out + err and "\\x1b" in out


def case_get_base_url(work: Path) -> bool:
    return refused(*cli("data", "get", "covid19-cough", "--dest", str(work / "d"),
                        "--base-url", "::::")[::2]) and not (work / "d").exists()


def case_export_images_file(work: Path) -> bool:
    (work / "f").write_text("mine")
    return refused(*cli("data", "summary", "demo:8", "--export-images", str(work / "f"))[::2])


CASES: dict[str, Callable[[Path], bool]] = {
    "1 TB sparse WAV": lambda w: excluded_with_reason(w, hc.sparse_wav(w / "set" / "huge.wav")),
    "random bytes named .wav": lambda w: excluded_with_reason(w, hc.random_bytes(w / "set" / "x.wav")),
    "random bytes named .mp3": lambda w: excluded_with_reason(w, hc.random_bytes(w / "set" / "x.mp3")),
    "FIFO": lambda w: excluded_with_reason(w, hc.fifo(w / "set" / "p.wav")),
    "dangling link": lambda w: excluded_with_reason(w, hc.dangling_link(w / "set" / "d.wav")),
    "link loop": lambda w: excluded_with_reason(w, hc.loop_link(w / "set" / "l.wav")),
    "folder named .wav": lambda w: (excluded_with_reason(w, (w / "set" / "dir.wav").mkdir(
        parents=True) or w / "set" / "dir.wav")),
    "missing file": lambda w: excluded_with_reason(w, w / "set" / "missing.wav"),
    "NUL byte in a path": lambda w: excluded_with_reason(w, w / "set" / "a\x00b.wav"),
    "50 Hz sample rate": lambda w: excluded_with_reason(
        w, hc.silent_wav(w / "set" / "s.wav", sample_rate=50, seconds=20)),
    "1 MHz sample rate": lambda w: excluded_with_reason(
        w, hc.silent_wav(w / "set" / "f.wav", sample_rate=1_000_000, seconds=0.1)),
    "700 s recording": lambda w: excluded_with_reason(
        w, hc.silent_wav(w / "set" / "l.wav", sample_rate=8000, seconds=700)),
    "conflicting duplicate labels": lambda w: manifest_refused(
        w, (rows := good_rows(w)) + [(rows[0][0], "negative" if rows[0][1] == "positive"
                                      else "positive")]),
    "duplicated label column": lambda w: manifest_refused(
        w, [(p, lab, "negative") for p, lab in good_rows(w)], header="path,label,Label"),
    "unknown label": lambda w: manifest_refused(
        w, (rows := good_rows(w)) + [(rows[0][0], "maybe")]),
    "unclosed quote": lambda w: manifest_refused(
        w, [(f'"{p}' if i == 2 else p, lab) for i, (p, lab) in enumerate(good_rows(w))]),
    "empty --data": lambda w: refused(*cli("--headless", "--data", "", "--runs-dir",
                                           str(w))[::2]),
    "empty --resume": lambda w: refused(*cli("--headless", "--resume", "")[::2]),
    "models = []": lambda w: config_refused(w, "models = []\n"),
    "hop_length = 0": lambda w: config_refused(w, "[preprocess]\nhop_length = 0\n"),
    "duration = inf": lambda w: config_refused(w, "[preprocess]\nduration = inf\n"),
    "sound = ../../etc/passwd": lambda w: config_refused(w, 'sound = "../../etc/passwd"\n'),
    "binary config": lambda w: config_refused(w, "\x00\xff" * 100),
    "deeply nested config": lambda w: config_refused(w, "a = " + "[" * 100_000),
    "--run-id latest": lambda w: refused(*cli("--headless", "--data", "demo:8", "--runs-dir",
                                              str(w), "--run-id", "latest")[::2]),
    "--run-id ../x": lambda w: refused(*cli("--headless", "--data", "demo:8", "--runs-dir",
                                            str(w), "--run-id", "../x")[::2]),
    "--test-group of an absent column": lambda w: refused(*cli(
        "--headless", "--data", "demo:8", "--runs-dir", str(w / "runs"), "--test-group",
        "nosuch=x")[::2]) and not (w / "runs").exists(),
    "--seed -1": lambda w: refused(*cli("data", "summary", "demo", "--seed", "-1")[::2]),
    "--export-images on a file": case_export_images_file,
    "--base-url ::::": case_get_base_url,
    "deeply nested status.json": case_deep_status,
    "escape sequence in a file name": case_escape_name,
    "trusted gbm.pkl that is no model": case_gbm_not_a_model,
    "missing model folder": case_missing_model_folder,
    "model folders of a renamed run": case_copied_model_folder,
    "edited sample_rate": case_edited_sample_rate,
    "WAV scaled by 1e20": case_nan_wav,
    "events.jsonl linked out, --resume": case_linked_events,
    "evaluations/ linked out": case_linked_evaluations,
}


def main_count() -> int:
    counts = {"refused": 0, "silent": 0, "traceback": 0}
    top = Path(tempfile.mkdtemp(prefix="hostile-count-"))
    os.environ.update(COUGHSCOPE_DATA_DIR=str(top / "data"), COUGHSCOPE_CACHE_DIR=str(top / "cache"),
                      COUGHSCOPE_CONFIG_DIR=str(top / "config"))
    try:
        for i, (name, case) in enumerate(CASES.items()):
            work = top / f"case{i:02d}"
            work.mkdir()
            try:
                outcome = "refused" if case(work) else "silent"
            except SystemExit as exc:  # argparse: a usage error is a refusal with a reason
                outcome = "refused" if exc.code not in (0, None) else "silent"
            except BaseException:  # noqa: BLE001 -- counted, with its traceback shown
                traceback.print_exc()
                outcome = "traceback"
            counts[outcome] += 1
            print(f"{outcome:<9} {name}", flush=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)
        if "run" in _TRAINED:
            shutil.rmtree(_TRAINED["run"].parent, ignore_errors=True)
    print(f"tried {len(CASES)}: refused with a reason {counts['refused']}, silent "
          f"{counts['silent']}, tracebacks {counts['traceback']}")
    return 0 if counts["refused"] == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main_count())
