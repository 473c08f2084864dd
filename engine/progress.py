"""Progress of long command-line work on stderr (the diagnostics channel), with rich.

On a terminal it draws rich's progress bar in place: label, bar, count (``12/40 clips`` or
``1.2/3.4 MB``), percentage, rate and time left. Anywhere else (a log file, a pipe, CI) it
prints a plain line now and then -- ``preprocess 12/40 clips (30%), 8.1 clips/s, ETA 0:03`` --
so logs stay readable and free of escape codes. Use it as the ``progress(done, total)``
callback that long operations accept; :meth:`Progress.close` ends it.

rich comes with Textual; it is imported on the first report, not with this module.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """``Progress("preprocess", unit="clips")(done, total)`` reports; :meth:`close` ends it."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        unit: str = "",
        interval_s: float | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.1 if self.tty else 5.0)
        self._last = -float("inf")
        self._done_reported = False
        self._started = time.monotonic()
        self._live: Any = None  # rich.progress.Progress on a terminal
        self._task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and total > 0 and done >= total
        if self.tty:
            self._draw(done, total, now, finished)
            return
        if finished and self._done_reported:
            return
        if not finished and now - self._last < self.interval_s:
            return
        self._last = now
        self._done_reported = finished
        self.stream.write(self.render(done, total, now) + "\n")
        self.stream.flush()

    # ------------------------------------------------------------------ terminal

    def _draw(self, done: int, total: int | None, now: float, finished: bool) -> None:
        if self._live is None:
            self._live = self._make_live()
            self._task = self._live.add_task(self.label, total=total or None)
            self._live.start()
        self._live.update(self._task, completed=done, total=total or None)
        if finished or now - self._last >= self.interval_s:
            self._last = now
            self._live.refresh()
        if finished:
            self.close()

    def _make_live(self) -> Any:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn,
                                   Progress as RichProgress, TaskProgressColumn, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        console = Console(file=self.stream, force_terminal=True, highlight=False)
        if self.unit == "bytes":
            count: list[Any] = [DownloadColumn(), TransferSpeedColumn()]
        else:
            unit = f" {self.unit}" if self.unit else ""
            count = [MofNCompleteColumn(), TextColumn(unit.strip()), RateColumn(self.unit)]
        return RichProgress(TextColumn("{task.description}"), BarColumn(), *count,
                            TaskProgressColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, auto_refresh=False, transient=False)

    # ------------------------------------------------------------------ plain lines

    def render(self, done: int, total: int | None, now: float | None = None) -> str:
        """``label 12/40 clips (30%), 8.1 clips/s, ETA 0:03`` (no bar: logs and pipes)."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed if done else 0.0
        if not total:
            return f"{self.label} {self._amount(done)}"
        frac = min(max(done / total, 0.0), 1.0)
        counted = (f"{self._amount(done)}/{self._amount(total)}" if self.unit == "bytes" else
                   f"{done}/{self._amount(total)}")
        text = f"{self.label} {counted} ({frac:.0%})"
        if rate > 0 and done < total:
            speed = (f"{human_bytes(rate)}/s" if self.unit == "bytes" else
                     f"{rate:.1f} {self.unit or 'items'}/s")
            text += f", {speed}, ETA {_clock((total - done) / rate)}"
        return text

    def _amount(self, value: int) -> str:
        if self.unit == "bytes":
            return human_bytes(value)
        return f"{value}{' ' + self.unit if self.unit else ''}"

    def close(self) -> None:
        """Stop the terminal bar (a no-op for plain-line output)."""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None


def _rate_column_class() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _RateColumn(ProgressColumn):
        """``8.1 clips/s`` (rich's own speed column speaks bytes only)."""

        def __init__(self, unit: str) -> None:
            super().__init__()
            self.unit = unit or "items"

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} {self.unit}/s" if speed else "", style="progress.data.speed")

    return _RateColumn


def RateColumn(unit: str) -> Any:  # noqa: N802 - reads like the column class it makes
    return _rate_column_class()(unit)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover
