"""The Runs screen: every run in the runs directory, with status, date, data, models and
best AUC; open (follow live or show results), resume, delete (after confirmation)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Static

from engine.errors import CoughscopeError
from engine.runs import RunDir, list_runs

from ..dialogs import ConfirmScreen
from engine.errors import RunError
from engine.runs import read_config, read_summary


@dataclass(frozen=True)
class RunRow:
    """What the runs table shows for one run directory."""

    run: RunDir
    state: str
    date: str
    data: str
    models: str
    best: str


def describe_run(run: RunDir) -> RunRow:
    status = run.status()
    config = read_config(run)
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    best = summary.best() if summary else None
    started = str(status.get("started", ""))
    return RunRow(
        run=run,
        state=str(status.get("state", "unknown")),
        date=started[:16].replace("T", " "),
        data=str(config.get("data", "?")),
        models=",".join(config.get("models") or []) or "?",
        best=f"{best[1]:.3f} {best[0]}" if best else "—",
    )


class RunsView(Vertical):
    TITLE = "Runs"
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[RunRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-where", classes="intro")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="row"):
            yield Button("Open / follow", id="runs-open", variant="primary")
            yield Button("Resume", id="runs-resume")
            yield Button("Delete", id="runs-delete", variant="error")
            yield Button("Refresh", id="runs-refresh")
        yield Static("", id="runs-message", classes="message")

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for title in ("run", "status", "started", "data", "models", "best AUC"):
            table.add_column(title, key=title)
        self.refresh_runs()

    def on_show(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        root = self.app.runs_dir
        self.rows = [describe_run(run) for run in list_runs(root)]
        table = self.query_one("#runs-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in self.rows:
            table.add_row(row.run.id, row.state, row.date, Text(row.data), row.models, row.best,
                          key=row.run.id)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        where = Text(f"runs in {root.name}/ ({len(self.rows)})" if self.rows else
                     f"no runs in {root.name}/ yet: start one on the Models screen (2)")
        self.query_one("#runs-where", Static).update(where)

    def selected(self) -> RunRow | None:
        table = self.query_one("#runs-table", DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            self.set_message("no run selected: pick one in the table", error=True)
            return None
        return self.rows[table.cursor_row]

    def set_message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#runs-message", Static)
        widget.set_class(error, "error")
        widget.update(Text(text))

    @on(DataTable.RowSelected, "#runs-table")
    @on(Button.Pressed, "#runs-open")
    def action_open(self) -> None:
        row = self.selected()
        if row is not None:
            self.set_message(f"opened {row.run.id}")
            self.app.open_run(row.run)

    @on(Button.Pressed, "#runs-resume")
    def action_resume(self) -> None:
        row = self.selected()
        if row is None:
            return
        try:
            self.app.resume(row.run)
        except CoughscopeError as err:
            self.set_message(err.describe(), error=True)
            return
        self.set_message(f"resumed {row.run.id}")

    @on(Button.Pressed, "#runs-refresh")
    def action_refresh(self) -> None:
        self.refresh_runs()

    @on(Button.Pressed, "#runs-delete")
    def action_delete(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.state == "running":
            self.set_message(f"run {row.run.id} is still running: stop it first (Training, "
                             "ctrl+x)", error=True)
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.set_message("nothing deleted")
                return
            shutil.rmtree(row.run.path, ignore_errors=True)
            self.set_message(f"deleted {row.run.id}")
            self.refresh_runs()

        self.app.push_screen(ConfirmScreen(
            f"Delete run {row.run.id} and everything in {row.run.path}?\n"
            "Its checkpoints, predictions and results are lost.", yes="Delete"), confirmed)
