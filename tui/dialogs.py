"""Modal screens: help, confirm (delete), and what to do with a live run on quit."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


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
            with VerticalScroll():
                yield Static(intro)
                yield Static(table, id="help-table")
            yield Button("Close", id="help-close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with True for yes."""

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
