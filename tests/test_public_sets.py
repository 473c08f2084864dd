"""COUGHVID and COVID-19 Sounds: loaders on fixtures in each release's exact layout (made
here, with real audio: webm through ffmpeg where it is installed), their broken cases, and
`data get coughvid` against a local HTTP server (resume, checksum, safe extraction)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import write_cough
from test_download import Server

from engine.cli import main
from engine.download import get_dataset, load_catalogue
from engine.errors import DataError, UnavailableError
from engine.sources import load_source, summarize

COUGHVID_COLUMNS = (["", "uuid", "datetime", "cough_detected", "SNR", "latitude", "longitude",
                     "age", "gender", "respiratory_condition", "fever_muscle_pain", "status"]
                    + [f"{c}_{k}" for k in (1, 2, 3, 4)
                       for c in ("quality", "cough_type", "dyspnea", "wheezing", "stridor",
                                 "choking", "congestion", "nothing", "diagnosis", "severity")])


def _audio(path: Path, seed: int) -> Path:
    """A real recording at ``path``: webm (opus, through ffmpeg) when ffmpeg is here, else the
    same name with .ogg (Vorbis, through libsndfile)."""
    import soundfile as sf

    wav = write_cough(path.with_suffix(".src.wav"), sr=48000, seed=seed)
    if path.suffix == ".webm" and shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus",
                        str(path)], check=True)
    else:
        path = path.with_suffix(".ogg")
        data, sr = sf.read(str(wav))
        sf.write(str(path), data, sr, format="OGG", subtype="VORBIS")
    wav.unlink()
    return path


def coughvid_fixture(root: Path) -> dict[str, str]:
    """A COUGHVID folder: 12 usable recordings (6 COVID-19, 6 healthy; one with an expert's
    annotation), and one of each broken case. Returns uuid -> what it is."""
    root.mkdir(parents=True)
    cases: dict[str, str] = {}
    rows = []

    def add(uuid: str, what: str, status: str, detected: str = "0.95", ext: str = ".webm",
            row: bool = True, audio: bool = True, **extra: str) -> None:
        cases[uuid] = what
        if audio:
            _audio(root / f"{uuid}{ext}", seed=len(cases))
            (root / f"{uuid}.json").write_text(json.dumps({"status": status}))
        if row:
            values = {c: "" for c in COUGHVID_COLUMNS}
            values.update({"": str(len(rows)), "uuid": uuid, "datetime": "2020-05-01T10:00:00",
                           "cough_detected": detected, "age": "40", "gender": "female",
                           "status": status, **extra})
            rows.append(values)

    for i in range(6):
        add(f"aaaa{i:04d}-pos", "positive", "COVID-19", ext=".webm" if i % 2 else ".ogg",
            **({"quality_1": "good", "diagnosis_1": "COVID-19"} if i == 0 else {}))
        add(f"bbbb{i:04d}-neg", "negative", "healthy")
    add("cccc0000-sym", "symptomatic", "symptomatic")
    add("dddd0000-unk", "unknown status", "maybe")
    add("eeee0000-blank", "blank status", "")
    add("ffff0000-low", "below threshold", "healthy", detected="0.42")
    add("gggg0000-norow", "recording without a metadata row", "healthy", row=False)
    add("hhhh0000-noaudio", "metadata row without a recording", "healthy", audio=False)
    with open(root / "metadata_compiled.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COUGHVID_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return cases


@pytest.fixture(scope="module")
def coughvid(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cv") / "public_dataset"
    coughvid_fixture(root)
    return root


def _reason(clipset, uuid: str) -> str:
    return next(e.reason for e in clipset.excluded if uuid in e.path)


def test_coughvid_labels_groups_and_expert_metadata(coughvid):
    cs = load_source(f"coughvid:{coughvid}")
    assert cs.kind == "coughvid"
    assert cs.label_counts() == {"negative": 6, "positive": 6}
    assert {c.group for c in cs.clips} == {c.path.stem for c in cs.clips}  # one group each
    annotated = next(c for c in cs.clips if c.group == "aaaa0000-pos")
    assert annotated.meta["diagnosis_1"] == "COVID-19" and annotated.meta["quality_1"] == "good"
    assert annotated.meta["expert"] == "1"
    assert next(c for c in cs.clips if c.group == "bbbb0000-neg").meta["expert"] == "0"
    assert any(c.path.suffix == ".webm" for c in cs.clips) == bool(shutil.which("ffmpeg"))
    assert any("participant leakage cannot be ruled out" in n for n in cs.notes)
    # a folder holding metadata_compiled.csv is recognised without the prefix
    assert load_source(str(coughvid)).kind == "coughvid"


def test_coughvid_broken_cases_are_excluded_with_a_reason(coughvid):
    cs = load_source(f"coughvid:{coughvid}")
    assert "neither COVID-19 nor healthy" in _reason(cs, "cccc0000-sym")
    assert "'maybe' is not COVID-19, healthy or symptomatic" in _reason(cs, "dddd0000-unk")
    assert "has no status" in _reason(cs, "eeee0000-blank")
    assert "cough_detected 0.42 is below the threshold 0.8" in _reason(cs, "ffff0000-low")
    assert "no row in metadata_compiled.csv" in _reason(cs, "gggg0000-norow")
    assert cs.counts["csv_rows_without_audio"] == 1  # the row whose recording is absent
    assert len(cs.excluded) == 5
    assert not any(e.path.endswith(".json") for e in cs.excluded)


def test_coughvid_options(coughvid):
    cs = load_source(f"coughvid:{coughvid}?symptomatic=positive&cough_detected=0.4")
    assert cs.label_counts() == {"negative": 7, "positive": 7}  # + symptomatic, + 0.42
    assert any("counted as positive" in n for n in cs.notes)
    with pytest.raises(DataError, match="unknown COUGHVID option 'foo=1'"):
        load_source(f"coughvid:{coughvid}?foo=1")
    with pytest.raises(DataError, match="cough_detected='2' .* not a number from 0 to 1"):
        load_source(f"coughvid:{coughvid}?cough_detected=2")
    with pytest.raises(DataError, match="does not exist"):
        load_source(f"coughvid:{coughvid}/nowhere")


def test_coughvid_without_metadata_is_a_clear_error(tmp_path):
    (tmp_path / "cv").mkdir()
    write_cough(tmp_path / "cv" / "x.wav")
    with pytest.raises(DataError, match="metadata_compiled.csv does not exist"):
        load_source(f"coughvid:{tmp_path / 'cv'}")


def test_coughvid_summary_says_each_recording_is_its_own_group(coughvid, capsys):
    assert main(["data", "summary", f"coughvid:{coughvid}"]) == 0
    out = capsys.readouterr().out
    assert "12 usable" in out and "participant leakage cannot be ruled out" in out
    assert "cough_detected 0.42 is below the threshold" in out


# --------------------------------------------------------------------------- COVID-19 Sounds

SOUNDS_COLUMNS = ["", "Uid", "Folder Name", "Covid-Tested", "Symptoms", "Language",
                  "Breath filename", "Cough filename", "Voice filename", "Breath check",
                  "Cough check", "Voice check"]


def sounds_fixture(root: Path) -> None:
    """The NeurIPS 2021 release: 3 positive and 3 negative participants (one with two
    sessions), and broken rows."""
    audio = root / "covid19_data_0426" / "covid19_data_0426"  # doubled, as unzipped
    tables: dict[str, list[dict[str, str]]] = {"android": [], "web": []}
    n = 0

    def add(platform: str, uid: str, status: str, check: str = "c", audio_file: bool = True,
            session: str = "2020-05-01-10_00_00_000000") -> None:
        nonlocal n
        n += 1
        folder = audio / uid / session
        if audio_file:
            write_cough(folder / "audio_file_cough.wav", sr=16000, seed=n)
        tables[platform].append({"": str(n), "Uid": uid, "Folder Name": session,
                                 "Covid-Tested": status, "Symptoms": "None", "Language": "en",
                                 "Cough filename": "audio_file_cough.wav",
                                 "Breath filename": "audio_file_breath.wav",
                                 "Voice filename": "audio_file_read.wav",
                                 "Cough check": check, "Breath check": "b", "Voice check": "v"})

    for i in range(3):
        add("android", f"pos{i}", "positiveLast14" if i else "last14")
        add("web", f"neg{i}", "negativeNever" if i else "negativeOver14")
    add("web", "neg0", "negativeNever", session="2020-06-01-10_00_00_000000")  # 2nd session
    add("android", "rec0", "positiveOver14")  # recovered: not mapped
    add("android", "bad0", "negativeNever", check="n")  # the release's check found no cough
    add("web", "gone0", "negativeNever", audio_file=False)  # a row without its recording
    (audio / "orphan" / "2020-01-01-00_00_00_000000").mkdir(parents=True)  # no row
    meta = root / "covid19_data_0426_metadata"
    meta.mkdir(parents=True)
    for platform, rows in tables.items():
        path = meta / f"results_raw_20210426_lan_yamnet_{platform}_noloc.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=SOUNDS_COLUMNS, delimiter=";")
            w.writeheader()
            w.writerows(rows)


def test_covid19_sounds_layout(tmp_path):
    root = tmp_path / "c19s"
    sounds_fixture(root)
    cs = load_source(f"covid19-sounds:{root}")
    assert cs.kind == "covid19-sounds"
    assert cs.label_counts() == {"negative": 4, "positive": 3}
    assert cs.n_groups() == 6  # the two sessions of neg0 are one participant
    assert {c.meta["platform"] for c in cs.clips} == {"android", "web"}
    reasons = {Path(e.path).parts[-3]: e.reason for e in cs.excluded}
    assert "'positiveOver14' is neither a recent positive test" in reasons["rec0"]
    assert "Cough check has no 'c'" in reasons["bad0"]
    assert "file not found" in reasons["gone0"]
    assert cs.counts["sessions_without_row"] == 1
    kept = load_source(f"covid19-sounds:{root}?check=false")
    assert kept.label_counts()["negative"] == 5
    with pytest.raises(DataError, match="unknown COVID-19 Sounds option"):
        load_source(f"covid19-sounds:{root}?modality=sneeze")


def test_covid19_sounds_without_tables_or_audio_is_a_clear_error(tmp_path):
    (tmp_path / "a" / "covid19_data_0426").mkdir(parents=True)
    with pytest.raises(DataError, match="no metadata table"):
        load_source(f"covid19-sounds:{tmp_path / 'a'}")
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="has no covid19_data_0426/ folder"):
        load_source(f"covid19-sounds:{tmp_path / 'b'}")


def test_covid19_sounds_cannot_be_downloaded_and_says_how_to_request_it(capsys):
    assert main(["data", "get", "covid19-sounds"]) == 3
    err = capsys.readouterr().err
    assert "data transfer agreement" in err and "covid-19-sounds@cl.cam.ac.uk" in err


# --------------------------------------------------------------------------- download


@pytest.fixture
def zenodo(tmp_path):
    """A local server in Zenodo's shape serving COUGHVID's zip and the record's checksum."""
    src = tmp_path / "src" / "public_dataset"
    coughvid_fixture(src)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(src.iterdir()):
            zf.write(path, f"public_dataset/{path.name}")
    body = buf.getvalue()
    with Server() as server:
        server.files["/records/4498364/files/public_dataset.zip?download=1"] = body
        server.files["/api/records/4498364"] = json.dumps({"files": [
            {"key": "public_dataset.zip", "checksum": "md5:" + hashlib.md5(body).hexdigest(),
             "size": len(body)}]}).encode()
        yield server, body


def test_get_coughvid_resumes_verifies_and_extracts(zenodo, tmp_path):
    server, body = zenodo
    dest = tmp_path / "dest"
    server.cut_next_at = len(body) // 3
    with pytest.raises(UnavailableError, match="stopped after"):
        get_dataset("coughvid", dest, base_url=server.url)
    assert not (dest / "public_dataset").exists()
    root = get_dataset("coughvid", dest, base_url=server.url)
    assert root == dest / "public_dataset"
    assert any(rng and rng.startswith(f"bytes={len(body) // 3}-") for _, rng in server.requests)
    assert load_source(str(root)).label_counts() == {"negative": 6, "positive": 6}
    assert not (dest / ".parts").exists()
    n = len(server.requests)
    assert get_dataset("coughvid", dest, base_url=server.url) == root  # done: nothing fetched
    assert len(server.requests) == n


def test_get_coughvid_refuses_a_checksum_mismatch(zenodo, tmp_path):
    server, body = zenodo
    server.files["/api/records/4498364"] = json.dumps({"files": [
        {"key": "public_dataset.zip", "checksum": "md5:" + "0" * 32}]}).encode()
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="failed its checksum: expected md5 0{32}, got") as err:
        get_dataset("coughvid", dest, base_url=server.url)
    assert "run the same command again" in err.value.hint
    assert not (dest / ".parts" / "public_dataset.zip").exists()  # deleted, not kept
    assert not (dest / "public_dataset").exists()  # nothing extracted


def test_get_coughvid_refuses_an_unsafe_zip(zenodo, tmp_path):
    server, _ = zenodo
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("public_dataset/metadata_compiled.csv", "uuid,status\n")
        zf.writestr("../evil.txt", "x")
    body = buf.getvalue()
    server.files["/records/4498364/files/public_dataset.zip?download=1"] = body
    server.files["/api/records/4498364"] = json.dumps({"files": [
        {"key": "public_dataset.zip", "checksum": "md5:" + hashlib.md5(body).hexdigest()}]}
    ).encode()
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="member '../evil.txt' is unsafe"):
        get_dataset("coughvid", dest, base_url=server.url)
    assert not (tmp_path / "evil.txt").exists() and not (dest / "public_dataset").exists()


def test_catalogue_entry_of_coughvid():
    e = load_catalogue()["coughvid"]
    assert "CC BY 4.0" in e.licence and "Orlandic" in e.licence and "4498364" in e.homepage
    assert e.method == "zenodo" and e.size


def test_the_app_offers_a_downloaded_coughvid_and_takes_prefixed_specs(coughvid, tmp_path):
    from engine import paths
    from engine.sources import spec_path
    from tui.screens.data import downloaded_sets, spec_problem

    folder = paths.data_dir() / "coughvid" / "public_dataset"
    folder.mkdir(parents=True)
    (folder / "metadata_compiled.csv").write_text("uuid,status,cough_detected\n")
    assert ("coughvid", str(folder)) in downloaded_sets()
    assert spec_path(f"coughvid:{coughvid}?cough_detected=0.5") == coughvid
    assert spec_path("demo:40") is None
    assert spec_problem(f"coughvid:{coughvid}?symptomatic=negative") is None
    assert spec_problem(f"covid19-sounds:{tmp_path}/nowhere") == (
        f"data path 'covid19-sounds:{tmp_path}/nowhere' does not exist")
