"""Modal screens: help, confirm (delete, stop), what to do with a live run on quit, and
which data set to download."""

from __future__ import annotations

from typing import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Select, Static


class HelpScreen(ModalScreen[None]):
    """Every screen and every key binding, in one list."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("where")
        table.add_column("key")
        table.add_column("what it does")
        for where, key, what in self.rows:
            table.add_row(where, key, what)
        intro = Text(
            "coughscope trains and compares cough-based COVID-19 classifiers. "
            "A research tool, not a diagnostic device. Ctrl+P opens the command palette "
            "with every action; Esc closes this help.\n"
        )
        with Vertical(id="help-box", classes="dialog"):
            yield Static("Help", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(intro)
                yield Static(table, id="help-table")
            yield Button("Close", id="help-close", variant="primary", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with True for yes. The focus starts on the safe answer,
    so an Enter pressed by habit cancels."""

    AUTO_FOCUS = "#no"

    BINDINGS = [Binding("escape,n", "no", "No"), Binding("y", "yes", "Yes")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), id="confirm-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes_label, id="yes", variant="error")
                yield Button(self.no_label, id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class QuitScreen(ModalScreen[str]):
    """Quitting while a run this app started is still going: stop it, or leave it running.

    Dismisses with ``"stop"``, ``"leave"`` or ``"cancel"``."""

    BINDINGS = [Binding("escape", "choose('cancel')", "Cancel")]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids

    def compose(self) -> ComposeResult:
        runs = ", ".join(self.run_ids)
        text = Text(
            f"Run {runs} is still training.\n\n"
            "Leave it running: it carries on without the app (open it later from Runs).\n"
            "Stop it: it is interrupted and can be resumed later."
        )
        with Vertical(classes="dialog"):
            yield Static("Quit coughscope?", classes="dialog-title")
            yield Static(text)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Leave it running", id="leave", variant="primary")
                yield Button("Stop it", id="stop", variant="error")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class DownloadScreen(ModalScreen[str]):
    """Pick a data set from the catalogue to fetch; dismisses with its name, or ``""``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        from engine.download import load_catalogue  # data/catalogue.toml, tomllib only

        catalogue = load_catalogue()
        rows = Text()
        for name, entry in catalogue.items():
            rows.append(f"{name}", style="bold")
            rows.append(f"  {entry.title} ({entry.size}; {entry.licence})\n  {entry.holds}\n")
        with Vertical(classes="dialog"):
            yield Static("Download a data set", classes="dialog-title")
            yield Select([(name, name) for name in catalogue], id="download-name",
                         allow_blank=False, compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Download", id="download-go", variant="primary", compact=True)
                yield Button("Cancel", id="download-cancel", compact=True)
            with VerticalScroll(id="download-about"):
                yield Static(rows)
                yield Static("It goes to the data directory. From a shell, `coughscope data "
                             "get NAME` does the same (and resumes).", classes="note")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "download-go":
            self.dismiss(str(self.query_one("#download-name", Select).value))
        else:
            self.dismiss("")

    def action_cancel(self) -> None:
        self.dismiss("")


class TextPromptScreen(ModalScreen["str | None"]):
    """One line of text to type (a run's tags, its note): Enter saves, Esc cancels.

    ``check`` is called with the text on Enter: it returns an error to show (the dialog then
    stays open, the text kept), or None to accept; the screen dismisses with the text."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str, about: str,
                 check: "Callable[[str], str | None] | None" = None) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.about = about
        self.check = check

    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text), classes="dialog-title")
            yield Input(self.value, id="prompt-input")
            yield Static(Text(self.about), classes="note")
            yield Static("", id="prompt-error", classes="message error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="prompt-save", variant="primary", compact=True)
                yield Button("Cancel", id="prompt-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#prompt-input").focus()

    def on_input_submitted(self) -> None:
        self.save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "prompt-save":
            self.save()
        else:
            self.dismiss(None)

    def save(self) -> None:
        from textual.widgets import Input

        text = self.query_one("#prompt-input", Input).value
        problem = self.check(text) if self.check else None
        if problem:
            self.query_one("#prompt-error", Static).update(Text(problem))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
