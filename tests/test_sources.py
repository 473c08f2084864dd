"""Data sources: Coswara layout, manifest CSV, label folders, dispatch and summarize()."""

from __future__ import annotations

import csv
import wave
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.clips import Clip, ClipSet
from engine.errors import ConfigError, DataError
from engine.sources import load_source, parse_status_mapping, summarize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (../shared/data is not part of the project)")
    return path


def write_wav(path: Path, seconds: float = 0.05, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(b"\x01\x00" * int(seconds * sr))
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- Coswara


def test_coswara_sample_loads_all_negative():
    root = shared("coswara-sample")
    cs = load_source(str(root))
    assert cs.kind == "coswara"
    assert len(cs.clips) == 76 and cs.excluded == []
    assert cs.label_counts() == {"negative": 76, "positive": 0}
    assert cs.n_groups() == 76
    assert cs.counts["csv_rows_without_audio"] == 2746 - 76
    assert cs.counts["audio_without_csv_row"] == 0
    clip = cs.clips[0]
    assert clip.path.name == "cough-heavy.wav" and clip.group == clip.path.parent.name
    assert clip.meta["date"] == "20200413"
    assert set(clip.meta) == {"date", "gender", "age", "country", "quality"}
    assert {c.meta["gender"] for c in cs.clips} == {"male", "female"}
    assert any("2670 participants" in n for n in cs.notes)


def test_coswara_quality_filter_and_sound_choice():
    root = shared("coswara-sample")
    cs = load_source(str(root), min_quality=2)
    ratings = [c.meta["quality"] for c in cs.clips]
    assert set(ratings) == {"2"} and len(cs.clips) == 63
    assert len(cs.excluded) == 13 and cs.counts["below_min_quality"] == 13
    assert all("below --min-quality 2" in e.reason for e in cs.excluded)
    shallow = load_source(str(root / "Extracted_data"), sound="cough-shallow")
    assert len(shallow.clips) == 76 and shallow.clips[0].path.name == "cough-shallow.wav"
    with pytest.raises(DataError, match="no participant .* has a cough-loud.wav") as err:
        load_source(str(root), sound="cough-loud")
    assert "cough-heavy" in err.value.hint


def make_coswara(root: Path, combined: bool = True) -> Path:
    """A tiny Coswara layout exercising every status and mismatch."""
    people = {
        "p1": "positive_mild", "p2": "positive_asymp", "p3": "healthy",
        "p4": "no_resp_illness_exposed", "p5": "recovered_full", "p6": "under_validation",
        "p7": "healthy",  # has a folder but no cough-heavy.wav
    }
    for pid in people:
        folder = root / "Extracted_data" / "20200501" / pid
        folder.mkdir(parents=True)
        if pid != "p7":
            write_wav(folder / "cough-heavy.wav")
    write_wav(root / "Extracted_data" / "20200501" / "orphan" / "cough-heavy.wav")
    rows = [[pid, status, "30", "female", "India"] for pid, status in people.items()]
    rows += [["ghost1", "healthy", "40", "male", "India"], ["ghost2", "positive_mild", "", "", ""]]
    header = ["id", "covid_status", "a", "g", "l_c"]
    target = root / "combined_data.csv" if combined else root / "20200501" / "20200501.csv"
    write_csv(target, header, rows)
    write_csv(root / "annotations" / "cough-heavy_labels.csv", ["FILENAME", " QUALITY"],
              [["p1_cough-heavy", "2"], ["p2_cough-heavy", "0"], ["p3_cough-heavy", "1"]])
    return root


@pytest.mark.parametrize("combined", [True, False])
def test_coswara_status_mapping_and_mismatches(tmp_path, combined):
    root = make_coswara(tmp_path / "cos", combined=combined)
    cs = load_source(str(root))
    labels = {c.group: c.label for c in cs.clips}
    assert labels == {"p1": "positive", "p2": "positive", "p3": "negative", "p4": "negative"}
    reasons = {Path(e.path).parent.name: e.reason for e in cs.excluded}
    assert "'recovered_full'" in reasons["p5"] and "--include-status" in reasons["p5"]
    assert "'under_validation'" in reasons["p6"]
    assert "no cough-heavy.wav" in reasons["p7"]
    assert "no row" in reasons["orphan"]
    assert cs.counts["status_recovered_full"] == 1 and cs.counts["status_under_validation"] == 1
    assert cs.counts["csv_rows_without_audio"] == 2  # ghost1, ghost2
    assert cs.counts["audio_without_csv_row"] == 1
    assert cs.clips[0].meta["quality"] == "2"
    assert cs.clips[3].meta["quality"] == ""  # p4 has no annotation


def test_coswara_include_statuses_and_min_quality_without_annotation(tmp_path):
    root = make_coswara(tmp_path / "cos")
    cs = load_source(str(root), include_statuses=["recovered_full=negative", "under_validation=Positive"])
    labels = {c.group: c.label for c in cs.clips}
    assert labels["p5"] == "negative" and labels["p6"] == "positive"
    assert any("recovered_full=negative" in n for n in cs.notes)
    filtered = load_source(str(root), min_quality=1)
    assert [c.group for c in filtered.clips] == ["p1", "p3"]
    reasons = {Path(e.path).parent.name: e.reason for e in filtered.excluded}
    assert "quality 0 (bad) is below --min-quality 1" in reasons["p2"]
    assert "no quality annotation for p4_cough-heavy" in reasons["p4"]
    with pytest.raises(ConfigError, match="--min-quality 5"):
        load_source(str(root), min_quality=5)


def test_status_mapping_syntax():
    assert parse_status_mapping(["recovered_full = NEGATIVE"]) == {"recovered_full": "negative"}
    for bad in ("recovered_full", "x=maybe", "=negative"):
        with pytest.raises(DataError, match="STATUS=LABEL"):
            parse_status_mapping([bad])


def test_coswara_without_label_tables(tmp_path):
    write_wav(tmp_path / "Extracted_data" / "20200501" / "p1" / "cough-heavy.wav")
    with pytest.raises(DataError, match="no combined_data.csv") as err:
        load_source(str(tmp_path))
    assert "coughscope data get coswara" in err.value.hint


# --------------------------------------------------------------------------- manifest


def test_real_manifest():
    path = shared("covid19-cough") / "manifest.csv"
    cs = load_source(str(path))
    assert cs.kind == "manifest" and len(cs.clips) == 763 and not cs.excluded
    assert cs.label_counts() == {"negative": 368, "positive": 395}
    assert cs.meta_columns == ["source", "verified", "asymptomatic"]
    sources = {c.meta["source"] for c in cs.clips}
    assert sources == {"call-center", "telegram"}
    clip = cs.clips[0]
    assert clip.group == "audio/00096021-2cb2-4098-b906-4878a5e225a3.mp3"
    assert clip.path == path.parent / clip.group


def test_manifest_aliases_groups_meta_and_missing_files(tmp_path):
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        write_wav(tmp_path / name)
    path = write_csv(tmp_path / "m.csv", ["Path", "LABEL", "group", "site"], [
        ["a.wav", "Positive", "g1", "x"],
        ["b.wav", "neg", "", "y"],
        ["sub/c.wav", "1", "g1", "x"],
        ["gone.wav", "0", "g2", "x"],
        ["a.wav", "pos", "g1", "x"],
    ])
    cs = load_source(str(path))
    assert [(c.path.name, c.label, c.group) for c in cs.clips] == [
        ("a.wav", "positive", "g1"), ("b.wav", "negative", "b.wav"), ("c.wav", "positive", "g1")]
    assert cs.clips[0].meta == {"site": "x"}
    reasons = sorted(e.reason for e in cs.excluded)
    assert reasons == ["duplicate row (line 6 repeats line 2)", "file not found (line 5 of m.csv)"]
    assert cs.counts == {"file_not_found": 1, "duplicate_rows": 1}


def test_manifest_missing_columns_named(tmp_path):
    path = write_csv(tmp_path / "m.csv", ["file", "diagnosis"], [["a.wav", "positive"]])
    with pytest.raises(DataError) as err:
        load_source(str(path))
    msg = str(err.value)
    assert "'path'" in msg and "'label'" in msg and "'file', 'diagnosis'" in msg
    assert "path,label" in err.value.hint


def test_manifest_unknown_labels_named_with_lines(tmp_path):
    write_wav(tmp_path / "a.wav")
    path = write_csv(tmp_path / "m.csv", ["path", "label"], [
        ["a.wav", "positive"], ["a.wav", "covid"], ["a.wav", "healthy"], ["a.wav", "covid"], ["a.wav", ""]])
    with pytest.raises(DataError) as err:
        load_source(str(path))
    msg = str(err.value)
    assert "'covid' on lines 3, 5" in msg and "'healthy' on line 4" in msg and "'' on line 6" in msg


def test_manifest_nothing_usable(tmp_path):
    path = write_csv(tmp_path / "m.csv", ["path", "label"], [["x.wav", "positive"], ["y.wav", "negative"]])
    with pytest.raises(DataError, match="none of the 2 files"):
        load_source(str(path))
    empty = write_csv(tmp_path / "e.csv", ["path", "label"], [])
    with pytest.raises(DataError, match="lists no clips"):
        load_source(str(empty))


# --------------------------------------------------------------------------- folders and dispatch


def test_folders(tmp_path):
    write_wav(tmp_path / "positive" / "p1.wav")
    write_wav(tmp_path / "positive" / "deep" / "p2.WAV")
    (tmp_path / "negative").mkdir()
    (tmp_path / "negative" / "n1.mp3").write_bytes(b"not really an mp3")
    (tmp_path / "negative" / "notes.txt").write_text("hello")
    cs = load_source(str(tmp_path))
    assert cs.kind == "folders"
    assert [(c.path.name, c.label) for c in cs.clips] == [
        ("n1.mp3", "negative"), ("p2.WAV", "positive"), ("p1.wav", "positive")]
    assert cs.clips[0].group == "negative/n1.mp3"
    assert [e.reason for e in cs.excluded] == ["not an audio file extension: .txt"]
    assert cs.counts == {"not_audio_files": 1}


def test_folders_one_label_only_loads(tmp_path):
    write_wav(tmp_path / "negative" / "n.wav")
    cs = load_source(str(tmp_path))
    assert cs.label_counts() == {"negative": 1, "positive": 0}
    assert any("positive does not exist" in n for n in cs.notes)


def test_empty_folders_refused(tmp_path):
    (tmp_path / "positive").mkdir()
    (tmp_path / "negative").mkdir()
    with pytest.raises(DataError, match="no audio files .*folders are empty"):
        load_source(str(tmp_path))


def test_dispatch_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist") as err:
        load_source(str(tmp_path / "nope"))
    assert "manifest" in err.value.hint and "demo" in err.value.hint
    with pytest.raises(DataError, match="not a data set"):
        load_source(str(tmp_path))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match="not a .csv manifest"):
        load_source(str(tmp_path / "x.json"))
    for bad in ("demo:abc", "demo:3"):
        with pytest.raises(DataError, match="demo size"):
            load_source(bad)


# --------------------------------------------------------------------------- summarize


def test_summarize_clipset_and_dataset_like(tmp_path):
    clips = [
        Clip(tmp_path / "a.wav", "positive", "g1", {"site": "x"}),
        Clip(tmp_path / "b.wav", "negative", "g1", {"site": ""}),
        Clip(tmp_path / "c.wav", "negative", "g2", {"site": "x"}),
    ]
    from engine.clips import Exclusion

    cs = ClipSet("manifest", tmp_path, "three clips", clips,
                 [Exclusion("d.wav", "file not found")], {"file_not_found": 1}, ["a note"])
    s = summarize(cs)
    assert s["clips"] == 4 and s["usable"] == 3
    assert s["labels"] == {"negative": 2, "positive": 1} and s["groups"] == 2
    assert s["meta"] == {"site": {"x": 2, "(blank)": 1}}
    assert s["excluded"] == [{"path": "d.wav", "reason": "file not found", "stage": "source"}]
    assert s["durations"] == {} and s["synthetic"] is False

    ds = SimpleNamespace(
        clipset=cs, clips=clips[:2],
        excluded=cs.excluded + [Exclusion("c.wav", "silent (all zeros)", "audio")],
        info=[{"sample_rate": 48000, "channels": 2, "duration": 1.0},
              {"sample_rate": 8000, "channels": 1, "duration": 3.0}],
    )
    s = summarize(ds)
    assert s["clips"] == 4 and s["usable"] == 2 and s["groups"] == 1
    assert s["durations"] == {"min": 1.0, "median": 2.0, "max": 3.0}
    assert s["sample_rates"] == {"8000": 1, "48000": 1}
    assert s["channels"] == {"1": 1, "2": 1}
    assert s["excluded"][1]["stage"] == "audio"
