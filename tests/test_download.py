"""Downloads against a local HTTP server on 127.0.0.1: resume, split archives, safe extraction.

No test here touches a non-loopback address.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.cli import main as cli_main
from engine.download import (
    NotFound,
    download,
    extract_tar,
    get_dataset,
    load_catalogue,
    resolve_base_url,
)
from engine.errors import DataError, UnavailableError
from engine.sources import load_source


class Server:
    """Serves ``files`` (url path -> bytes); honours Range; can cut a response short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_next_at: int | None = None  # send only this many bytes of the next body
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if outer.cut_next_at is not None:
                    payload, outer.cut_next_at = payload[: outer.cut_next_at], None
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    with Server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUGHSCOPE_DOWNLOAD_BASE", raising=False)


def make_tar_gz(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def noise_bytes(n: int) -> bytes:
    import random

    return random.Random(n).randbytes(n)


# --------------------------------------------------------------------------- download


def test_interrupted_download_resumes_with_range(server, tmp_path):
    body = noise_bytes(300_000)
    server.files["/f.bin"] = body
    server.cut_next_at = 120_000
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(UnavailableError, match="stopped after 120000 of 300000 bytes") as err:
        download(server.url + "/f.bin", dest)
    assert "run the same command again" in err.value.hint
    part = dest.with_name("f.bin.part")
    assert part.stat().st_size == 120_000 and not dest.exists()
    seen = []
    download(server.url + "/f.bin", dest, progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == body and not part.exists()
    assert server.requests[-1] == ("/f.bin", "bytes=120000-")
    assert seen[-1] == (300_000, 300_000)
    n = len(server.requests)
    download(server.url + "/f.bin", dest)  # complete files are not fetched again
    assert len(server.requests) == n


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    body = noise_bytes(50_000)
    server.files["/g.bin"] = body
    server.honour_range = False
    dest = tmp_path / "g.bin"
    dest.with_name("g.bin.part").write_bytes(b"stale bytes from elsewhere")
    download(server.url + "/g.bin", dest)
    assert dest.read_bytes() == body


def test_404_and_unreachable(server, tmp_path):
    with pytest.raises(NotFound, match="was not found"):
        download(server.url + "/missing", tmp_path / "m")
    server.httpd.server_close()  # nothing listens there any more
    with pytest.raises(UnavailableError):
        download(server.url + "/x", tmp_path / "x", timeout=5)


# --------------------------------------------------------------------------- extraction


def test_split_archive_joined_and_extracted(tmp_path):
    blob = make_tar_gz({"20200501/p1/cough-heavy.wav": b"RIFF1", "20200501/p2/cough-heavy.wav": b"RIFF2"})
    half = len(blob) // 2
    (tmp_path / "a.tar.gz.aa").write_bytes(blob[:half])
    (tmp_path / "a.tar.gz.ab").write_bytes(blob[half:])
    out = tmp_path / "out"
    tops = extract_tar([tmp_path / "a.tar.gz.aa", tmp_path / "a.tar.gz.ab"], out)
    assert tops == [out / "20200501"]
    assert (out / "20200501" / "p2" / "cough-heavy.wav").read_bytes() == b"RIFF2"
    assert [p.name for p in out.iterdir()] == ["20200501"]  # no staging folder left


@pytest.mark.parametrize(
    "members, symlinks, bad",
    [
        ({"ok/a.txt": b"fine", "../evil.txt": b"gotcha"}, None, "../evil.txt"),
        ({"ok/a.txt": b"fine", "ok/../../evil.txt": b"gotcha"}, None, "ok/../../evil.txt"),
        ({"ok/a.txt": b"fine"}, {"ok/link": "../../evil.txt"}, "ok/link"),
    ],
)
def test_escaping_member_refused_and_nothing_written(tmp_path, members, symlinks, bad):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(make_tar_gz(members, symlinks))
    dest = tmp_path / "box" / "dest"
    with pytest.raises(DataError) as err:
        extract_tar(archive, dest)
    assert repr(bad) in str(err.value) and "unsafe" in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "box" / "evil.txt").exists()
    assert list(dest.iterdir()) == []  # even the safe member was not kept


def test_corrupt_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="cannot extract x.tar.gz"):
        extract_tar(archive, tmp_path / "out")


# --------------------------------------------------------------------------- data sets


def serve_coswara(server: Server, date: str, archive: bytes) -> None:
    catalogue = load_catalogue()["coswara"]
    for rel in catalogue.files:
        server.files[f"/coswara/{rel}"] = b"placeholder\n"
    server.files["/coswara/combined_data.csv"] = (
        b"id,covid_status,a,g,l_c\np1,positive_mild,30,female,India\np2,healthy,41,male,India\n"
        b"p9,healthy,22,male,India\n"
    )
    server.files["/coswara/annotations/cough-heavy_labels.csv"] = b"FILENAME, QUALITY\np1_cough-heavy,2\n"
    third = len(archive) // 3
    for i, suffix in enumerate(("aa", "ab", "ac")):
        chunk = archive[i * third: (i + 1) * third if suffix != "ac" else None]
        server.files[f"/coswara/{date}/{date}.tar.gz.{suffix}"] = chunk


def test_get_coswara_end_to_end_with_resume(server, tmp_path, monkeypatch):
    wav = (tmp_path / "w.wav")
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\1" * 800)
    archive = make_tar_gz({f"20200413/{pid}/cough-heavy.wav": wav.read_bytes() for pid in ("p1", "p2")})
    serve_coswara(server, "20200413", archive)
    monkeypatch.setenv("COUGHSCOPE_DOWNLOAD_BASE", server.url)
    server.cut_next_at = 5  # the first file breaks off
    with pytest.raises(UnavailableError):
        get_dataset("coswara", dates=["20200413"])
    root = get_dataset("coswara", dates=["20200413"])
    assert root == tmp_path / "data" / "coswara"
    assert ("/coswara/combined_data.csv", "bytes=5-") in server.requests
    assert ("/coswara/20200413/20200413.tar.gz.ad", None) in server.requests  # probed, 404: last
    assert not (root / ".parts").exists()  # archives removed after extraction
    cs = load_source(str(root))
    assert {c.group: c.label for c in cs.clips} == {"p1": "positive", "p2": "negative"}
    assert cs.counts["csv_rows_without_audio"] == 1
    n = len(server.requests)
    assert get_dataset("coswara", dates=["20200413"]) == root  # already there: nothing re-fetched
    assert len(server.requests) == n


def test_get_coswara_with_evil_archive(server, tmp_path):
    serve_coswara(server, "20200413", make_tar_gz({"../evil.wav": b"x", "20200413/p1/cough-heavy.wav": b"y"}))
    dest = tmp_path / "cos"
    with pytest.raises(DataError, match="'../evil.wav'"):
        get_dataset("coswara", dest, base_url=server.url + "/coswara", dates=["20200413"])
    assert not (tmp_path / "evil.wav").exists()
    assert list((dest / "Extracted_data").iterdir()) == []


def test_get_covid19_cough_writes_manifest(server, tmp_path):
    entry = load_catalogue()["covid19-cough"]
    records = [
        {"filename": "a.mp3", "covid19": True, "source": "call-center", "verified": True, "asymptomatic": None},
        {"filename": "b.mp3", "covid19": False, "source": "telegram", "verified": None, "asymptomatic": False},
        {"filename": "c.mp3", "covid19": None, "source": "telegram"},
    ]
    top = f"dataset-{entry.archive}"
    server.files[f"/covid19-cough/{entry.archive}"] = make_tar_gz({
        f"{top}/metadata.json": json.dumps(records).encode(),
        f"{top}/raw/a.mp3": b"ID3a", f"{top}/raw/b.mp3": b"ID3b", f"{top}/raw/c.mp3": b"ID3c",
    })
    dest = tmp_path / "c19"
    code = cli_main(["data", "get", "covid19-cough", "--dest", str(dest), "--base-url", server.url + "/covid19-cough"])
    assert code == 0
    manifest = dest / "manifest.csv"
    assert manifest.read_text().splitlines() == [
        "path,label,source,verified,asymptomatic",
        "raw/a.mp3,positive,call-center,true,",
        "raw/b.mp3,negative,telegram,,false",
    ]
    assert "c.mp3" in (dest / "manifest-skipped.txt").read_text()
    cs = load_source(str(manifest))
    assert cs.label_counts() == {"negative": 1, "positive": 1}


def test_base_url_override_and_unknown_name(monkeypatch, capsys):
    entry = load_catalogue()["coswara"]
    assert resolve_base_url(entry) == entry.base_url
    monkeypatch.setenv("COUGHSCOPE_DOWNLOAD_BASE", "http://127.0.0.1:9/mirror/")
    assert resolve_base_url(entry) == "http://127.0.0.1:9/mirror/coswara"
    assert resolve_base_url(entry, "http://127.0.0.1:9/x/") == "http://127.0.0.1:9/x"
    assert cli_main(["data", "get", "nosuchset"]) == 2
    assert "choose one of: coswara, coughvid, covid19-cough, covid19-sounds" in capsys.readouterr().err


def serve_covid19_cough(server: Server, extra: dict[str, bytes] | None = None) -> str:
    entry = load_catalogue()["covid19-cough"]
    records = [{"filename": "a.mp3", "covid19": True}, {"filename": "b.mp3", "covid19": False}]
    top = f"dataset-{entry.archive}"
    members = {f"{top}/metadata.json": json.dumps(records).encode(),
               f"{top}/raw/a.mp3": b"ID3a", f"{top}/raw/b.mp3": b"ID3b",
               **{f"{top}/{k}": v for k, v in (extra or {}).items()}}
    server.files[f"/covid19-cough/{entry.archive}"] = make_tar_gz(members)
    return server.url + "/covid19-cough"


def test_data_get_never_replaces_the_users_files(server, tmp_path, capsys):
    """Issue 21: moving the extracted tree into --dest replaced a README.md and a .bashrc."""
    base = serve_covid19_cough(server, {"README.md": b"theirs\n", ".bashrc": b"rm -rf ~\n"})
    dest = tmp_path / "home"
    (dest / "raw").mkdir(parents=True)
    (dest / "README.md").write_text("mine\n")
    (dest / ".bashrc").write_text("export MINE=1\n")
    (dest / "raw" / "b.mp3").write_bytes(b"my own b")
    code = cli_main(["data", "get", "covid19-cough", "--dest", str(dest), "--base-url", base])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 name(s) there would be replaced; nothing was moved" in err
    for name in ("README.md", ".bashrc", "raw/b.mp3"):
        assert str(dest / name) in err
    assert (dest / "README.md").read_text() == "mine\n"
    assert (dest / ".bashrc").read_text() == "export MINE=1\n"
    assert (dest / "raw" / "b.mp3").read_bytes() == b"my own b"
    assert not (dest / "raw" / "a.mp3").exists() and not (dest / "metadata.json").exists()
    assert not (dest / "manifest.csv").exists()


def test_data_get_keeps_a_manifest_the_user_already_had(server, tmp_path, capsys):
    base = serve_covid19_cough(server)
    dest = tmp_path / "c19"
    dest.mkdir()
    (dest / "manifest.csv").write_text("path,label\nmine.wav,positive\n")
    code = cli_main(["data", "get", "covid19-cough", "--dest", str(dest), "--base-url", base])
    assert code == 2
    assert str(dest / "manifest.csv") in capsys.readouterr().err
    assert (dest / "manifest.csv").read_text() == "path,label\nmine.wav,positive\n"


def test_data_get_into_a_folder_with_other_files_and_same_files_works(server, tmp_path):
    base = serve_covid19_cough(server)
    dest = tmp_path / "c19"
    (dest / "raw").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine\n")
    (dest / "raw" / "a.mp3").write_bytes(b"ID3a")  # the very same file: kept, not a collision
    assert cli_main(["data", "get", "covid19-cough", "--dest", str(dest), "--base-url", base]) == 0
    assert (dest / "notes.txt").read_text() == "mine\n"
    assert (dest / "raw" / "b.mp3").read_bytes() == b"ID3b"
    assert (dest / "manifest.csv").read_text().splitlines()[1:] == [
        "raw/a.mp3,positive,,,", "raw/b.mp3,negative,,,"]


def test_coswara_extraction_never_replaces_a_file_in_extracted_data(server, tmp_path):
    serve_coswara(server, "20200413", make_tar_gz({"20200413/p1/cough-heavy.wav": b"new"}))
    dest = tmp_path / "cos"
    mine = dest / "Extracted_data" / "20200413" / "p1" / "cough-heavy.wav"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my recording")
    with pytest.raises(DataError, match="nothing was moved") as err:
        get_dataset("coswara", dest, base_url=server.url + "/coswara", dates=["20200413"])
    assert str(mine) in str(err.value)
    assert mine.read_bytes() == b"my recording"
