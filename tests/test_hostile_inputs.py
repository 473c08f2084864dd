"""Hostile inputs through the real command line (issue 13): a clean refusal or a listed
exclusion with its reason, the documented exit code, and never a traceback.

The inputs are made at test time by :mod:`tests.hostile_corpus` (sparse files, FIFOs, links).
Most cases call :func:`engine.cli.main` in this process (an uncaught exception fails the test
with its traceback); the ones about hanging or reading too much run ``python -m engine`` as a
subprocess with a time limit, so a hang fails instead of blocking the suite.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from engine.cli import main
from tests import hostile_corpus as hc

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
SETPRIV = shutil.which("setpriv")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def summary(capsys: pytest.CaptureFixture[str], spec: Path | str, *extra: str) -> dict:
    code, out, err = cli(capsys, "data", "summary", str(spec), "--json", "--workers", "1", *extra)
    assert code == 0, err
    return json.loads(out)


def excluded(s: dict) -> dict[str, str]:
    """File name -> reason, for every exclusion of a summary."""
    return {Path(e["path"]).name: e["reason"] for e in s["excluded"]}


def run_cli(tmp_path: Path, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COUGHSCOPE_DATA_DIR": str(tmp_path / "d"),
           "COUGHSCOPE_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def run_unprivileged(work: Path, *argv: str) -> subprocess.CompletedProcess:
    """``python -m engine ARGV`` bound by file permissions: as root, through ``setpriv`` with
    the capabilities that let root read any file taken away (the user stays root, so the
    interpreter under /root still runs)."""
    if ROOT and not SETPRIV:
        pytest.skip("runs as root without setpriv: permission cannot be denied here")
    prefix = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search"] if ROOT else []
    (work / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COUGHSCOPE_DATA_DIR": str(work / "d"),
           "COUGHSCOPE_CACHE_DIR": str(work / "c"), "TMPDIR": str(work / "tmp")}
    proc = subprocess.run([*prefix, sys.executable, "-m", "engine", *argv], capture_output=True,
                          text=True, env=env, timeout=300, cwd=work)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# ---------------------------------------------------------------- 13.7, 13.8: sizes and rates


def test_a_1tb_sparse_wav_is_excluded_unread(tmp_path: Path) -> None:
    big = hc.sparse_wav(tmp_path / "set" / "huge.wav")
    csv = hc.manifest_with(tmp_path / "set", [(str(big), "positive")])
    proc = run_cli(tmp_path, "data", "summary", str(csv), "--json", "--workers", "1",
                   timeout=120)  # hashing 1 TB would take hours
    assert proc.returncode == 0, proc.stderr
    reasons = excluded(json.loads(proc.stdout))
    assert reasons["huge.wav"].startswith("file too large (1.0 TB")
    assert json.loads(proc.stdout)["usable"] == 8


def test_implausible_rates_and_lengths_are_exclusions(capsys, tmp_path: Path) -> None:
    slow = hc.silent_wav(tmp_path / "set" / "fifty.wav", sample_rate=50, seconds=20_000)  # 2 MB
    long = hc.silent_wav(tmp_path / "set" / "long.wav", sample_rate=8000, seconds=700)
    fast = hc.silent_wav(tmp_path / "set" / "fast.wav", sample_rate=1_000_000, seconds=0.1)
    assert slow.stat().st_size == 2_000_044
    csv = hc.manifest_with(tmp_path / "set", [(str(slow), "positive"), (str(long), "negative"),
                                              (str(fast), "negative")])
    s = summary(capsys, csv)
    reasons = excluded(s)
    assert reasons["fifty.wav"] == "implausible sample rate 50 Hz (recordings must be " \
                                   "4000-384000 Hz)"
    assert reasons["long.wav"].startswith("too long (700 s; the limit for one recording is 600 s")
    assert reasons["fast.wav"].startswith("implausible sample rate 1000000 Hz")
    assert s["usable"] == 8


# ---------------------------------------------------------------- 13.9: columns and classes


def test_a_duplicated_label_column_is_an_error(capsys, tmp_path: Path) -> None:
    clips = hc.good_clips(tmp_path / "good")
    csv = hc.manifest(tmp_path / "dup.csv", [(str(p), lab, "negative") for p, lab, _ in clips],
                      header="path,label,Label")
    code, _, err = cli(capsys, "data", "summary", str(csv))
    assert code == 2
    assert "column 'Label' appears twice in the header (columns 2 and 3)" in err


def test_training_on_one_class_is_refused(capsys, tmp_path: Path) -> None:
    clips = hc.good_clips(tmp_path / "good", n=16)
    csv = hc.manifest(tmp_path / "neg.csv", [(str(p), "negative", g) for p, _, g in clips],
                      header="path,label,group")
    code, _, err = cli(capsys, "--headless", "--data", str(csv), "--models", "logreg",
                       "--seeds", "1", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    assert "negative" in err and "positive" in err


def test_evaluate_refuses_a_one_class_data_set_before_any_work(capsys, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "--headless", "--data", "demo:40", "--models", "logreg",
                       "--seeds", "1", "--runs-dir", str(tmp_path / "runs"), "--run-id", "r")
    assert code == 0, err
    clips = hc.good_clips(tmp_path / "good")
    csv = hc.manifest(tmp_path / "pos.csv", [(str(p), "positive") for p, _, _ in clips])
    code, out, err = cli(capsys, "evaluate", str(tmp_path / "runs" / "r"), "--data", str(csv))
    assert code == 2 and out == ""
    assert "no usable negative clip" in err and "evaluation needs both classes" in err
    assert not list((tmp_path / "runs" / "r").glob("evaluations/*.json"))  # no result saved


# ---------------------------------------------------------------- 13.10: folder sources


def test_folder_sources_list_every_entry(capsys, tmp_path: Path) -> None:
    root = tmp_path / "set"
    for path, label, _ in hc.good_clips(tmp_path / "good"):
        (root / label).mkdir(parents=True, exist_ok=True)
        path.rename(root / label / path.name)
    hc.fifo(root / "positive" / "pipe.wav")
    hc.dangling_link(root / "positive" / "gone.wav")
    hc.loop_link(root / "negative" / "loop.wav")
    os.symlink("..", root / "negative" / "up")  # a folder link back up: a loop when walked
    (root / "negative" / "notes.txt").write_text("not audio")
    entries = sum(len(os.listdir(root / lab)) for lab in ("positive", "negative"))
    s = summary(capsys, root)
    assert s["usable"] + len(s["excluded"]) == entries == 13
    reasons = excluded(s)
    assert reasons["pipe.wav"] == "is a named pipe (FIFO), not a regular file"
    assert reasons["gone.wav"].startswith("dangling symbolic link (to ")
    assert reasons["loop.wav"].startswith("symbolic link loop")
    assert reasons["up"].startswith("symbolic link loop")
    assert reasons["notes.txt"] == "not an audio file extension: .txt"


def test_an_unreadable_subfolder_is_listed(tmp_path: Path) -> None:
    work = tmp_path
    root = work / "set"
    for path, label, _ in hc.good_clips(work / "good"):
        (root / label).mkdir(parents=True, exist_ok=True)
        path.rename(root / label / path.name)
    locked = root / "negative" / "locked"
    locked.mkdir()
    (locked / "hidden.wav").write_bytes(b"x")
    locked.chmod(0)
    try:
        proc = run_unprivileged(work, "data", "summary", str(root), "--json", "--workers", "1")
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    reasons = excluded(json.loads(proc.stdout))
    assert reasons["locked"].startswith("folder cannot be listed: permission denied")


# ---------------------------------------------------------------- 13.11: the right file named


def test_exclusions_name_the_clip_reported_even_from_the_cache(capsys, tmp_path: Path) -> None:
    first = hc.random_bytes(tmp_path / "set" / "first.wav", seed=7)
    second = tmp_path / "set" / "second.wav"
    second.write_bytes(first.read_bytes())  # same content: one cache entry
    csv = hc.manifest_with(tmp_path / "set", [(str(first), "positive"),
                                              (str(second), "negative")])
    for _ in range(2):  # the second time, the rejection comes from the cache
        s = summary(capsys, csv)
        by_path = {e["path"]: e["reason"] for e in s["excluded"]}
        assert set(by_path) == {str(first), str(second)}
        for reason in by_path.values():
            assert "first.wav" not in reason and "second.wav" not in reason
            assert reason.startswith("unreadable: not an audio file (soundfile:")


# ---------------------------------------------------------------- 13.12: messages that fit


def test_each_bad_entry_says_what_it_is(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    mp3 = hc.random_bytes(folder / "noise.mp3")
    pipe = hc.fifo(folder / "pipe.wav")
    (folder / "adir.wav").mkdir()
    csv = hc.manifest_with(folder, [(str(mp3), "positive"), (str(pipe), "negative"),
                                    (str(folder / "adir.wav"), "negative"),
                                    (str(folder / "missing.wav"), "negative")])
    reasons = excluded(summary(capsys, csv))
    assert reasons["noise.mp3"].startswith("unreadable: not an audio file (soundfile: format "
                                           "not recognised")
    assert "does not exist" not in reasons["noise.mp3"]
    assert reasons["pipe.wav"].startswith("is a named pipe (FIFO), not a regular file")
    assert reasons["adir.wav"].startswith("is a directory, not an audio file")
    assert reasons["missing.wav"].startswith("file not found")


def test_permission_denied_says_so(tmp_path: Path) -> None:
    work = tmp_path
    clips = hc.good_clips(work / "set" / "good")
    locked = clips[0][0]
    locked.chmod(0)
    csv = hc.manifest(work / "set" / "m.csv", [(str(p), lab) for p, lab, _ in clips])
    proc = run_unprivileged(work, "data", "summary", str(csv), "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    reasons = excluded(json.loads(proc.stdout))
    assert reasons[locked.name].startswith("permission denied")
    assert "not an audio file" not in reasons[locked.name]


def test_an_unclosed_quote_is_named(capsys, tmp_path: Path) -> None:
    clips = hc.good_clips(tmp_path / "good")
    rows = [(str(p), lab) for p, lab, _ in clips]
    rows[2] = (f'"{rows[2][0]}', rows[2][1])
    csv = hc.manifest(tmp_path / "quote.csv", rows)
    code, _, err = cli(capsys, "data", "summary", str(csv))
    assert code == 2
    assert "a quote opened on line 4 is not closed on that line" in err
    assert "unknown label" not in err


@pytest.mark.parametrize("argv", [["--headless", "--data", ""], ["data", "summary", ""],
                                  ["data", "summary", "  "]])
def test_an_empty_data_spec_is_refused(capsys, tmp_path: Path, argv: list[str]) -> None:
    code, _, err = cli(capsys, *argv, *(["--runs-dir", str(tmp_path)] if argv[0] != "data" else []))
    assert code == 2
    assert "empty" in err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*/config.toml"))


def test_coswara_conflicting_statuses_are_excluded(capsys, tmp_path: Path) -> None:
    root = hc.coswara(tmp_path / "cos", {"p1": "positive", "p2": "negative", "p3": "negative",
                                         "p4": "positive"},
                      {"combined_data.csv": [("p1", "positive_mild"), ("p2", "healthy"),
                                             ("p3", "healthy"), ("p3", "positive_mild"),
                                             ("p4", "positive_mild")],
                       "20200413/20200413.csv": [("p2", "positive_moderate"),
                                                 ("p1", "positive_mild")]})
    s = summary(capsys, root)
    reasons = {Path(e["path"]).parent.name: e["reason"] for e in s["excluded"]}
    assert reasons["p3"].startswith("participant p3 has conflicting covid_status rows "
                                    "(healthy in combined_data.csv; positive_mild in "
                                    "combined_data.csv)")
    assert "healthy in combined_data.csv; positive_moderate in 20200413.csv" in reasons["p2"]
    assert "p1" not in reasons and s["usable"] == 2
    assert s["counts"]["conflicting_status"] == 2


def test_disk_full_during_extraction_says_so(tmp_path: Path, monkeypatch) -> None:
    import tarfile

    from engine.download import extract_tar
    from engine.errors import UnavailableError

    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.txt").write_text("x")
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "a", arcname="a")

    def full(self, member, path="", **kw):  # the disk fills up while writing a member
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(path) / member.name))

    monkeypatch.setattr(tarfile.TarFile, "extract", full)
    with pytest.raises(UnavailableError) as info:
        extract_tar(archive, tmp_path / "dest")
    assert "failed: no space left on the device" in info.value.message
    assert "corrupt" not in info.value.hint and "download itself is fine" in info.value.hint


# ---------------------------------------------------------------- 13.13: cache and data dirs


def test_a_cache_that_cannot_be_written_warns_and_goes_on(capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    csv = hc.manifest_with(tmp_path / "set", [])
    s = summary(capsys, csv, "--cache-dir", str(blocker))
    assert s["usable"] == 8
    assert any("cannot be written (a file is in the way of a folder)" in w for w in s["warnings"])
    code, out, _ = cli(capsys, "data", "summary", str(csv), "--cache-dir", str(blocker),
                       "--workers", "1")
    assert code == 0 and "warning    the preprocessing cache at" in out


def test_a_full_cache_disk_warns_and_goes_on(capsys, tmp_path: Path, monkeypatch) -> None:
    from engine import cache

    def full(path: Path, data: bytes, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache, "_write_atomic", full)
    s = summary(capsys, hc.manifest_with(tmp_path / "set", []))
    assert s["usable"] == 8
    assert [w for w in s["warnings"] if "(the disk is full)" in w]


def test_an_unwritable_data_dir_still_gives_the_demo(capsys, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "data-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(blocker))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    s = summary(capsys, "demo:8", "--cache-dir", str(tmp_path / "c"))
    assert s["usable"] == 8
    assert any("cannot be written" in n and str(tmp_path / "tmp") in n for n in s["notes"])


def test_read_only_cache_and_data_dirs_warn_and_go_on(tmp_path: Path) -> None:
    for name in ("d", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(0o555)  # binds root only through run_unprivileged
    proc = run_unprivileged(tmp_path, "data", "summary", "demo:8", "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["usable"] == 8
    assert any("cannot be written (permission denied)" in w for w in s["warnings"])
    assert any(f"the data directory {tmp_path / 'd' / 'demo'} cannot be written" in n
               for n in s["notes"])


# ---------------------------------------------------------------- 13.3: paths that leave


def test_own_manifest_may_point_anywhere(capsys, tmp_path: Path) -> None:
    clips = hc.good_clips(tmp_path / "elsewhere" / "good")
    rows = [(os.path.relpath(p, tmp_path / "mine"), lab) for p, lab, _ in clips[:4]]
    rows += [(str(p), lab) for p, lab, _ in clips[4:]]  # absolute
    assert rows[0][0].startswith("../")
    s = summary(capsys, hc.manifest(tmp_path / "mine" / "m.csv", rows))
    assert s["usable"] == 8 and not s["excluded"]


def test_downloaded_metadata_cannot_leave_the_download(capsys, tmp_path: Path) -> None:
    from engine.download import write_covid19_cough_manifest

    outside = hc.good_clips(tmp_path / "outside")[0][0]
    records = [{"filename": f"c{i}.wav", "covid19": i % 2 == 0, "source": "x"} for i in range(8)]
    records.append({"filename": os.path.relpath(outside, tmp_path / "dl" / "raw"),
                    "covid19": True})
    records.append({"filename": "two\nlines.wav", "covid19": False})
    root = hc.covid19_download(tmp_path / "dl", records)
    csv, skipped = write_covid19_cough_manifest(root)
    assert skipped == 1
    assert "the filename is not a one-line string" in (root / "manifest-skipped.txt").read_text()
    s = summary(capsys, csv)
    assert s["usable"] == 8
    (leaving,) = s["excluded"]
    assert leaving["reason"].startswith("path leaves the downloaded data set folder (line 10")


# ---------------------------------------------------------------- 13.4: config values


BAD_CONFIGS = [
    ('[preprocess]\nsample_rate = "abc"\n', "[preprocess] sample_rate = 'abc': must be a whole number"),
    ("[preprocess]\nhop_length = 0\n", "[preprocess] hop_length = 0: must be at least 16"),
    ("[preprocess]\nn_mels = 0\n", "[preprocess] n_mels = 0: must be at least 8"),
    ("[preprocess]\nn_mels = 2000\n", "[preprocess] n_mels = 2000: must be at most 512"),
    ("[preprocess]\nhop_length = 4096\n", "hop_length = 4096 is larger than n_fft = 2048"),
    ("[preprocess]\nduration = -1\n", "[preprocess] duration = -1: must be more than 0"),
    ("[preprocess]\nduration = inf\n", "[preprocess] duration = inf: must be a finite number"),
    ("[preprocess]\nfeature_set = 3\n", "[preprocess] feature_set = 3: must be a string"),
    ("seeds = 0\n", "seeds = 0: must be at least 1"),
    ("seeds = true\n", "seeds = True: must be a whole number, not bool"),
    ('models = "ann"\n', "models = 'ann': must be a list of strings"),
    ('device = "tpu"\n', "device = 'tpu': must be one of auto, cpu, cuda, mps"),
    ('sound = "../../etc/passwd"\n', "sound = '../../etc/passwd': is not valid"),
    ('data = ""\n', 'data = "" is empty'),
    ("[split]\ntest = 1.5\n", "[split] test = 1.5: must be less than 1"),
    ("[split]\nfolds = 1\n", "[split] folds = 1: k-fold needs at least 2 folds"),
    ("[split]\nseed = -3\n", "[split] seed = -3: must be at least 0"),
    ('[recipe]\nepochs = "many"\n', "[recipe] epochs = 'many': must be a whole number"),
    ("[recipe]\nlr = 0\n", "[recipe] lr = 0: must be more than 0"),
    ('[recipe]\npreset = "fast"\n', "[recipe] preset = 'fast': must be one of default, paper"),
    ("[recipe]\nbatch_size = 0\n", "[recipe] batch_size = 0: must be at least 1"),
    ("recipe = 3\n", "[recipe] must be a table, not 3"),
    ('preset = "paper"\n', "unknown setting 'preset'"),
    ("[preprocess]\nsample_rate = 22050\nsample_rate = 8000\n", "is not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD_CONFIGS)
def test_bad_config_values_are_named(capsys, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, _, err = cli(capsys, "--headless", "--config", str(path), "--runs-dir",
                       str(tmp_path / "runs"))
    assert code == 2
    assert f"coughscope: error: {path}" in err and message in err
    assert "hint:" in err
    assert not (tmp_path / "runs").exists()  # refused before anything was made


def test_binary_directory_and_pipe_configs_are_refused(tmp_path: Path) -> None:
    hc.random_bytes(tmp_path / "binary.toml", n=4096)
    (tmp_path / "folder.toml").mkdir()
    hc.fifo(tmp_path / "pipe.toml")
    expected = {"binary.toml": "is not UTF-8 text", "folder.toml": "is a directory",
                "pipe.toml": "is not a regular file"}
    for name, words in expected.items():
        proc = run_cli(tmp_path, "--headless", "--config", str(tmp_path / name), timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert f"config file {tmp_path / name} {words}" in proc.stderr


def test_flag_values_are_named_as_flags(capsys, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "--headless", "--sample-rate", "50", "--runs-dir", str(tmp_path))
    assert code == 2 and "--sample-rate 50: must be at least 4000" in err
    code, _, err = cli(capsys, "--headless", "--folds", "1", "--runs-dir", str(tmp_path))
    assert code == 2 and "folds = 1" in err


def test_a_runs_own_tampered_config_is_refused_on_resume(capsys, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.toml").write_text('data = "demo"\n[preprocess]\nhop_length = 0\n')
    (run / "status.json").write_text(json.dumps({"state": "interrupted"}))
    code, _, err = cli(capsys, "--headless", "--resume", str(run))
    assert code == 2
    assert f"{run / 'config.toml'}: [preprocess] hop_length = 0: must be at least 16" in err


def test_every_config_field_has_a_rule() -> None:
    from engine import config

    for cls in (config.PreprocessConfig, config.TrainRecipe, config.SplitConfig,
                config.ExperimentConfig):
        assert set(config.RULES[cls.__name__]) == {f.name for f in fields(cls)}, cls.__name__


# ---------------------------------------------------------------- issue 10.6: one preset


def _config(tmp_path: Path, *argv: str):
    from engine.cli import build_run_parser
    from engine.commands.experiment import build_config

    return build_config(build_run_parser().parse_args(list(argv)))


def test_paper_preset_is_the_same_from_a_flag_and_from_toml(tmp_path: Path) -> None:
    from engine.config import ExperimentConfig, TrainRecipe

    toml = tmp_path / "paper.toml"
    toml.write_text('[recipe]\npreset = "paper"\n')
    by_flag = _config(tmp_path, "--preset", "paper")
    by_file = _config(tmp_path, "--config", str(toml))
    assert by_flag == by_file == ExperimentConfig.from_toml(toml)
    assert by_flag.recipe == TrainRecipe.from_preset("paper")
    assert (by_flag.recipe.epochs, by_flag.recipe.class_weighting,
            by_flag.recipe.early_stopping_patience) == (100, False, None)
    # what a run saves reads back as the same config (early stopping "off" survives)
    assert ExperimentConfig.from_dict(tomllib.loads(by_flag.to_toml())) == by_flag


def test_explicit_values_override_the_preset(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[recipe]\npreset = "paper"\nepochs = 7\n')
    from_file = _config(tmp_path, "--config", str(toml))
    assert (from_file.recipe.epochs, from_file.recipe.class_weighting) == (7, False)
    flag_wins = _config(tmp_path, "--config", str(toml), "--epochs", "3")
    assert flag_wins.recipe.epochs == 3 and flag_wins.recipe.preset == "paper"
    # a flag preset replaces the file's, the file's explicit values stay
    back = _config(tmp_path, "--config", str(toml), "--preset", "default")
    assert (back.recipe.preset, back.recipe.epochs, back.recipe.class_weighting) == \
        ("default", 7, True)


# ---------------------------------------------------------------- issue 21: last tracebacks


def test_a_nul_byte_in_a_manifest_path_is_an_exclusion(capsys, tmp_path: Path) -> None:
    csv = hc.manifest_with(tmp_path / "set", [(str(tmp_path / "set" / "a\x00b.wav"),
                                               "positive")])
    s = summary(capsys, csv)
    (nul,) = s["excluded"]
    assert nul["reason"].startswith("unreadable: the path contains a NUL byte")
    assert "(line 10 of manifest.csv)" in nul["reason"]
    assert s["usable"] == 8


def test_export_images_into_a_file_is_refused_before_work(capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "images"
    blocker.write_text("mine\n")
    code, out, err = cli(capsys, "data", "summary", "demo:8", "--export-images", str(blocker),
                         "--cache-dir", str(tmp_path / "c"))
    assert code == 2
    assert f"--export-images: {blocker} exists and is not a folder" in err
    assert "preprocess" not in err and not (tmp_path / "c").exists()  # refused before work
    assert blocker.read_text() == "mine\n"


def test_export_images_never_write_through_a_planted_link(capsys, tmp_path: Path) -> None:
    first, images, outside = tmp_path / "first", tmp_path / "images", tmp_path / "outside"
    argv = ["data", "summary", "demo:8", "--cache-dir", str(tmp_path / "c"), "--workers", "1"]
    assert cli(capsys, *argv, "--export-images", str(first))[0] == 0
    name = sorted(p.name for p in first.iterdir())[0]
    images.mkdir()
    outside.mkdir()
    (images / name).symlink_to(outside / "owned.png")
    code, _, err = cli(capsys, *argv, "--export-images", str(images))
    assert code == 2 and f"{images / name} is a symbolic link" in err
    assert not list(outside.iterdir())


def test_a_negative_demo_seed_is_refused(capsys, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "data", "summary", "demo", "--seed", "-1")
    assert code == 2 and "--seed -1: must be at least 0" in err


@pytest.mark.parametrize("url", ["::::", "ftp://example.org/x", "https://", "http://h:port/x",
                                 "https://host/a b"])
def test_a_base_url_that_is_no_address_is_refused(capsys, tmp_path: Path, url: str) -> None:
    dest = tmp_path / "dest"
    code, _, err = cli(capsys, "data", "get", "covid19-cough", "--dest", str(dest),
                       "--base-url", url)
    assert code == 2
    assert f"--base-url {url!r} is not a download address" in err
    assert not dest.exists()


def test_a_gsm_wav_that_libsndfile_reads_is_used(capsys, tmp_path: Path) -> None:
    gsm = hc.gsm_wav(tmp_path / "set" / "gsm.wav")
    s = summary(capsys, hc.manifest_with(tmp_path / "set", [(str(gsm), "positive")]))
    assert s["usable"] == 9 and not s["excluded"]
    assert s["sample_rates"]["8000"] == 1  # the GSM clip, decoded at its own rate


def test_conflicting_duplicate_labels_are_a_conflict(capsys, tmp_path: Path) -> None:
    clips = hc.good_clips(tmp_path / "good")
    rows = [(str(p), lab) for p, lab, _ in clips]
    flipped = "negative" if rows[0][1] == "positive" else "positive"
    rows += [(rows[0][0], flipped), (rows[1][0], rows[1][1])]  # a conflict, a plain duplicate
    s = summary(capsys, hc.manifest(tmp_path / "m.csv", rows))
    reasons = {(Path(e["path"]).name, e["reason"].split(":")[0]): e["reason"]
               for e in s["excluded"]}
    conflict = reasons[(clips[0][0].name, "conflicting labels")]
    assert f"{rows[0][1]} on line 2; {flipped} on line 10 of m.csv" in conflict
    assert reasons[(clips[1][0].name, "duplicate row (line 11 repeats line 3)")]
    assert s["usable"] == 7  # neither row of the conflict is used
    assert s["counts"]["conflicting_labels"] == 1


@pytest.mark.parametrize("group, says", [
    ("nosuch=x", "cannot hold out 'nosuch': the data set has no such metadata column"),
    ("source=fax", "no clip has source = 'fax'"),
    ("source=lab", "the held-out source = 'lab' has only negative clips: an AUC needs both"),
])
def test_a_test_group_is_checked_before_any_work(capsys, tmp_path: Path, group: str,
                                                 says: str) -> None:
    clips = hc.good_clips(tmp_path / "good", n=16)
    rows = [(str(p), lab, g, "lab" if i == 0 and lab == "negative" else "phone")
            for i, (p, lab, g) in enumerate(sorted(clips, key=lambda c: c[1]))]
    csv = hc.manifest(tmp_path / "m.csv", rows, header="path,label,group,source")
    code, _, err = cli(capsys, "--headless", "--data", str(csv), "--models", "majority",
                       "--seeds", "1", "--test-group", group, "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and says in err
    assert "preprocess" not in err and not (tmp_path / "runs").exists()  # before any work
