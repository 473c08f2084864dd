"""Where coughscope keeps things outside the source tree.

* data directory (downloaded data sets, the preprocessing cache):
  ``$COUGHSCOPE_DATA_DIR`` or the platform's user data dir (``~/.local/share/coughscope``).
* cache: ``$COUGHSCOPE_CACHE_DIR`` or ``<data dir>/cache``.
* runs: ``--runs-dir``, else ``$COUGHSCOPE_RUNS_DIR``, else ``./runs`` when the current
  folder has one, else the per-user ``<data dir>/runs`` -- so ``coughscope runs`` finds the
  same runs from any folder. :func:`runs_dir_reason` says which rule picked it.
* the config directory: the key that signs run files (:mod:`engine.trust`) and the settings
  the app remembers (last data set, Models choices, theme): ``$COUGHSCOPE_CONFIG_DIR``
  or the platform's user config dir (``~/.config/coughscope``).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import IO

from .errors import CoughscopeError


RUNS_DIR_HELP = ("default: $COUGHSCOPE_RUNS_DIR, else ./runs when it exists, else the per-user "
                 "runs folder (coughscope runs prints which)")


def data_dir() -> Path:
    env = os.environ.get("COUGHSCOPE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir  # cheap (~2 ms)

    return Path(user_data_dir("coughscope", appauthor=False))


def config_dir() -> Path:
    env = os.environ.get("COUGHSCOPE_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("coughscope", appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("COUGHSCOPE_CACHE_DIR")
    return Path(env).expanduser() if env else data_dir() / "cache"


def runs_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where run directories are (see the module docstring for the order of the rules)."""
    return _runs_dir(explicit)[0]


def runs_dir_reason(explicit: str | os.PathLike[str] | None = None) -> str:
    """Why :func:`runs_dir` picked its folder, e.g. ``"--runs-dir"`` or ``"per-user default"``."""
    return _runs_dir(explicit)[1]


def _runs_dir(explicit: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if explicit:
        return Path(explicit).expanduser(), "--runs-dir"
    env = os.environ.get("COUGHSCOPE_RUNS_DIR")
    if env:
        return Path(env).expanduser(), "$COUGHSCOPE_RUNS_DIR"
    local = Path.cwd() / "runs"
    if local.is_dir():
        return local, "./runs exists in the current folder"
    return data_dir() / "runs", "per-user default"


def short_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the current folder when under it, else with ``~`` for home."""
    p = Path(path).expanduser()
    try:
        resolved = p.resolve()
    except OSError:
        return str(path)
    for base, prefix in ((Path.cwd().resolve(), ""), (Path.home().resolve(), "~/")):
        try:
            rel = resolved.relative_to(base)
        except ValueError:
            continue
        return prefix + str(rel) if str(rel) != "." else (prefix.rstrip("/") or ".")
    return str(p)


class OutsideRoot(CoughscopeError):
    """A write would leave its root (a run folder, the cache, a download destination): the
    path climbs out of it, or goes through a symbolic link planted inside it."""


def safe_name(name: str) -> str:
    """``name`` (a model, a run id) as one file-name part: anything but letters, digits,
    ``_``, ``.`` and ``-`` becomes ``_`` (never empty)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """``path`` checked to stay inside ``root``; returns it as an absolute path.

    ``root`` itself may be a link (the user chose it); below it, no existing component of
    ``path`` may be a symbolic link, and none may be ``..``. Raises :class:`OutsideRoot`
    naming the path and the link. This is the one check every writer into a root goes
    through (:func:`ensure_dir`, :func:`open_append`, :func:`atomic_write_bytes`).
    """
    base, rel = _split(root, path)
    current = base
    for part in rel.parts:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            break  # nothing below a missing component can be a link yet
        except NotADirectoryError:
            raise OutsideRoot(f"cannot write into {path}: {current.parent} is a file, not a "
                              "folder", "remove or rename that file") from None
        if stat.S_ISLNK(st.st_mode):
            raise _through_link(root, path, current)
    return base / rel


def _split(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(absolute root, path relative to it)``, refusing a path outside it or with ``..``."""
    raw = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    given = Path(root) if Path(root).is_absolute() else Path.cwd() / root
    for base in (given, Path(os.path.abspath(root)), Path(os.path.realpath(root))):
        n = len(base.parts)
        if raw.parts[:n] == base.parts:
            rel = Path(*raw.parts[n:])
            if ".." in rel.parts:
                raise OutsideRoot(f"refusing to write {path}: '..' could lead out of {root}",
                                  "name a path inside the folder")
            return base, rel
    raise OutsideRoot(f"refusing to write {path}: it is outside {root}",
                      "coughscope writes only inside the folder it was given")


def _through_link(root: str | os.PathLike[str], path: str | os.PathLike[str],
                  link: Path) -> OutsideRoot:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return OutsideRoot(
        f"refusing to write {path}: {link} is a symbolic link (to {target}) inside {root}; "
        "coughscope never writes through a link",
        f"replace the link {link} with a real file or folder, or use a copy of the folder "
        "made without links")


def ensure_dir(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Make folder ``path`` inside ``root`` (and the folders between), never through a link."""
    inside(root, path)
    base, rel = _split(root, path)
    base.mkdir(parents=True, exist_ok=True)  # the root itself is the user's choice
    current = base
    for part in rel.parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            pass
        st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):  # planted between the check and here
            raise _through_link(root, path, current)
        if not stat.S_ISDIR(st.st_mode):
            raise OutsideRoot(f"cannot write into {path}: {current} is a file, not a "
                              "folder", "remove or rename that file")
    return base / rel


def open_append(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> IO[str]:
    """``path`` opened for appending text, inside ``root``, never through a link
    (``O_NOFOLLOW`` on the file itself, :func:`inside` for the folders above it)."""
    target = inside(root, path)
    ensure_dir(root, target.parent)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            inside(root, target)  # names the link
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def create_new(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` created for writing bytes, inside ``root``: exclusively (an existing file or
    link there is an error, never replaced) and never through a link. No fsync: for the many
    small files of a folder that is itself renamed into place when complete (the demo set)."""
    target = inside(root, path)
    ensure_dir(root, target.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        if os.path.islink(target):
            raise _through_link(root, path, target) from None
        raise
    return os.fdopen(fd, "wb")


def atomic_write_bytes(path: Path, data: bytes, *, root: str | os.PathLike[str] | None = None
                       ) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    The write stays inside ``root`` (default: the file's own folder, so at least the file is
    never a link): see :func:`inside`. The temp file is created exclusively, never through a
    link, and the rename replaces a name, never what a link points to.
    """
    path = Path(path)
    if root is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        root = path.parent
    target = inside(root, path)
    ensure_dir(root, target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW
    try:
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:  # left by a killed writer with our pid: ours to replace
            os.unlink(tmp)
            fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        inside(root, target)  # a link planted while we wrote is still refused
        os.replace(tmp, target)
    except BaseException:  # a full disk or a signal: leave no half-written temp behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str, *, root: str | os.PathLike[str] | None = None
                      ) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), root=root)
