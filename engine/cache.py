"""The preprocessing cache: what each audio file turned into, addressed by its content.

Layout under the cache directory (:func:`engine.paths.cache_dir` unless given)::

    hashes.json                          memo: absolute path -> [size, mtime_ns, sha256]
    v2/<config digest>/<sh>/<sha256>.npz one entry per file content: features, logmel, info
                                         -- or the reason the file was rejected
    v2/<config digest>/bundles/<k>.npz   a whole data set in one file; k = sha256 of the
                                         ordered list of entry keys

An entry's key is the SHA-256 of the file's bytes, under a folder named by
:meth:`~engine.config.PreprocessConfig.digest`, so a changed file or a changed setting never
reads a stale entry, and a moved or renamed file is still found. The hash memo means unchanged
files (same path, size and mtime) are not read again, and the bundle means a cached re-run of
a data set is one stat per file and one array load. Every write is atomic (temp file + rename);
an entry or bundle that cannot be read back, or has the wrong shape, counts as absent, is
deleted, and is rebuilt by the caller. Rejections are cached too (a bad file stays bad), except
those that depend on this machine rather than the file (e.g. ffmpeg missing). A rejection
reason never names a file: the entry is shared by every file with the same bytes, and the
caller names the clip it reports.

The cache is only an optimisation: when it cannot be written (a full disk, a read-only or
missing folder, a file where its folder should be) :attr:`FeatureCache.problem` says why,
nothing more is written, and the work goes on without it; an entry that cannot be read counts
as absent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import PreprocessConfig
from .features import feature_names
from . import paths
from .paths import cache_dir
from .bounded import loads_json
from .runs import dumps

CACHE_VERSION = 2  # 2: rejection reasons no longer name a file
MAX_BUNDLES = 8  # per config; the least recently written are removed beyond this


@dataclass
class Entry:
    """What one file turned into: arrays and info, or a rejection reason."""

    features: np.ndarray | None = None  # (F,) float32
    logmel: np.ndarray | None = None  # (n_mels, n_frames) float16
    info: dict[str, Any] = field(default_factory=dict)
    rejected: str | None = None
    cacheable: bool = True  # False: the reason depends on this machine, not on the file
    cache_problem: str | None = None  # set by a worker whose cache write failed

    @property
    def usable(self) -> bool:
        return self.rejected is None


@dataclass
class Bundle:
    """A whole data set: ``status[i]`` is ``{"info": {...}}`` or ``{"rejected": reason}`` for
    input clip ``i``; ``features``/``logmel`` hold the usable clips' rows, in order."""

    status: list[dict[str, Any]]
    features: np.ndarray
    logmel: np.ndarray


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FeatureCache:
    """Entries and bundles for one :class:`PreprocessConfig` under ``root``."""

    def __init__(self, cfg: PreprocessConfig, root: Path | None = None) -> None:
        self.cfg = cfg
        self.root = Path(root) if root is not None else cache_dir()
        self.dir = self.root / f"v{CACHE_VERSION}" / cfg.digest()
        self.n_features = len(feature_names(cfg))
        self._memo: dict[str, list[Any]] | None = None
        self._memo_dirty = False
        self.problem: str | None = None  # why the cache cannot be written; None: it can

    # ---------------------------------------------------------------- file keys

    def key_of(self, path: Path) -> str:
        """SHA-256 of the file's bytes, from the memo when path, size and mtime match.

        Raises ``OSError`` (e.g. ``FileNotFoundError``) when the file cannot be read.
        """
        return self.memo_key(path) or self.hash_file(path)

    def memo_key(self, path: Path) -> str | None:
        """The remembered hash when path, size and mtime match the memo; else None."""
        st = os.stat(path)
        hit = self._load_memo().get(str(Path(path).absolute()))
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        return None

    def hash_file(self, path: Path) -> str:
        """Hash the whole file and remember it (callers check its size and header first)."""
        st = os.stat(path)
        digest = sha256_file(path)
        self._load_memo()[str(Path(path).absolute())] = [st.st_size, st.st_mtime_ns, digest]
        self._memo_dirty = True
        return digest

    def save_memo(self) -> None:
        if self._memo is not None and self._memo_dirty and self.problem is None:
            self._write(lambda: _write_atomic(
                self.root / "hashes.json",
                json.dumps(self._memo, separators=(",", ":"), allow_nan=False).encode(), self.root))
            self._memo_dirty = False

    def _write(self, write: Any) -> bool:
        """Run a cache write; on an ``OSError`` remember why and stop writing (returns False)."""
        if self.problem is not None:
            return False
        try:
            write()
            return True
        except OSError as exc:
            self.problem = cache_problem(self.root, exc)
            return False
        except paths.OutsideRoot as exc:  # a link planted in the cache: not written, said
            self.problem = f"the cache is not written: {exc.message}"
            return False

    def _load_memo(self) -> dict[str, list[Any]]:
        if self._memo is None:
            try:
                memo = loads_json((self.root / "hashes.json").read_bytes())
                self._memo = memo if isinstance(memo, dict) else {}
            except (OSError, ValueError):
                self._memo = {}
        return self._memo

    # ---------------------------------------------------------------- entries

    def entry_path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npz"

    def load(self, key: str) -> Entry | None:
        """The entry for ``key``; None when absent or corrupt (a corrupt one is deleted)."""
        path = self.entry_path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "rejected" in npz.files:
                    return Entry(rejected=str(npz["rejected"]))
                entry = Entry(features=npz["features"], logmel=npz["logmel"],
                              info=json.loads(str(npz["info"])))
        except Exception:  # truncated zip, garbage, missing member, bad JSON
            entry = None
        if entry is None or not self._valid(entry.features, entry.logmel, None):
            _remove(path)
            return None
        return entry

    def store(self, key: str, entry: Entry) -> None:
        """Write ``entry`` (when cacheable); a failure sets :attr:`problem`, never raises."""
        if not entry.cacheable:
            return
        if entry.usable:
            arrays = {"features": entry.features, "logmel": entry.logmel,
                      "info": np.array(dumps(entry.info))}
        else:
            arrays = {"rejected": np.array(entry.rejected)}
        self._write(lambda: _write_atomic(self.entry_path(key), _npz_bytes(arrays), self.root))

    def _valid(self, features: Any, logmel: Any, rows: int | None) -> bool:
        """Shapes and dtypes as this config makes them; ``rows`` None: one clip, no row axis."""
        lead = () if rows is None else (rows,)
        return (
            isinstance(features, np.ndarray) and isinstance(logmel, np.ndarray)
            and features.shape == (*lead, self.n_features) and features.dtype == np.float32
            and logmel.shape == (*lead, self.cfg.n_mels, self.cfg.n_frames)
            and logmel.dtype == np.float16
            and bool(np.isfinite(features).all())
        )

    # ---------------------------------------------------------------- bundles

    def bundle_path(self, keys: list[str]) -> Path:
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
        return self.dir / "bundles" / f"{digest}.npz"

    def load_bundle(self, keys: list[str]) -> Bundle | None:
        """The bundle for exactly these keys in this order; None if absent or corrupt."""
        path = self.bundle_path(keys)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                stored = npz["keys"].tolist()
                status = json.loads(str(npz["status"]))
                bundle = Bundle(status=status, features=npz["features"], logmel=npz["logmel"])
        except Exception:
            bundle, stored = None, None
        usable = None if bundle is None else sum("info" in s for s in bundle.status)
        if (bundle is None or stored != keys or len(bundle.status) != len(keys)
                or not self._valid(bundle.features, bundle.logmel, usable)):
            _remove(path)
            return None
        return bundle

    def store_bundle(self, keys: list[str], bundle: Bundle) -> None:
        arrays = {"keys": np.array(keys), "status": np.array(dumps(bundle.status)),
                  "features": bundle.features, "logmel": bundle.logmel}
        path = self.bundle_path(keys)
        if self._write(lambda: _write_atomic(path, _npz_bytes(arrays), self.root)):
            self._evict_bundles(keep=path)

    def _evict_bundles(self, keep: Path) -> None:
        try:
            others = [p for p in (self.dir / "bundles").glob("*.npz") if p != keep]
            others.sort(key=lambda p: p.stat().st_mtime)
            for old in others[: max(0, len(others) + 1 - MAX_BUNDLES)]:
                old.unlink(missing_ok=True)
        except OSError:
            pass


def cache_problem(root: Path, exc: OSError) -> str:
    """The warning a user sees when the cache at ``root`` cannot be written."""
    import errno

    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied", errno.ENOTDIR: "a file is in the way of a folder",
           errno.EEXIST: "a file is in the way of a folder"}.get(exc.errno or 0,
                                                              exc.strerror or str(exc))
    return (f"the preprocessing cache at {root} cannot be written ({why}); going on without "
            "it, so the next run redoes the audio work. Free space, or set "
            "COUGHSCOPE_CACHE_DIR to a writable folder")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # a read-only cache: the bad entry stays, and is skipped again next time
        pass


def _write_atomic(path: Path, data: bytes, root: Path | None = None) -> None:
    """Temp file + rename, without fsync: after a crash an entry is either whole or fails its
    checks on read and is rebuilt, so the ~5 ms fsync per clip buys nothing here."""
    root = root if root is not None else path.parent
    paths.ensure_dir(root, path.parent)  # inside the cache, never through a planted link
    paths.inside(root, path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with os.fdopen(os.open(tmp, flags, 0o644), "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
