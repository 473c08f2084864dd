"""The Runs screen: every run in the runs directory, with status, data, models and best AUC
(the data set by its short name; the full path, dates and recipe in the detail pane under the
table); open (follow live or show results), resume, delete (after confirmation). The header
says which folder it read, and why that one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Static

from engine import paths
from engine.errors import CoughscopeError, RunError
from engine.runs import RunDir, list_runs, read_config, read_env, read_summary

from ..decision import point_line, point_of, trusted_text
from ..dialogs import ConfirmScreen

NEXT = "\n  "  # a continuation line of the detail pane


@dataclass(frozen=True)
class RunRow:
    """What the runs table shows for one run directory."""

    run: RunDir
    state: str
    date: str
    data: str
    models: str
    best: str
    config: dict[str, Any]
    ended: str = ""
    env: dict[str, Any] | None = None
    problem: str | None = None  # why the run is damaged (listed, never hiding the others)
    # the best model's summary.json entry (its operating point, AUC to trust); None: no summary
    best_entry: dict[str, Any] | None = None

    @property
    def data_name(self) -> str:
        return short_data_name(self.data)


def short_data_name(spec: str) -> str:
    """``/home/me/data/coswara`` -> ``coswara``; ``.../covid19-cough/manifest.csv`` ->
    ``covid19-cough/manifest.csv``; ``demo:200`` stays."""
    if spec.startswith("demo") or "/" not in spec:
        return spec
    path = Path(spec)
    if path.suffix and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or spec


def fit_left(text: str, width: int) -> str:
    """``text`` in ``width`` cells, its start cut (``…cough/manifest.csv``)."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


def fit_models(models: str, width: int) -> str:
    """``ann,cnn,logreg,gbm`` in at most ``width`` cells: whole names, then ``+N`` for the
    rest (``ann,cnn +2``), never a name cut in the middle (``logr``)."""
    if len(models) <= width:
        return models
    names = models.split(",")
    for keep in range(len(names) - 1, 0, -1):
        text = ",".join(names[:keep]) + f" +{len(names) - keep}"
        if len(text) <= width:
            return text
    return f"{len(names)} models"


def describe_run(run: RunDir) -> RunRow:
    status = run.status()
    config = read_config(run)
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    best = summary.best() if summary else None
    started = str(status.get("started", ""))
    problem = run.problem()
    return RunRow(
        run=run,
        state="damaged" if problem else str(status.get("state", "unknown")),
        date=started[:16].replace("T", " "),
        data=str(config.get("data", "?")),
        models=",".join(config.get("models") or []) or "?",
        best=f"{best[1]:.3f} {best[0]}" if best else "—",
        config=config,
        ended=str(status.get("ended", "") or "")[:16].replace("T", " "),
        env=read_env(run),
        problem=problem,
        best_entry=summary.models[best[0]].raw if summary and best else None,
    )


def detail_text(row: RunRow) -> Text:
    """The selected run in full: data path, dates, recipe, where it lives."""
    recipe = row.config.get("recipe") or {}
    text = Text(f"{row.run.id}", style="bold")
    text.append(f"  {row.state}, started {row.date or '?'}")
    if row.ended:
        text.append(f", ended {row.ended}")
    if row.problem:
        text.append(f"\ndamaged: {row.problem}", style="bold red")
    text.append(f"\ndata: {row.data}")
    text.append(f"\nmodels: {row.models}; seeds {row.config.get('seeds', '?')}, "
                f"preset {recipe.get('preset', '?')}, epochs {recipe.get('epochs', '?')}, "
                f"device {row.config.get('device', '?')}")
    if row.best_entry is not None:
        name = row.best.split(" ", 1)[-1]
        text.append(f"\nbest: {name}, ◆ AUC to trust {trusted_text(row.best_entry)}")
        text.append(f"\n{point_line(point_of(row.best_entry), NEXT)}")
    env = row.env or {}
    if env:
        versions = env.get("versions") or {}
        made = ", ".join(f"{name} {versions[name]}" for name in ("python", "torch")
                         if versions.get(name))
        text.append(f"\nran on: {env.get('host', '?')}, {env.get('device_name') or '?'}"
                    f"; coughscope {env.get('coughscope', '?')}"
                    + (f" ({str(env['git_commit'])[:8]})" if env.get("git_commit") else "")
                    + (f"; {made}" if made else ""))
    text.append(f"\nfolder: {paths.short_path(row.run.path)}  (coughscope runs show "
                f"{row.run.id})")
    return text


class RunsView(Vertical):
    TITLE = "Runs"
    # marking runs for the Compare screen (tui/screens/compare.py)
    BINDINGS = [Binding("m,space", "mark", "Mark"), Binding("c", "compare", "Compare")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[RunRow] = []
        self.marked: list[str] = []  # run ids, in the order they were marked

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-where", classes="intro")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-detail")
        with Horizontal(classes="row"):
            yield Button("Open / follow", id="runs-open", variant="primary", compact=True)
            yield Button("Resume", id="runs-resume", compact=True)
            yield Button("Delete", id="runs-delete", variant="error", compact=True)
            yield Button("Refresh", id="runs-refresh", compact=True)
        yield Static("", id="runs-message", classes="message")

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        # best AUC before the models: at 80 columns the models are what gets shortened
        # (all of them are in the detail pane), never the AUC (issue 20, bug 7)
        for title in ("run", "status", "best AUC", "data", "models"):
            table.add_column(title, key=title)
        self.refresh_runs()

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self.refresh_runs)

    def on_show(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        root = self.app.runs_dir
        self.rows = [describe_run(run) for run in list_runs(root)]
        table = self.query_one("#runs-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        # what the table can show: every column whole but data and models, which share
        # the rest (the detail pane has both in full)
        widths = [max([len(title), *(len(cell) for cell in cells)]) + 2 for title, cells in (
            ("run", [r.run.id for r in self.rows]), ("status", [r.state for r in self.rows]),
            ("best AUC", [r.best for r in self.rows]))]
        width = (table.size.width or self.app.size.width - 2) - sum(widths) - 6  # pads, bar
        data_width = max([4, *(len(r.data_name) for r in self.rows)])
        data_width = min(data_width, max(width - 12, 8))  # models keep 12 cells when they can
        room = max(width - data_width, 8)
        for row in self.rows:
            table.add_row(row.run.id, row.state, row.best, Text(fit_left(row.data_name,
                                                                         data_width)),
                          fit_models(row.models, room), key=row.run.id)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self.show_marks()
        self.show_detail()
        folder = paths.short_path(root)
        why = getattr(self.app, "runs_dir_reason", "")
        count = f"{len(self.rows)} run{'s' if len(self.rows) != 1 else ''}"
        where = Text(f"{count} in {folder}" if self.rows else
                     f"no runs in {folder} yet: start one on the Models screen (2)")
        if why:
            where.append(f"  ({why})", style="dim")
        self.query_one("#runs-where", Static).update(where)

    @on(DataTable.RowHighlighted, "#runs-table")
    def show_detail(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        detail = self.query_one("#runs-detail", Static)
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            detail.update(detail_text(self.rows[table.cursor_row]))
        else:
            detail.update("")

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

    # ------------------------------------------------------------------ marks, Compare

    def show_marks(self) -> None:
        """``●`` before each marked run's id; marks of runs gone from the folder dropped."""
        from .compare_marks import apply_marks

        apply_marks(self)

    def action_mark(self) -> None:
        from .compare_marks import toggle_mark

        toggle_mark(self)

    def action_compare(self) -> None:
        from .compare_marks import open_compare

        open_compare(self)
