"""The Data screen: choose a data set and see what it holds, and what is excluded and why.

Reading and preprocessing import heavy modules (librosa, pandas), so they run in a thread
worker; progress arrives as replaceable :class:`~tui.messages.DataProgress` messages.
"""

from __future__ import annotations

import textwrap

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from engine import paths
from engine.errors import CoughscopeError

from ..messages import DataFailed, DataProgress, DataSummarised, Downloaded
from ..widgets.paths import PathSuggester, matches_text

INTRO = (
    "Data set: `demo` (synthetic clips), a Coswara root, a manifest CSV (path,label[,group]) "
    "or a folder with positive/ and negative/. Enter reads it; / types a path; Esc leaves it."
)
NO_DOWNLOADS = "none downloaded"


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
                        id="data-spec", compact=True,
                        suggester=PathSuggester(extra=("demo",),
                                                on_matches=self.show_matches))
            yield Button("Summarise", id="data-summarise", variant="primary", compact=True)
        with Horizontal(classes="row"):
            yield Label("downloaded")
            yield Select([], id="data-downloaded", prompt=NO_DOWNLOADS, compact=True)
            yield Button("Download…", id="data-download", compact=True)
        yield ProgressBar(id="data-progress", show_eta=True)
        yield Static("", id="data-message", classes="message")
        with VerticalScroll(id="data-body"):
            yield Static("", id="data-summary")
            yield DataTable(id="data-excluded", show_cursor=False, zebra_stripes=True)

    def show_matches(self, typed: str, found: list[str]) -> None:
        """Several paths complete what is typed: list them under the field (the suggestion
        goes only as far as they agree)."""
        if not self.is_mounted or self.query_one("#data-spec", Input).value != typed:
            return
        widget = self.query_one("#data-message", Static)
        if len(found) > 1:
            widget.set_class(False, "error")
            widget.update(Text(matches_text(found)))
            self.showing_matches = True
        elif getattr(self, "showing_matches", False):
            widget.update("")
            self.showing_matches = False

    def on_mount(self) -> None:
        self.query_one("#data-progress", ProgressBar).display = False
        self.query_one("#data-excluded", DataTable).display = False
        self.refresh_downloaded()

    def refresh_downloaded(self) -> None:
        """The picker of data sets fetched with Download… / ``coughscope data get``."""
        found = downloaded_sets()
        select = self.query_one("#data-downloaded", Select)
        select.set_options([(f"{name}  ({paths.short_path(spec)})", spec)
                            for name, spec in found])
        select.prompt = "pick one" if found else NO_DOWNLOADS

    @on(Input.Submitted, "#data-spec")
    def _submitted(self) -> None:
        # leave the field, so the screen keys (2 for Models, ...) work straight after Enter
        self.app.action_leave_input()
        self.summarise()

    @on(Button.Pressed, "#data-summarise")
    def action_summarise(self) -> None:
        self.summarise()

    @on(Select.Changed, "#data-downloaded")
    def _picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#data-spec", Input).value = event.value
            self.summarise()

    @on(Button.Pressed, "#data-download")
    def action_download(self) -> None:
        from ..dialogs import DownloadScreen

        def chosen(name: str | None) -> None:
            if name:
                self.start_download(name)

        self.app.push_screen(DownloadScreen(), chosen)

    def start_download(self, name: str) -> None:
        self.set_message(Text(f"downloading {name} (the same as `coughscope data get {name}`)"
                              " …"))
        bar = self.query_one("#data-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.download_worker(name)

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def download_worker(self, name: str) -> None:
        from engine.download import get_dataset

        worker = get_current_worker()

        def factory(label: str) -> Any:
            def report(done: int, total: int | None) -> None:
                if not worker.is_cancelled:
                    self.post_message(DataProgress(done, total or 0, label.strip(),
                                                   unit="bytes"))
            return report

        try:
            result = get_dataset(name, progress_factory=factory)
        except CoughscopeError as err:
            self.post_message(DataFailed(name, err.message, err.hint))
            return
        except Exception as exc:  # noqa: BLE001 - show it instead of killing the app
            self.post_message(DataFailed(
                name, f"downloading {name!r} failed: {type(exc).__name__}: {exc}",
                f"try `coughscope data get {name}` for the full error"))
            return
        self.post_message(Downloaded(name, str(result)))

    def on_downloaded(self, message: Downloaded) -> None:
        self.refresh_downloaded()
        self.query_one("#data-spec", Input).value = message.spec
        self.summarise()

    @on(Input.Changed, "#data-spec")
    def _spec_changed(self, event: Input.Changed) -> None:
        self.app.data_spec = event.value.strip() or "demo"

    def summarise(self) -> None:
        spec = self.query_one("#data-spec", Input).value.strip() or "demo"
        self.app.data_spec = spec
        self.app.remember(data=spec)
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
        if message.unit == "bytes":
            done = human_bytes(message.done)
            amount = f"{done} of {human_bytes(message.total)}" if message.total else done
        elif message.total:
            amount = f"{message.done}/{message.total} clips"
        else:
            self.set_message(Text(f"{message.stage} …"))
            return
        self.set_message(Text(f"{message.stage}: {amount}"))

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
        self.show_excluded(summary.get("excluded") or [], str(summary.get("root", "")))

    def show_excluded(self, excluded: list[dict[str, str]], root: str = "") -> None:
        table = self.query_one("#data-excluded", DataTable)
        # new columns each time: a cleared table keeps the old widths, which cut new paths
        table.clear(columns=True)
        title = f"excluded clip ({len(excluded)})"
        table.add_columns(title, "reason", "stage")
        rows = [(short_clip_path(str(item.get("path", "")), root), str(item.get("reason", "")),
                 str(item.get("stage", ""))) for item in excluded]
        # every reason whole (issue 20, bug 7: "clipped (1.2% of samples" at 80x24): when
        # the row is wider than the room, the path is cut at its start (the file name
        # stays) and the reason wraps onto more lines
        room = (self.size.width or self.app.size.width - 2) - 2 * 3 - 2  # pads, scrollbar
        widths = [max([len(title), *(len(r[0]) for r in rows)]),
                  max([6, *(len(r[1]) for r in rows)]), max([5, *(len(r[2]) for r in rows)])]
        if sum(widths) > room:
            widths[0] = min(widths[0], max(16, int(room * 0.45)))
            widths[1] = max(12, room - widths[0] - widths[2])
        for path, reason, stage in rows:
            lines = textwrap.wrap(reason, widths[1]) or [""]
            shown = path if len(path) <= widths[0] else "…" + path[len(path) - widths[0] + 1:]
            table.add_row(Text(shown), Text("\n".join(lines)), stage,
                          height=len(lines))
        table.display = bool(excluded)


def summary_table(summary: dict[str, Any]) -> Table:
    """The summary as a two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    labels = summary.get("labels") or {}
    durations = summary.get("durations") or {}
    rates = summary.get("sample_rates") or {}
    kind = str(summary.get("kind", ""))
    usable = int(summary.get("usable", 0) or 0)
    groups = int(summary.get("groups", 0) or 0)
    rows: list[tuple[str, Any]] = [
        ("data", Text(str(summary.get("description", "")))),
        ("kind", Text(kind + ("  (SYNTHETIC: not real coughs)" if summary.get("synthetic")
                              else ""), style="bold" if summary.get("synthetic") else "")),
        ("where", Text(paths.short_path(summary["root"]) if summary.get("root") else "—")),
        ("clips", f"{summary.get('clips', 0)} found, {usable} usable, "
                  f"{len(summary.get('excluded') or [])} excluded"),
        ("labels", ", ".join(f"{k} {v}" for k, v in labels.items())),
        ("groups", f"{groups} (participants; splits keep them apart)"),
    ]
    if usable and groups == usable:
        rows.append(("note", "each clip counts as its own participant (the data set names no "
                             "participants): a person with two clips could be in train and "
                             "test"))
    if durations:
        rows.append(("duration", f"min {durations.get('min', 0):.2f} s, median "
                                 f"{durations.get('median', 0):.2f} s, max "
                                 f"{durations.get('max', 0):.2f} s"))
    if rates:
        rows.append(("sample rate", ", ".join(f"{r} Hz × {n}" for r, n in rates.items())))
    channels = summary.get("channels") or {}
    if channels:
        rows.append(("channels", ", ".join(f"{c}: {n}" for c, n in channels.items())))
    for column, values in (summary.get("meta") or {}).items():
        shown = list(values.items())
        rows.append((column, Text(", ".join(f"{k} {v}" for k, v in shown[:8]) +
                                  (", …" if len(shown) > 8 else ""))))
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


def short_clip_path(path: str, root: str) -> str:
    """A clip's path relative to its data set's root (else shortened with ~ or ./)."""
    prefix = root.rstrip("/") + "/"
    if root and path.startswith(prefix):
        return path[len(prefix):]
    return paths.short_path(path) if path.startswith("/") else path


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB`` (the command line's progress uses the same words)."""
    from engine.progress import human_bytes as words

    return words(n)


def downloaded_sets() -> list[tuple[str, str]]:
    """(name, spec) of each catalogue data set found under the data directory."""
    from engine.download import load_catalogue  # reads data/catalogue.toml (tomllib only)

    found = []
    try:
        catalogue = load_catalogue()
    except CoughscopeError:
        return []
    for name in catalogue:
        folder = paths.data_dir() / name
        if not folder.is_dir() or not any(folder.iterdir()):
            continue
        inner = str(catalogue[name].extra.get("folder") or "")  # e.g. COUGHVID's public_dataset
        if inner and (folder / inner).is_dir():
            folder = folder / inner
        manifest = folder / "manifest.csv"
        found.append((name, str(manifest if manifest.is_file() else folder)))
    return found


def spec_problem(spec: str) -> str | None:
    """A message when ``spec`` looks like a path that does not exist."""
    from engine.sources import spec_path  # coughvid:PATH?options -> PATH

    path = spec_path(spec)
    if path is None or path.exists():
        return None
    if "/" in spec or spec.startswith(".") or spec.endswith(".csv"):
        return f"data path {spec!r} does not exist"
    return None
