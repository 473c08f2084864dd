"""The Runs screen: every run in the runs directory, with status, data, models and best AUC
(the data set by its short name; the full path, dates, recipe, tags and note in the detail
pane under the table); open (follow live or show results), resume, delete (after
confirmation). The header says which folder it read, and why that one.

The list is filtered (the filter field, ``/``; :mod:`engine.runfilter`, the parser
``coughscope runs --filter`` uses) and sorted by any column (``s`` cycles the column, ``r``
reverses, a click on a header sorts by it). ``t`` edits the highlighted run's tags and
``n`` its note (``RUN/annotations.json``, :mod:`engine.annotations`); ``l`` shows its
runner log (:mod:`tui.screens.log`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from engine import paths
from engine.annotations import Annotations, read_annotations, set_note, set_tags
from engine.bounded import printable
from engine.errors import CoughscopeError, RunError
from engine.runfilter import HELP as FILTER_HELP, Filter, FilterError, RunFacts, facts_of, parse
from engine.runs import RunDir, list_runs, read_config, read_env, read_summary

from ..decision import point_line, point_of, trusted_text
from ..dialogs import ConfirmScreen, TextPromptScreen

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
    best_auc: float | None = None
    trusted_auc: float | None = None  # the highest AUC to trust over the models
    notes: Annotations = Annotations()
    notes_problem: str | None = None  # annotations.json unreadable (the run is listed)
    order: int = 0  # place in the recorded-start order (0: newest)

    @property
    def data_name(self) -> str:
        return short_data_name(self.data)

    @property
    def facts(self) -> RunFacts:
        """What the filter reads (the same as ``coughscope runs --filter``)."""
        return facts_of(self.run.id, self.state, self.config, best_auc=self.best_auc,
                        trusted_auc=self.trusted_auc, tags=self.notes.tags,
                        note=self.notes.note,
                        models=tuple(m for m in self.models.split(",") if m and m != "?"))


# column title -> the sort key of a row (numbers first, a run without one last)
COLUMNS = ("run", "status", "best AUC", "data", "models")


def sort_key(row: RunRow, column: str) -> tuple[Any, ...]:
    if column == "run":
        return (-row.order,)  # oldest ... newest: reversed, newest first
    if column == "best AUC":
        return (row.best_auc if row.best_auc is not None else float("-inf"), -row.order)
    if column == "status":
        return (row.state, -row.order)
    if column == "data":
        return (row.data_name.lower(), -row.order)
    return (row.models, -row.order)


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


def describe_run(run: RunDir, order: int = 0) -> RunRow:
    from engine.commands.runs import best_trusted

    status = run.status()
    config = read_config(run)
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    best = summary.best() if summary else None
    started = str(status.get("started", ""))
    problem = run.problem()
    try:
        notes, notes_problem = read_annotations(run.path), None
    except RunError as err:
        notes, notes_problem = Annotations(), err.describe()
    trusted = best_trusted(summary) if summary else None
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
        best_auc=best[1] if best else None,
        trusted_auc=trusted.get("roc_auc") if trusted else None,
        notes=notes, notes_problem=notes_problem, order=order,
    )


def on_off(value: Any, preset: str = "by preset") -> str:
    return preset if value is None else ("on" if value else "off")


def recipe_line(config: dict[str, Any]) -> str:
    """Hold-out, balance-by, refit, augment, pad and the operating point asked for, as the
    run's config.toml records them."""
    def table(name: str) -> dict[str, Any]:
        value = config.get(name)
        return value if isinstance(value, dict) else {}

    recipe, split = table("recipe"), table("split")
    augment, pre = table("augment"), table("preprocess")
    return (f"hold-out {split.get('test_group') or 'none'}; "
            f"balance-by {config.get('balance_by') or 'none'}; "
            f"refit {on_off(recipe.get('refit'))}; augment {on_off(augment.get('enabled'))}; "
            f"pad {pre.get('pad') or 'zero'}; "
            f"point {recipe.get('operating_point') or 'youden'}")


def detail_text(row: RunRow) -> Text:
    """The selected run in full: data path, dates, recipe, where it lives."""
    recipe = row.config.get("recipe") or {}
    text = Text(f"{row.run.id}", style="bold")
    text.append(f"  {row.state}, {row.date or '?'}")
    if row.ended:  # the end's date only when it is another day
        same_day = row.ended[:10] == row.date[:10]
        text.append(f" → {row.ended[11:] if same_day else row.ended}")
    if row.problem:
        text.append(f"\ndamaged: {row.problem}", style="bold red")
    if row.notes.tags:
        text.append("\ntags: " + " ".join(f"#{tag}" for tag in row.notes.tags))
    if row.notes.note:
        text.append("\nnote: " + NEXT.join(printable(line) for line in
                                           row.notes.note.split("\n")))
    if row.notes_problem:
        text.append(f"\ntags and note unreadable: {row.notes_problem}", style="bold red")
    text.append(f"\ndata: {row.data}")
    text.append(f"\nmodels: {row.models}; seeds {row.config.get('seeds', '?')}, "
                f"preset {recipe.get('preset', '?')}, epochs {recipe.get('epochs', '?')}, "
                f"device {row.config.get('device', '?')}")
    text.append(f"\nrecipe: {recipe_line(row.config)}")
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
        self.marked: list[str] = []  # run ids, in the order they were marked
        self.rows: list[RunRow] = []  # what the table shows: filtered and sorted
        self.all_rows: list[RunRow] = []
        self.filter: Filter = parse("")
        self.filter_problem: str | None = None
        self.sort_column = "run"
        self.sort_reverse = False  # "run" unreversed: newest first

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-where", classes="intro")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="runs-detail-box"):
            yield Static("", id="runs-detail")
        with Horizontal(classes="row"):
            yield Input(placeholder="filter: model:cnn auc>.8 tag:x (/)", id="runs-filter",
                        compact=True, tooltip=FILTER_HELP)
            yield Button("Open / follow", id="runs-open", variant="primary", compact=True)
            yield Button("Resume", id="runs-resume", compact=True)
            yield Button("Delete", id="runs-delete", variant="error", compact=True)
            yield Button("Refresh", id="runs-refresh", compact=True)
        yield Static("", id="runs-message", classes="message")

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self.show_rows)

    def on_show(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Read the runs directory again, then show it filtered and sorted."""
        self.all_rows = [describe_run(run, order) for order, run in
                         enumerate(list_runs(self.app.runs_dir))]
        self.show_rows()

    def show_rows(self) -> None:
        """Fill the table with the rows the filter keeps, in the chosen order."""
        table = self.query_one("#runs-table", DataTable)
        highlighted = self.rows[table.cursor_row].run.id \
            if self.rows and 0 <= table.cursor_row < len(self.rows) else None
        rows = [row for row in self.all_rows if self.filter.matches(row.facts)]
        # run: newest first, best AUC: highest first, the others a-z; r turns it round
        descending = (self.sort_column in ("run", "best AUC")) != self.sort_reverse
        rows.sort(key=lambda row: sort_key(row, self.sort_column), reverse=descending)
        self.rows = rows
        table.clear(columns=True)
        # best AUC before the models: at 80 columns the models are what gets shortened
        # (all of them are in the detail pane), never the AUC (issue 20, bug 7)
        for title in COLUMNS:
            table.add_column(title, key=title)
        # what the table can show: every column whole but data and models, which share
        # the rest (the detail pane has both in full)
        widths = [max([len(title), *(len(cell) for cell in cells)]) + 2
                  for title, cells in (
                      ("run", [("● " if r.run.id in self.marked else "") + r.run.id
                               for r in rows]), ("status", [r.state for r in rows]),
                      ("best AUC", [r.best for r in rows]))]
        width = (table.size.width or self.app.size.width - 2) - sum(widths) - 6  # pads, bar
        data_width = max([5, *(len(r.data_name) for r in rows)])
        data_width = min(data_width, max(width - 12, 8))  # models keep 12 cells when they can
        room = max(width - data_width, 8)
        for row in rows:
            table.add_row(row.run.id, row.state, row.best, Text(fit_left(row.data_name,
                                                                         data_width)),
                          fit_models(row.models, room), key=row.run.id)
        if rows:
            ids = [row.run.id for row in rows]
            table.move_cursor(row=ids.index(highlighted) if highlighted in ids else 0)
        self.show_marks()
        self.show_detail()
        self.show_where()

    def show_where(self) -> None:
        root = self.app.runs_dir
        folder = paths.short_path(root)
        why = getattr(self.app, "runs_dir_reason", "")
        total = len(self.all_rows)
        count = f"{total} run{'s' if total != 1 else ''}"
        if self.filter.text and total:
            count = f"{len(self.rows)} of {count} match"
        where = Text(f"{count} in {folder}" if total else
                     f"no runs in {folder} yet: start one on the Models screen (2)")
        if why:
            where.append(f"  ({why})", style="dim")
        if total > 1:
            where.append(f"; by {self.sort_words()}")
        self.query_one("#runs-where", Static).update(where)

    def sort_words(self) -> str:
        """``run, newest first``; ``best AUC, lowest first``; ``data, z-a``."""
        words = {"run": ("newest first", "oldest first"),
                 "best AUC": ("highest first", "lowest first")}.get(self.sort_column,
                                                                     ("a–z", "z–a"))
        return f"{self.sort_column}, {words[self.sort_reverse]}"

    @on(Input.Changed, "#runs-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        """Filter as the user types; a filter that cannot be read says why and keeps the
        last one that could."""
        try:
            self.filter = parse(event.value)
        except FilterError as err:
            self.filter_problem = err.describe()
            self.set_message(err.describe(), error=True)
            return
        if self.filter_problem:
            self.filter_problem = None
            self.set_message("")
        self.show_rows()

    @on(Input.Submitted, "#runs-filter")
    def filter_submitted(self) -> None:
        self.query_one("#runs-table", DataTable).focus()

    def focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    # ------------------------------------------------------------------ sort

    @on(DataTable.HeaderSelected, "#runs-table")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        self.sort_by(column, reverse=not self.sort_reverse if column == self.sort_column
                     else False)

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.show_rows()
        self.set_message(f"sorted by {self.sort_words()}")

    def next_sort(self) -> None:
        """``s``: sort by the next column."""
        column = COLUMNS[(COLUMNS.index(self.sort_column) + 1) % len(COLUMNS)]
        self.sort_by(column, reverse=False)

    def reverse_sort(self) -> None:
        """``r``: the same column, the other way round."""
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    # ------------------------------------------------------------------ tags, note, log

    def edit_tags(self) -> None:
        row = self.selected()
        if row is None:
            return

        def check(text: str) -> str | None:
            try:
                set_tags(row.run.path, text.replace(",", " ").split())
            except CoughscopeError as err:
                return err.describe()
            return None

        self.app.push_screen(TextPromptScreen(
            f"Tags of {row.run.id}", " ".join(row.notes.tags),
            "words separated by spaces (letters, digits, . _ - + / =); empty: no tags. "
            "Kept in the run folder (annotations.json); filter with tag:NAME.", check),
            self.annotated)

    def edit_note(self) -> None:
        row = self.selected()
        if row is None:
            return

        def check(text: str) -> str | None:
            try:
                set_note(row.run.path, text)
            except CoughscopeError as err:
                return err.describe()
            return None

        self.app.push_screen(TextPromptScreen(
            f"Note on {row.run.id}", row.notes.note,
            "one line; empty removes it. Kept in the run folder (annotations.json); the "
            "filter searches it (note:WORD, or free text).", check), self.annotated)

    def annotated(self, saved: str | None) -> None:
        if saved is None:
            self.set_message("nothing changed")
            return
        self.refresh_runs()
        row = self.selected()
        if row is not None:
            self.set_message(f"saved the tags and note of {row.run.id}")

    def show_log(self) -> None:
        row = self.selected()
        if row is not None:
            self.app.show_log(row.run)

    @on(DataTable.RowHighlighted, "#runs-table")
    def show_detail(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        detail = self.query_one("#runs-detail", Static)
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            detail.update(detail_text(self.rows[table.cursor_row]))
        elif self.all_rows:
            detail.update(Text("no run matches the filter: change it, or clear it (/, then "
                               "Ctrl+U)"))
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
