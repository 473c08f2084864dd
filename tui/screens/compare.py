"""The Compare screen: several runs side by side (issue 20, the workbench).

Reached from the Runs screen (mark runs with ``m`` or Space, then ``c``) or the command
palette. It shows, from :func:`engine.compare.compare_runs`:

* the runs, lettered A, B, C..., the pinned baseline marked ◆ (``b`` pins the highlighted
  row's run);
* a table of every model's AUCs per run -- test, within, held-out, external, shortcut --
  each mean ± std over seeds with its 95% interval, and the difference of the test AUC to
  the baseline. Only the columns that fit the terminal are in the table; the highlighted
  row's every number, what it measured and its differences are in the detail pane below
  it, so nothing is cut at 80×24;
* the validation curves of the highlighted model, one per run, mean over seeds with a band
  of ± 1 std (``v``: AUC → loss → accuracy);
* the leave-one-source-out matrix of ``--test-group`` runs and the AUC per source;
* only the config, environment and data fields that differ.

``e`` exports all of it (CSV, JSON, SVG, PNG, pgfplots), ``f`` lists the runs' figures.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from engine.bounded import printable
from engine.compare import (KIND_TITLES, KIND_WORDS, KINDS, Comparison, Row, auc_cell,
                            compare_runs, delta_cell, ordered_rows, seed_curves, value_text)
from engine.errors import CoughscopeError
from engine.runs import RunDir

METRICS = (("val_auc", "validation AUC"), ("val_loss", "validation loss"),
           ("val_acc", "validation accuracy"))
# one marker per run, so the curves differ without colour (NO_COLOR) too
RUN_MARKERS = ("braille", "•", "x", "+", "o", "*", "#", "@")
RUN_COLOURS = ("cyan", "magenta", "yellow", "green", "red", "blue", "white", "orange")
GAP = 2  # cells between table columns (DataTable's padding)


# which AUC columns the table keeps first when not all fit: the held-out source and the
# metadata-only shortcut say most about whether a model learnt the cough
TABLE_PRIORITY = ("held_out", "shortcut", "within", "external")


def fitting_kinds(rows: list[list[str]], width: int) -> list[str]:
    """The AUC kinds after ``test`` whose columns fit in ``width`` cells beside model, run,
    test and Δ test: taken in :data:`TABLE_PRIORITY` while they fit, shown in KINDS order.
    A kind no run has (every cell ``—``) takes no column: the detail pane says so."""
    def column(i: int, title: str) -> int:
        return max([len(title), *(len(r[i]) for r in rows)]) + GAP

    used = column(0, "model") + column(1, "run") + column(2, "test") + column(7, "Δ test")
    chosen = []
    for kind in TABLE_PRIORITY:
        offset = 2 + KINDS.index(kind)
        if all(r[offset] == "—" for r in rows):
            continue
        need = column(offset, KIND_TITLES[kind])
        if used + need <= width:
            used += need
            chosen.append(kind)
    return [k for k in KINDS[1:] if k in chosen]


class CompareScreen(Screen[None]):
    """Several runs side by side; Esc goes back to the Runs screen."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("b", "pin_baseline", "Pin baseline"),
        Binding("v", "cycle_metric", "Next curve"),
        Binding("e", "export", "Export"),
        Binding("f", "figures", "Figures"),
    ]
    DEFAULT_CSS = """
    CompareScreen #compare-body { padding: 0 1; }
    CompareScreen #compare-runs { height: auto; }
    CompareScreen #compare-table { height: auto; max-height: 12; }
    CompareScreen #compare-detail { height: auto; margin: 0 0 1 0; }
    CompareScreen #compare-curves, CompareScreen #compare-roc { height: 14; }
    CompareScreen #compare-roc-legend { height: auto; margin: 1 0 0 0; }
    CompareScreen #compare-legend, CompareScreen #compare-domain,
    CompareScreen #compare-diff { height: auto; margin: 1 0 0 0; }
    """

    def __init__(self, runs: list[RunDir], baseline: RunDir | None = None) -> None:
        super().__init__()
        self.runs = list(runs)
        self.baseline = baseline
        self.comparison: Comparison | None = None
        self.rows: list[Row] = []
        self.kinds_shown: list[str] = []
        # (run id, model) -> (column, engine.compare.roc_by_value's curves) or a problem
        self.source_rocs: dict[tuple[str, str], tuple[str, Any] | str] = {}
        self.metric = 0
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-body"):
            yield Static("", id="compare-runs")
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="compare-detail")
            yield Static("", id="compare-legend")
            yield PlotextPlot(id="compare-curves")
            yield Static("", id="compare-domain")
            yield Static("", id="compare-roc-legend")
            yield PlotextPlot(id="compare-roc")
            yield Static("", id="compare-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Compare"
        self.load()
        self.query_one("#compare-table", DataTable).focus()

    def on_resize(self) -> None:
        if self.comparison is not None:
            self.call_after_refresh(self.fill_table)

    # ------------------------------------------------------------------ data

    def load(self) -> None:
        try:
            self.comparison = compare_runs(self.runs, self.baseline)
        except CoughscopeError as err:
            self.comparison, self.problem = None, err.describe()
            self.query_one("#compare-runs", Static).update(Text(printable(self.problem),
                                                                style="bold"))
            return
        self.rows = ordered_rows(self.comparison)
        self.show_runs()
        self.fill_table()
        self.show_differences()

    def show_runs(self) -> None:
        assert self.comparison is not None
        text = Text("ROC-AUC mean±std over seeds [95% interval]; ◆ baseline (b pins the "
                    "highlighted run); Tab then ↓: curves, sources, differences; Esc: back\n",
                    style="bold")
        for info in self.comparison.runs:
            base = info.run.id == self.comparison.baseline
            text.append(f"{info.label} {'◆' if base else ' '} ", style="bold")
            text.append(printable(f"{info.run.id}  {info.state}  {info.data}"))
            if info.problem:
                text.append(printable(f"  ({info.problem})"), style="italic")
            for note in info.notes:
                text.append(printable(f"  (note: {note})"), style="italic")
            text.append("\n")
        text.rstrip()
        self.query_one("#compare-runs", Static).update(text)

    def cells(self, row: Row) -> list[str]:
        return [row.model, row.label, *(auc_cell(row.aucs.get(k)) for k in KINDS),
                delta_cell(row.delta.get("test"))]

    def fill_table(self) -> None:
        """The table with the columns that fit the screen's width (the rest: detail pane)."""
        if self.comparison is None:
            return
        table = self.query_one("#compare-table", DataTable)
        cursor = table.cursor_row
        width = (table.size.width or self.app.size.width - 2) - 2
        every = [self.cells(r) for r in self.rows]
        # the cells as lists: model, run, test, within, held_out, external, shortcut, Δ
        self.kinds_shown = fitting_kinds(every, width)
        table.clear(columns=True)
        table.add_column("model", key="model")
        table.add_column("run", key="run")
        table.add_column("test", key="test")
        for kind in self.kinds_shown:
            table.add_column(KIND_TITLES[kind], key=kind)
        table.add_column("Δ test", key="delta")
        for i, (row, cells) in enumerate(zip(self.rows, every)):
            shown = [cells[0], cells[1], cells[2],
                     *(cells[2 + KINDS.index(k)] for k in self.kinds_shown), cells[-1]]
            table.add_row(*(Text(printable(c)) for c in shown), key=str(i))
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))
        self.show_detail()

    def current(self) -> Row | None:
        table = self.query_one("#compare-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowHighlighted, "#compare-table")
    def show_detail(self) -> None:
        row = self.current()
        detail = self.query_one("#compare-detail", Static)
        if row is None or self.comparison is None:
            detail.update(Text("no finished run to compare: mark finished runs on the Runs "
                               "screen (m), then press c"))
            return
        detail.update(detail_text(row, self.comparison, self.kinds_shown))
        self.draw_curves(row.model)
        self.show_domain(row)
        self.draw_source_roc(row)

    def show_differences(self) -> None:
        assert self.comparison is not None
        text = Text("config, environment and data: ", style="bold")
        diff = {s: d for s, d in self.comparison.differences.items() if d}
        if len(self.comparison.runs) < 2:
            text.append("one run (mark more on the Runs screen to see what differs)")
        elif not diff:
            text.append("no differences")
        for section, fields in diff.items():
            text.append(f"\n[{section}] differs", style="bold")
            for key, values in fields.items():
                text.append(f"\n  {printable(key)}")
                for info, value in zip(self.comparison.runs, values):
                    text.append(f"\n    {info.label}: {printable(value_text(value))}")
        self.query_one("#compare-diff", Static).update(text)

    def show_domain(self, row: Row) -> None:
        """The model's leave-one-source-out matrix (from --test-group runs) and the AUC per
        source of each run."""
        assert self.comparison is not None
        text = Text()
        matrix = self.comparison.loso.get(row.model)
        if matrix:
            text.append(f"leave one {matrix['column']} out, {row.model}: trained on (rows) × "
                        "tested on; ◆ held out\n", style="bold")
            for r in matrix["rows"]:
                label = self.comparison.label_of(r["run"])
                text.append(printable(f"{label} {'+'.join(r['train']) or '?'}:"), style="bold")
                for value in matrix["test_values"]:
                    cell = r["cells"].get(value)
                    mark = "◆" if value == r["held_out"] else ""
                    text.append(printable(f"  {mark}{value} {auc_cell(cell)}"))
                text.append("\n")
        else:
            text.append("leave one source out: no run here held a source out "
                        "(--test-group COLUMN=VALUE)\n", style="italic")
        for info in self.comparison.runs:
            entry = info.summary.models.get(row.model) if info.summary else None
            by_group = (entry.raw.get("by_group") or {}) if entry is not None else {}
            for column, values in (by_group.items() if isinstance(by_group, dict) else []):
                if not isinstance(values, dict) or not values:
                    continue
                text.append(printable(f"{info.label} {row.model} per {column}:"), style="bold")
                for value, metrics in values.items():
                    roc = metrics.get("roc_auc") if isinstance(metrics, dict) else None
                    auc = {"mean": (roc or {}).get("mean"), "std": (roc or {}).get("std"),
                           "ci": metrics.get("roc_auc_ci")} if isinstance(roc, dict) else None
                    text.append(printable(f"  {value} {auc_cell(auc)}"))
                text.append("\n")
        text.rstrip()
        self.query_one("#compare-domain", Static).update(text)

    def draw_curves(self, model: str) -> None:
        """The model's curve per run, mean over seeds, with ± 1 std as dotted lines."""
        assert self.comparison is not None
        key, title = METRICS[self.metric]
        chart = self.query_one("#compare-curves", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.title(f"{model}: {title}, mean ± std over seeds (v: next)")
        colour = not self.app.no_color
        legend = Text()
        last = 1
        for i, info in enumerate(self.comparison.runs):
            points = seed_curves(info.run, model, key)
            marker = RUN_MARKERS[i % len(RUN_MARKERS)]
            hue = RUN_COLOURS[i % len(RUN_COLOURS)]
            shown = "⣿" if marker == "braille" else marker
            legend.append(f"{shown}{shown} ", style=f"bold {hue}" if colour else "bold")
            legend.append(f"{info.label}  " if points else f"{info.label} (no curve)  ")
            if not points:
                continue
            xs = [float(p["epoch"]) for p in points]
            means = [p["mean"] for p in points]
            last = max(last, int(xs[-1]))
            plt.plot(xs, means, marker=marker, color=hue if colour else "default")
            if any(p["std"] for p in points):
                for sign in (-1, 1):
                    plt.plot(xs, [m + sign * (p["std"] or 0.0) for m, p in zip(means, points)],
                             marker="·", color=hue if colour else "default")
        legend.append("··", style="bold")
        legend.append(" ± 1 std over seeds")
        from .training import integer_ticks

        plt.xlabel("epoch")
        plt.xticks(integer_ticks(last))
        self.query_one("#compare-legend", Static).update(legend)
        chart.refresh()

    def source_roc(self, row: Row) -> tuple[str, Any] | str:
        """The row's test ROC per recording source (read once per run and model), or why
        there is none."""
        from engine.compare import roc_by_value

        key = (row.run, row.model)
        if key not in self.source_rocs:
            assert self.comparison is not None
            info = next(i for i in self.comparison.runs if i.run.id == row.run)
            columns = [c for c in ((info.summary.data if info.summary else {})
                                   .get("meta_columns") or []) if isinstance(c, str)]
            column = "source" if "source" in columns else (columns[0] if columns else None)
            if column is None:
                self.source_rocs[key] = (f"ROC per source: run {row.label}'s data set has no "
                                         "metadata column (source, site...)")
            else:
                try:
                    self.source_rocs[key] = (column, roc_by_value(info.run, row.model, column))
                except CoughscopeError as err:
                    self.source_rocs[key] = f"ROC per {column}: {err.describe()}"
        return self.source_rocs[key]

    def draw_source_roc(self, row: Row) -> None:
        """The highlighted row's test ROC per value of its source column, averaged over
        seeds (the held-out value of a --test-group run as its own curve)."""
        chart = self.query_one("#compare-roc", PlotextPlot)
        legend = self.query_one("#compare-roc-legend", Static)
        plt = chart.plt
        plt.clear_data()
        found = self.source_roc(row)
        chart.display = not isinstance(found, str)
        if isinstance(found, str):
            legend.update(Text(printable(found), style="italic"))
            return
        column, curves = found
        colour = not self.app.no_color
        text = Text(printable(f"{row.label} {row.model}: test ROC per {column}, mean over "
                              "seeds"), style="bold")
        text.append("\n")
        for i, (value, curve) in enumerate(curves.items()):
            marker = RUN_MARKERS[i % len(RUN_MARKERS)]
            hue = RUN_COLOURS[i % len(RUN_COLOURS)]
            shown = "⣿" if marker == "braille" else marker
            note = "" if curve["fpr"] else f": {curve.get('note')}"
            text.append(f"{shown}{shown} ", style=f"bold {hue}" if colour else "bold")
            text.append(printable(f"{value} {auc_cell(curve.get('auc'))} "
                                  f"({curve['clips']} clips){note}  "))
            if curve["fpr"]:
                plt.plot(curve["fpr"], curve["tpr"], marker=marker,
                         color=hue if colour else "default")
        plt.plot([0, 1], [0, 1], marker="·", color="gray" if colour else "default")
        plt.title(f"{row.model}: ROC per {column}")
        plt.xlabel("1 − specificity; y: sensitivity")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        legend.update(text)
        chart.refresh()

    # ------------------------------------------------------------------ actions

    def action_pin_baseline(self) -> None:
        row = self.current()
        if row is None:
            return
        self.baseline = next(r for r in self.runs if r.id == row.run)
        self.load()
        self.notify(f"baseline: {row.label} {printable(row.run)}", timeout=4)

    def action_cycle_metric(self) -> None:
        self.metric = (self.metric + 1) % len(METRICS)
        row = self.current()
        if row is not None:
            self.draw_curves(row.model)

    def action_export(self) -> None:
        from engine.export import export_comparison

        from .figures import export_view

        runs, baseline = list(self.runs), self.baseline
        export_view(self.app, "compare",
                    lambda folder: export_comparison(runs, folder, baseline))

    def action_figures(self) -> None:
        from .figures import FiguresScreen

        self.app.push_screen(FiguresScreen(self.runs))


def detail_text(row: Row, comparison: Comparison, shown: list[str]) -> Text:
    """Every number of the highlighted row: the five AUCs, what each measured, and the
    differences to the baseline's same model; the columns not in the table first noted."""
    base = comparison.label_of(comparison.baseline)
    text = Text(printable(f"{row.model}, run {row.label} ({row.run}), "
                          f"{len(row.seeds)} seed(s)"), style="bold")
    hidden = [KIND_TITLES[k] for k in KINDS[1:] if k not in shown and row.aucs.get(k)]
    if hidden:
        text.append(f"  (not in the table at this width: {', '.join(hidden)})", style="italic")
    for kind in KINDS:
        auc = row.aucs.get(kind)
        delta = row.delta.get(kind)
        text.append(f"\n{KIND_TITLES[kind]:>9} ", style="bold")
        text.append(auc_cell(auc))
        if auc is not None and auc.what:
            text.append(printable(f"  {auc.what}"))
        if row.run != comparison.baseline and delta is not None:
            text.append(f"  Δ {delta_cell(delta)} vs {base}")
        if auc is None:
            text.append(f"  ({KIND_WORDS[kind]}: not in this run)", style="italic")
    for auc in row.external[:-1]:
        text.append("\n")
        text.append(printable(f"  older evaluation: {auc.what} {auc_cell(auc)}"))
    test, shortcut = row.aucs.get("test"), row.aucs.get("shortcut")
    if test and shortcut and test.mean is not None and shortcut.mean is not None \
            and test.mean <= shortcut.mean:
        text.append("\n")
        text.append(printable(f"{row.model} does not beat {shortcut.what} alone "
                              f"({auc_cell(shortcut)}): it may have learnt the recording "
                              "channel, not the cough"), style="bold")
    return text
