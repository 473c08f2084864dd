"""The run record: the one module that writes, reads, folds and follows a run directory.

A run directory is coughscope's central object (DESIGN.md, "Run directory")::

    runs/<run-id>/
      config.toml     the whole experiment (a valid --config file)
      env.json        how to reproduce it: command line, versions, device, host, seeds
      events.jsonl    append-only event log, one JSON object per line, flushed per event
      status.json     {"state": running|finished|failed|interrupted, "pid", "started", "ended"}
      .lock           held (flock) by the one process writing the run
      data.json, split.csv, <model>/<seed>/{predictions.csv, metrics.json, ...}, summary.json

Everything else in the engine, the command line and the app goes through this module:

* **Events** are frozen dataclasses, one per type (:data:`EVENT_CLASSES`), with a schema
  version. :class:`EventLog` writes them with ``allow_nan=False`` (a non-finite float is
  written as ``null``), truncating a torn last line left by a killed writer before appending.
  :func:`parse_event` reads a line back; unknown keys are kept in ``extra`` so an older reader
  can follow a newer writer.
* :class:`RunState` folds events into per model/seed progress (the Training screen's model,
  the ETA, the parts a run announced in ``data_ready``).
* :class:`RunFollower` tails a live run without any UI; the app wraps it in one worker.
* Typed readers: :func:`read_summary`, :func:`read_metrics`, :func:`read_predictions`,
  :func:`read_config`, :func:`read_env`, :func:`read_data`.
* Identity and order: :func:`list_runs` orders runs by their *recorded* start time (not the
  folder's mtime, which ``evaluate`` changes); :func:`resolve_run` resolves ``latest``
  (newest of any state to open, newest finished to predict with).
* :class:`RunLock`: one writer per run (two ``--resume`` or two identical ``--run-id`` cannot
  both run); the "running" state of a run comes from the lock, not only from ``status.json``.

Pure Python, no Textual, no heavy libraries.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import fcntl
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from .bounded import MAX_RUN_FILE_BYTES, loads_json, loads_toml, seed_number
from .errors import RunError
from . import paths
from .paths import atomic_write_text

SCHEMA_VERSION = 1
# incomplete: the study ran to its end but some tasks failed (a Ray worker died twice);
# their results are missing from the summary and --resume runs them again
STATES = ("running", "finished", "incomplete", "failed", "interrupted")
FINAL_STATES = ("finished", "incomplete", "failed", "interrupted")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(prefix: str = "") -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = os.urandom(2).hex()
    return f"{prefix}{stamp}-{suffix}"


def check_run_id(run_id: str) -> str:
    """A run id is one path component: letters, digits, ``.``, ``_``, ``-``; it cannot leave
    the runs directory (``../x``, ``/abs``) or hide itself (``.x``)."""
    if not RUN_ID_RE.match(run_id or "") or run_id in (".", ".."):
        raise RunError(
            f"run id {run_id!r} is not a plain name",
            "use letters, digits, '.', '_' and '-' only (no '/', no leading '.'), "
            "at most 128 characters; --runs-dir says where runs go",
        )
    if run_id.lower() == LATEST:
        raise RunError(f"run id {run_id!r} is reserved: `--run latest` means the newest run, so "
                       "a run of that name could never be chosen by its id",
                       "choose another --run-id")
    return run_id


LATEST = "latest"  # the run spec that means the newest run (resolve_run); never a run id


# ============================================================================ events


def clean_json(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and paths made plain, and every non-finite float
    replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return clean_json(value.tolist())
    if hasattr(value, "item"):
        return clean_json(value.item())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON text with ``allow_nan=False`` (non-finite floats become ``null``)."""
    return json.dumps(clean_json(obj), allow_nan=False, **kwargs)


@dataclass(frozen=True)
class Event:
    """One line of ``events.jsonl``. Subclasses add their fields; ``type`` is the class's."""

    TYPE: ClassVar[str] = ""
    time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": SCHEMA_VERSION, "type": self.TYPE}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            out[f.name] = getattr(self, f.name)
        out.update(self.extra)
        return clean_json(out)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access (``event.get("model")``), extra keys included."""
        if key == "type":
            return self.TYPE
        if key == "v":
            return SCHEMA_VERSION
        if not isinstance(key, str) or key == "extra":
            return default
        if key in self.extra:
            return self.extra[key]
        return getattr(self, key, default)

    def __getitem__(self, key: str) -> Any:
        sentinel = object()
        value = self.get(key, sentinel)
        if value is sentinel:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:  # read-only mapping view, as the line was written
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> Any:
        return self.to_dict().keys()

    def items(self) -> Any:
        return self.to_dict().items()

    @property
    def type(self) -> str:
        return self.TYPE

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("time", "extra")]


@dataclass(frozen=True)
class RunStart(Event):
    TYPE: ClassVar[str] = "run_start"
    run_id: str = ""
    resumed: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DataReady(Event):
    TYPE: ClassVar[str] = "data_ready"
    description: str = ""
    synthetic: bool = False
    clips: int = 0
    usable: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    excluded: int = 0
    features: int = 0
    spectrogram: list[int] = field(default_factory=list)
    meta_columns: list[str] = field(default_factory=list)
    split: dict[str, Any] = field(default_factory=dict)
    folds: int | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    precision: str = ""
    models: list[str] = field(default_factory=list)
    seeds: int = 0
    epochs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelStart(Event):
    TYPE: ClassVar[str] = "model_start"
    model: str = ""
    seed: int = 0
    epochs: int = 0
    resumed: bool = False
    # refit on: after the selection fit, ``oof_folds`` out-of-fold fits with the refit
    # recipe, then the refit (each announced by ``fit_progress``). None: an older log
    refit: bool | None = None
    oof_folds: int | None = None


@dataclass(frozen=True)
class EpochEnd(Event):
    TYPE: ClassVar[str] = "epoch_end"
    model: str = ""
    seed: int = 0
    epoch: int = 0
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    val_auc: float | None = None
    seconds: float | None = None
    best_epoch: int | None = None

    def record(self) -> dict[str, Any]:
        """The epoch's numbers as a plain dict (what histories and charts hold)."""
        out = {k: v for k, v in self.to_dict().items() if k not in ("v", "type", "model", "seed")}
        return out


@dataclass(frozen=True)
class FitProgress(Event):
    """A fit after the selection fit (``phase`` ``oof``: out-of-fold fit ``fold`` of
    ``folds``; ``refit``): sent with ``epoch`` 0 when it starts and after each of its epochs
    (a baseline's fit is 1 epoch). Not validation epochs: never plotted as curves."""

    TYPE: ClassVar[str] = "fit_progress"
    model: str = ""
    seed: int = 0
    phase: str = ""
    fold: int | None = None
    folds: int | None = None
    epoch: int = 0
    epochs: int = 0


@dataclass(frozen=True)
class ModelEnd(Event):
    TYPE: ClassVar[str] = "model_end"
    model: str = ""
    seed: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    train_acc: float | None = None
    train_loss: float | None = None
    test_loss: float | None = None
    best_epoch: int | None = None
    threshold: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class TaskEvent(Event):
    """Where a task (one model with one seed, :mod:`engine.plan`) is, when an executor other
    than the in-process one runs it: ``queued`` (with the ``resources`` it waits for),
    ``running`` (on ``worker``, with ``device``), ``retry`` (its worker died: ``reason``,
    ``attempt``), ``failed`` (it died again), ``done``."""

    TYPE: ClassVar[str] = "task"
    model: str = ""
    seed: int = 0
    state: str = ""
    worker: str | None = None
    device: str | None = None
    resources: str | None = None
    attempt: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Warning_(Event):
    TYPE: ClassVar[str] = "warning"
    message: str = ""
    model: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Error(Event):
    TYPE: ClassVar[str] = "error"
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class RunEnd(Event):
    TYPE: ClassVar[str] = "run_end"
    state: str = "finished"
    seconds: float | None = None
    reason: str | None = None


EVENT_CLASSES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (RunStart, DataReady, ModelStart, EpochEnd, FitProgress, ModelEnd, TaskEvent,
                Warning_, Error, RunEnd)
}
EVENT_TYPES = tuple(EVENT_CLASSES)


def make_event(type: str, **fields: Any) -> Event:
    """Build a typed event for writing. Unknown types and unknown fields are errors: the
    schema is a contract (add the field to its class, and to the README's table)."""
    cls = EVENT_CLASSES.get(type)
    if cls is None:
        raise ValueError(f"unknown event type {type!r}")
    known = set(cls.field_names()) | {"time"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"{type} events have no field(s) {', '.join(unknown)}")
    fields.setdefault("time", round(time.time(), 3))
    return cls(**fields)


def parse_event(obj: Any) -> Event | None:
    """A typed event from one decoded line; None when it is not an event. Keys this version
    does not know go to ``extra``; values of the wrong type are kept as they are."""
    if not isinstance(obj, dict):
        return None
    cls = EVENT_CLASSES.get(obj.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return None
    names = set(cls.field_names())
    kwargs = {k: obj[k] for k in names if k in obj}
    extra = {k: v for k, v in obj.items() if k not in names and k not in ("v", "type", "time")}
    t = obj.get("time")
    return cls(time=float(t) if isinstance(t, (int, float)) else 0.0, extra=extra, **kwargs)


def repair_torn_tail(path: Path) -> bool:
    """Cut bytes after the last newline (a writer killed mid-line) so that appending starts a
    fresh line. Returns True when something was cut."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return False
            back = min(size, 1 << 20)
            fh.seek(size - back)
            tail = fh.read(back)
            if tail.endswith(b"\n"):
                return False
            cut = tail.rfind(b"\n")
            fh.truncate(size - back + cut + 1 if cut >= 0 else (0 if back == size else size))
            return True
    except FileNotFoundError:
        return False


class EventLog:
    """Append-only writer for ``events.jsonl``; each event is one flushed line."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        """``root``: the folder the log must stay inside (default: its own folder); a log
        that is a symbolic link, or reached through one, is refused (:mod:`engine.paths`)."""
        self.path = path
        root = path.parent if root is None else root
        paths.ensure_dir(root, path.parent)
        paths.inside(root, path)
        self.repaired = repair_torn_tail(path)
        self._fh = paths.open_append(root, path)

    def write(self, event: Event) -> Event:
        self._fh.write(dumps(event.to_dict()) + "\n")
        self._fh.flush()
        return event

    def emit(self, type: str, **fields: Any) -> Event:
        return self.write(make_event(type, **fields))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: Path, offset: int = 0) -> tuple[list[Event], int, list[str]]:
    """Read complete event lines from byte ``offset``.

    Returns ``(events, new_offset, problems)``. A last line without its newline is not
    consumed (a writer may still be writing it); a complete line that is not a valid event is
    skipped and reported in ``problems``. Call again with ``new_offset`` to follow a live run.
    """
    events: list[Event] = []
    problems: list[str] = []
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return events, offset, problems
    end = data.rfind(b"\n")
    if end < 0:
        return events, offset, problems
    for raw in data[: end + 1].splitlines():
        if not raw.strip():
            continue
        try:
            obj = loads_json(raw)
        except (ValueError, UnicodeDecodeError):
            problems.append(f"{path.name}: skipped a damaged event line ({raw[:60]!r}...)")
            continue
        event = parse_event(obj)
        if event is None:
            kind = obj.get("type") if isinstance(obj, dict) else None
            problems.append(f"{path.name}: skipped an event line of unknown type {kind!r}")
            continue
        events.append(event)
    return events, offset + end + 1, problems


def read_all_events(path: Path) -> tuple[list[Event], list[str]]:
    """Every complete event; a torn final line is reported as a problem."""
    events, offset, problems = read_events(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return events, problems
    if size > offset:
        problems.append(f"{path.name}: the last event line is incomplete (the writer was "
                        "stopped while writing it); it was skipped")
    return events, problems


# ============================================================================ files


def read_bounded(path: Path, limit: int = MAX_RUN_FILE_BYTES) -> str:
    """The UTF-8 text of a run's file, refused (``ValueError``) past ``limit`` bytes."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ValueError(f"it is {size} bytes, more than the {limit} a run file may hold")
        return fh.read(limit + 1).decode("utf-8")


def write_json(path: Path, obj: Any, *, root: Path | None = None) -> None:
    """``obj`` as JSON (no NaN, :func:`dumps`), written atomically inside ``root`` (default:
    the file's folder; never through a link, :func:`engine.paths.inside`)."""
    atomic_write_text(path, dumps(obj, indent=2) + "\n", root=root)


def read_json(path: Path) -> Any:
    """A JSON file of a run, bounded in size and depth (:mod:`engine.bounded`); any problem
    is a :class:`RunError` naming the file."""
    try:
        return loads_json(read_bounded(path))
    except FileNotFoundError:
        raise RunError(f"{path} does not exist", "is this a coughscope run directory?") from None
    except PermissionError:
        raise RunError(f"{path} cannot be read (permission denied)",
                       "check the file's permissions") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON: {exc}", "the file is damaged") from None
    except IsADirectoryError:
        raise RunError(f"{path} is a directory, not a file", "the run directory is damaged") \
            from None
    except OSError as exc:
        raise RunError(f"{path} cannot be read: {exc.strerror or exc}",
                       "check the file and its permissions") from None


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock`` held for the life of the writing process.

    The lock file holds the writer's pid. The kernel drops the lock when the process dies
    (``kill -9`` included), so a stale lock cannot block a resume.
    """

    def __init__(self, run_path: Path) -> None:
        self.path = run_path / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        paths.ensure_dir(self.path.parent, self.path.parent)
        paths.inside(self.path.parent, self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                paths.inside(self.path.parent, self.path)  # names the link planted meanwhile
            raise
        for attempt in range(5):  # a reader's probe holds a shared lock for microseconds
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if attempt == 4:
                    os.close(fd)
                    pid = _read_pid(self.path)
                    raise RunError(
                        f"{self.path.parent} is in use by another coughscope process"
                        + (f" (pid {pid})" if pid else ""),
                        "wait for it to finish, or stop it; one process writes a run at a time",
                    ) from None
                time.sleep(0.02 * (attempt + 1))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def writer_alive(run_path: Path) -> bool:
    """True while some process holds the run's lock (probed with a shared, non-blocking
    flock that is released at once)."""
    lock = run_path / ".lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def remove_stale_temps(run_path: Path) -> list[Path]:
    """Delete temporary files (``.NAME.<pid>.tmp``) that a killed writer left behind. Call it
    only while holding the run's lock."""
    removed = []
    for tmp in run_path.rglob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


@dataclass
class RunDir:
    """A run directory on disk (which may belong to a live process)."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def env_path(self) -> Path:
        return self.path / "env.json"

    @property
    def data_path(self) -> Path:
        return self.path / "data.json"

    def model_dir(self, model: str, seed: int) -> Path:
        return self.path / model / str(seed)

    def exists(self) -> bool:
        return self.config_path.exists() or self.status_path.exists()

    def writer_alive(self) -> bool:
        return writer_alive(self.path)

    def status(self) -> dict[str, Any]:
        """``status.json``, with ``state`` corrected: ``running`` only while a process holds
        the run's lock (or, for runs written before the lock existed, its pid is alive);
        ``interrupted`` when it claims ``running`` but its writer is gone (``kill -9``, a
        reboot)."""
        if not os.path.lexists(self.status_path):
            return {"state": "unknown"}
        try:
            st = read_json(self.status_path)
        except RunError as err:  # listed as damaged, with the reason; never an exception
            return {"state": "damaged", "problem": err.message}
        if not isinstance(st, dict):
            return {"state": "damaged", "problem": f"{self.status_path} is not a JSON object"}
        if st.get("state") == "running":
            alive = self.writer_alive() if (self.path / ".lock").exists() else \
                pid_alive(st.get("pid"))
            if not alive:
                st = {**st, "state": "interrupted", "note": "its process is no longer running"}
        return st

    def set_status(self, state: str, **extra: Any) -> None:
        """Write ``status.json`` whole for the transition to ``state``: the state, ``extra``,
        the writer's pid and when the run first started -- nothing else of the previous
        status survives, so a resumed run that finishes keeps no ``error`` or ``reason`` of
        the attempt before it."""
        if state not in STATES:
            raise ValueError(state)
        try:
            previous = read_json(self.status_path)
            if not isinstance(previous, dict):
                previous = {}
        except RunError:
            previous = {}
        started = previous.get("started") if isinstance(previous.get("started"), str) else None
        started_unix = previous.get("started_unix")
        if isinstance(started_unix, bool) or not isinstance(started_unix, (int, float)):
            started_unix = None
        current: dict[str, Any] = {
            "state": state, "pid": os.getpid(), "started": started or now_iso(),
            "started_unix": started_unix or round(time.time(), 3), **extra}
        if state != "running":
            current.setdefault("ended", now_iso())
        write_json(self.status_path, current, root=self.path)

    def started_at(self) -> float:
        """The recorded start time (Unix seconds): ``status.json``, else the first event,
        else the config's mtime. Never the folder's mtime, which other commands change."""
        try:
            st = read_json(self.status_path)
            if isinstance(st.get("started_unix"), (int, float)):
                return float(st["started_unix"])
            if isinstance(st.get("started"), str):
                return datetime.fromisoformat(st["started"]).timestamp()
        except (RunError, ValueError, AttributeError):
            pass
        try:
            with open(self.events_path, "rb") as fh:
                first = loads_json(fh.readline(1 << 20) or b"{}")
            if isinstance(first.get("time"), (int, float)):
                return float(first["time"])
        except (OSError, ValueError, AttributeError):
            pass
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return 0.0

    def problem(self) -> str | None:
        """Why this run cannot be read as a whole (``status.json``, ``config.toml`` or
        ``summary.json`` damaged: too large, nested too deeply, not JSON/TOML), or None. A
        damaged run is listed with this reason; it never hides the other runs."""
        status = self.status()
        if status.get("state") == "damaged":
            return str(status.get("problem"))
        if self.config_path.exists():
            try:
                loads_toml(read_bounded(self.config_path))
            except (OSError, ValueError) as exc:
                return f"{self.config_path} cannot be read: {exc}"
        try:
            read_summary(self)
        except RunError as err:
            return err.message
        return None

    def summary(self) -> "Summary | None":
        return read_summary(self)

    def iter_events(self) -> Iterator[Event]:
        events, _ = read_all_events(self.events_path)
        yield from events


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists"; treat it as dead
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b")")[-1].split()[0] != b"Z"
    except OSError:
        return True


def list_runs(root: Path) -> list[RunDir]:
    """Run directories under ``root``, newest first by their recorded start time."""
    if not root.is_dir():
        return []
    runs = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for p in entries:
        try:
            if p.is_dir() and RunDir(p).exists():
                runs.append(RunDir(p))
        except OSError:
            continue
    runs.sort(key=lambda r: (r.started_at(), r.id), reverse=True)
    return runs


def resolve_run(spec: str | os.PathLike[str], root: Path, *, finished: bool = False) -> RunDir:
    """A run by path, by id under ``root``, or ``latest``.

    ``latest`` is the newest run by recorded start time; with ``finished=True`` (``predict``,
    the Classify screen) the newest *finished* run.
    """
    spec_s = str(spec)
    if spec_s == "latest":
        runs = list_runs(root)
        if finished:
            runs = [r for r in runs if r.status().get("state") == "finished"]
        if not runs:
            what = "finished run" if finished else "run"
            raise RunError(f"no {what} in {root}",
                           "train one first: coughscope --headless (or pass --runs-dir)")
        return runs[0]
    for cand in (Path(spec_s).expanduser(), root / spec_s):
        if cand.is_dir() and RunDir(cand).exists():
            return RunDir(cand)
    raise RunError(
        f"run {spec_s!r} not found (looked in {root} and as a path)",
        "list runs with `coughscope runs` or pass the run directory's path",
    )


# ============================================================================ env.json


def environment(argv: list[str] | None = None, device: str | None = None,
                seeds: list[int] | None = None, split_seed: int | None = None) -> dict[str, Any]:
    """What reproducing a run needs to know about where it ran (``env.json``)."""
    import platform
    import socket
    import sys
    from importlib import metadata

    from . import __version__

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in (("torch", "torch"), ("torchvision", "torchvision"),
                       ("lightning", "lightning"), ("pytorch_lightning", "pytorch-lightning"),
                       ("pytorch_tabular", "pytorch-tabular"), ("scikit-learn", "scikit-learn"),
                       ("librosa", "librosa"), ("numpy", "numpy")):
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cuda = device_name = None
    torch = sys.modules.get("torch")  # only when this process already uses it
    if torch is not None:
        cuda = getattr(torch.version, "cuda", None)
        if device == "cuda" and torch.cuda.is_available():
            device_name = torch.cuda.get_device_name(0)
    versions["cuda"] = cuda
    return {
        "argv": list(sys.argv if argv is None else argv),
        "coughscope": __version__,
        "git_commit": git_commit(),
        "versions": versions,
        "device": device,
        "device_name": device_name or (platform.processor() or platform.machine()),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "seeds": seeds,
        "split_seed": split_seed,
        "time": now_iso(),
    }


def git_commit() -> str | None:
    """The commit of the coughscope checkout this code runs from, when it is one (read from
    ``.git`` without running git)."""
    root = Path(__file__).resolve().parent.parent
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not ref.startswith("ref: "):
        return ref or None
    name = ref[5:]
    try:
        return (root / ".git" / name).read_text(encoding="utf-8").strip()
    except OSError:
        pass
    try:
        for line in (root / ".git" / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + name):
                return line.split()[0]
    except OSError:
        pass
    return None


def write_env(run: RunDir, env: dict[str, Any], resumed: bool) -> None:
    """``env.json``: the first attempt's environment; each resume appends to ``resumes``."""
    if resumed and run.env_path.exists():
        try:
            current = read_json(run.env_path)
        except RunError:
            current = {}
        current.setdefault("resumes", []).append(env)
        write_json(run.env_path, current, root=run.path)
    else:
        write_json(run.env_path, env, root=run.path)


# ============================================================================ readers


def _num(value: Any, path: Path, key: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RunError(f"{path}: {key} is {value!r}, not a number", "the file is damaged; "
                       "train the run again or restore it")
    return float(value)


DAMAGED = "the file is damaged; train the run again or restore it"


def _damaged(path: Path, model: str, key: str, value: Any, expected: str) -> RunError:
    return RunError(f"{path}: model {model!r}: {key} is {value!r}, not {expected}", DAMAGED)


def _auc(value: Any, path: Path, model: str, key: str) -> float | None:
    """An AUC: a number from 0 to 1, or None (undefined)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= 1.0:
        raise _damaged(path, model, key, value, "an AUC (a number from 0 to 1, or null)")
    return float(value)


def _interval(value: Any, path: Path, model: str, key: str) -> list[float] | None:
    """A 95% interval of an AUC: ``[low, high]``, both from 0 to 1, or None."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and 0.0 <= value[0] <= value[1] <= 1.0):
        raise _damaged(path, model, key, value, "an interval [low, high] of two numbers "
                       "from 0 to 1")
    return [float(value[0]), float(value[1])]


def _mean_std(value: Any, path: Path, model: str, key: str) -> dict[str, float | None]:
    """``{"mean", "std"}`` over seeds, each a number or None."""
    if not isinstance(value, dict):
        raise _damaged(path, model, key, value, 'an object {"mean": ..., "std": ...}')
    out: dict[str, float | None] = {}
    for part in ("mean", "std"):
        v = value.get(part)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _damaged(path, model, f"{key}.{part}", v, "a number or null")
        out[part] = None if v is None else float(v)
    return out


def _object(value: Any, path: Path, model: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _damaged(path, model, key, value, "an object")
    return value


class _OverSeeds:
    """Metrics aggregated over seeds (``metrics``: metric -> ``{"mean", "std"}``), read the
    same way by :class:`ModelSummary` and its held-out part :class:`OODSummary`."""

    metrics: dict[str, dict[str, float | None]]

    def mean(self, metric: str) -> float | None:
        v = (self.metrics.get(metric) or {}).get("mean")
        return float(v) if isinstance(v, (int, float)) else None

    def std(self, metric: str) -> float | None:
        v = (self.metrics.get(metric) or {}).get("std")
        return float(v) if isinstance(v, (int, float)) else None


@dataclass(frozen=True)
class OODSummary(_OverSeeds):
    """``summary.json``'s ``ood`` of one model (a ``--test-group COLUMN=VALUE`` run): the
    clips with that value, never trained or validated on, scored at the threshold chosen on
    validation; mean and std over seeds, and the seeds' intervals of the AUC averaged."""

    group: str  # "source=telegram"
    metrics: dict[str, dict[str, float | None]]  # metric -> {"mean", "std"}
    roc_auc_ci: list[float] | None

    @property
    def column(self) -> str:
        return self.group.partition("=")[0]

    @property
    def value(self) -> str:
        return self.group.partition("=")[2]

    @property
    def roc_auc(self) -> float | None:
        return self.mean("roc_auc")


@dataclass(frozen=True)
class ConfoundControlled:
    """``summary.json``'s ``confound_controlled`` of one model, written when the confound
    check flags ``column``: the test AUC within each value of the column, pooled by pair
    counts (:func:`engine.metrics.stratified_auc`), mean and std over seeds, with the seeds'
    intervals averaged. The column cannot raise it."""

    column: str
    roc_auc: float | None  # mean over seeds
    roc_auc_std: float | None
    roc_auc_ci: list[float] | None


def _ood_group(entry: dict[str, Any], path: Path, who: str) -> str:
    """An ``ood`` entry's ``group`` ("COLUMN=VALUE"), or a RunError naming the file."""
    group = entry.get("group")
    if not isinstance(group, str) or "=" not in group:
        raise _damaged(path, who, "ood.group", group, "COLUMN=VALUE")
    return group


def read_ood_summary(entry: Any, path: Path, model: str) -> OODSummary | None:
    """A model's ``ood`` entry (None when the run held no group out)."""
    if entry is None:
        return None
    entry = _object(entry, path, model, "ood")
    group = _ood_group(entry, path, model)
    metrics = _object(entry.get("metrics"), path, model, "ood.metrics")
    if "roc_auc" not in metrics:
        raise RunError(f"{path}: model {model!r}: ood.metrics has no roc_auc", DAMAGED)
    typed = {k: _mean_std(v, path, model, f"ood.metrics.{k}")
             for k, v in metrics.items() if isinstance(v, dict) or k == "roc_auc"}
    _auc(typed["roc_auc"]["mean"], path, model, "ood.metrics.roc_auc.mean")
    return OODSummary(group=group, metrics=typed,
                      roc_auc_ci=_interval(entry.get("roc_auc_ci"), path, model,
                                           "ood.roc_auc_ci"))


def read_confound_controlled(entry: Any, path: Path, model: str) -> ConfoundControlled | None:
    """A model's ``confound_controlled`` entry (None when no column was flagged)."""
    if entry is None:
        return None
    entry = _object(entry, path, model, "confound_controlled")
    column = entry.get("column")
    if not isinstance(column, str) or not column:
        raise _damaged(path, model, "confound_controlled.column", column, "a column name")
    auc = _mean_std(entry.get("roc_auc"), path, model, "confound_controlled.roc_auc")
    return ConfoundControlled(
        column=column,
        roc_auc=_auc(auc["mean"], path, model, "confound_controlled.roc_auc.mean"),
        roc_auc_std=auc["std"],
        roc_auc_ci=_interval(entry.get("roc_auc_ci"), path, model,
                             "confound_controlled.roc_auc_ci"))


@dataclass(frozen=True)
class ModelSummary(_OverSeeds):
    """One model's aggregate over seeds in ``summary.json``."""

    name: str
    seeds: list[int]
    metrics: dict[str, dict[str, float | None]]  # metric -> {"mean", "std"}
    roc_auc_ci: list[float] | None
    raw: dict[str, Any]
    # a --test-group run's held-out part; None for other runs (and runs made before it)
    ood: OODSummary | None = None
    # the stratified AUC within the column the confound check flagged; None when none was
    confound_controlled: ConfoundControlled | None = None



@dataclass(frozen=True)
class Summary:
    """``summary.json``: per model, mean ± std over seeds."""

    run_id: str
    preset: str | None
    data: dict[str, Any]
    models: dict[str, ModelSummary]
    warnings: list[str]
    raw: dict[str, Any]

    @property
    def synthetic(self) -> bool:
        return bool((self.data or {}).get("synthetic"))

    def best(self) -> tuple[str, float] | None:
        """The model with the highest mean test ROC-AUC, ignoring the majority baseline."""
        best: tuple[str, float] | None = None
        for name, m in self.models.items():
            auc = m.mean("roc_auc")
            if name != "majority" and auc is not None and (best is None or auc > best[1]):
                best = (name, auc)
        return best


def read_summary(run: RunDir) -> Summary | None:
    """``summary.json``, or None while the run has not written it; a damaged one raises
    :class:`RunError` naming the file."""
    path = run.summary_path
    if not path.exists():
        return None
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("models", {}), dict):
        raise RunError(f"{path} is not a coughscope summary", "the file is damaged")
    models = {}
    for name, m in raw.get("models", {}).items():
        if not isinstance(m, dict):
            raise RunError(f"{path}: the entry of model {name!r} is not an object",
                           "the file is damaged")
        ci = m.get("roc_auc_ci")
        models[name] = ModelSummary(
            name=name,
            seeds=[int(s) for s in m.get("seeds", []) if isinstance(s, int)],
            metrics={k: v for k, v in (m.get("metrics") or {}).items() if isinstance(v, dict)},
            roc_auc_ci=[float(c) for c in ci] if isinstance(ci, list) and len(ci) == 2
            and all(isinstance(c, (int, float)) for c in ci) else None,
            raw=m,
            ood=read_ood_summary(m.get("ood"), path, name),
            confound_controlled=read_confound_controlled(m.get("confound_controlled"), path,
                                                         name),
        )
    return Summary(run_id=str(raw.get("run_id", run.id)), preset=raw.get("preset"),
                   data=raw.get("data") if isinstance(raw.get("data"), dict) else {},
                   models=models, warnings=[str(w) for w in raw.get("warnings", [])], raw=raw)


@dataclass(frozen=True)
class ModelMetrics:
    """``<model>/<seed>/metrics.json``: the held-out report of one trained model."""

    model: str
    seed: int
    test: dict[str, Any]
    validation: dict[str, Any]
    threshold: float
    best_epoch: int | None
    history: list[dict[str, Any]]
    raw: dict[str, Any]
    # the test AUC within each value of every metadata column, pooled ({} for old runs)
    stratified: dict[str, "StratifiedAUC"] = field(default_factory=dict)
    # a --test-group run's held-out part at the same threshold; None for other runs
    ood: "OODResult | None" = None

    @property
    def confusion(self) -> dict[str, int]:
        c = self.test.get("confusion") or {}
        return {k: int(c.get(k, 0) or 0) for k in ("tn", "fp", "fn", "tp")}

    def roc(self) -> tuple[list[float], list[float]] | None:
        roc = self.raw.get("roc") or {}
        if roc.get("fpr") and roc.get("tpr"):
            return list(roc["fpr"]), list(roc["tpr"])
        return None


@dataclass(frozen=True)
class StratifiedAUC:
    """One seed's test AUC within each value of ``column``, pooled by pair counts
    (``metrics.json``'s ``stratified``); ``left_out``: values with one class only."""

    column: str
    roc_auc: float | None
    roc_auc_ci: list[float] | None
    by_value: dict[str, dict[str, Any]]
    left_out: list[str]


@dataclass(frozen=True)
class OODResult:
    """One seed's held-out ``group`` (``metrics.json``'s ``ood``): the test report of those
    clips at the seed's validation-chosen threshold."""

    group: str
    roc_auc: float | None
    roc_auc_ci: list[float] | None
    metrics: dict[str, Any]  # everything binary_metrics reports (accuracy, confusion, n...)


def _read_stratified(raw: Any, path: Path, who: str) -> dict[str, StratifiedAUC]:
    if raw is None:
        return {}
    raw = _object(raw, path, who, "stratified")
    out = {}
    for column, entry in raw.items():
        key = f"stratified.{column}"
        entry = _object(entry, path, who, key)
        by_value = entry.get("by_value") or {}
        left_out = entry.get("left_out") or []
        if not isinstance(by_value, dict):
            raise _damaged(path, who, f"{key}.by_value", by_value, "an object")
        if not isinstance(left_out, list):
            raise _damaged(path, who, f"{key}.left_out", left_out, "a list")
        out[column] = StratifiedAUC(
            column=column, roc_auc=_auc(entry.get("roc_auc"), path, who, f"{key}.roc_auc"),
            roc_auc_ci=_interval(entry.get("roc_auc_ci"), path, who, f"{key}.roc_auc_ci"),
            by_value={str(k): v for k, v in by_value.items() if isinstance(v, dict)},
            left_out=[str(v) for v in left_out])
    return out


def _read_ood_result(raw: Any, path: Path, who: str) -> OODResult | None:
    if raw is None:
        return None
    raw = _object(raw, path, who, "ood")
    group = _ood_group(raw, path, who)
    return OODResult(group=group, roc_auc=_auc(raw.get("roc_auc"), path, who, "ood.roc_auc"),
                     roc_auc_ci=_interval(raw.get("roc_auc_ci"), path, who, "ood.roc_auc_ci"),
                     metrics={k: v for k, v in raw.items() if k != "group"})


def read_metrics(run: RunDir, model: str, seed: int) -> ModelMetrics | None:
    """One model/seed's ``metrics.json``; None when it has not finished. A damaged file
    raises :class:`RunError` naming it."""
    path = run.model_dir(model, seed) / "metrics.json"
    if not path.exists():
        return None
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise RunError(f"{path} is not a metrics object", "the file is damaged")
    threshold = _num(raw.get("threshold"), path, "threshold", allow_none=False)
    assert threshold is not None
    if not 0.0 <= threshold <= 1.0:
        raise RunError(f"{path}: threshold {threshold} is not a probability",
                       "the file is damaged")
    test = raw.get("test") if isinstance(raw.get("test"), dict) else {}
    validation = raw.get("validation") if isinstance(raw.get("validation"), dict) else {}
    best = raw.get("best_epoch")
    history = raw.get("history") if isinstance(raw.get("history"), list) else []
    return ModelMetrics(model=model, seed=seed, test=test, validation=validation,
                        threshold=threshold, best_epoch=best if isinstance(best, int) else None,
                        history=[h for h in history if isinstance(h, dict)], raw=raw,
                        stratified=_read_stratified(raw.get("stratified"), path, model),
                        ood=_read_ood_result(raw.get("ood"), path, model))


def finished_parts(run: RunDir) -> list[tuple[str, int]]:
    """(model, seed) pairs that have ``metrics.json``, i.e. finished training."""
    out = []
    for metrics in sorted(run.path.glob("*/*/metrics.json")):
        seed = seed_number(metrics.parent.name)
        if seed is not None:
            out.append((metrics.parent.parent.name, seed))
    return out


def model_seeds(run: RunDir, model: str, summary: Summary | None = None) -> list[int]:
    """The seeds a model was trained with: from the summary, else the seed folders."""
    if summary is not None and model in summary.models:
        return list(summary.models[model].seeds)
    folder = run.path / model
    if not folder.is_dir():
        return []
    return sorted(n for n in (seed_number(p.name) for p in folder.iterdir()) if n is not None)


@dataclass(frozen=True)
class Predictions:
    """``predictions.csv`` of one model/seed: one row per usable clip."""

    clips: list[str]
    groups: list[str]
    labels: list[int]  # 1 positive, 0 negative
    probabilities: list[float]
    splits: list[str]
    # P(positive) after the run's calibration (engine.calibration); None: a run made before
    # calibration existed
    calibrated: list[float] | None = None
    # the out-of-fold probability of train + validation rows of a refit model (NaN elsewhere,
    # and everywhere in runs without it): what chose the operating point
    oof: list[float] | None = None

    def part(self, split: str) -> tuple[list[int], list[float]]:
        """Labels and probabilities of one split part (``train``, ``val``, ``test``)."""
        rows = [i for i, s in enumerate(self.splits) if s == split]
        return [self.labels[i] for i in rows], [self.probabilities[i] for i in rows]


def read_predictions(run: RunDir, model: str, seed: int) -> Predictions | None:
    """A model/seed's predictions; None when absent; a damaged row raises naming the file
    and line."""
    path = run.model_dir(model, seed) / "predictions.csv"
    clips: list[str] = []
    groups: list[str] = []
    labels: list[int] = []
    probs: list[float] = []
    splits: list[str] = []
    calibrated: list[float] = []
    oof: list[float] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), 2):
                label = row.get("label")
                if label not in ("positive", "negative", "1", "0"):
                    raise RunError(f"{path}:{line}: label {label!r} is not positive/negative",
                                   "the file is damaged")
                try:
                    p = float(row.get("probability") or "")
                except ValueError:
                    raise RunError(f"{path}:{line}: probability {row.get('probability')!r} "
                                   "is not a number", "the file is damaged") from None
                if not math.isfinite(p):
                    raise RunError(f"{path}:{line}: probability {p!r} is not a number",
                                   "the file is damaged")
                clips.append(row.get("clip") or "")
                groups.append(row.get("group") or "")
                labels.append(1 if label in ("positive", "1") else 0)
                probs.append(p)
                splits.append(row.get("split") or "test")
                for key, into in (("calibrated", calibrated), ("oof", oof)):
                    text = row.get(key)
                    if text is None:
                        continue
                    try:
                        v = float(text) if text.strip() else math.nan
                    except ValueError:
                        raise RunError(f"{path}:{line}: {key} {text!r} is not a number",
                                       "the file is damaged") from None
                    if math.isinf(v):
                        raise RunError(f"{path}:{line}: {key} {v!r} is not a number",
                                       "the file is damaged")
                    into.append(v)
    except FileNotFoundError:
        return None
    n = len(clips)
    return Predictions(clips, groups, labels, probs, splits,
                       calibrated=calibrated if len(calibrated) == n and n else None,
                       oof=oof if len(oof) == n and n else None)


def roc_curve_for(run: RunDir, model: str, seed: int) -> tuple[list[float], list[float]]:
    """The test ROC curve of one model and seed: stored in ``metrics.json``, else computed
    (by :func:`engine.metrics.roc_curve`) from ``predictions.csv``; empty when unknown."""
    metrics = read_metrics(run, model, seed)
    stored = metrics.roc() if metrics is not None else None
    if stored:
        return stored
    preds = read_predictions(run, model, seed)
    if preds is None:
        return [], []
    labels, probs = preds.part("test")
    if not labels or len(set(labels)) < 2:
        return [], []
    from .metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, probs)
    return [float(v) for v in fpr], [float(v) for v in tpr]


def read_config(run: RunDir) -> dict[str, Any]:
    """``config.toml`` as a dict ({} when absent or damaged); for a validated
    :class:`~engine.config.ExperimentConfig` use ``ExperimentConfig.from_toml``."""
    try:
        return loads_toml(read_bounded(run.config_path))
    except (OSError, ValueError):  # UnicodeDecodeError, TOMLDecodeError and TooDeep too
        return {}


def read_env(run: RunDir) -> dict[str, Any]:
    """``env.json`` ({} for runs made before it existed)."""
    try:
        env = read_json(run.env_path)
    except RunError:
        return {}
    return env if isinstance(env, dict) else {}


def read_data(run: RunDir) -> dict[str, Any]:
    """``data.json``: what the data set and split held ({} before ``data_ready``)."""
    try:
        data = read_json(run.data_path)
    except RunError:
        return {}
    return data if isinstance(data, dict) else {}


def trained_on_synthetic(run: RunDir) -> bool:
    """Whether the run's models were trained on the synthetic demo data."""
    data = read_data(run)
    if "synthetic" in data:
        return bool(data["synthetic"])
    return str(read_config(run).get("data", "")).split(":")[0] == "demo"


def data_name(run: RunDir) -> str:
    """A short name for the run's data set: ``demo``, or the last part of its path."""
    spec = str(read_config(run).get("data", "") or "")
    if not spec:
        return "?"
    if spec.split(":")[0] == "demo":
        return spec
    return Path(spec).name or spec


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = obj
    return out


def trusted_auc(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The AUC the recording channel cannot inflate, from one model's ``summary.json``
    entry: the held-out group's AUC of a ``--test-group`` run; else, when the confound
    check flagged a column, the AUC within each of its values, pooled; else the test AUC,
    labelled as in-distribution with no confound found. ``{"kind", "label", "roc_auc",
    "roc_auc_ci"}``; None when the entry has no AUC at all. Shown wherever a verdict is."""
    def mean(v: Any) -> float | None:
        v = v.get("mean") if isinstance(v, dict) else v
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def interval(v: Any) -> list[float] | None:
        ok = (isinstance(v, list) and len(v) == 2
              and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in v))
        return [float(c) for c in v] if ok else None

    ood = entry.get("ood")
    if isinstance(ood, dict) and mean((ood.get("metrics") or {}).get("roc_auc")) is not None:
        return {"kind": "held-out", "label": f"held-out {ood.get('group')}",
                "roc_auc": mean(ood["metrics"]["roc_auc"]),
                "roc_auc_ci": interval(ood.get("roc_auc_ci"))}
    cc = entry.get("confound_controlled")
    if isinstance(cc, dict) and mean(cc.get("roc_auc")) is not None:
        return {"kind": "within", "label": f"within {cc.get('column')}",
                "roc_auc": mean(cc.get("roc_auc")), "roc_auc_ci": interval(cc.get("roc_auc_ci"))}
    auc = mean((entry.get("metrics") or {}).get("roc_auc"))
    if auc is None:
        return None
    return {"kind": "test", "label": "test (no confound found)", "roc_auc": auc,
            "roc_auc_ci": interval(entry.get("roc_auc_ci"))}


def results_of(m: ModelSummary) -> dict[str, Any]:
    """A model's headline numbers (``runs show``/``diff``): the test AUC with its interval,
    accuracy, seeds, and -- when the run has them -- the held-out group's AUC (``ood``) and
    the AUC within the confounded column (``confound_controlled``)."""
    out: dict[str, Any] = {"roc_auc": m.mean("roc_auc"), "roc_auc_ci": m.roc_auc_ci,
                           "accuracy": m.mean("accuracy"), "seeds": m.seeds}
    if m.ood is not None:
        out["ood"] = {"group": m.ood.group, "roc_auc": m.ood.roc_auc,
                      "roc_auc_ci": m.ood.roc_auc_ci}
    if m.confound_controlled is not None:
        cc = m.confound_controlled
        out["confound_controlled"] = {"column": cc.column, "roc_auc": cc.roc_auc,
                                      "roc_auc_ci": cc.roc_auc_ci}
    out["trusted_auc"] = trusted_auc(m.raw)
    if isinstance(m.raw.get("operating_point"), dict):
        out["operating_point"] = m.raw["operating_point"]
    if isinstance(m.raw.get("calibration"), dict):  # the diagram's bins: see reliability_of
        out["calibration"] = {k: v for k, v in m.raw["calibration"].items()
                              if k != "reliability"}
    return out


def reliability_of(m: ModelSummary) -> list[dict[str, Any]]:
    """The reliability diagram's bins of a model (test part, calibrated, pooled over
    seeds); empty for runs made before calibration existed. Bins that are not well-formed
    are left out."""
    bins = (m.raw.get("calibration") or {}).get("reliability") if isinstance(
        m.raw.get("calibration"), dict) else None
    out = []
    for b in bins if isinstance(bins, list) else []:
        if not isinstance(b, dict):
            continue
        values = [b.get(k) for k in ("lo", "hi", "predicted", "observed")]
        if (all(isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)
                and isinstance(b.get("n"), int) and b["n"] > 0):
            out.append(b)
    return out


def describe(run: RunDir) -> dict[str, Any]:
    """Everything ``runs show`` prints: identity, state, config, environment, data, results."""
    summary = None
    problem = run.problem()
    try:
        summary = read_summary(run)
    except RunError as err:
        problem = problem or err.message
    results = {name: results_of(m) for name, m in (summary.models.items() if summary else [])}
    reliability = {name: reliability_of(m)
                   for name, m in (summary.models.items() if summary else [])}
    return {"id": run.id, "path": str(run.path), "status": run.status(),
            "config": read_config(run), "env": read_env(run), "data": read_data(run),
            "results": results, "reliability": {k: v for k, v in reliability.items() if v},
            "problem": problem}


def diff_runs(a: RunDir, b: RunDir) -> dict[str, dict[str, tuple[Any, Any]]]:
    """Per section (config, env, data, results): only the keys whose values differ."""
    da, db = describe(a), describe(b)
    out: dict[str, dict[str, tuple[Any, Any]]] = {}
    skip = {"env": ("time",)}
    for section in ("config", "env", "data", "results"):
        fa, fb = flatten(da[section]), flatten(db[section])
        differ = {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
                  if fa.get(k) != fb.get(k)
                  and not any(k == s or k.endswith("." + s) for s in skip.get(section, ()))}
        out[section] = differ
    return out


# ============================================================================ the fold


# out-of-fold fits assumed for a part not started yet whose run refits, until a model_start
# says how many (an upper bound: the total shrinks when the truth is known, never grows)
OOF_FOLDS_GUESS = 5


@dataclass
class PartProgress:
    """One model trained with one seed (or fold).

    Its work, in units (an epoch; a baseline's fit is one): the selection fit's epochs
    (``epochs``, fewer when early stopping ended it), then, with refit, ``oof_folds``
    out-of-fold fits and the refit, each of the epochs validation chose (known from the
    first ``fit_progress``; until then the selection's epochs stand in, an upper bound).
    """

    model: str
    seed: int
    epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    state: str = "pending"  # pending | training | done | failed (its task failed: Ray)
    # where its task is, from ``task`` events (Ray): queued | running | retry | failed | done
    task_state: str | None = None
    worker: str | None = None  # the worker (host pid N) and device that run it
    device: str | None = None
    refit: bool = False  # known from model_start; before it, what the run's config implies
    oof_folds: int | None = None
    refit_known: bool = False  # model_start said so (else an estimate)
    # (phase, fold) -> epochs done, of the fits after selection (fit_progress)
    fits: dict[tuple[str, int | None], int] = field(default_factory=dict)
    fit_epochs: int | None = None  # epochs of each oof/refit fit, from its fit_progress
    fit_now: tuple[str, int | None, int | None] | None = None  # (phase, fold, folds)
    fit_times: list[float] = field(default_factory=list)  # measured seconds per fit epoch
    _fit_last: tuple[tuple[str, int | None], int, float] | None = None
    # the latest ``fit_progress`` of a fit that is not the selection fit (out-of-fold fold,
    # refit): its event's fields; never part of ``history`` (not validation numbers)
    fit: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed}"

    @property
    def selection_over(self) -> bool:
        return self.state == "done" or bool(self.fits)

    @property
    def selection_units(self) -> int:
        if self.selection_over:  # early stopping may have ended it before ``epochs``
            return max(len(self.history), 1)
        return max(self.epochs, len(self.history), 1)

    @property
    def fit_count(self) -> int:
        """The fits after selection: the out-of-fold ones and the refit (0 without refit)."""
        if not self.refit:
            return 0
        folds = self.oof_folds if self.oof_folds is not None else OOF_FOLDS_GUESS
        return max(int(folds), 0) + 1

    @property
    def units(self) -> int:
        """Work units this part counts for in the run's progress (baselines count 1 a fit)."""
        chosen = self.fit_epochs if self.fit_epochs is not None else self.selection_units
        return self.selection_units + self.fit_count * max(chosen, 1)

    @property
    def units_done(self) -> int:
        if self.state in ("done", "failed"):  # a failed task has nothing left to do
            return self.units
        if not self.selection_over:
            return min(len(self.history), self.units)
        chosen = max(self.fit_epochs or 1, 1)
        fitted = sum(min(epoch, chosen) for epoch in self.fits.values())
        return min(self.selection_units + fitted, self.units)

    def epoch_seconds(self) -> float | None:
        """Measured seconds per epoch (None before the first epoch)."""
        times = [r.get("seconds") for r in self.history if isinstance(r.get("seconds"),
                                                                      (int, float))]
        if times:
            return sum(times) / len(times)
        if self.fit_times:
            return sum(self.fit_times) / len(self.fit_times)
        if self.state == "done" and self.seconds is not None:
            return self.seconds / self.units
        return None

    def fit_epoch_seconds(self) -> float | None:
        """Measured seconds per epoch of the fits after selection (None before one ended)."""
        return sum(self.fit_times) / len(self.fit_times) if self.fit_times else None

    def note_fit(self, phase: str, fold: int | None, folds: int | None, epoch: int,
                 epochs: int, when: float) -> None:
        """Fold one ``fit_progress``: the fit's epochs done, and its pace."""
        key = (phase, fold)
        if epochs > 0:
            self.fit_epochs = epochs
        if phase == "oof" and isinstance(folds, int) and folds >= 0:
            self.oof_folds = folds
        self.fit_now = (phase, fold, folds)
        last = self._fit_last
        if last is not None and last[0] == key and epoch == last[1] + 1 and when > last[2]:
            self.fit_times.append(when - last[2])
        self._fit_last = (key, epoch, when)
        # a resumed fit starts again from 0: what was done is kept, the count never drops
        self.fits[key] = max(self.fits.get(key, 0), epoch)


@dataclass
class RunState:
    """A run's progress as far as its event log has been read."""

    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    parts: dict[tuple[str, int], PartProgress] = field(default_factory=dict)
    current: tuple[str, int] | None = None
    state: str = "running"
    started: float | None = None
    ended: float | None = None
    seconds: float | None = None
    attempts: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    events_seen: int = 0

    def apply(self, event: Event | dict[str, Any]) -> None:
        """Fold one event into the state."""
        if isinstance(event, dict):
            parsed = parse_event(event)
            if parsed is None:
                self.problems.append(f"unknown event type {event.get('type')!r} ignored")
                return
            event = parsed
        self.events_seen += 1
        handler = getattr(self, f"_on_{event.TYPE}")
        handler(event)

    def _on_run_start(self, e: RunStart) -> None:
        self.run_id = e.run_id or self.run_id
        self.config = dict(e.config or {})
        self.attempts += 1
        if self.started is None or not e.resumed:
            self.started = e.time
        self.state = "running"
        self.ended = self.seconds = None
        if e.resumed:
            return  # the parts are known from the first attempt's data_ready
        epochs = int((self.config.get("recipe") or {}).get("epochs", 0) or 0)
        models = list(self.config.get("models") or [])
        split = self.config.get("split") or {}
        folds = int(split.get("folds", 0) or 0)
        seeds = folds if folds >= 2 else int(self.config.get("seeds", 1) or 1)
        for model in models:  # provisional until data_ready names the parts
            for seed in range(seeds):
                self._expect(self.parts.setdefault((model, seed),
                                                   PartProgress(model, seed, epochs)))

    def _expect(self, part: PartProgress) -> None:
        """Before its model_start, what a part's refit will be, from the run's config: the
        runner refits every model but the ensemble when ``recipe.refit`` is true
        (:func:`engine.refit.refit_enabled`); the folds are the most seen so far."""
        if part.refit_known:
            return
        recipe = self.config.get("recipe") or {}
        part.refit = recipe.get("refit") is True and part.model != "ensemble"
        folds = recipe.get("oof_folds")
        seen = [p.oof_folds for p in self.parts.values()
                if p.refit_known and p.refit and isinstance(p.oof_folds, int)]
        part.oof_folds = folds if isinstance(folds, int) else (max(seen) if seen else None)

    def _on_data_ready(self, e: DataReady) -> None:
        self.data = {k: v for k, v in e.to_dict().items() if k not in ("v", "type", "time")}
        if not e.models:
            return
        # the parts are what the runner announced: the models that run, one per seed or fold
        epochs = int((self.config.get("recipe") or {}).get("epochs", 0) or 0)
        per_model = e.epochs if isinstance(e.epochs, dict) else {}
        wanted = {(m, s) for m in e.models for s in range(max(int(e.seeds or 1), 1))}
        self.parts = {k: p for k, p in self.parts.items() if k in wanted or p.state != "pending"}
        for model, seed in sorted(wanted, key=lambda k: (e.models.index(k[0]), k[1])):
            part = self.parts.setdefault((model, seed), PartProgress(model, seed, epochs))
            if part.state == "pending" and isinstance(per_model.get(model), int):
                part.epochs = per_model[model]
            self._expect(part)
        order = {m: i for i, m in enumerate(e.models)}
        self.parts = dict(sorted(self.parts.items(),
                                 key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][1])))

    def _part(self, model: Any, seed: Any) -> PartProgress:
        key = (str(model), int(seed or 0))
        if key not in self.parts:
            self.parts[key] = PartProgress(*key)
        return self.parts[key]

    def _on_model_start(self, e: ModelStart) -> None:
        part = self._part(e.model, e.seed)
        part.epochs = int(e.epochs) if isinstance(e.epochs, int) else part.epochs
        if not e.resumed:
            part.history.clear()  # trained from scratch again: the old curve is gone
            part.fits.clear()
            part.fit_epochs = part.fit_now = part._fit_last = None
        # an older log says nothing of refit: no fit after selection is counted
        part.refit = e.refit is True
        part.oof_folds = e.oof_folds if isinstance(e.oof_folds, int) else 0
        part.refit_known = True
        part.state = "training"
        self.current = (part.model, part.seed)
        for other in self.parts.values():  # the folds now known stand in for the others'
            self._expect(other)

    def _on_fit_progress(self, e: FitProgress) -> None:
        part = self._part(e.model, e.seed)
        if part.state != "done":
            part.state = "training"
        epoch = e.epoch if isinstance(e.epoch, int) else 0
        epochs = e.epochs if isinstance(e.epochs, int) else 0
        fold = e.fold if isinstance(e.fold, int) else None
        folds = e.folds if isinstance(e.folds, int) else None
        part.note_fit(str(e.phase), fold, folds, epoch, epochs, e.time)
        part.fit = {"phase": e.phase, "fold": fold, "folds": folds, "epoch": epoch,
                    "epochs": epochs}
        if not part.refit_known:  # a part resumed mid-fit: its model_start came before
            part.refit = True
        self.current = (part.model, part.seed)

    def _on_epoch_end(self, e: EpochEnd) -> None:
        part = self._part(e.model, e.seed)
        if part.state != "done":
            part.state = "training"
        record = e.record()
        part.history = [r for r in part.history if r.get("epoch") != record.get("epoch")]
        part.history.append(record)
        part.history.sort(key=lambda r: r.get("epoch") or 0)

    def _on_model_end(self, e: ModelEnd) -> None:
        part = self._part(e.model, e.seed)
        part.fit_now = None
        part.metrics = dict(e.metrics or {})
        part.best_epoch = e.best_epoch
        part.seconds = e.seconds
        part.state = "done"

    def _on_task(self, e: TaskEvent) -> None:
        part = self._part(e.model, e.seed)
        part.task_state = str(e.state)
        if e.worker:
            part.worker, part.device = str(e.worker), str(e.device or "") or None
        if e.state == "failed":
            part.state = "failed"
            part.fit_now = None
        elif e.state in ("queued", "retry") and part.state != "done":
            part.state = "pending"
            part.history.clear()  # a retry trains from its start again
            part.fits.clear()
            part.fit_now = None

    def tasks(self, state: str) -> list[PartProgress]:
        """The parts whose task (Ray) is in ``state``: ``queued``, ``running``, ..."""
        return [p for p in self.parts.values() if p.task_state == state]

    def _on_warning(self, e: Warning_) -> None:
        self.warnings.append(e.message)

    def _on_error(self, e: Error) -> None:
        self.errors.append((e.message, e.hint))

    def _on_run_end(self, e: RunEnd) -> None:
        self.state = e.state if e.state in FINAL_STATES else "failed"
        self.ended = e.time
        self.seconds = e.seconds
        for part in self.parts.values():  # several at once under Ray
            if part.state == "training":
                part.state = "pending" if self.state != "finished" else "done"

    @property
    def is_over(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def synthetic(self) -> bool:
        return bool((self.data or {}).get("synthetic"))

    def progress(self) -> tuple[int, int]:
        """``(units done, units in total)``; an epoch is a unit, a baseline fit is one, and
        the fits after selection (out-of-fold, refit) count theirs. Unknown amounts are
        counted at their most, so the total only shrinks as the run tells more and the
        share done never goes back. While the run is going it never reads as complete:
        whatever is left after the last counted step (tests, the summary) is one step."""
        total = sum(p.units for p in self.parts.values())
        done = sum(p.units_done for p in self.parts.values())
        if not self.is_over and total:
            done = min(done, total - 1)
        return done, total

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left: each part's remaining epochs at the measured time per epoch of its
        model (a baseline's one fit is not an epoch of a CNN); the fits after selection at
        their own measured pace once known; parts of a model not yet started borrow the mean
        pace of the parts measured so far. None before anything was measured, and when only
        the run's last step (after every counted one) is left."""
        if self.is_over:
            return None
        pace: dict[str, list[float]] = {}
        fit_pace: dict[str, list[float]] = {}
        for p in self.parts.values():
            s = p.epoch_seconds()
            if s is not None:
                pace.setdefault(p.model, []).append(s)
            f = p.fit_epoch_seconds()
            if f is not None:
                fit_pace.setdefault(p.model, []).append(f)
        if not pace:
            return None
        mean = lambda values: sum(values) / len(values)  # noqa: E731
        overall = mean([mean(v) for v in pace.values()])
        left = 0.0
        remaining_any = False
        for p in self.parts.values():
            remaining = p.units - p.units_done
            if remaining <= 0:
                continue
            remaining_any = True
            speed = mean(pace[p.model]) if p.model in pace else overall
            fits_left = max(p.units - max(p.units_done, p.selection_units), 0) \
                if p.refit else 0
            fits_left = min(fits_left, remaining)
            fit_speed = mean(fit_pace[p.model]) if p.model in fit_pace else speed
            left += (remaining - fits_left) * speed + fits_left * fit_speed
        if not remaining_any:
            return None
        return max(left, 1.0)  # work remains: never "0m00s"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def load_run_state(run: RunDir) -> RunState:
    """The state of a run from its whole event log, corrected by the lock: a run whose log
    does not end but whose writer is gone is reported as its status says (or failed)."""
    state = RunState(run_id=run.id)
    events, problems = read_all_events(run.events_path)
    for event in events:
        state.apply(event)
    state.problems.extend(problems)
    if not state.is_over and not run.writer_alive() and events:
        reported = run.status().get("state")
        state.state = reported if reported in FINAL_STATES else "interrupted"
    return state


# ============================================================================ following


class RunFollower:
    """Tails a run's event log into a :class:`RunState`, with no UI.

    Call :meth:`poll` repeatedly (the app does it from one worker thread): it folds what is
    new and says whether anything changed. :attr:`done` becomes True once the run is over
    *and* no process holds its lock (a resumed run writes a new ``run_start`` after the old
    ``run_end``, so "over" alone is not the end of following). ``alive`` tells whether the
    writer lives; by default the run's lock, but the app passes its child's ``poll()``.
    """

    def __init__(self, run: RunDir, alive: Callable[[], bool] | None = None,
                 log_path: Path | None = None) -> None:
        self.run = run
        self.log_path = log_path  # the runner's output, for the reason it died
        self.state = RunState(run_id=run.id)
        self.offset = 0
        self.done = False
        self._alive = alive or (lambda: run.status().get("state") == "running")
        self._torn_reported = False

    def alive(self) -> bool:
        return bool(self._alive())

    def poll(self) -> bool:
        """Read new events; returns True when the state changed."""
        if self.done:
            return False
        alive_before = self.alive()  # before reading: a writer that ends after this read
        events, self.offset, problems = read_events(self.run.events_path, self.offset)
        for event in events:
            self.state.apply(event)
        self.state.problems.extend(problems)
        changed = bool(events or problems)
        if alive_before:
            return changed
        # no writer: what is in the log now is all there will be
        changed |= self._note_torn_tail()
        if not self.state.is_over:
            changed |= self._finish_dead()
        self.done = True
        return True

    def _note_torn_tail(self) -> bool:
        if self._torn_reported:
            return False
        try:
            size = self.run.events_path.stat().st_size
        except FileNotFoundError:
            return False
        if size <= self.offset:
            return False
        self._torn_reported = True
        self.state.problems.append(
            f"{self.run.events_path.name}: the last event line is incomplete (the runner "
            "stopped while writing it); it was skipped")
        return True

    def _finish_dead(self) -> bool:
        """The writer is gone without a ``run_end``: say why, as far as we can tell."""
        status = self.run.status()
        reported = status.get("state")
        self.state.state = reported if reported in FINAL_STATES else "failed"
        if not self.state.errors:
            tail = runner_log_tail(self.run, path=self.log_path)
            if self.state.events_seen == 0:
                self.state.errors.append((f"{self.run.path} has no events",
                                          f"the runner's output:\n{tail}" if tail else
                                          "is this a coughscope run directory?"))
            elif reported not in FINAL_STATES or reported == "failed":
                self.state.errors.append(("the runner stopped without finishing the run",
                                          f"its output:\n{tail}" if tail else
                                          f"see {self.run.path / 'runner.log'}"))
        return True

    def follow(self, on_change: Callable[[RunState], None], cancelled: Callable[[], bool],
               poll_seconds: float = 0.2, lock: Any = None) -> None:
        """Poll until the run is done or ``cancelled()``; call ``on_change`` after changes.
        ``lock`` (a context manager, e.g. a ``threading.Lock``) is held while the state is
        updated, for readers in other threads."""
        while not cancelled():
            with lock if lock is not None else contextlib.nullcontext():
                changed = self.poll()
            if changed:
                on_change(self.state)
            if self.done:
                return
            time.sleep(poll_seconds)


def runner_log_tail(run: RunDir, lines: int = 8, path: Path | None = None) -> str:
    """The last lines of ``runner.log`` (what a runner that died early printed); ``path``
    when the app's launch log has not moved into the run yet (or never will: a refused run
    leaves no directory)."""
    for candidate in ([path] if path else []) + [run.path / "runner.log"]:
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return "\n".join(text.strip().splitlines()[-lines:])
    return ""
