"""A tiny text progress reporter for stderr (the command line's diagnostics channel).

On a terminal it redraws one bar in place with ``\\r``; otherwise (a log file, a pipe, CI)
it prints a plain line now and then, so logs stay readable. Use it as the
``progress(done, total)`` callback that long operations accept.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    """``Progress("preprocess")(done, total)`` reports; :meth:`close` ends the line."""

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
        self._drawn = False
        self._done_reported = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last < self.interval_s:
            return
        if finished and self._done_reported:
            return
        self._last = now
        self._done_reported = finished
        text = self.render(done, total)
        if self.tty:
            self.stream.write("\r" + text)
            self._drawn = True
            if finished:
                self.close()
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def render(self, done: int, total: int | None) -> str:
        """One line: ``label [#####.....] 12/40 (30%)`` or ``label 12 MB`` without a total."""
        amount = self._amount(done)
        if not total:
            return f"{self.label} {amount}"
        frac = min(max(done / total, 0.0), 1.0)
        filled = int(round(frac * BAR_WIDTH))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        if self.unit == "bytes":
            counted = f"{amount}/{self._amount(total)}"
        else:
            counted = f"{done}/{self._amount(total)}"
        return f"{self.label} [{bar}] {counted} ({frac:.0%})"

    def _amount(self, value: int) -> str:
        if self.unit == "bytes":
            return _human_bytes(value)
        return f"{value}{' ' + self.unit if self.unit else ''}"

    def close(self) -> None:
        """End the redrawn line (a no-op for plain-line output)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover
