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

import os
from pathlib import Path


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or a signal: leave no half-written temp behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
