"""The Confusion screen: the test confusion matrix of any model and seed, or pooled over
seeds, with counts, rates, and sensitivity/specificity at the run's operating point -- the
threshold the run recorded, chosen by its rule (``youden``, ``sensitivity=0.8``...) on
out-of-fold or validation predictions, never on the test part. Beside the measured rates
stand the expected ones those predictions promised, with their intervals. Runs made before
operating points were recorded say their threshold was chosen on validation.

The threshold can be moved (← →, Shift for bigger steps, 0 back to the operating point):
the counts are then recomputed from the test predictions (``predictions.csv``) and the screen
says plainly that a threshold chosen by looking at the test part is no longer an honest
estimate."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from engine.runs import RunDir

from engine.errors import RunError
from engine.metrics import confusion_rates
from engine.runs import model_seeds, read_metrics, read_predictions, read_summary

from ..decision import RATES, point_of, rate, source_words

POOLED = "pooled"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def matrix_table(confusion: dict[str, Any]) -> Table:
    """Rows: true label; columns: predicted label; each cell count and row rate."""
    tn, fp, fn, tp = (int(confusion.get(k, 0)) for k in ("tn", "fp", "fn", "tp"))
    table = Table(title="test part: true label (rows) × predicted (columns)", expand=False)
    table.add_column("")
    table.add_column("predicted negative", justify="right")
    table.add_column("predicted positive", justify="right")
    neg, pos = tn + fp, fn + tp

    def cell(count: int, total: int) -> str:
        return f"{count}  ({percent(count / total if total else None)})"

    table.add_row("negative", cell(tn, neg), cell(fp, neg))
    table.add_row("positive", cell(fn, pos), cell(tp, pos))
    return table


def counts_at(labels: list[int], probs: list[float], threshold: float) -> dict[str, int]:
    """Confusion counts when P(positive) >= ``threshold`` answers positive."""
    counts = {"tn": 0, "fp": 0, "fn": 0, "tp": 0}
    for label, prob in zip(labels, probs):
        positive = prob >= threshold
        key = ("tp" if positive else "fn") if label else ("fp" if positive else "tn")
        counts[key] += 1
    return counts


def rates_text(confusion: dict[str, Any], threshold: Any, moved: bool = False,
               op: dict[str, Any] | None = None) -> Text:
    rates = confusion_rates(confusion)
    text = Text()
    if isinstance(threshold, (int, float)):
        if moved:
            back = "0: back to the operating point" if op is not None else "0 resets"
            text.append(f"threshold {threshold:.2f} (moved by you; {back})\n", style="bold")
        elif op is not None:
            text.append(f"operating point: {source_words(op)}\n", style="bold")
            text.append(f"threshold {threshold:.3f} (← → move it, 0 returns here)\n",
                        style="bold")
        else:
            text.append(f"threshold {threshold:.3f} (chosen on validation; ← → move it)\n",
                        style="bold")
    if op is not None and not moved:
        text.append_text(expected_text(op, confusion))
    else:
        text.append(f"sensitivity {percent(rates['sensitivity'])}   "
                    f"specificity {percent(rates['specificity'])}\n")
    text.append(f"precision {percent(rates['precision'])}   NPV {percent(rates['npv'])}   "
                f"accuracy {percent(rates['accuracy'])}")
    return text


def share_called_positive(confusion: dict[str, Any]) -> float | None:
    n = sum(int(confusion.get(k, 0) or 0) for k in ("tn", "fp", "fn", "tp"))
    return (int(confusion.get("fp", 0) or 0) + int(confusion.get("tp", 0) or 0)) / n if n else None


def percent_ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "—"
    return percent(value) + (f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%]" if ci else "")


def expected_text(op: dict[str, Any], confusion: dict[str, Any]) -> Text:
    """Sensitivity, specificity and share called positive: what the predictions that chose
    the point promised (with 95% intervals) beside what the matrix shown measured."""
    rates = confusion_rates(confusion)
    measured = {"sensitivity": rates["sensitivity"], "specificity": rates["specificity"],
                "positive_share": share_called_positive(confusion)}
    heads = ("", f"expected ({op.get('source')})", "measured here")
    rows = [(label, percent_ci(*rate(op.get("expected"), key)), percent(measured[key]))
            for key, label in RATES]
    widths = [max(len(r[i]) for r in (heads, *rows)) + 3 for i in range(2)]
    text = Text()
    for i, row in enumerate((heads, *rows)):
        line = row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2]
        text.append(line.rstrip() + "\n", style="bold underline" if i == 0 else "")
    return text


class ConfusionView(Vertical, can_focus=True):
    TITLE = "Confusion"
    BINDINGS = [
        Binding("left", "move(-0.01)", "Threshold −"),
        Binding("right", "move(0.01)", "Threshold +"),
        Binding("shift+left", "move(-0.05)", show=False),
        Binding("shift+right", "move(0.05)", show=False),
        Binding("0", "reset_threshold", "Operating point", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run: RunDir | None = None
        self.summary: dict[str, Any] | None = None
        self.typed: Any = None
        self.threshold: float | None = None  # None: each seed's recorded operating point
        self.shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("model")
            yield Select([], id="confusion-model", prompt="pick a model", compact=True)
            yield Label("seed")
            yield Select([], id="confusion-seed", prompt="pick a seed", compact=True)
        yield Static("No run open: open a finished run on the Runs screen (6).",
                     id="confusion-matrix")
        yield Static("", id="confusion-rates")

    def on_show(self) -> None:
        self.focus()  # ← → move the threshold straight away (Tab reaches the pickers)

    def action_move(self, step: float) -> None:
        if self.shown is None:
            return
        start = self.threshold if self.threshold is not None else self.base_threshold()
        self.threshold = round(min(1.0, max(0.0, start + float(step))), 2)
        self.show(*self.shown)

    def action_reset_threshold(self) -> None:
        self.threshold = None
        if self.shown is not None:
            self.show(*self.shown)

    def base_threshold(self) -> float:
        """The recorded threshold shown (the seeds' mean when pooled): the operating point,
        or the validation-chosen one of a run made before operating points."""
        if self.shown is None or self.run is None:
            return 0.5
        model, seed = self.shown
        seeds = model_seeds(self.run, model, self.typed) if seed == POOLED else [int(seed)]
        values = [t for t in (self._seed_threshold(model, s) for s in seeds) if t is not None]
        return sum(values) / len(values) if values else 0.5

    def _seed_threshold(self, model: str, seed: int) -> float | None:
        assert self.run is not None
        try:
            read = read_metrics(self.run, model, seed)
        except RunError:
            return None
        return read.threshold if read is not None else None

    def load(self, run: RunDir) -> None:
        self.run = run
        self.threshold = None
        try:
            self.typed = read_summary(run)
        except RunError as err:
            self.typed = None
            self.query_one("#confusion-matrix", Static).update(Text(err.describe()))
        self.summary = self.typed.raw if self.typed else None
        models = list((self.summary or {}).get("models") or {})
        model_select = self.query_one("#confusion-model", Select)
        model_select.set_options([(m, m) for m in models])
        if not models:
            self.query_one("#confusion-matrix", Static).update(
                Text(f"run {run.id}: no results yet (they appear when the run finishes)"))
            self.query_one("#confusion-rates", Static).update("")
            self.query_one("#confusion-seed", Select).set_options([])
            return
        model_select.value = next((m for m in models if m != "majority"), models[0])
        self._seeds_for(str(model_select.value))

    def _seeds_for(self, model: str) -> None:
        assert self.run is not None
        seeds = model_seeds(self.run, model, self.typed)
        select = self.query_one("#confusion-seed", Select)
        select.set_options([("pooled over seeds", POOLED)] +
                           [(f"seed {s}", str(s)) for s in seeds])
        select.value = POOLED
        self.show(model, POOLED)

    @on(Select.Changed, "#confusion-model")
    def _model_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and self.run is not None:
            self._seeds_for(event.value)

    @on(Select.Changed, "#confusion-seed")
    def _seed_changed(self, event: Select.Changed) -> None:
        model = self.query_one("#confusion-model", Select).value
        if isinstance(event.value, str) and isinstance(model, str):
            self.show(model, event.value)

    def confusion_for(self, model: str, seed: str) -> tuple[dict[str, Any] | None, Any]:
        """The confusion counts and threshold of ``model`` at ``seed`` (or pooled); at the
        moved threshold when the user moved it."""
        assert self.run is not None
        if self.threshold is not None:
            seeds = model_seeds(self.run, model, self.typed) if seed == POOLED else [int(seed)]
            total = {"tn": 0, "fp": 0, "fn": 0, "tp": 0}
            found = False
            for s in seeds:
                try:
                    predictions = read_predictions(self.run, model, s)
                except RunError:
                    predictions = None
                labels, probs = predictions.part("test") if predictions else ([], [])
                found = found or bool(labels)
                for key, value in counts_at(labels, probs, self.threshold).items():
                    total[key] += value
            return (total if found else None), self.threshold
        if seed == POOLED:
            entry = ((self.summary or {}).get("models") or {}).get(model) or {}
            return entry.get("confusion_pooled"), None
        assert self.run is not None
        try:
            read = read_metrics(self.run, model, int(seed))
        except RunError:
            return None, None
        if read is None:
            return None, None
        return read.test.get("confusion"), read.threshold

    def point_for(self, model: str, seed: str) -> dict[str, Any] | None:
        """The operating point as recorded: the summary's (pooled) or the seed's own."""
        if seed == POOLED:
            return point_of(((self.summary or {}).get("models") or {}).get(model))
        assert self.run is not None
        try:
            read = read_metrics(self.run, model, int(seed))
        except RunError:
            return None
        return point_of(read.raw) if read is not None else None

    def show(self, model: str, seed: str) -> None:
        self.shown = (model, seed)
        confusion, threshold = self.confusion_for(model, seed)
        matrix = self.query_one("#confusion-matrix", Static)
        rates = self.query_one("#confusion-rates", Static)
        if not confusion:
            matrix.update(Text(f"{model} ({seed}): no confusion matrix in this run"))
            rates.update("")
            return
        matrix.update(matrix_table(confusion))
        text = Text(f"{model}, {'pooled over seeds' if seed == POOLED else 'seed ' + seed}\n",
                    style="bold")
        moved = self.threshold is not None
        op = self.point_for(model, seed)
        if seed == POOLED:
            text.append("pooled: every seed's counts at one threshold, added up\n" if moved else
                        "pooled: each seed's counts at its own threshold, added up\n")
            if not moved and op is not None:
                text.append(f"operating point: {source_words(op)}\n", style="bold")
                text.append(f"threshold: mean {self.base_threshold():.3f} over seeds (← → move "
                            "it, 0 returns here)\n", style="bold")
            elif not moved:
                text.append(f"threshold: mean {self.base_threshold():.3f} over seeds (chosen on "
                            "validation; ← → move it)\n", style="bold")
                text.append("operating point: not recorded (run made before they were)\n")
            # the threshold line is above (the seeds' mean); the rates follow
            text.append_text(rates_text(confusion, threshold if moved else None, moved, op))
        else:
            text.append_text(rates_text(confusion, threshold, moved, op))
        if moved:
            text.append("\nA threshold picked while looking at the test part is not an honest "
                        "estimate: it shows the trade-off, not a result.", style="italic")
        rates.update(text)
