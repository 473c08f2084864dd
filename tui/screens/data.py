"""The Data screen: choose a data set and see what it holds, and what is excluded and why.

Reading and preprocessing import heavy modules (librosa, pandas), so they run in a thread
worker; progress arrives as replaceable :class:`~tui.messages.DataProgress` messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, ProgressBar, Static
from textual.worker import get_current_worker

from engine.errors import CoughscopeError

from ..messages import DataFailed, DataProgress, DataSummarised

INTRO = (
    "Data set: `demo` (built-in synthetic clips), a Coswara root, a manifest CSV "
    "(path,label[,group,...]) or a folder with positive/ and negative/ subfolders. "
    "Press Enter or Summarise to read it."
)


def one_class_problem(spec: str, summary: dict[str, Any]) -> str | None:
    """A message when the data set has no clips of one label (training needs both)."""
    labels = summary.get("labels") or {}
    missing = [label for label in ("negative", "positive") if not labels.get(label)]
    if summary.get("usable", 0) and missing:
        return (f"data set {spec!r} has no usable {' or '.join(missing)} clips "
                f"({labels}); a classifier needs both classes")
    if not summary.get("usable", 0):
        return f"data set {spec!r} has no usable clips"
    return None


class DataView(Vertical):
    TITLE = "Data"

    def compose(self) -> ComposeResult:
        yield Static(INTRO, classes="intro")
        with Horizontal(classes="row"):
            yield Input(self.app.data_spec, placeholder="demo, /path/to/coswara, manifest.csv",
                        id="data-spec")
            yield Button("Summarise", id="data-summarise", variant="primary")
        yield ProgressBar(id="data-progress", show_eta=False)
        yield Static("", id="data-message", classes="message")
        with VerticalScroll(id="data-body"):
            yield Static("", id="data-summary")
            yield DataTable(id="data-excluded", show_cursor=False, zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#data-progress", ProgressBar).display = False
        table = self.query_one("#data-excluded", DataTable)
        table.add_columns("excluded clip", "reason", "stage")
        table.display = False

    @on(Input.Submitted, "#data-spec")
    @on(Button.Pressed, "#data-summarise")
    def action_summarise(self) -> None:
        self.summarise()

    @on(Input.Changed, "#data-spec")
    def _spec_changed(self, event: Input.Changed) -> None:
        self.app.data_spec = event.value.strip() or "demo"

    def summarise(self) -> None:
        spec = self.query_one("#data-spec", Input).value.strip() or "demo"
        self.app.data_spec = spec
        self.set_message(Text(f"reading {spec} …"))
        bar = self.query_one("#data-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.summarise_worker(spec)

    def set_message(self, text: Text | str, error: bool = False) -> None:
        widget = self.query_one("#data-message", Static)
        widget.set_class(error, "error")
        widget.update(text)

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def summarise_worker(self, spec: str) -> None:
        worker = get_current_worker()
        try:
            summary = read_data_summary(spec, lambda done, total, stage: (
                None if worker.is_cancelled else
                self.post_message(DataProgress(done, total, stage))))
        except CoughscopeError as err:
            self.post_message(DataFailed(spec, err.message, err.hint))
            return
        except ImportError as exc:
            self.post_message(DataFailed(
                spec, f"the data engine cannot be imported here ({exc})",
                "reinstall coughscope: pip install -e ."))
            return
        except Exception as exc:  # noqa: BLE001 - show it instead of killing the app
            self.post_message(DataFailed(
                spec, f"reading {spec!r} failed: {type(exc).__name__}: {exc}",
                f"try `coughscope data summary {spec}` for the full error"))
            return
        self.post_message(DataSummarised(spec, summary))

    def on_data_progress(self, message: DataProgress) -> None:
        bar = self.query_one("#data-progress", ProgressBar)
        bar.update(total=message.total or None, progress=message.done)
        self.set_message(Text(f"{message.stage}: {message.done}/{message.total}"))

    def on_data_failed(self, message: DataFailed) -> None:
        self.query_one("#data-progress", ProgressBar).display = False
        text = Text(message.message, style="bold")
        if message.hint:
            text.append(f"\nhint: {message.hint}", style="")
        self.set_message(text, error=True)
        self.app.notify(message.message, title="data", severity="error", timeout=8)

    def on_data_summarised(self, message: DataSummarised) -> None:
        self.query_one("#data-progress", ProgressBar).display = False
        summary = message.summary
        problem = one_class_problem(message.spec, summary)
        if problem:
            self.set_message(Text(problem + "\nhint: pick a data set with both positive and "
                                  "negative clips", style="bold"), error=True)
            self.app.notify(problem, title="data", severity="error", timeout=8)
        else:
            note = " (synthetic demo data)" if summary.get("synthetic") else ""
            self.set_message(Text(f"{message.spec}: {summary.get('usable', 0)} usable clips"
                                  f"{note}; pick models on the Models screen (2)"))
        self.query_one("#data-summary", Static).update(summary_table(summary))
        self.show_excluded(summary.get("excluded") or [])

    def show_excluded(self, excluded: list[dict[str, str]]) -> None:
        table = self.query_one("#data-excluded", DataTable)
        table.clear()
        for item in excluded:
            table.add_row(Text(str(item.get("path", ""))), Text(str(item.get("reason", ""))),
                          str(item.get("stage", "")))
        table.display = bool(excluded)


def summary_table(summary: dict[str, Any]) -> Table:
    """The summary as a two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    labels = summary.get("labels") or {}
    durations = summary.get("durations") or {}
    rates = summary.get("sample_rates") or {}
    rows = [
        ("data", Text(str(summary.get("description", "")))),
        ("clips", f"{summary.get('clips', 0)} found, {summary.get('usable', 0)} usable, "
                  f"{len(summary.get('excluded') or [])} excluded"),
        ("labels", ", ".join(f"{k} {v}" for k, v in labels.items())),
        ("groups", f"{summary.get('groups', 0)} (participants; splits keep them apart)"),
    ]
    if durations:
        rows.append(("duration", f"min {durations.get('min', 0):.2f} s, median "
                                 f"{durations.get('median', 0):.2f} s, max "
                                 f"{durations.get('max', 0):.2f} s"))
    if rates:
        rows.append(("sample rate", ", ".join(f"{r} Hz × {n}" for r, n in rates.items())))
    if summary.get("synthetic"):
        rows.append(("note", "synthetic demo data: numbers say nothing about real coughs"))
    for note in summary.get("notes") or []:
        rows.append(("note", Text(str(note))))
    for key, value in (summary.get("counts") or {}).items():
        rows.append((key.replace("_", " "), str(value)))
    for key, value in rows:
        table.add_row(key, value)
    return table


def read_data_summary(spec: str, progress: Any) -> dict[str, Any]:
    """Load, preprocess (when the engine can) and summarise ``spec``; runs in a thread."""
    from engine.sources import load_source, summarize  # heavy readers load on first use

    progress(0, 0, "finding clips")
    clipset = load_source(spec)
    try:
        from engine.preprocess import preprocess  # librosa (~1 s)
        from engine.config import PreprocessConfig
    except ImportError:
        return summarize(clipset)

    def report(*args: Any, **kwargs: Any) -> None:
        numbers = [a for a in args if isinstance(a, (int, float))]
        done = int(numbers[0]) if numbers else 0
        total = int(numbers[1]) if len(numbers) > 1 else len(clipset.clips)
        progress(done, total, "preprocessing")

    dataset = preprocess(clipset, PreprocessConfig(), progress=report)
    return summarize(dataset)


def spec_problem(spec: str) -> str | None:
    """A message when ``spec`` looks like a path that does not exist."""
    if spec == "demo" or spec.startswith("demo:"):
        return None
    path = Path(spec).expanduser()
    if path.exists():
        return None
    if "/" in spec or spec.startswith(".") or spec.endswith(".csv"):
        return f"data path {spec!r} does not exist"
    return None
