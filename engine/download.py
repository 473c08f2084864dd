"""Fetching the public data sets of ``data/catalogue.toml``: download, resume, join, extract.

* :func:`download` streams one URL into ``<file>.part`` (with ``urllib``), resuming with an
  HTTP ``Range`` request when a partial file is there, and renames it when complete.
* :func:`extract_tar` extracts a (possibly split) ``.tar.gz`` safely: the parts are read as
  one stream, every member is checked before it is written (a member whose resolved path
  leaves the destination is refused with a :class:`DataError` naming it), and tarfile's
  ``filter="data"`` applies on top. Extraction goes to a temporary folder that is moved
  into place only when the whole archive is good.
* :func:`get_dataset` runs a catalogue entry end to end (``coughscope data get``).

The base URL of every entry can be replaced with ``COUGHSCOPE_DOWNLOAD_BASE`` (files are
then looked up under ``<base>/<name>/``) or the ``base_url`` argument, e.g. for a mirror or
a test server.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable

from .errors import ConfigError, DataError, UnavailableError

ProgressFactory = Callable[[str], Callable[[int, int | None], None]]
CHUNK = 1 << 20
USER_AGENT = "coughscope/0.1 (+https://github.com/iiscleap/Coswara-Data)"
PART_SUFFIXES = [a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]


@dataclass(frozen=True)
class CatalogueEntry:
    """One data set coughscope knows how to fetch."""

    name: str
    title: str
    licence: str
    homepage: str
    size: str
    holds: str
    method: str
    base_url: str
    files: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    archive: str = ""
    manifest: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class NotFound(UnavailableError):
    """The server answered 404 for a URL."""


def catalogue_path() -> Path:
    """``data/catalogue.toml`` beside the ``engine`` package (source checkout or install)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "catalogue" / "catalogue.toml", here.parent / "data" / "catalogue.toml"):
        if candidate.is_file():
            return candidate
    raise UnavailableError(
        "the data set catalogue (data/catalogue.toml) is missing from this installation",
        "reinstall coughscope from its source tree (pip install -e .)",
    )


def load_catalogue(path: Path | None = None) -> dict[str, CatalogueEntry]:
    """Every catalogue entry by name."""
    raw = tomllib.loads((path or catalogue_path()).read_text(encoding="utf-8"))
    known = set(CatalogueEntry.__dataclass_fields__) - {"name", "extra"}
    out = {}
    for name, table in raw.items():
        fields = {k: v for k, v in table.items() if k in known}
        for key in ("files", "dates"):
            fields[key] = tuple(fields.get(key, ()))
        extra = {k: v for k, v in table.items() if k not in known}
        out[name] = CatalogueEntry(name=name, extra=extra, **fields)
    return out


def get_entry(name: str) -> CatalogueEntry:
    catalogue = load_catalogue()
    if name not in catalogue:
        raise ConfigError(
            f"no data set called {name!r} in the catalogue",
            f"choose one of: {', '.join(sorted(catalogue))} (see `coughscope data list`)",
        )
    return catalogue[name]


def resolve_base_url(entry: CatalogueEntry, base_url: str | None = None) -> str:
    """``base_url`` if given, else ``$COUGHSCOPE_DOWNLOAD_BASE/<name>``, else the catalogue's."""
    if base_url:
        return _checked_url(base_url, f"--base-url {base_url!r}").rstrip("/")
    env = os.environ.get("COUGHSCOPE_DOWNLOAD_BASE")
    if env:
        return f"{_checked_url(env, f'COUGHSCOPE_DOWNLOAD_BASE={env!r}').rstrip('/')}/{entry.name}"
    return entry.base_url.rstrip("/")


URL_SCHEMES = ("http", "https", "file")


def _checked_url(url: str, named: str) -> str:
    """``url`` when it is an http(s) address with a host or a file: URL; else a ConfigError
    naming where it came from (``named``), before anything is downloaded or made."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        ok = parts.scheme in URL_SCHEMES and (parts.scheme == "file" or bool(parts.hostname))
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        ok = False
    if not ok or any(c.isspace() or ord(c) < 32 for c in url.strip()):
        raise ConfigError(f"{named} is not a download address",
                          "give a URL such as https://mirror.example.org/coughscope/NAME "
                          "(http, https or file)")
    return url.strip()


# --------------------------------------------------------------------------- download


def download(
    url: str,
    dest: Path,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part`` when one exists.

    A complete ``dest`` is left alone. On a broken connection the partial file is kept and
    an :class:`UnavailableError` says to run again; the next call resumes with ``Range``.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _disk_error(exc, dest.parent, f"downloading {url}",
                          "choose a writable folder with --dest") from None
    offset = part.stat().st_size if part.is_file() else 0
    response, offset = _open(url, offset, timeout)
    total = _total_size(response, offset)
    written = offset
    try:
        with response, open(part, "ab" if offset else "wb") as fh:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                fh.write(chunk)
                written += len(chunk)
                if progress:
                    progress(written, total)
    except OSError as exc:
        if _disk_problem(exc):  # our side: the disk, not the network
            raise _disk_error(exc, part, "downloading", f"run the same command again: it "
                                                        f"resumes from {part}") from None
        raise _interrupted(url, part, written, total, exc) from None
    except ValueError as exc:  # includes http.client.IncompleteRead, resets, timeouts
        raise _interrupted(url, part, written, total, exc) from None
    if total is not None and written != total:
        raise _interrupted(url, part, written, total, None)
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> tuple[Any, int]:
    """The response for ``url`` from byte ``offset`` and the offset the server honoured."""
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is no prefix the server knows
            return _open(url, 0, timeout)
        if exc.code == 404:
            raise NotFound(f"{url} was not found (HTTP 404)", "check the catalogue entry or mirror") from None
        raise UnavailableError(
            f"downloading {url} failed: HTTP {exc.code} {exc.reason}",
            "try again later, or set COUGHSCOPE_DOWNLOAD_BASE to a mirror",
        ) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(
            f"cannot reach {url}: {reason}",
            "check the network connection (or proxy settings) and run the command again",
        ) from None
    if offset and not _resumes_at(response, offset):
        return response, 0  # server ignored the Range header: start over
    return response, offset


def _resumes_at(response: Any, offset: int) -> bool:
    if response.status != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return start == offset


def _total_size(response: Any, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _interrupted(url: str, part: Path, written: int, total: int | None, exc: Exception | None) -> UnavailableError:
    of = f" of {total}" if total is not None else ""
    why = f": {exc}" if exc else ""
    return UnavailableError(
        f"download of {url} stopped after {written}{of} bytes{why}",
        f"run the same command again: it resumes from {part}",
    )


# --------------------------------------------------------------------------- extraction


class _JoinedParts:
    """Read several files as one stream (split archives ``.aa``, ``.ab``, ...)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = list(paths)
        self._fh: IO[bytes] | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._fh is None:
                if not self._paths:
                    return b""
                self._fh = open(self._paths.pop(0), "rb")
            data = self._fh.read(size)
            if data or size == 0:
                return data
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def extract_tar(parts: Path | list[Path], dest: Path) -> list[Path]:
    """Extract a ``.tar.gz`` (one file or split parts, in order) into ``dest``.

    Returns the top-level paths created in ``dest``. Refuses (DataError naming the member)
    any member that would land outside ``dest``; in that case nothing is moved into ``dest``.
    """
    paths = [parts] if isinstance(parts, Path) else list(parts)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / f".extracting-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    source = _JoinedParts(paths)
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                _check_member(member, staging, paths[0])
                try:
                    tar.extract(member, staging, filter="data")
                except tarfile.FilterError as exc:
                    raise _unsafe(paths[0], member.name, str(exc)) from None
        return _move_up(staging, dest)
    except OSError as exc:
        if _disk_problem(exc):
            raise _disk_error(exc, dest, f"extracting {paths[0].name}",
                              "the download itself is fine: free space (or choose --dest on "
                              "another disk) and run the same command again") from None
        raise DataError(
            f"cannot extract {paths[0].name}{' (+ parts)' if len(paths) > 1 else ''}: {exc}",
            "the download may be corrupt: delete it and run `coughscope data get` again",
        ) from None
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(
            f"cannot extract {paths[0].name}{' (+ parts)' if len(paths) > 1 else ''}: {exc}",
            "the download may be corrupt: delete it and run `coughscope data get` again",
        ) from None
    finally:
        source.close()
        shutil.rmtree(staging, ignore_errors=True)


def _disk_problem(exc: OSError) -> bool:
    """True for errors of the disk being written (full, quota, read-only, permission)."""
    import errno

    return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _disk_error(exc: OSError, where: Path, doing: str, then: str) -> UnavailableError:
    import errno

    why = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
           errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied"}.get(exc.errno or 0, exc.strerror or str(exc))
    return UnavailableError(f"{doing} into {where} failed: {why}"
                            + (f" ({exc.filename})" if exc.filename else ""), then)


def _check_member(member: tarfile.TarInfo, root: Path, archive: Path) -> None:
    root = root.resolve()
    target = (root / member.name).resolve()
    if target != root and root not in target.parents:
        raise _unsafe(archive, member.name, "its path leaves the destination folder")
    if member.issym() or member.islnk():
        base = target.parent if member.issym() else root
        link = (base / member.linkname).resolve()
        if link != root and root not in link.parents:
            raise _unsafe(archive, member.name, f"it links to {member.linkname!r} outside the destination")


def _unsafe(archive: Path, member: str, why: str) -> DataError:
    return DataError(
        f"refusing to extract {archive.name}: member {member!r} is unsafe ({why})",
        "the archive is damaged or malicious; nothing from it was kept. Check the source URL",
    )


def _move_up(staging: Path, dest: Path, also: Iterable[str] = ()) -> list[Path]:
    """Move the contents of ``staging`` into ``dest``, merging folders.

    Nothing already in ``dest`` is replaced: every name is checked first and, when one would
    collide with something there (a file with other contents, a link, a file where a folder
    goes), nothing moves and a :class:`DataError` lists the names. A file with the very same
    contents is left as it is (a re-run). ``also``: names directly in ``dest`` that the
    caller will write afterwards, which must not exist yet either.
    """
    from .bounded import printable

    collisions = [str(dest / name) for name in also if os.path.lexists(dest / name)]
    _collisions(staging, dest, collisions)
    if collisions:
        shown = "\n  ".join(printable(name) for name in collisions[:20])
        more = f"\n  ... and {len(collisions) - 20} more" if len(collisions) > 20 else ""
        raise DataError(
            f"refusing to extract into {dest}: {len(collisions)} name(s) there would be "
            f"replaced; nothing was moved:\n  {shown}{more}",
            "move those files away, or choose an empty folder with --dest")
    moved = []
    for item in sorted(staging.iterdir()):
        target = dest / item.name
        _merge(item, target)
        moved.append(target)
    return moved


def _collisions(src: Path, dst: Path, out: list[str]) -> None:
    """Append to ``out`` every path under ``dst`` that moving ``src``'s contents would
    replace (see :func:`_move_up`)."""
    import filecmp

    for child in sorted(src.iterdir()):
        target = dst / child.name
        if not os.path.lexists(target):
            continue
        if os.path.islink(target):
            out.append(f"{target} (a link)")
        elif child.is_dir() and not child.is_symlink():
            if target.is_dir():
                _collisions(child, target, out)
            else:
                out.append(f"{target} (a file where the archive has a folder)")
        elif target.is_dir():
            out.append(f"{target} (a folder where the archive has a file)")
        elif child.is_symlink() or not filecmp.cmp(child, target, shallow=False):
            out.append(str(target))


def _merge(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; a folder that exists is merged; a file that exists is the same
    file (checked by :func:`_collisions`) and is kept as it is."""
    if not os.path.lexists(dst):
        os.rename(src, dst)
    elif src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in sorted(src.iterdir()):
            _merge(child, dst / child.name)


# --------------------------------------------------------------------------- data sets


def get_dataset(
    name: str,
    dest: Path | None = None,
    *,
    base_url: str | None = None,
    dates: Iterable[str] | None = None,
    progress_factory: ProgressFactory | None = None,
    keep_archives: bool = False,
) -> Path:
    """Fetch catalogue entry ``name`` into ``dest`` (default ``<data dir>/<name>``).

    Returns what to give ``coughscope data summary`` / ``--data`` (the Coswara root, or the
    manifest.csv written for an archive data set). Safe to re-run:
    finished files and extracted dates are skipped, partial downloads resume.
    """
    from .paths import data_dir

    entry = get_entry(name)
    dest = Path(dest).expanduser() if dest else data_dir() / name
    base = resolve_base_url(entry, base_url)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnavailableError(f"cannot create {dest}: {exc.strerror or exc}",
                               "choose a writable folder with --dest, or set "
                               "COUGHSCOPE_DATA_DIR") from None
    try:
        if entry.method == "coswara":
            return _get_coswara(entry, dest, base, dates, progress_factory, keep_archives)
        if entry.method == "archive":
            return _get_archive(entry, dest, base, progress_factory, keep_archives)
        if entry.method == "request":
            raise UnavailableError(
                f"{name} cannot be downloaded: it is shared under a {entry.licence}",
                f"{entry.extra.get('request', 'see ' + entry.homepage)}; then use --data "
                f"{entry.extra.get('spec', 'PATH')}")
        if entry.method == "zenodo":  # one zip on Zenodo, checksum verified (COUGHVID)
            from .zenodo import get_zenodo

            return get_zenodo(entry, dest, base, progress_factory, keep_archives)
    except OSError as exc:  # writing markers, manifests, folders: the disk, not the data
        if not _disk_problem(exc):
            raise
        raise _disk_error(exc, dest, f"getting {name}",
                          "free space or choose a writable folder with --dest, then run the "
                          "same command again (finished parts are kept)") from None
    raise ConfigError(f"catalogue entry {name!r} has unknown method {entry.method!r}", "fix data/catalogue.toml")


def _progress(factory: ProgressFactory | None, label: str) -> Callable[[int, int | None], None] | None:
    return factory(label) if factory else None


def _get_coswara(
    entry: CatalogueEntry,
    dest: Path,
    base: str,
    dates: Iterable[str] | None,
    factory: ProgressFactory | None,
    keep_archives: bool,
) -> Path:
    for rel in entry.files:
        download(f"{base}/{rel}", dest / rel, progress=_progress(factory, rel))
    wanted = list(dates) if dates else list(entry.dates)
    unknown = [d for d in wanted if d not in entry.dates]
    if unknown:
        raise ConfigError(
            f"unknown Coswara date folder(s): {', '.join(unknown)}",
            f"choose from: {', '.join(entry.dates)}",
        )
    extracted = dest / "Extracted_data"
    missing = []
    for date in wanted:
        marker = dest / ".coughscope" / f"extracted-{date}"
        if marker.is_file():
            continue
        parts = _download_parts(base, date, dest / ".parts" / date, factory)
        if not parts:
            missing.append(date)
            continue
        extract_tar(parts, extracted)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("\n".join(p.name for p in parts) + "\n", encoding="utf-8")
        if not keep_archives:
            shutil.rmtree(dest / ".parts" / date, ignore_errors=True)
    if not keep_archives and (dest / ".parts").is_dir() and not any((dest / ".parts").iterdir()):
        (dest / ".parts").rmdir()
    if missing:
        raise UnavailableError(
            f"no archive parts found for date(s) {', '.join(missing)} under {base}",
            "the other dates were fetched; check the mirror, or leave those dates out with --dates",
        )
    return dest


def _download_parts(base: str, date: str, folder: Path, factory: ProgressFactory | None) -> list[Path]:
    """Download ``<date>/<date>.tar.gz.aa``, ``.ab``, ... until the server has no more."""
    parts = []
    for suffix in PART_SUFFIXES:
        name = f"{date}.tar.gz.{suffix}"
        try:
            parts.append(download(f"{base}/{date}/{name}", folder / name, progress=_progress(factory, name)))
        except NotFound:
            break
    return parts


def _get_archive(
    entry: CatalogueEntry,
    dest: Path,
    base: str,
    factory: ProgressFactory | None,
    keep_archives: bool,
) -> Path:
    archive_name = f"{entry.name}-{entry.archive[:12]}.tar.gz"
    marker = dest / ".coughscope" / f"extracted-{entry.archive}"
    if not marker.is_file():
        archive = download(
            f"{base}/{entry.archive}", dest / ".parts" / archive_name, progress=_progress(factory, archive_name)
        )
        written = ("manifest.csv", "manifest-skipped.txt") if entry.manifest else ()
        unpacked = dest / ".parts" / "unpacked"
        if not unpacked.is_symlink():  # left by an earlier try that was refused: ours
            shutil.rmtree(unpacked, ignore_errors=True)
        for top in extract_tar(archive, unpacked):
            # GitHub archives hold one folder, <repo>-<commit>/: lift its contents into dest
            if top.is_dir():
                _move_up(top, dest, also=written)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(entry.archive + "\n", encoding="utf-8")
        if not keep_archives:
            shutil.rmtree(dest / ".parts", ignore_errors=True)
    if entry.manifest == "covid19-cough-metadata":
        manifest, _ = write_covid19_cough_manifest(dest)
        return manifest
    return dest


def write_covid19_cough_manifest(root: Path) -> tuple[Path, int]:
    """Write ``manifest.csv`` (path,label,source,verified,asymptomatic) from ``metadata.json``.

    Returns the manifest's path and how many records were left out for lack of a label or a
    usable file name (a string on one line); they are listed, with the reason, in
    ``manifest-skipped.txt``. File names are written as given, under ``raw/``: one that
    leaves the download (``../``, links) is excluded, with that reason, when the manifest is
    loaded (see :mod:`engine.sources.manifest`).
    """
    import csv

    meta_path = root / "metadata.json"
    try:
        records = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {meta_path}: {exc}", "run `coughscope data get covid19-cough` again") from None
    out = root / "manifest.csv"
    tmp = out.with_name(".manifest.csv.tmp")
    skipped: list[str] = []
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "source", "verified", "asymptomatic"])
        for rec in records:
            why = _unusable_record(rec)
            if why:
                skipped.append(f"{why}: {json.dumps(rec, allow_nan=False)}")  # unusable, but listed
                continue
            writer.writerow([
                f"raw/{rec['filename']}",
                "positive" if rec["covid19"] else "negative",
                rec.get("source") or "",
                _flag(rec.get("verified")),
                _flag(rec.get("asymptomatic")),
            ])
    os.replace(tmp, out)
    (root / "manifest-skipped.txt").write_text(
        "metadata.json records left out, with the reason:\n" + "\n".join(skipped) + "\n",
        encoding="utf-8",
    )
    return out, len(skipped)


def _unusable_record(rec: Any) -> str:
    """Why a metadata.json record cannot become a manifest row, or ""."""
    if not isinstance(rec, dict):
        return "not a record"
    if rec.get("covid19") is None:
        return "no covid19 label"
    name = rec.get("filename")
    if not name:
        return "no filename"
    if not isinstance(name, str) or "\n" in name or "\r" in name or "\0" in name:
        return "the filename is not a one-line string"
    return ""


def _flag(value: Any) -> str:
    return "" if value is None else str(bool(value)).lower()
