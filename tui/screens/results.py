"""The Results screen: per model mean ± std over seeds next to the majority baseline, the
paper's four views (train and held-out accuracy and loss), ROC curves, per-group results
and the confound warning. Reads ``summary.json`` and ``<model>/<seed>/metrics.json``.

Above the table, when the run has them, each model's test AUC stands beside the AUCs the
recording channel cannot inflate: the held-out group of a ``--test-group`` run (``ood``) and
the AUC within each value of the column the confound check flagged (``confound_controlled``),
with a line in plain words saying which to trust."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Select, Static
from textual_plotext import PlotextPlot

from engine.errors import RunError
from engine.runs import (ModelSummary, RunDir, Summary, model_seeds, read_metrics, read_summary,
                         reliability_of, roc_curve_for)

from ..decision import (OLD_RELIABILITY, auc_ci, calibration_lines, calibration_of,
                        point_line, point_of, rates_table, reliability_table, trusted_of,
                        trusted_text)
from ..fit import SCROLLBAR, fit_columns, moved_text
from .training import MARKERS, integer_ticks, set_even_yticks

COLUMNS = (
    ("roc_auc", "ROC-AUC"),
    ("roc_auc_ci", "AUC 95% CI"),
    ("accuracy", "accuracy"),
    ("majority_accuracy", "majority"),
    ("balanced_accuracy", "bal. acc"),
    ("sensitivity", "sens"),
    ("specificity", "spec"),
    ("spec_at_80_sens", "spec@80"),
    ("f1", "F1"),
)
TITLES = ("model", *(title for _, title in COLUMNS), "seeds")
TEST_NOTE = ("coughscope never evaluates the test part during training: the curves are train "
             "vs validation per epoch, and the test result is the final point (marked ●).")


def mean_std(entry: Any) -> str:
    """``{"mean": .8, "std": .02}`` -> ``"0.800 ± 0.020"``; a bare number -> ``"0.800"``."""
    if isinstance(entry, dict):
        mean, std = entry.get("mean"), entry.get("std")
        if not isinstance(mean, (int, float)):
            return "—"
        return f"{mean:.3f} ± {std:.3f}" if isinstance(std, (int, float)) else f"{mean:.3f}"
    if isinstance(entry, (int, float)):
        return f"{entry:.3f}"
    return "—"


def ci_text(ci: Any) -> str:
    """``[0.71, 0.91]`` -> ``"0.710–0.910"`` (the bootstrap interval of the test AUC)."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(
            isinstance(v, (int, float)) for v in ci):
        return f"{ci[0]:.3f}–{ci[1]:.3f}"
    return "—"


TRUST = "◆"  # marks the number the recording channel cannot inflate (a glyph: NO_COLOR too)


def headline(summary: Summary) -> Text | None:
    """Per model: the test AUC beside the held-out group's (``ood``) and the AUC within the
    flagged column (``confound_controlled``), each with its interval, then in plain words
    which of them the recording channel cannot inflate. None when the run has neither."""
    models = summary.models
    ood = next((m.ood for m in models.values() if m.ood), None)
    column = next((m.confound_controlled.column for m in models.values()
                   if m.confound_controlled), None)
    if ood is None and column is None:
        return trusted_line(summary)
    heads = ["model", "test"]
    if ood is not None:
        heads.append(f"ood {ood.group} {TRUST}")
    if column is not None:
        heads.append(f"within each {column} {TRUST}")
    rows = []
    for name, m in models.items():
        row = [name, auc_ci(m.mean("roc_auc"), m.roc_auc_ci)]
        if ood is not None:
            row.append(auc_ci(m.ood.roc_auc, m.ood.roc_auc_ci) if m.ood else "—")
        if column is not None:
            cc = m.confound_controlled
            row.append(auc_ci(cc.roc_auc, cc.roc_auc_ci) if cc else "—")
        rows.append(row)
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    text = Text("ROC-AUC [95% interval], mean over seeds; test: in-distribution test part\n",
                style="bold")
    for line, header in [(heads, True), *((r, False) for r in rows)]:
        for i, cell in enumerate(line):
            style = "bold underline" if header else ("bold" if i >= 2 else "")
            text.append(cell.ljust(widths[i]), style=style)
            text.append("  " if i < len(line) - 1 else "\n")
    if ood is not None and column is not None:
        text.append(f"{TRUST} the recording channel ({column}) cannot inflate these:",
                    style="bold")
        text.append(f" 'within' ranks positives only against negatives of the same "
                    f"{column}; 'ood' is {ood.group} alone, never trained or validated on. "
                    f"{column} alone predicts the label, so it can raise 'test'.")
    elif column is not None:
        text.append(f"{TRUST} the number to trust:", style="bold")
        text.append(f" positives are ranked only against negatives of the same {column}, so "
                    f"the recording channel cannot inflate it. {column} alone predicts the "
                    "label here, so it can raise 'test'.")
    else:
        assert ood is not None
        text.append(f"{TRUST} the recording channel ({ood.column}) cannot inflate it:",
                    style="bold")
        text.append(f" {ood.group} clips only, never trained or validated on, at the "
                    f"threshold chosen on validation: how a model does on a {ood.column} it "
                    "has not seen. 'test' is the other clips' test part.")
    return text


def trusted_line(summary: Summary) -> Text | None:
    """A run with no held-out group and no confounded column: one line naming the AUC to
    trust (the test AUC, labelled so) and the best model's, with its interval."""
    best: tuple[str, dict[str, Any]] | None = None
    for name, m in summary.models.items():
        t = trusted_of(m.raw)
        if name == "majority" or t is None or t.get("roc_auc") is None:
            continue
        if best is None or t["roc_auc"] > best[1]["roc_auc"]:
            best = (name, t)
    if best is None:
        return None
    text = Text(f"{TRUST} AUC to trust: ", style="bold")
    text.append(f"{best[1].get('label')}; best {best[0]} "
                f"{auc_ci(best[1]['roc_auc'], best[1].get('roc_auc_ci'))}")
    return text


def test_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The held-out metrics of a ``metrics.json`` (nested under ``test`` or at top level)."""
    return metrics.get("test") if isinstance(metrics.get("test"), dict) else metrics


class ResultsView(VerticalScroll):
    TITLE = "Results"
    DEFAULT_CSS = """
    ResultsView #results-headline { margin: 1 0; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run: RunDir | None = None
        self.summary: dict[str, Any] | None = None
        self.typed: Summary | None = None

    def compose(self) -> ComposeResult:
        yield Static("No results yet: a run's results appear here when it finishes. Open a "
                     "finished run on the Runs screen (6).", id="results-header")
        yield Static("", id="results-headline")
        yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="row"):
            yield Label("model")
            yield Select([], id="results-model", allow_blank=True, prompt="pick a model",
                         compact=True)
        yield Static("", id="results-moved")  # the columns the table has no room for
        yield Static("", id="results-decision")
        yield Static(TEST_NOTE, classes="note")
        yield Static("", id="results-legend")
        with Grid(id="results-charts"):
            yield PlotextPlot(id="results-acc")
            yield PlotextPlot(id="results-loss")
            yield PlotextPlot(id="results-roc")
            yield PlotextPlot(id="results-reliability")
            yield Static("", id="results-groups")
            yield Static("", id="results-bins")
        yield Static("", id="results-warnings", classes="warning")

    def on_mount(self) -> None:
        self.table_rows: dict[str, list[str]] = {}
        self.shown_columns = len(TITLES)
        self.fill_table()

    def on_resize(self) -> None:
        if self.table_rows:
            self.call_after_refresh(self.fill_table)

    def fill_table(self) -> None:
        """The metrics table with the columns that fit whole (issue 20, bug 7: at 80x24 it
        ended at ``bal. acc``); the others are shown for the picked model under the table."""
        table = self.query_one("#results-table", DataTable)
        rows = list(self.table_rows.values())
        room = (self.size.width or self.app.size.width - 2) - SCROLLBAR
        shown = fit_columns(TITLES, rows, room, keep=2)
        if shown != self.shown_columns or not table.columns:
            table.clear(columns=True)
            for title in TITLES[:shown]:
                table.add_column(title, key=title)
            self.shown_columns = shown
        else:
            table.clear()
        for name, cells in self.table_rows.items():
            table.add_row(*cells[:shown], key=name)
        model = self.query_one("#results-model", Select).value
        if isinstance(model, str) and self.run is not None:
            self._draw_model(model)

    def moved_columns(self, model: str) -> Text | None:
        """The picked model's cells of the columns the table has no room for."""
        cells = self.table_rows.get(model)
        if not cells or self.shown_columns >= len(TITLES):
            return None
        return moved_text(TITLES[self.shown_columns:], cells[self.shown_columns:],
                          f"{model} (no room in the table)")

    def action_reload(self) -> None:
        if self.run is not None:
            self.load(self.run)

    def load(self, run: RunDir) -> None:
        self.run = run
        header = self.query_one("#results-header", Static)
        select = self.query_one("#results-model", Select)
        table = self.query_one("#results-table", DataTable)
        table.clear()
        problem = None
        try:
            self.typed = read_summary(run)
        except RunError as err:  # a damaged summary: say which file and model, show nothing
            self.typed, problem = None, err
        self.summary = self.typed.raw if self.typed else None
        self._show_headline()
        if self.summary is None:
            state = run.status().get("state", "unknown")
            header.update(Text(f"run {run.id}: {problem.describe()}") if problem else
                          Text(f"run {run.id} ({state}): no summary.json yet — results "
                               "appear when every model has finished."))
            select.set_options([])
            self.query_one("#results-warnings", Static).update("")
            self._draw_model(None)
            return
        models = self.summary.get("models") or {}
        data = self.summary.get("data") or {}
        text = Text(f"run {run.id}", style="bold")
        if self.summary.get("preset"):
            text.append(f"  preset {self.summary['preset']}")
        if data.get("description"):
            text.append(f"\ndata: {data['description']}")
        text.append("\ntest part, mean ± std over seeds; 95% CI: bootstrap interval of the "
                    "test AUC (mean over seeds); 'majority': always answering the training "
                    "majority class")
        header.update(text)
        self.table_rows = {}
        for name, entry in models.items():
            metrics = entry.get("metrics") or {}
            cells = [ci_text(entry.get("roc_auc_ci")) if key == "roc_auc_ci" else
                     mean_std(metrics.get(key)) for key, _ in COLUMNS]
            self.table_rows[name] = [name, *cells, str(len(entry.get("seeds") or []))]
        self.fill_table()
        select.set_options([(name, name) for name in models])
        if models:
            first = next((m for m in models if not m == "majority"), next(iter(models)))
            select.value = first
            self._draw_model(first)
        self._show_warnings()

    def _show_headline(self) -> None:
        """The test AUC beside the ones the channel cannot inflate (hidden without them)."""
        widget = self.query_one("#results-headline", Static)
        text = headline(self.typed) if self.typed is not None else None
        widget.update(text or "")
        widget.display = text is not None

    def _show_warnings(self) -> None:
        summary = self.summary or {}
        text = Text()
        confounds = {entry.get("confound_warning") for entry in (summary.get("models") or {}).values()}
        for warning in sorted(w for w in confounds if w):
            text.append(f"confound: {warning}\n", style="bold")
        for warning in summary.get("warnings") or []:
            if warning not in confounds:
                text.append(f"warning: {warning}\n")
        self.query_one("#results-warnings", Static).update(text)

    @on(Select.Changed, "#results-model")
    def _model_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._draw_model(event.value)

    def _draw_model(self, model: str | None) -> None:
        acc = self.query_one("#results-acc", PlotextPlot)
        loss = self.query_one("#results-loss", PlotextPlot)
        roc = self.query_one("#results-roc", PlotextPlot)
        self.query_one("#results-legend", Static).update(legend_text(not self.app.no_color))
        for chart, title in ((acc, "accuracy"), (loss, "loss"),
                             (roc, "ROC (test)")):
            chart.plt.clear_data()
            chart.plt.title(f"{model}: {title}" if model else title)
        groups = self.query_one("#results-groups", Static)
        decision = self.query_one("#results-decision", Static)
        entry = self.typed.models.get(model) if self.typed is not None and model else None
        self._draw_reliability(model, entry)
        if model is None or self.run is None:
            groups.update("")
            decision.update("")
            self.query_one("#results-moved", Static).update("")
            for chart in (acc, loss, roc):
                chart.refresh()
            return
        decision.update(decision_pane(model, entry.raw if entry is not None else {}))
        moved = self.moved_columns(model)
        self.query_one("#results-moved", Static).update(moved or "")
        self.query_one("#results-moved", Static).display = moved is not None
        seeds = model_seeds(self.run, model, self.typed)
        values: dict[int, list[float]] = {id(acc): [], id(loss): []}
        for seed in seeds:
            try:
                read = read_metrics(self.run, model, seed)
            except RunError:
                read = None
            metrics = read.raw if read else {}
            for chart, ys in self._plot_curves(acc, loss, metrics, seed):
                values[id(chart)] += ys
            try:
                fpr, tpr = roc_curve_for(self.run, model, seed)
            except RunError:  # a damaged predictions.csv: no curve for that seed
                fpr, tpr = [], []
            if fpr:
                roc.plt.plot(fpr, tpr, marker="braille")
        roc.plt.plot([0, 1], [0, 1], marker="·", color="gray")
        roc.plt.xlabel("1 − specificity; y: sensitivity")
        roc.plt.xlim(0, 1)
        set_even_yticks(roc.plt, 0.0, 1.0, roc.size.height, fixed=True)
        for chart in (acc, loss):  # even ticks over what was drawn (issue 20, bug 8)
            ys = values[id(chart)]
            if ys:
                set_even_yticks(chart.plt, min(ys), max(ys), chart.size.height)
        for chart in (acc, loss, roc):
            chart.refresh()
        groups.update(group_table((self.summary or {}).get("models", {}).get(model, {})))

    def _draw_reliability(self, model: str | None, entry: ModelSummary | None) -> None:
        """Predicted vs observed P(positive) per bin (test part, calibrated, seeds pooled),
        each bin's 95% interval as a vertical stroke, the diagonal a calibrated model
        follows; the axes' title says why when the run has no bins."""
        chart = self.query_one("#results-reliability", PlotextPlot)
        table = self.query_one("#results-bins", Static)
        plt = chart.plt
        plt.clear_data()
        bins = reliability_of(entry) if entry is not None else []
        if not bins:
            plt.title(f"{model}: reliability" if model else "reliability")
            table.update(Text(f"reliability: {OLD_RELIABILITY}") if entry is not None
                         and not calibration_of(entry.raw) else
                         Text("reliability: no bins recorded") if entry is not None else "")
            chart.refresh()
            return
        table.update(reliability_table(bins))
        plt.title(f"{model}: reliability")
        plt.plot([0, 1], [0, 1], marker="·", color="gray")
        for b in bins:
            ci = b.get("observed_ci")
            if isinstance(ci, list) and len(ci) == 2:
                plt.plot([b["predicted"]] * 2, [ci[0], ci[1]], marker="│", color="gray")
        plt.scatter([b["predicted"] for b in bins], [b["observed"] for b in bins],
                    marker="●", color="red")
        plt.xlabel("predicted; y: observed")
        plt.xlim(0, 1)
        set_even_yticks(plt, 0.0, 1.0, chart.size.height, fixed=True)
        chart.refresh()

    @staticmethod
    def _plot_curves(acc: PlotextPlot, loss: PlotextPlot, metrics: dict[str, Any],
                     seed: int) -> list[tuple[PlotextPlot, list[float]]]:
        """Draw one seed's curves and test point; returns each chart's y values."""
        drawn: list[tuple[PlotextPlot, list[float]]] = []
        history = metrics.get("history") or []
        epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(history)]
        last = epochs[-1] if epochs else 1.0
        test = test_metrics(metrics)
        for chart, train_key, val_key, test_value in (
            (acc, "train_acc", "val_acc", test.get("accuracy")),
            (loss, "train_loss", "val_loss", metrics.get("test_loss")),
        ):
            for key, name in ((train_key, "train"), (val_key, "validation")):
                points = [(x, r[key]) for x, r in zip(epochs, history)
                          if isinstance(r.get(key), (int, float))]
                if points:
                    drawn.append((chart, [p[1] for p in points]))
                    marker, _, hue = MARKERS[name]
                    chart.plt.plot([p[0] for p in points], [p[1] for p in points],
                                   marker=marker, color=hue)
            if isinstance(test_value, (int, float)):
                chart.plt.scatter([last], [test_value], marker="●", color="red")
                drawn.append((chart, [float(test_value)]))
            chart.plt.xlabel("epoch")
            chart.plt.xticks(integer_ticks(last))
        return drawn


def legend_text(colour: bool) -> Text:
    """The charts' legend, above them (a legend inside a plot covers its first epochs)."""
    text = Text()
    for name in ("train", "validation"):
        _, glyph, hue = MARKERS[name]
        text.append(f"{glyph}{glyph} ", style=f"bold {hue}" if colour else "bold")
        text.append(f"{name}   ")
    text.append("● ", style="bold red" if colour else "bold")
    text.append("test (final)   ")
    text.append("⣿⣿ ", style="bold")
    text.append("ROC per seed   ")
    text.append("··", style="bold")
    text.append(" chance")
    return text


def decision_pane(model: str, entry: dict[str, Any]) -> Group:
    """The selected model's decision record: the AUC to trust, the operating point with
    expected vs measured rates, and the calibration (each says so when not recorded)."""
    head = Text(f"{model}: ", style="bold")
    head.append(f"{TRUST} AUC to trust ", style="bold")
    head.append(trusted_text(entry))
    op = point_of(entry)
    parts: list[Any] = [head, Text(point_line(op, "\n  "))]
    if op is not None and isinstance(op.get("expected"), dict):
        parts.append(rates_table(op))
    parts.append(calibration_lines(entry))
    return Group(*parts)


def group_table(entry: dict[str, Any]) -> Table | Text:
    """Per-group test ROC-AUC and accuracy, with each column's group-only baseline."""
    by_group = entry.get("by_group") or {}
    if not by_group:
        return Text("no per-group results: the data set carries no source/site/date columns")
    table = Table(title="per group (test)", box=None, expand=True)
    table.add_column("column")
    table.add_column("value")
    table.add_column("ROC-AUC")
    table.add_column("accuracy")
    baselines = entry.get("group_baseline") or {}
    for column, values in by_group.items():
        for value, metrics in values.items():
            table.add_row(column, Text(str(value)), mean_std(metrics.get("roc_auc")),
                          mean_std(metrics.get("accuracy")))
        base = baselines.get(column) or {}
        if base:
            table.add_row(column, Text("group alone", style="italic"),
                          mean_std(base.get("roc_auc")), mean_std(base.get("accuracy")))
    return table
