"""Follow a runner's log (its stdout and stderr: ``RUN/runner.log``, or
``<runs>/.launch/<id>.log`` before the runner has made the run folder) as it grows.

:class:`LogTail` reads only what was appended since its last call, gives back whole lines
(a line still being written waits for its newline), escaped for a terminal
(:func:`engine.bounded.printable`), and copes with what happens to a log: it does not exist
yet, it moves from the launch folder into the run (the same file, renamed: the offset
holds), it is truncated or replaced (read again from the start), it is huge (only the last
``first_bytes`` are read the first time). It has no UI; the app's log view polls it from a
thread worker, so a slow disk never freezes the screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .bounded import printable

MAX_LINE = 4000  # a longer line is cut, with a mark (a runaway print never floods the view)
CHUNK = 1 << 20  # at most this much is read per call; the rest comes on the next


@dataclass
class LogTail:
    """The new lines of a log on each :meth:`read_new` call.

    ``paths`` are the places the log may be, best first: the first that exists is read
    (``[RUN/runner.log, .launch/<id>.log]``: once the runner moved the launch log into the
    run, the run's copy is found, and being the same file, reading goes on where it was).
    """

    paths: Sequence[Path] | Callable[[], Sequence[Path]]
    first_bytes: int = 256 << 10
    path: Path | None = None  # the file read last
    offset: int = 0
    skipped: int = 0  # bytes left unread at the start of a long log
    _partial: bytes = field(default=b"", repr=False)
    _ident: tuple[int, int] | None = field(default=None, repr=False)

    def candidates(self) -> list[Path]:
        found = self.paths() if callable(self.paths) else self.paths
        return [Path(p) for p in found]

    def read_new(self) -> list[str]:
        """The whole lines appended since the last call ([] when none, or no log yet)."""
        for path in self.candidates():
            try:
                with open(path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    return self._read(path, fh, st)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                return [f"(cannot read {printable(path)}: {exc.strerror or exc})"]
        return []

    def _read(self, path: Path, fh: object, st: os.stat_result) -> list[str]:
        ident = (st.st_dev, st.st_ino)
        lines: list[str] = []
        start_cut = False
        if self._ident is not None and (ident != self._ident or st.st_size < self.offset):
            # another file, or truncated: read it from its start
            lines.append("(the log was replaced or truncated: reading it again from its start)")
            self.offset, self._partial, self.skipped = 0, b"", 0
            if st.st_size > self.first_bytes:
                self.skipped = self.offset = st.st_size - self.first_bytes
                start_cut = True
        if self._ident is None and st.st_size > self.first_bytes:
            self.skipped = self.offset = st.st_size - self.first_bytes
            start_cut = True
        self._ident, self.path = ident, path
        fh.seek(self.offset)  # type: ignore[attr-defined]
        data = fh.read(CHUNK)  # type: ignore[attr-defined]
        if not data:
            return lines
        self.offset += len(data)
        data = self._partial + data
        *whole, self._partial = data.split(b"\n")
        if start_cut and whole:  # the first line read began before the window
            whole = whole[1:]
            lines.append(f"(the first {self.skipped} bytes of {path.name} are not shown)")
        if len(self._partial) > MAX_LINE * 4:  # no newline for a long while: show it anyway
            whole.append(self._partial)
            self._partial = b""
        for raw in whole:
            text = raw.decode("utf-8", errors="replace")
            # a progress bar redrawn with \r: what a terminal would show is its last state
            text = next((part for part in reversed(text.split("\r")) if part), "")
            if len(text) > MAX_LINE:
                text = text[:MAX_LINE] + f" … ({len(text) - MAX_LINE} more characters)"
            lines.append(printable(text.replace("\t", "    ")))
        return lines


def runner_log_paths(run_path: Path, launch_log: Path | None = None) -> list[Path]:
    """Where a run's runner log may be, best first: ``RUN/runner.log`` (the app's runs, and
    resumed runs), then the launch log the app started it with."""
    found = [Path(run_path) / "runner.log"]
    if launch_log is not None:
        found.append(Path(launch_log))
    return found
