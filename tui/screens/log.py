"""The log view: a run's runner log (its stdout and stderr), tailed live.

Opened with ``l`` on Training (the followed run) or Runs (the highlighted run). A thread
worker polls :class:`engine.logtail.LogTail` and hands the new lines to a Textual ``Log``
widget through ``call_from_thread``, so a slow disk or a huge log never freezes the screen.
A run started outside the app (``coughscope --headless`` in a terminal) has no runner log:
its output went to that terminal, and the view says so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from engine import paths
from engine.logtail import LogTail

POLL_SECONDS = 0.25
MAX_LINES = 5000  # the view keeps the last lines only


class LogScreen(ModalScreen[None]):
    """A run's runner log, followed as it grows (Esc closes)."""

    BINDINGS = [Binding("escape,q,l", "dismiss", "Close"),
                Binding("end", "follow", "Follow the end", show=False)]

    def __init__(self, run_id: str, candidates: Sequence[Path]) -> None:
        super().__init__()
        self.run_id = run_id
        self.tail = LogTail(list(candidates))
        self.lines_shown = 0
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="log-box", classes="dialog"):
            yield Static("", id="log-title", classes="dialog-title")
            yield Log(id="log-lines", max_lines=MAX_LINES, auto_scroll=True)
            yield Static("Esc: close · End: follow the newest lines · the log stays in the "
                         "run folder", classes="note")

    def on_mount(self) -> None:
        self.show_title()
        self.query_one("#log-lines", Log).focus()
        self.tail_worker()

    def on_unmount(self) -> None:
        self._stop.set()

    def show_title(self) -> None:
        where = self.tail.path or self.tail.candidates()[0]
        title = Text(f"Log of {self.run_id}: ", style="bold")
        title.append(paths.short_path(where))
        if self.tail.path is None:
            title.append("\nno runner log (yet): a run started outside the app "
                         "(coughscope --headless) wrote its output to that terminal; the "
                         "runs the app starts or resumes log here", style="italic")
        self.query_one("#log-title", Static).update(title)

    @work(thread=True, exclusive=True, group="log-tail", exit_on_error=False)
    def tail_worker(self) -> None:
        had_path = False
        while not self._stop.is_set():
            lines = self.tail.read_new()
            if lines or (self.tail.path is not None) != had_path:
                had_path = self.tail.path is not None
                try:
                    self.app.call_from_thread(self.add_lines, lines)
                except RuntimeError:  # the app is closing
                    return
            self._stop.wait(POLL_SECONDS)

    def add_lines(self, lines: list[str]) -> None:
        if not self.is_mounted:
            return
        if lines:
            self.query_one("#log-lines", Log).write_lines(lines)
            self.lines_shown += len(lines)
        self.show_title()

    def action_follow(self) -> None:
        log = self.query_one("#log-lines", Log)
        log.auto_scroll = True
        log.scroll_end(animate=False)
