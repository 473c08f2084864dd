"""Run directories: the one place a run's state lives (see DESIGN.md, "Run directory").

```
runs/<run-id>/
  config.toml     the whole experiment
  events.jsonl    append-only event log, one JSON object per line, flushed per event
  status.json     {"state": running|finished|failed|interrupted, "pid", "started", "ended"}
  <model>/<seed>/ checkpoint, predictions.csv, metrics.json
  summary.json    per model, mean and std over seeds of every metric
```

Everything but the event log is written atomically. Readers tolerate a torn last line in
``events.jsonl`` (a writer killed mid-line) and skip it with a warning.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .errors import RunError
from .paths import atomic_write_text

SCHEMA_VERSION = 1
EVENT_TYPES = (
    "run_start",
    "data_ready",
    "model_start",
    "epoch_end",
    "model_end",
    "run_end",
    "warning",
    "error",
)
STATES = ("running", "finished", "failed", "interrupted")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(prefix: str = "") -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = os.urandom(2).hex()
    return f"{prefix}{stamp}-{suffix}"


class EventLog:
    """Append-only writer for ``events.jsonl``; each event is one flushed line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        event = {"v": SCHEMA_VERSION, "type": type, "time": round(time.time(), 3), **fields}
        self._fh.write(json.dumps(event, default=_json_default) + "\n")
        self._fh.flush()
        return event

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int, list[str]]:
    """Read complete event lines from byte ``offset``.

    Returns ``(events, new_offset, problems)``. A last line without its newline is not
    consumed (a writer may still be writing it); a complete line that is not valid JSON is
    skipped and reported in ``problems``. Call again with ``new_offset`` to follow a live run.
    """
    events: list[dict[str, Any]] = []
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
    for lineno, raw in enumerate(data[: end + 1].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            problems.append(f"{path}: skipped a damaged event line ({raw[:60]!r}...)")
            continue
        if isinstance(event, dict) and "type" in event:
            events.append(event)
        else:
            problems.append(f"{path}: skipped an event line without a type")
    return events, offset + end + 1, problems


def read_all_events(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All events, including a torn final line's absence reported as a problem."""
    events, offset, problems = read_events(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return events, problems
    if size > offset:
        problems.append(f"{path}: the last event line is incomplete (the writer was stopped)")
    return events, problems


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path} does not exist", "is this a coughscope run directory?") from None
    except ValueError as exc:
        raise RunError(f"{path} is not valid JSON: {exc}", "the file is damaged") from None


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

    def model_dir(self, model: str, seed: int) -> Path:
        return self.path / model / str(seed)

    def exists(self) -> bool:
        return self.config_path.exists() or self.status_path.exists()

    def status(self) -> dict[str, Any]:
        """``status.json``, with ``state`` corrected to ``interrupted`` when it claims
        ``running`` but its process is gone (e.g. after ``kill -9`` or a reboot)."""
        try:
            st = read_json(self.status_path)
        except RunError:
            return {"state": "unknown"}
        if st.get("state") == "running" and not pid_alive(st.get("pid")):
            st = {**st, "state": "interrupted", "note": "its process is no longer running"}
        return st

    def set_status(self, state: str, **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(state)
        try:
            current = read_json(self.status_path)
        except RunError:
            current = {}
        current.update({"state": state, **extra})
        if state == "running":
            current.update(pid=os.getpid(), started=current.get("started") or now_iso())
            current.pop("ended", None)
        else:
            current["ended"] = now_iso()
        write_json(self.status_path, current)

    def summary(self) -> dict[str, Any] | None:
        return read_json(self.summary_path) if self.summary_path.exists() else None

    def iter_events(self) -> Iterator[dict[str, Any]]:
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
    """Run directories under ``root``, newest first."""
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and RunDir(p).exists()]
    runs.sort(key=lambda r: r.path.stat().st_mtime, reverse=True)
    return runs


def resolve_run(spec: str | os.PathLike[str], root: Path) -> RunDir:
    """A run by path, by id under ``root``, or ``latest``."""
    spec_s = str(spec)
    if spec_s == "latest":
        runs = [r for r in list_runs(root) if r.status().get("state") == "finished"]
        if not runs:
            raise RunError(f"no finished run in {root}", "train one first: coughscope --headless")
        return runs[0]
    for cand in (Path(spec_s), root / spec_s):
        if cand.is_dir() and RunDir(cand).exists():
            return RunDir(cand)
    raise RunError(
        f"run {spec_s!r} not found (looked in {root} and as a path)",
        "list runs with `coughscope runs` or pass the run directory's path",
    )
