"""Containment (issue 21): no write leaves its root through a link, and ``data get`` never
replaces a file the user already had.

The four link breaches of the reliability campaign each get a real run folder with a real
symbolic link planted in it, and the real command; the folder the link points at must stay
empty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine import paths

from tiny_run import copy_run, cs, tiny_run


# ----------------------------------------------------------------------------- the helper


def test_inside_refuses_a_link_below_the_root_and_names_it(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    root.mkdir(), elsewhere.mkdir()
    (root / "figures").symlink_to(elsewhere)
    with pytest.raises(paths.OutsideRoot) as err:
        paths.atomic_write_text(root / "figures" / "roc.svg", "x", root=root)
    assert str(root / "figures") in str(err.value) and str(elsewhere) in str(err.value)
    with pytest.raises(paths.OutsideRoot):
        paths.ensure_dir(root, root / "figures" / "deeper")
    with pytest.raises(paths.OutsideRoot, match="'..'"):
        paths.atomic_write_text(root / ".." / "x.txt", "x", root=root)
    with pytest.raises(paths.OutsideRoot, match="outside"):
        paths.atomic_write_text(tmp_path / "x.txt", "x", root=root)
    assert list(elsewhere.iterdir()) == []


def test_a_link_in_place_of_the_file_is_refused_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "run"
    root.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    (root / "status.json").symlink_to(victim)
    (root / "events.jsonl").symlink_to(victim)
    with pytest.raises(paths.OutsideRoot, match="status.json"):
        paths.atomic_write_text(root / "status.json", "{}")
    with pytest.raises(paths.OutsideRoot, match="events.jsonl"):
        paths.open_append(root, root / "events.jsonl")
    assert victim.read_text() == "mine\n"


def test_the_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "big-disk" / "runs"
    real.mkdir(parents=True)
    (tmp_path / "runs").symlink_to(real)
    root = tmp_path / "runs"
    paths.atomic_write_text(root / "a" / "b.txt", "hi", root=root)
    with paths.open_append(root, root / "a" / "log.txt") as fh:
        fh.write("line\n")
    assert (real / "a" / "b.txt").read_text() == "hi"
    assert (real / "a" / "log.txt").read_text() == "line\n"


# ----------------------------------------------------------------------------- the breaches


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory)


def interrupted(run: Path, dest: Path) -> Path:
    """A copy of ``run`` whose status says it was interrupted, so ``--resume`` takes it."""
    out = copy_run(run, dest)
    status = json.loads((out / "status.json").read_text())
    status["state"] = "interrupted"
    (out / "status.json").write_text(json.dumps(status))
    return out


def test_resume_never_appends_to_a_linked_event_log(finished: Path, tmp_path: Path) -> None:
    run = interrupted(finished, tmp_path / "runs" / "r")
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    os.replace(run / "events.jsonl", tmp_path / "events-moved.jsonl")
    (run / "events.jsonl").symlink_to(victim)
    done = cs(finished.parents[1], "--headless", "--resume", "r", "--runs-dir",
              str(tmp_path / "runs"))  # the same data folders: the same clips
    assert done.returncode == 2, done.stderr[-2000:]
    assert victim.read_text() == "the user's file\n"
    assert f"{run / 'events.jsonl'} is a symbolic link (to {victim})" in done.stderr
    assert "Traceback" not in done.stderr


def test_resume_never_writes_figures_through_a_linked_folder(finished: Path,
                                                             tmp_path: Path) -> None:
    run = interrupted(finished, tmp_path / "runs" / "r")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import shutil

    shutil.rmtree(run / "figures")
    (run / "figures").symlink_to(elsewhere)
    done = cs(finished.parents[1], "--headless", "--resume", "r", "--runs-dir",
              str(tmp_path / "runs"))  # the same data folders: the same clips
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(elsewhere.iterdir()) == []
    assert "figures not written: refusing to write" in done.stderr
    assert json.loads((run / "status.json").read_text())["state"] == "finished"


def test_evaluate_never_writes_through_a_linked_evaluations_folder(finished: Path,
                                                                  tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "r")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "evaluations").symlink_to(elsewhere)
    done = cs(tmp_path, "evaluate", str(run), "--data", "demo:16")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{run / 'evaluations'} is a symbolic link (to {elsewhere})" in done.stderr
    assert list(elsewhere.iterdir()) == []
    assert "Traceback" not in done.stderr


def test_runs_trust_never_signs_through_a_linked_model_folder(finished: Path,
                                                             tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "r")
    elsewhere = tmp_path / "elsewhere"
    os.replace(run / "majority" / "0", elsewhere)
    (elsewhere / "signature.json").unlink()  # so that the folder needs trusting
    (run / "majority" / "0").symlink_to(elsewhere)
    done = cs(tmp_path, "runs", "trust", str(run), "--yes")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{run / 'majority' / '0'} is a symbolic link (to {elsewhere})" in done.stderr
    assert not (elsewhere / "signature.json").exists()
    assert "Traceback" not in done.stderr


def test_the_cache_never_writes_through_a_link_and_says_so(tmp_path: Path) -> None:
    from engine.cache import CACHE_VERSION, FeatureCache, _write_atomic
    from engine.config import PreprocessConfig

    cfg = PreprocessConfig()
    root, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / f"v{CACHE_VERSION}").symlink_to(elsewhere)
    cache = FeatureCache(cfg, root)
    cache.save_memo()  # nothing to save yet
    cache._memo, cache._memo_dirty = {"x": [1, 2, "d"]}, True
    cache.save_memo()
    assert (root / "hashes.json").is_file()  # the cache itself is fine
    ok = cache._write(lambda: _write_atomic(cache.entry_path("ab" * 32), b"x", cache.root))
    assert not ok and list(elsewhere.iterdir()) == []
    assert cache.problem and "is a symbolic link" in cache.problem
    assert str(elsewhere) in cache.problem


# ----------------------------------------------------------------------------- other writers


def test_the_recorder_never_writes_through_a_link(tmp_path: Path) -> None:
    import numpy as np

    from engine.recording import save_wav

    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"mine")
    (tmp_path / "take.wav").symlink_to(outside)
    with pytest.raises(paths.OutsideRoot, match="is a symbolic link"):
        save_wav(tmp_path / "take.wav", np.zeros((800, 1), np.float32), 8000)
    assert outside.read_bytes() == b"mine"
    saved = save_wav(tmp_path / "new.wav", np.zeros((800, 1), np.float32), 8000)
    import soundfile as sf

    assert sf.info(str(saved)).frames == 800


def test_the_demo_writer_never_writes_through_a_link(tmp_path: Path) -> None:
    from engine.sources.demo import generate_demo

    dest, outside = tmp_path / "demo", tmp_path / "outside"
    dest.mkdir(), outside.mkdir()
    (dest / "audio").symlink_to(outside)
    with pytest.raises(paths.OutsideRoot, match="is a symbolic link"):
        generate_demo(dest, n=8)
    assert list(outside.iterdir()) == []
    planted = tmp_path / "demo2"
    (planted / "audio").mkdir(parents=True)
    (planted / "manifest.csv").symlink_to(outside / "manifest.csv")
    with pytest.raises(paths.OutsideRoot, match="is a symbolic link"):
        generate_demo(planted, n=8)
    assert list(outside.iterdir()) == []


def test_the_key_file_is_never_written_through_a_planted_link(tmp_path: Path,
                                                             monkeypatch) -> None:
    from engine import trust

    config, outside = tmp_path / "config", tmp_path / "outside"
    config.mkdir(mode=0o700)
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(config))
    (config / f".{trust.KEY_FILE}.{os.getpid()}.tmp").symlink_to(outside)
    key = trust.load_key(create=True)
    assert key is not None and len(key) == 32
    assert not outside.exists()  # the key went into the config folder, not through the link
    assert (config / trust.KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_the_launch_folder_and_log_never_follow_a_link(tmp_path: Path) -> None:
    from engine.errors import CoughscopeError
    from tui.launcher import ExperimentRequest, launch_dir, start_run

    runs, outside = tmp_path / "runs", tmp_path / "outside"
    runs.mkdir(), outside.mkdir()
    launch_dir(runs).symlink_to(outside)
    with pytest.raises(CoughscopeError, match="is a symbolic link"):
        start_run(ExperimentRequest(data="demo:8", models=("majority",), seeds=1, epochs=1),
                  runs, "r1")
    assert list(outside.iterdir()) == []


def test_the_settings_file_is_never_written_through_a_link(tmp_path: Path) -> None:
    from tui.settings import Settings, save_settings

    outside = tmp_path / "outside.json"
    outside.write_text("mine")
    (tmp_path / "settings.json").symlink_to(outside)
    problem = save_settings(Settings(), tmp_path / "settings.json")
    assert problem is not None and "is a symbolic link" in problem
    assert outside.read_text() == "mine"
