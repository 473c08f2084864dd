"""Export from the app, and the figures a run wrote into ``RUN/figures/``.

* :func:`export_view` runs an export of :mod:`engine.export` in a thread worker into a new
  folder under the exports folder (``exports/`` beside the runs folder, or
  ``$COUGHSCOPE_EXPORT_DIR``), never over an existing one, and notifies with the folder and
  the number of files when it is done.
* :class:`FiguresScreen` lists ``RUN/figures/`` (PNG and SVG of each model's curves, ROC,
  confusion and reliability) and opens the highlighted one with the system's opener when
  there is a display to show it on. Over SSH without one (no ``$DISPLAY``, no
  ``$WAYLAND_DISPLAY``), it shows the file's path and how to copy it instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from engine import paths
from engine.bounded import printable

EXPORT_DIR_ENV = "COUGHSCOPE_EXPORT_DIR"


def exports_dir(app: Any) -> Path:
    """Where the app's exports go: ``$COUGHSCOPE_EXPORT_DIR``, else ``exports/`` beside the
    runs folder."""
    given = os.environ.get(EXPORT_DIR_ENV)
    return Path(given).expanduser() if given else Path(app.runs_dir).parent / "exports"


def export_view(app: Any, view: str, make: Callable[[Path], Any]) -> None:
    """Export in a thread: ``make(folder)`` writes the files (an :class:`engine.export.Export`
    back); the app then notifies with the folder. Each export gets a new folder
    (``<view>-<time>``, ``-2``... when taken)."""
    from engine.errors import CoughscopeError
    from engine.export import free_folder

    parent = exports_dir(app)
    try:  # made now, so a second export started meanwhile picks another name
        folder = free_folder(parent, f"{view}-{time.strftime('%Y%m%d-%H%M%S')}")
        paths.ensure_dir(parent, folder)
    except (CoughscopeError, OSError) as err:
        message = err.describe() if isinstance(err, CoughscopeError) else \
            f"{parent}: {getattr(err, 'strerror', None) or err}"
        app.notify(printable(message), title="export failed", severity="error", timeout=12)
        return

    def work() -> None:
        try:
            done = make(folder)
        except CoughscopeError as err:
            app.call_from_thread(app.notify, printable(err.describe()), title="export failed",
                                 severity="error", timeout=12)
            return
        notes = "".join(f"\n{printable(n)}" for n in done.notes[:3])
        app.call_from_thread(setattr, app, "last_export", done)
        app.call_from_thread(app.notify,
                             f"{len(done.files)} files (CSV, JSON, SVG, PNG, .tex) in "
                             f"{printable(paths.short_path(done.folder))}{notes}",
                             title="exported", timeout=12)

    app.notify(f"exporting to {printable(paths.short_path(folder))}…", timeout=4)
    app.run_worker(work, thread=True, group="export", exit_on_error=False)


def has_display() -> bool:
    """Whether a window can be opened here: macOS, or an X/Wayland display (an SSH session
    without X forwarding has neither)."""
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY")
                                            or os.environ.get("WAYLAND_DISPLAY"))


def opener() -> str | None:
    """The system's file opener (``open`` on macOS, ``xdg-open`` elsewhere), when installed."""
    return shutil.which("open" if sys.platform == "darwin" else "xdg-open")


def open_file(path: Path) -> str:
    """Open ``path`` in the system's viewer when there is a display; else (or without an
    opener) say where the file is and how to get it. Returns the sentence to show."""
    shown = printable(str(path))
    if not has_display():
        return (f"no display here (an SSH session without X forwarding?): the file is "
                f"{shown} -- copy it to your machine, e.g. scp HOST:{shown} .")
    program = opener()
    if program is None:
        return f"no file opener (xdg-open) installed: the file is {shown}"
    subprocess.Popen([program, str(path)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return f"opened {shown} with {os.path.basename(program)}"


def run_figures(run_path: Path) -> list[Path]:
    """``RUN/figures/*.png`` and ``*.svg``, by name; links and other files left out."""
    folder = run_path / "figures"
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".svg")
                  and p.is_file() and not p.is_symlink())


class FiguresScreen(ModalScreen[None]):
    """The figures of one or more runs; Enter opens the highlighted one (or says where it is
    when there is no display)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("o", "open", "Open")]
    DEFAULT_CSS = """
    FiguresScreen { align: center middle; }
    FiguresScreen #figures-box { width: 90%; height: 90%; border: round $primary;
                                  background: $surface; padding: 0 1; }
    FiguresScreen #figures-list { height: 1fr; }
    FiguresScreen #figures-message { height: auto; }
    """

    def __init__(self, runs: list[Any]) -> None:
        super().__init__()
        self.figures: list[Path] = []
        self.owner: list[str] = []
        for run in runs:
            found = run_figures(run.path)
            self.figures += found
            self.owner += [run.id] * len(found)

    def compose(self) -> ComposeResult:
        with Vertical(id="figures-box"):
            yield Static(Text("Figures written by the run (RUN/figures/): Enter or o opens "
                              "one; Esc closes", style="bold"), id="figures-title")
            options = [Option(Text(f"{run}  {path.name}"), id=str(i))
                       for i, (run, path) in enumerate(zip(self.owner, self.figures))]
            yield OptionList(*options, id="figures-list")
            yield Static(Text("no figures in this run (runs made before figures existed, "
                              "or still training)") if not self.figures else "",
                         id="figures-message")
            yield Button("Close", id="figures-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#figures-list", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        highlighted = self.query_one("#figures-list", OptionList).highlighted
        if highlighted is None or not self.figures:
            return
        message = open_file(self.figures[highlighted])
        self.query_one("#figures-message", Static).update(Text(message))
