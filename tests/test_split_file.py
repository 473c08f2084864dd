"""Published splits: `data split` writes the split a run would use; `--split-file` makes a
run use it; files naming clips the data set lacks (or leaking participants) are refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import DataError


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _by_clip(rows: list[dict[str, str]], root: Path) -> dict[str, tuple[str, str, str]]:
    from engine.split_file import clip_key

    return {clip_key(r["clip"], root): (r["group"], r["label"], r["split"]) for r in rows}


def _run(tmp_path: Path, run_id: str, *extra: str) -> Path:
    code = main(["--headless", "--data", "demo:40", "--models", "logreg", "--seeds", "1",
                 "--runs-dir", str(tmp_path / "runs"), "--run-id", run_id, *extra])
    assert code == 0
    return tmp_path / "runs" / run_id


@pytest.fixture
def written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A split written by `data split` with a non-default seed, and the data set's root."""
    out = tmp_path / "published.csv"
    assert main(["data", "split", "demo:40", "--out", str(out), "--split-seed", "7"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    from engine.sources import load_source

    return out, load_source("demo:40").root


def test_data_split_is_what_a_run_with_the_same_options_uses(tmp_path, written):
    out, root = written
    run = _run(tmp_path, "same-seed", "--split-seed", "7")
    assert _by_clip(_rows(out), root) == _by_clip(_rows(run / "split.csv"), root)
    assert all(not Path(r["clip"]).is_absolute() for r in _rows(out))  # portable names
    assert {r["split"] for r in _rows(out)} == {"train", "val", "test"}


def test_a_run_with_the_written_split_has_the_same_split_csv(tmp_path, written):
    out, root = written
    default = _run(tmp_path, "own-split")  # seed 0: a different split of the same clips
    used = _run(tmp_path, "published", "--split-file", str(out))
    published = _by_clip(_rows(out), root)
    assert _by_clip(_rows(used / "split.csv"), root) == published
    assert _by_clip(_rows(default / "split.csv"), root) != published
    toml = (used / "config.toml").read_text()
    assert str(out) in toml  # the run records which file it used
    # a run's own split.csv is a split file too (absolute clip paths)
    again = _run(tmp_path, "from-run", "--split-file", str(used / "split.csv"))
    assert _by_clip(_rows(again / "split.csv"), root) == published


def test_a_split_file_naming_clips_the_data_set_lacks_is_refused(tmp_path, written, capsys):
    out, root = written
    rows = _rows(out)
    extra = [{**rows[0], "clip": f"elsewhere/missing{i}.wav", "group": f"g{i}"} for i in range(7)]
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + extra)
    code = main(["--headless", "--data", "demo:40", "--models", "logreg", "--seeds", "1",
                 "--runs-dir", str(tmp_path / "runs"), "--run-id", "refused",
                 "--split-file", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "names 7 clip(s)" in err and "elsewhere/missing0.wav" in err
    assert "and 2 more" in err  # the first few, and the count
    assert not (tmp_path / "runs" / "refused").exists()  # refused before the run exists


def test_clips_missing_from_the_file_are_excluded_with_a_reason(tmp_path, written):
    out, root = written
    rows = _rows(out)
    # drop one whole participant of the training part: the run leaves its clips out
    group = next(r["group"] for r in rows if r["split"] == "train")
    kept = [r for r in rows if r["group"] != group]
    smaller = tmp_path / "smaller.csv"
    with open(smaller, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    run = _run(tmp_path, "smaller", "--split-file", str(smaller))
    assert len(_rows(run / "split.csv")) == len(kept)
    events = (run / "events.jsonl").read_text()
    assert "not in the split file" in events
    assert f"{len(rows) - len(kept)} usable clip(s) are not in the split file" in events


def test_a_participant_in_two_parts_is_refused(tmp_path, written):
    from engine.config import SplitConfig
    from engine.preprocess import preprocess
    from engine.sources import load_source
    from engine.split_file import apply_split_file, read_split_file

    out, root = written
    rows = _rows(out)
    group = next(r["group"] for r in rows
                 if sum(x["group"] == r["group"] for x in rows) > 1)
    first = True
    for r in rows:
        if r["group"] == group:
            r["split"] = "train" if first else "test"
            first = False
    leaky = tmp_path / "leaky.csv"
    with open(leaky, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ds = preprocess(load_source("demo:40"))
    with pytest.raises(DataError, match=f"two parts: {group}"):
        apply_split_file(ds, read_split_file(leaky, root), SplitConfig())
    with pytest.raises(DataError, match="holds 1 split column"):
        apply_split_file(ds, read_split_file(out, root), SplitConfig(folds=3))


def test_bad_split_files_name_the_problem(tmp_path):
    from engine.split_file import read_split_file

    with pytest.raises(DataError, match="does not exist"):
        read_split_file(tmp_path / "none.csv", tmp_path)
    (tmp_path / "a.csv").write_text("path,part\nx.wav,train\n")
    with pytest.raises(DataError, match="no 'clip' and 'split' columns"):
        read_split_file(tmp_path / "a.csv", tmp_path)
    (tmp_path / "b.csv").write_text("clip,split\nx.wav,training\n")
    with pytest.raises(DataError, match="line 2: part 'training'"):
        read_split_file(tmp_path / "b.csv", tmp_path)
    (tmp_path / "c.csv").write_text("clip,split\nx.wav,train\nx.wav,test\n")
    with pytest.raises(DataError, match="named twice"):
        read_split_file(tmp_path / "c.csv", tmp_path)


def test_data_split_does_not_overwrite(tmp_path, capsys):
    out = tmp_path / "s.csv"
    out.write_text("mine\n")
    assert main(["data", "split", "demo:40", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "mine\n"


def test_k_fold_split_files_round_trip(tmp_path, capsys):
    from engine.sources import load_source

    out = tmp_path / "folds.csv"
    assert main(["data", "split", "demo:40", "--out", str(out), "--folds", "3"]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["clip", "group", "label", "split", "split_fold1", "split_fold2"]
    # each clip is test in exactly one fold
    assert all([r["split"], r["split_fold1"], r["split_fold2"]].count("test") == 1 for r in rows)
    run = _run(tmp_path, "folds", "--folds", "3", "--split-file", str(out))
    root = load_source("demo:40").root
    from engine.split_file import clip_key

    def parts(path):
        return {clip_key(r["clip"], root): (r["split"], r["split_fold1"], r["split_fold2"])
                for r in _rows(path)}
    assert parts(run / "split.csv") == parts(out)


def test_split_file_in_a_config_is_relative_to_the_config(tmp_path, written):
    from engine.cli import build_run_parser
    from engine.commands.experiment import build_config

    out, _ = written
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "published.csv").write_bytes(out.read_bytes())
    (folder / "exp.toml").write_text('[split]\nfile = "published.csv"\n')
    args = build_run_parser().parse_args(["--config", str(folder / "exp.toml")])
    assert build_config(args).split.file == str((folder / "published.csv").absolute())
