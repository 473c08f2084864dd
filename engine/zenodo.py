"""Data sets published as one zip on Zenodo (catalogue ``method = "zenodo"``; COUGHVID).

:func:`get_zenodo` fetches the record's file with :func:`engine.download.download` (so an
interrupted download resumes from ``<file>.part``), verifies its checksum, extracts it
safely and returns the data set's folder:

* the checksum is the catalogue's ``checksum`` (``"md5:..."``) when it gives one, else the
  one Zenodo publishes for the file in the record's metadata
  (``<base>/api/records/<record>``); a file whose checksum differs is deleted and a
  :class:`DataError` names both values (run again to download it afresh);
* every zip member is checked before anything is written: an absolute path, a ``..``, a
  symbolic link, or a path that would leave the destination is refused with a
  :class:`DataError` naming it, and nothing of the archive is kept. Extraction goes to a
  staging folder moved into place when the whole archive is good; nothing the user already
  had in the destination is replaced (:func:`engine.download._move_up`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any, Callable

from .errors import DataError, UnavailableError

ProgressFactory = Callable[[str], Callable[[int, int | None], None]]
MAX_RECORD_BYTES = 4 << 20


def file_url(base: str, record: str, name: str) -> str:
    return f"{base}/records/{record}/files/{name}?download=1"


def record_url(base: str, record: str) -> str:
    return f"{base}/api/records/{record}"


def get_zenodo(entry: Any, dest: Path, base: str, factory: ProgressFactory | None,
               keep_archives: bool) -> Path:
    """Fetch, verify and extract ``entry`` (a :class:`~engine.download.CatalogueEntry` with
    ``record``, ``file`` and optionally ``checksum`` and ``folder``) into ``dest``."""
    from .download import _move_up, download

    record, name = str(entry.extra["record"]), str(entry.extra["file"])
    folder = dest / str(entry.extra.get("folder", ""))
    marker = dest / ".coughscope" / f"extracted-{record}"
    if marker.is_file():
        return folder
    archive = download(file_url(base, record, name), dest / ".parts" / name,
                       progress=factory(name) if factory else None)
    expected = str(entry.extra.get("checksum") or "") or published_checksum(base, record, name)
    verify_checksum(archive, expected)
    staging = dest / f".extracting-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract_zip(archive, staging)
        _move_up(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from .paths import atomic_write_text

    atomic_write_text(marker, f"{name} {expected}\n", root=dest)
    if not keep_archives:
        shutil.rmtree(dest / ".parts", ignore_errors=True)
    return folder


def published_checksum(base: str, record: str, name: str) -> str:
    """The checksum (``"md5:..."``) Zenodo's record metadata gives for file ``name``."""
    from .download import _open

    url = record_url(base, record)
    response, _ = _open(url, 0, 60.0)
    with response:
        raw = response.read(MAX_RECORD_BYTES + 1)
    try:
        files = json.loads(raw.decode("utf-8"))["files"]
        if isinstance(files, dict):  # the InvenioRDM form: {"entries": {name: {...}}}
            files = list((files.get("entries") or {}).values())
        entry = next(f for f in files if f.get("key") == name or f.get("filename") == name)
        checksum = str(entry["checksum"])
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
        raise UnavailableError(f"{url} does not give a checksum for {name}",
                               "the download cannot be verified; try again later, or set "
                               "checksum = \"md5:...\" in the catalogue entry") from None
    if ":" not in checksum:
        checksum = "md5:" + checksum
    return checksum


def verify_checksum(path: Path, expected: str) -> None:
    """Raise a :class:`DataError` (and delete ``path``) when its digest is not ``expected``
    (``"md5:HEX"`` or ``"sha256:HEX"``)."""
    algorithm, _, want = expected.partition(":")
    if algorithm not in ("md5", "sha256") or not want:
        raise DataError(f"checksum {expected!r} is not md5:HEX or sha256:HEX",
                        "fix the catalogue entry")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    got = digest.hexdigest()
    if got != want.lower():
        path.unlink(missing_ok=True)
        raise DataError(f"{path.name} failed its checksum: expected {algorithm} {want}, got "
                        f"{got}; the file was deleted",
                        "run the same command again to download it afresh (a mirror with "
                        "another version of the file fails again: check --base-url)")


def extract_zip(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` (a new folder), after checking every member."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                _check_member(info, dest, archive)
            dest.mkdir(parents=True, exist_ok=True)
            for info in members:
                target = dest / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot extract {archive.name}: {exc}",
                        "the download may be corrupt: delete it and run `coughscope data "
                        "get` again") from None
    except FileExistsError as exc:
        raise DataError(f"refusing to extract {archive.name}: {exc.filename} is named twice "
                        "in the archive", "the archive is damaged; check the source") from None


def _check_member(info: zipfile.ZipInfo, dest: Path, archive: Path) -> None:
    name = info.filename
    mode = info.external_attr >> 16
    why = ""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        why = "its path is absolute"
    elif ".." in Path(name.replace("\\", "/")).parts:
        why = "its path goes up with '..'"
    elif stat.S_ISLNK(mode):
        why = "it is a symbolic link"
    else:
        root = dest.resolve()
        target = (root / name).resolve()
        if target != root and root not in target.parents:
            why = "its path leaves the destination folder"
    if why:
        raise DataError(f"refusing to extract {archive.name}: member {name!r} is unsafe ({why})",
                        "the archive is damaged or malicious; nothing from it was kept. "
                        "Check the source URL")
