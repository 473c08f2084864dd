"""The Classify screen: the finished runs' models with their held-out AUC, and how to
classify a recording with them (``coughscope predict``) until in-app inference is wired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Select, Static

from engine.runs import RunDir, list_runs

from ..runstate import read_summary
from .results import mean_std

DISCLAIMER = ("coughscope is a research tool, not a diagnostic device: a prediction here says "
              "nothing about anyone's health.")


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class ClassifyView(Vertical):
    TITLE = "Classify"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finished: list[RunDir] = []

    def compose(self) -> ComposeResult:
        yield Static(DISCLAIMER, id="classify-disclaimer", classes="warning")
        with Horizontal(classes="row"):
            yield Label("run")
            yield Select([], id="classify-run", prompt="pick a finished run")
        yield DataTable(id="classify-models", cursor_type="row", zebra_stripes=True)
        yield Static("", id="classify-how")

    def on_mount(self) -> None:
        table = self.query_one("#classify-models", DataTable)
        table.add_columns("model", "seeds", "held-out ROC-AUC (mean ± std)")
        self.refresh_runs()

    def on_show(self) -> None:
        self.refresh_runs()

    def action_refresh(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        self.finished = [r for r in list_runs(self.app.runs_dir)
                         if r.status().get("state") == "finished" and r.summary_path.exists()]
        select = self.query_one("#classify-run", Select)
        current = select.value
        select.set_options([(run.id, run.id) for run in self.finished])
        ids = [run.id for run in self.finished]
        if ids:
            select.value = current if current in ids else ids[0]
            self.show_run(str(select.value))
        else:
            self.query_one("#classify-models", DataTable).clear()
            self.query_one("#classify-how", Static).update(Text(
                "No finished run yet: train models first (Models screen, key 2). "
                "Their models appear here once the run has finished."))

    @on(Select.Changed, "#classify-run")
    def _run_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.show_run(event.value)

    def show_run(self, run_id: str) -> None:
        run = next((r for r in self.finished if r.id == run_id), None)
        table = self.query_one("#classify-models", DataTable)
        table.clear()
        if run is None:
            return
        summary = read_summary(run) or {}
        for name, entry in (summary.get("models") or {}).items():
            auc = (entry.get("metrics") or {}).get("roc_auc")
            table.add_row(name, str(len(entry.get("seeds") or [])), mean_std(auc))
        how = Text("To classify a recording with this run's models, run in a shell:\n",
                   style="bold")
        how.append(f"  coughscope predict FILE.wav --run {shown_path(run.path)}\n")
        how.append("(add --json for machine-readable output). Classifying inside the app "
                   "will appear on this screen once the engine's inference is available; "
                   "over SSH, a microphone would be the server's, not yours.")
        self.query_one("#classify-how", Static).update(how)
