"""The Training screen: live loss, accuracy and validation-AUC charts per model and seed,
progress and ETA, and a Stop button (shown only while the run is training).

One chart at a time, as tall as the screen allows (C cycles loss → accuracy → validation AUC);
the legend sits above the chart, never on the curves, and train and validation differ by
glyph as well as colour (NO_COLOR). The ETA is the run state's: the steps left weighted by the
measured time per epoch of each model (a baseline's fit is not an epoch of a CNN).

The app's follow worker folds events into the run's state; this screen only draws that
state, when the app's 4 Hz timer says something changed (never once per event).
"""

from __future__ import annotations

import math
import textwrap

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from engine.runs import PartProgress, format_seconds

from ..widgets.lists import StoppingOptionList

if TYPE_CHECKING:
    from ..app import FollowedRun

STATE_MARK = {"pending": "·", "training": "▸", "done": "✓", "failed": "✗"}
CHARTS = (
    ("loss", "loss", ("train_loss", "val_loss")),
    ("accuracy", "accuracy", ("train_acc", "val_acc")),
    ("auc", "validation ROC-AUC", ("val_auc",)),
)
# (plotext marker, the glyph the legend shows, colour) per curve: glyphs differ for NO_COLOR
MARKERS = {"train": ("braille", "⣿", "cyan"), "validation": ("•", "•", "magenta")}


def curve_kind(key: str) -> str:
    return "train" if key.startswith("train") else "validation"


def even_ticks(lo: float, hi: float, most: int = 5) -> tuple[list[float], list[str]]:
    """Ticks at one round step (1, 2, 2.5 or 5 times a power of ten) inside ``lo`` .. ``hi``,
    at most ``most`` of them (at least 2 when the range holds two), and their labels, all
    with the same decimals. Left to itself plotext labels sixths and drops some at small
    heights: ``0, .33, .50, .83, 1.00`` (issue 20, bug 8)."""
    most = max(2, most)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo < 1e-9:
        return [], []
    power = 10.0 ** math.floor(math.log10((hi - lo) / most))
    choice: list[float] = []
    step = power
    for mult in (1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        step = mult * power
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        choice = [round(i * step, 10) for i in range(first, last + 1)]
        if len(choice) <= most:
            break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)
                   + (1 if round(step / 10 ** math.floor(math.log10(step)), 3) == 2.5 else 0))
    return choice, [f"{t:.{decimals}f}" for t in choice]


def set_even_yticks(plt: Any, lo: float, hi: float, rows: int, fixed: bool = False) -> None:
    """Even y ticks for a chart ``rows`` terminal rows high (about one label every other
    plot row); ``fixed``: the axis is exactly ``lo`` .. ``hi`` (a [0, 1] scale), else it is
    the data's range, which plotext picks the same way."""
    ticks, labels = even_ticks(lo, hi, most=min(6, max(2, (rows - 4) // 2 + 1)))
    if ticks:
        plt.yticks(ticks, labels)
    if fixed:
        plt.ylim(lo, hi)


def short_warning(warning: str, most: int = 100) -> str:
    """A warning's first clause (up to its first ``: `` after the ``warning:`` label, or its
    first sentence), ``…`` after it when there was more."""
    head, colon, body = warning.partition(": ")
    first = body if colon else warning
    for mark in ("): ", ": ", ". "):
        cut = first.find(mark)
        if 0 < cut:
            first = first[:cut + (1 if mark.startswith(")") else 0)]
            break
    if len(first) > most:
        first = first[:most - 1].rstrip()
    shown = f"{head}: {first}" if colon else first
    return shown if shown == warning else shown + " …"


def integer_ticks(last: float, most: int = 8) -> list[int]:
    """Whole epochs from 1 to ``last``, at most ``most`` of them, evenly stepped."""
    last_epoch = max(1, int(round(last)))
    step = max(1, -(-last_epoch // most))
    ticks = list(range(1, last_epoch + 1, step))
    if ticks[-1] != last_epoch and len(ticks) < most:
        ticks.append(last_epoch)
    return ticks


def fit_phase(part: PartProgress) -> str:
    """The fit after selection a part is in: ``oof 2/3 1/4`` (out-of-fold fit 2 of 3, epoch
    1 of 4) or ``refit 3/4``; empty during selection."""
    if part.state != "training" or part.fit_now is None:
        return ""
    phase, fold, folds = part.fit_now
    done = part.fits.get((phase, fold), 0)
    epochs = f"{done}/{part.fit_epochs or '?'}"
    if phase == "oof":
        return f"oof {fold or '?'}/{folds or '?'} {epochs}"
    return f"{phase} {epochs}"


def part_line(part: PartProgress) -> Text:
    """``✓ ann s0 0.812`` (test AUC when done), ``▸ cnn s1 3/30`` (epochs) or, after
    selection, ``▸ cnn s1 refit 2/4`` (the fit it is in)."""
    text = Text(f"{STATE_MARK.get(part.state, '?')} {part.model} s{part.seed} ", no_wrap=True,
                overflow="ellipsis")
    if part.state == "done" and part.metrics and part.metrics.get("roc_auc") is not None:
        text.append(f"{part.metrics['roc_auc']:.3f}", style="bold")
    elif part.state == "failed":
        text.append("failed", style="bold red")
    elif part.task_state in ("queued", "retry") and part.state == "pending":
        text.append("queued" if part.task_state == "queued" else "retrying")
    elif fit_phase(part):
        text.append(fit_phase(part))
    else:
        text.append(f"{len(part.history)}/{part.epochs or '?'}")
    return text


def tasks_text(state: Any) -> Text:
    """Under Ray (``task`` events): which task runs on which worker and device, and what
    waits -- ``running: ann s0 on 10.0.0.2 pid 811 (cuda:0); cnn s1 on ... · queued (3):
    cnn s2, ...``. Empty for a run in one process."""
    text = Text()
    running = [p for p in state.tasks("running") if p.state != "done"]
    waiting = state.tasks("queued") + state.tasks("retry")
    failed = state.tasks("failed")
    if running:
        text.append("\nrunning: " + "; ".join(f"{p.model} s{p.seed} on {p.worker} ({p.device})"
                                              for p in running))
    if waiting and not state.is_over:
        names = ", ".join(f"{p.model} s{p.seed}" for p in waiting[:6])
        more = f" and {len(waiting) - 6} more" if len(waiting) > 6 else ""
        text.append(f"\nqueued ({len(waiting)}): {names}{more}")
    if failed:
        text.append("\nfailed: " + ", ".join(f"{p.model} s{p.seed}" for p in failed)
                    + " (their worker died twice; --resume runs them again)", style="red")
    return text


def series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for record in history:
        value = record.get(key)
        if isinstance(value, (int, float)):
            xs.append(float(record.get("epoch", len(xs) + 1)))
            ys.append(float(value))
    return xs, ys


class TrainingView(Vertical):
    TITLE = "Training"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.followed: FollowedRun | None = None
        self.chosen: tuple[str, int] | None = None  # None: follow the part in training
        self.shown: tuple[str, int] | None = None
        self.plotted: dict[str, list[float]] = {}
        self.markers: dict[str, str] = {}  # curve key -> plotext marker drawn
        self.chart = 0  # index into CHARTS
        self._part_keys: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="training-top"):
            yield Static("No run yet: start one on the Models screen (2) or open one on "
                         "Runs (6).", id="training-status")
            yield Button("Stop", id="training-stop", variant="error", compact=True)
        yield ProgressBar(id="training-progress", show_eta=False, show_percentage=True)
        with Horizontal(id="training-body"):
            parts = StoppingOptionList(id="training-parts")
            parts.border_title = "seed · test AUC"
            yield parts
            with Vertical(id="training-chart-box"):
                yield Static("", id="training-legend")
                yield PlotextPlot(id="training-chart")
                yield Static("", id="training-notes", classes="notes")

    def on_mount(self) -> None:
        self.query_one("#training-stop", Button).display = False
        # no run: no bar (an indeterminate bar animates forever, repainting over SSH)
        self.query_one("#training-progress", ProgressBar).display = False
        self.query_one("#training-chart", PlotextPlot).plt.title(CHARTS[0][1])

    def cycle_chart(self) -> None:
        self.chart = (self.chart + 1) % len(CHARTS)
        self.redraw()

    def show_run(self, followed: FollowedRun) -> None:
        self.followed = followed
        self.chosen = None
        self.shown = None
        self.redraw()

    @on(OptionList.OptionSelected, "#training-parts")
    def _part_chosen(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        if 0 <= index < len(self._part_keys):
            self.chosen = self._part_keys[index]
            self.redraw()

    @on(Button.Pressed, "#training-stop")
    def action_stop(self) -> None:
        self.app.stop_followed_run()

    def redraw(self) -> None:
        followed = self.followed
        if followed is None:
            self._draw_charts(None, [])
            return
        with followed.lock:
            state = followed.state
            parts = list(state.parts.values())
            keys = list(state.parts)
            key = self.chosen or self._default_part(state)
            part = state.parts.get(key) if key else None
            history = [dict(r) for r in part.history] if part else []
            done, total = state.progress()
            status = self._status_text(state, done, total)
            notes = self._notes_text(state, self._notes_room())
            over = state.is_over
        self.query_one("#training-status", Static).update(status)
        bar = self.query_one("#training-progress", ProgressBar)
        bar.update(total=total or None, progress=done)
        bar.display = True
        self.query_one("#training-stop", Button).display = not over
        self._update_parts(parts, keys, key)
        self.query_one("#training-notes", Static).update(notes)
        self._draw_charts(part, history)

    @staticmethod
    def _default_part(state: Any) -> tuple[str, int] | None:
        """The part in training; when it has no curve (a baseline), the latest one that has."""
        current = state.parts.get(state.current) if state.current else None
        if current is not None and current.history:
            return state.current
        with_curves = [key for key, part in state.parts.items() if part.history]
        if with_curves:
            return with_curves[-1]
        return state.current or next(iter(state.parts), None)

    def _update_parts(self, parts: list[PartProgress], keys: list[tuple[str, int]],
                      key: tuple[str, int] | None) -> None:
        options = self.query_one("#training-parts", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(part_line(part)) for part in parts])
        self._part_keys = keys
        if key in keys and (highlighted is None or self.chosen is None):
            options.highlighted = keys.index(key)
        elif highlighted is not None and highlighted < len(keys):
            options.highlighted = highlighted

    def _status_text(self, state: Any, done: int, total: int) -> Text:
        # one run of text (the whole status is bold): a style boundary before the "  " would
        # start a segment of its own, whose leading spaces SVG renderers such as librsvg drop
        # in an exported screenshot ("finished10/10 steps")
        text = Text(f"run {state.run_id}  {state.state}  {done}/{total} steps", style="bold")
        if state.is_over:
            if state.seconds is not None:
                text.append(f"  took {format_seconds(state.seconds)}")
        else:
            eta = state.eta_seconds(time.time())  # weighted by each model's epoch time
            text.append(f"  ETA {format_seconds(eta)}" if eta is not None else "  ETA —")
            current = state.parts.get(state.current) if state.current else None
            if current is not None and fit_phase(current):
                # the fits after selection draw no curve: say what is running
                what = "out-of-fold fit" if current.fit_now[0] == "oof" else "refit"
                text.append(f"\n{current.model} s{current.seed}: {what} "
                            f"{fit_phase(current).partition(' ')[2]} (no curve: not "
                            "validation epochs)")
        text.append_text(tasks_text(state))
        if state.data:
            split = state.data.get("split") or {}
            parts = ", ".join(f"{name} {info.get('clips', '?')}"
                              for name, info in split.items() if isinstance(info, dict))
            text.append(f"\ndata: {state.data.get('description', '')}")
            if parts:
                text.append(f"\nsplit: {parts}")
        return text

    def _notes_room(self) -> tuple[int, int]:
        """(columns, rows) the notes may take: half the chart's column."""
        found = self.query("#training-chart-box")
        size = found.first().size if found else None
        return (max(20, (size.width if size else 0) or 60),
                max(3, ((size.height if size else 0) or 16) // 2))

    @staticmethod
    def _notes_text(state: Any, room: tuple[int, int] = (200, 50)) -> Text:
        text = Text()
        for message, hint in state.errors:
            text.append(f"error: {message}\n", style="bold red")
            if hint:
                text.append(f"hint: {hint}\n")
        warnings = [f"warning: {w}" for w in state.warnings[-4:]]
        width, rows = room
        used = sum(len(textwrap.wrap(line, width)) for line in text.plain.splitlines())
        if used + sum(len(textwrap.wrap(w, width)) for w in warnings) > rows:
            # no room for them whole: each says what it is, and where to read it all
            # (the confound warning ended "...or resample so" at 80x24: issue 20, bug 7)
            warnings = [short_warning(w) if len(textwrap.wrap(w, width)) > 2 else w
                        for w in warnings]
            warnings.append("(warnings in full: Results (4) when the run ends, and "
                            "summary.json)")
        for warning in warnings:
            text.append(f"{warning}\n", style="yellow")
        for problem in state.problems[-3:]:
            text.append(f"{problem}\n", style="yellow")
        if not text.plain:
            text.append("Curves are train vs validation: the test part is never used during "
                        "training.", style="dim")
        return text

    def _draw_charts(self, part: PartProgress | None, history: list[dict[str, Any]]) -> None:
        _, name, keys = CHARTS[self.chart]
        title = f"{part.model} seed {part.seed}" if part else ""
        self.plotted = {}
        self.markers = {}
        chart = self.query_one("#training-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.title(f"{name} — {title}" if title else name)
        last = 1.0
        colour = not self.app.no_color
        legend = Text()
        for key in keys:
            xs, ys = series(history, key)
            self.plotted[key] = xs
            marker, glyph, hue = MARKERS[curve_kind(key)]
            self.markers[key] = marker
            legend.append(f"{glyph}{glyph} ", style=f"bold {hue}" if colour else "bold")
            legend.append(f"{curve_kind(key)}   ")
            if xs:
                last = max(last, xs[-1])
                plt.plot(xs, ys, marker=marker, color=hue if colour else "default")
        legend.append(f"[C] next chart ({self.chart + 1}/{len(CHARTS)})", style="dim")
        self.query_one("#training-legend", Static).update(legend)
        plt.xlabel("epoch")
        plt.xticks(integer_ticks(last))
        plt.xlim(1, max(last, 2))
        if name != "loss":  # accuracy and AUC live in [0, 1]: keep the scale honest
            set_even_yticks(plt, 0.0, 1.0, chart.size.height, fixed=True)
        else:
            values = [y for key in keys for y in series(history, key)[1]]
            set_even_yticks(plt, min(values, default=0.0), max(values, default=1.0),
                            chart.size.height)
        chart.refresh()
