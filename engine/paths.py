"""Where coughscope keeps things outside the source tree.

* data directory (downloaded data sets, the preprocessing cache):
  ``$COUGHSCOPE_DATA_DIR`` or the platform's user data dir (``~/.local/share/coughscope``).
* cache: ``$COUGHSCOPE_CACHE_DIR`` or ``<data dir>/cache``.
* runs: ``./runs`` unless ``--runs-dir`` or ``$COUGHSCOPE_RUNS_DIR`` says otherwise.
* config directory (the key that signs run files, see :mod:`engine.trust`):
  ``$COUGHSCOPE_CONFIG_DIR`` or the platform's user config dir (``~/.config/coughscope``).
"""

from __future__ import annotations

import os
from pathlib import Path


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
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("COUGHSCOPE_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


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
