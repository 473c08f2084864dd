"""The Classify screen: pick a finished run, then a file (browser or typed path) or a
recording, and see what each of the run's models says about it.

Shows the cleaned waveform, the log-mel spectrogram, the input warnings, and per model the
probability (bar), the label, the seed spread and agreement, and the run's held-out AUC. The
research-tool disclaimer stays on screen.

Loading a run's models imports torch and classifying imports librosa, so both run in a thread
worker; each run's :class:`engine.inference.Classifier` is loaded once and cached. Recording
(:mod:`engine.recording`) runs in another thread worker with a countdown, a level meter and a
Stop button; when this machine has no microphone the Record button is disabled and the reason
(from :func:`engine.recording.recording_status`) is shown.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, DirectoryTree, Input, Label, Select, Static

from engine import paths
from engine.errors import CoughscopeError
from engine.runs import RunDir, list_runs

from engine.errors import RunError
from engine.runs import read_summary, trained_on_synthetic, trusted_auc

from ..fit import SCROLLBAR, fit_columns, moved_text
from ..widgets.paths import PathSuggester, matches_text
from ..widgets.audio_view import probability_bar, sparkline, spectrogram_text
from .results import mean_std

# the same sentence as engine.inference.DISCLAIMER (kept here so showing it needs no numpy;
# tests/test_tui_classify.py checks that the two agree)
DISCLAIMER = ("coughscope is a research tool, not a diagnostic device: these probabilities must "
              "not be used to decide whether anyone has COVID-19.")
RECORD_SECONDS = 5.0
COUNTDOWN_SECONDS = 3
SPECTROGRAM_ROWS = 8


MODEL_COLUMNS = ("model", "P(positive)", "label", "threshold", "seed spread", "AUC to trust")


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def spectrogram_caption(result: Any) -> str:
    """The log-mel's title line: its bands and, for a clip shorter than the image, what fills
    the rest (the run's ``[preprocess] pad``), so repeated coughs are not read as several."""
    caption = f"log-mel spectrogram ({result.logmel.shape[0]} mel bands, low at the bottom"
    if result.filled == "repeat":
        caption += "; the clip repeated to fill it"
    elif result.filled == "zero":
        caption += "; silence after the clip"
    return caption + ")\n"


def label_style(label: str, no_color: bool) -> str:
    """A label's style in the models table. Without colour, red and green are greys close to
    the rows' background (237 on 234): positive is reversed, negative bold."""
    if no_color:
        return "bold reverse" if label == "positive" else "bold"
    return "bold red" if label == "positive" else "bold green"


def run_choice(run: RunDir) -> Text:
    """A finished run as the picker shows it: ``20240501-1200… · demo · ann,logreg · AUC
    0.810 ann`` (not a bare ID: which data, which models, how good)."""
    from .runs import describe_run

    row = describe_run(run)
    text = Text(run.id, no_wrap=True, overflow="ellipsis")
    for part in (row.data_name, row.models, f"best AUC {row.best}" if row.best != "—" else ""):
        if part:
            text.append(f" · {part}")
    return text


def level_meter(level_db: float, elapsed: float, seconds: float, width: int = 30) -> Text:
    """``● REC  1.2 s / 5.0 s  [#####.....]  -23 dBFS``"""
    fill = max(0, min(width, int((level_db + 60) / 60 * width)))
    text = Text("● REC ", style="bold red")
    text.append(f"{elapsed:4.1f} s / {seconds:.1f} s  [")
    text.append("#" * fill, style="green" if level_db < -3 else "bold red")
    text.append("." * (width - fill) + f"]  {level_db:6.1f} dBFS")
    return text


def shown_folder(path: Path) -> str:
    text = shown_path(path)
    return text if len(text) <= 18 else "…" + text[-17:]


def mic_summary(ok: bool, sentence: str) -> tuple[str, str]:
    """One line for the screen, and the rest (PortAudio's words) behind "details"."""
    if ok:
        head, _, rest = sentence.partition(". ")
        return head, rest
    return ("No microphone here: Record is off (classify a file instead).",
            " ".join(sentence.split()))


# a constant predictor: its "vote" says nothing about the clip
NO_VOTE = ("majority",)


def overall_verdict(result: Any) -> Text:
    """The line above the per-model answers, from a :class:`~engine.inference.FileResult`:
    how many models call the clip positive and, when the run has one, the ensemble's label
    (else the majority's), labelled as a research result. One function on purpose: the
    calibrated probability and a trusted AUC go beside it later."""
    verdicts = [v for v in (getattr(result, "verdicts", None) or [])
                if v.probability is not None]
    voters = [v for v in verdicts if v.model not in NO_VOTE and v.model != "ensemble"]
    ensemble = next((v for v in verdicts if v.model == "ensemble"), None)
    text = Text("Research result, not a diagnosis: ", style="bold")
    if not verdicts:
        text.append("no model gave an answer")
        return text
    positive = sum(v.label == "positive" for v in voters)
    if ensemble is not None:
        text.append("ensemble says ")
        text.append(ensemble.label.upper(), style="bold reverse")
        what = "; "
    elif voters and positive * 2 != len(voters):
        label = "positive" if positive * 2 > len(voters) else "negative"
        # one model is not "most models" (issue 20, bug 8)
        text.append("most models say " if len(voters) > 1 else f"{voters[0].model} says ")
        text.append(label.upper(), style="bold reverse")
        what = "; "
    elif voters:
        text.append("the models are split")
        what = ": "
    else:
        text.append("only a baseline answered")
        return text
    lead = ensemble or max(voters, key=_trust_value, default=None)
    if lead is not None:
        text.append(f" ({lead_note(lead)})")
    if len(voters) > 1:
        text.append(f"{what}{positive} of {len(voters)} models call it positive")
    elif voters and ensemble is not None:
        text.append(f"{what}{voters[0].model} calls it {voters[0].label}")
    left_out = sorted({v.model for v in verdicts if v.model in NO_VOTE})
    if left_out:
        text.append(f" ({', '.join(left_out)} baseline not counted)", style="dim")
    return text


def _trust_value(v: Any) -> float:
    t = getattr(v, "trusted_auc", None) or {}
    return float(t.get("roc_auc") or 0.0)


def trust_text(t: dict[str, Any] | None, test_auc: float | None = None) -> str:
    """``.78 [.71–.85] within source``: the AUC the channel cannot inflate
    (:func:`engine.runs.trusted_auc`), labelled; the test AUC marked as such when no confound
    was found."""
    if not t or t.get("roc_auc") is None:
        return f"{test_auc:.2f} test" if test_auc is not None else "—"
    ci = t.get("roc_auc_ci")
    span = f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else ""
    label = "test, no confound" if t.get("kind") == "test" else t.get("label", "")
    return f"{t['roc_auc']:.2f}{span} {label}"


def lead_note(v: Any) -> str:
    """The leading model's calibrated probability and the AUC to trust beside it."""
    p = v.calibrated if getattr(v, "calibrated", None) is not None else v.probability
    cal = "calibrated" if getattr(v, "calibration", "none") != "none" else "uncalibrated"
    return (f"{v.model} P {p:.2f} {cal}; AUC to trust "
            f"{trust_text(getattr(v, 'trusted_auc', None), getattr(v, 'test_auc', None))}")


def verdict_text(verdicts: list[Any], result: Any = None) -> Text:
    """Per model, the answer with its reason: ``ann  P 0.42 < 0.50 → negative``; with
    ``result``, the overall line (:func:`overall_verdict`) first."""
    text = Text()
    if result is not None:
        text.append_text(overall_verdict(result))
        text.append("\n")
    points = set()
    for v in verdicts:
        if v.probability is None:
            continue
        p, cut = shown_probability(v)
        sign = "≥" if p >= cut else "<"
        text.append(f"{v.model:<9}", style="bold")
        text.append(f" P {p:.2f} {sign} threshold {cut:.2f} → ")
        text.append(v.label, style="bold reverse" if v.label == "positive" else "bold")
        text.append("\n")
        points.add(getattr(v, "operating_point", "youden"))
    if text.plain:
        calibrated = any(getattr(v, "calibration", "none") != "none" for v in verdicts)
        text.append(("P: calibrated on predictions the models did not train on; "
                     if calibrated else "P: uncalibrated (a run made before calibration); ")
                    + f"threshold: the run's operating point ({', '.join(sorted(points))}), "
                    "mean over seeds", style="dim")
    return text


def shown_probability(v: Any) -> tuple[float, float]:
    """The probability and threshold a verdict is read on: calibrated when the run has a
    calibration (the label is decided there), else the raw output."""
    if getattr(v, "calibrated", None) is not None and \
            getattr(v, "calibrated_threshold", None) is not None:
        return float(v.calibrated), float(v.calibrated_threshold)
    return float(v.probability), float(v.threshold)


# ------------------------------------------------------------------ worker messages


class Classified(Message):
    def __init__(self, run_id: str, result: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.result = result


class ClassifyFailed(Message):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__()
        self.message = message
        self.hint = hint


class MicStatus(Message):
    def __init__(self, ok: bool, sentence: str) -> None:
        super().__init__()
        self.ok = ok
        self.sentence = sentence


class RecordProgress(Message):
    """Countdown text, or a level reading; a newer one replaces an older one still queued."""

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RecordProgress)


class RecordDone(Message):
    def __init__(self, path: Path | None, message: str = "", hint: str = "") -> None:
        super().__init__()
        self.path = path
        self.message = message
        self.hint = hint


# ------------------------------------------------------------------ widgets


class Shown(Static):
    """A Static that takes no room while it is empty (the verdict stays near the top)."""

    def update(self, content: Any = "") -> None:
        super().update(content)
        self.display = bool(str(content).strip() if not isinstance(content, Text)
                            else content.plain.strip())


class AudioTree(DirectoryTree):
    """A file browser showing folders and audio files only (hidden entries left out)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        from engine.audio import AUDIO_EXTS  # numpy: first directory listing only

        return [p for p in paths if not p.name.startswith(".") and
                (p.is_dir() or p.suffix.lower() in AUDIO_EXTS)]


class ClassifyView(Vertical):
    TITLE = "Classify"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finished: list[RunDir] = []
        self.classifiers: dict[str, Any] = {}  # run path -> engine.inference.Classifier
        self._classifiers_lock = threading.Lock()
        self.last_result: Any = None  # the FileResult shown
        self.last_run_id: str | None = None
        self.mic_ok: bool | None = None  # None: still checking
        self.mic_sentence = ""
        self.stream_factory: Callable[..., Any] | None = None  # tests inject a fake stream
        self.record_seconds = RECORD_SECONDS
        self.countdown = COUNTDOWN_SECONDS
        self.recording = False
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(DISCLAIMER, id="classify-disclaimer", classes="warning")
        with Horizontal(classes="row"):
            yield Label("run")
            yield Select([], id="classify-run", prompt="pick a finished run", compact=True)
        with Horizontal(classes="row"):
            yield Input(placeholder="audio file path (or pick one below; / types here)",
                        id="classify-path", compact=True,
                        suggester=PathSuggester(on_matches=self.show_matches))
            yield Button("Classify", id="classify-go", variant="primary", compact=True)
            yield Button("Record", id="classify-record", disabled=True, compact=True)
            yield Button("Stop", id="classify-stop", variant="error", disabled=True,
                         compact=True)
        with Horizontal(classes="row"):
            yield Static("checking for a microphone …", id="classify-mic", classes="note")
            yield Button("details", id="classify-mic-details-toggle", compact=True)
        yield Static("", id="classify-mic-details", classes="note")
        with Horizontal(id="classify-body"):
            with Vertical(id="classify-files"):
                yield Button("↑ parent folder", id="classify-up", compact=True)
                yield AudioTree(Path.cwd(), id="classify-tree")
            with VerticalScroll(id="classify-out"):
                # the verdict first: at 80x24 the pictures come after the numbers
                yield Shown("", id="classify-status", classes="message")
                yield Shown("", id="classify-level")
                yield Shown("", id="classify-verdict")
                yield DataTable(id="classify-models", cursor_type="row", zebra_stripes=True)
                yield Shown("", id="classify-moved")
                yield Static("", id="classify-how")
                yield Shown("", id="classify-warnings", classes="warning")
                yield Shown("", id="classify-wave")
                yield Shown("", id="classify-spec")

    def on_mount(self) -> None:
        self.table_rows: dict[str, list[Any]] = {}
        self.shown_columns = 0
        self.show_models_table()
        self.query_one("#classify-mic-details-toggle", Button).display = False
        for empty in self.query(Shown):
            empty.display = False
        self.query_one("#classify-mic-details", Static).display = False
        self.refresh_runs()
        self.mic_worker()

    @on(Button.Pressed, "#classify-up")
    def action_up(self) -> None:
        """The file tree shows the parent of its folder (it starts at the working folder)."""
        tree = self.query_one("#classify-tree", AudioTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self.query_one("#classify-up", Button).label = f"↑ {shown_folder(parent)}/.."

    @on(Button.Pressed, "#classify-mic-details-toggle")
    def action_mic_details(self) -> None:
        details = self.query_one("#classify-mic-details", Static)
        details.display = not details.display

    def on_show(self) -> None:
        self.refresh_runs()

    def action_refresh(self) -> None:
        self.refresh_runs()

    # ------------------------------------------------------------------ runs

    def refresh_runs(self) -> None:
        """Finished runs, newest first; keeps the chosen one, else picks the latest."""
        self.finished = [r for r in list_runs(self.app.runs_dir)
                         if r.status().get("state") == "finished"]
        select = self.query_one("#classify-run", Select)
        current = select.value
        ids = [run.id for run in self.finished]
        select.set_options([(run_choice(run), run.id) for run in self.finished])
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

    def selected_run(self) -> RunDir | None:
        value = self.query_one("#classify-run", Select).value
        return next((r for r in self.finished if r.id == value), None)

    def show_run(self, run_id: str) -> None:
        """The run's models with their held-out AUC (before anything is classified)."""
        run = next((r for r in self.finished if r.id == run_id), None)
        if run is None:
            return
        if self.last_result is not None and self.last_run_id == run_id:
            self._fill_table(run, self.last_result.verdicts or [])
        else:
            # another run: the previous run's answer (status, verdict, warnings, pictures)
            # must not stay above this run's table (issue 20, bug 5)
            self.clear_result()
            self.set_status("")
            self.last_run_id = None
        how = Text(f"Models of run {run.id}.", style="bold")
        if trained_on_synthetic(run):
            how.append(" WARNING: trained on SYNTHETIC demo data — its answers say nothing "
                       "about real coughs.", style="bold reverse")
        how.append("\nPick an audio file on the left, type its path, or record one. "
                   "The same from a shell:\n")
        how.append(f"  coughscope predict FILE.wav --run {shown_path(run.path)}")
        self.query_one("#classify-how", Static).update(how)

    def on_resize(self) -> None:
        if getattr(self, "table_rows", None):
            self.call_after_refresh(self.show_models_table)

    def show_models_table(self) -> None:
        """The per-model table with the columns that fit whole beside the file tree
        (issue 20, bug 7: "seed spread" and "AUC to trust" were cut at 80x24); the others
        are shown for the highlighted model under it."""
        table = self.query_one("#classify-models", DataTable)
        rows = list(self.table_rows.values())
        out = self.query_one("#classify-out")
        room = (out.size.width or self.app.size.width // 2) - SCROLLBAR
        shown = fit_columns(MODEL_COLUMNS, rows, room, keep=3)
        if shown != self.shown_columns or not table.columns:
            table.clear(columns=True)
            table.add_columns(*MODEL_COLUMNS[:shown])
            self.shown_columns = shown
        else:
            table.clear()
        for name, cells in self.table_rows.items():
            table.add_row(*cells[:shown], key=name)
        self.show_moved()

    @on(DataTable.RowHighlighted, "#classify-models")
    def show_moved(self) -> None:
        moved = self.query_one("#classify-moved", Shown)
        table = self.query_one("#classify-models", DataTable)
        names = list(self.table_rows)
        if self.shown_columns >= len(MODEL_COLUMNS) or not names:
            moved.update("")
            return
        name = names[min(max(table.cursor_row, 0), len(names) - 1)]
        moved.update(moved_text(MODEL_COLUMNS[self.shown_columns:],
                                self.table_rows[name][self.shown_columns:], name))

    def _fill_table(self, run: RunDir, verdicts: list[Any]) -> None:
        self.table_rows = {}
        try:
            self._collect_rows(run, verdicts)
        finally:
            self.show_models_table()

    def _collect_rows(self, run: RunDir, verdicts: list[Any]) -> None:
        try:
            typed = read_summary(run)
        except RunError:
            typed = None
        summary_models = (typed.raw.get("models") if typed else None) or {}
        by_name = {v.model: v for v in verdicts}
        names = list(summary_models) + [n for n in by_name if n not in summary_models]
        for name in names:
            entry = summary_models.get(name) or {}
            verdict = by_name.get(name)
            auc = (entry.get("metrics") or {}).get("roc_auc")
            if auc is None and verdict is not None and verdict.test_auc is not None:
                auc = verdict.test_auc
            seeds = len(entry.get("seeds") or []) or (len(verdict.seeds) if verdict else 0)
            if verdict is None:
                trusted = trusted_auc(entry) if entry else None
                shown = trust_text(trusted) if trusted else mean_std(auc)
                self.table_rows[name] = [name, "—", "—", "—",
                                         f"{seeds} seed{'s' if seeds != 1 else ''}", shown]
                continue
            label = Text(verdict.label, style=label_style(verdict.label, self.app.no_color))
            spread = f"± {verdict.spread:.2f}, {verdict.agreement:.0%} agree"
            p, cut = shown_probability(verdict)
            self.table_rows[name] = [name, probability_bar(p), label, f"{cut:.2f}", spread,
                                     trust_text(getattr(verdict, "trusted_auc", None),
                                                getattr(verdict, "test_auc", None))]

    # ------------------------------------------------------------------ classify a file

    @on(Input.Submitted, "#classify-path")
    def _submitted(self) -> None:
        self.app.action_leave_input()  # screen keys work straight after Enter
        self.action_classify()

    @on(Button.Pressed, "#classify-go")
    def action_classify(self) -> None:
        self.classify(self.query_one("#classify-path", Input).value.strip())

    @on(DirectoryTree.FileSelected, "#classify-tree")
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#classify-path", Input).value = str(event.path)
        self.classify(str(event.path))

    def show_matches(self, typed: str, found: list[str]) -> None:
        """Several files complete what is typed: list them (the suggestion goes only as far
        as they agree)."""
        if not self.is_mounted or self.query_one("#classify-path", Input).value != typed:
            return
        if len(found) > 1:
            self.set_status(matches_text(found))
            self.showing_matches = True
        elif getattr(self, "showing_matches", False):
            self.set_status("")
            self.showing_matches = False

    def set_status(self, text: Text | str, error: bool = False) -> None:
        widget = self.query_one("#classify-status", Static)
        widget.set_class(error, "error")
        widget.update(text if isinstance(text, Text) else Text(text))

    def show_error(self, message: str, hint: str = "") -> None:
        text = Text(message, style="bold")
        if hint:
            text.append(f"\nhint: {hint}", style="")
        self.set_status(text, error=True)

    def clear_result(self) -> None:
        """Forget the shown result: an error must not sit beside the previous file's numbers."""
        self.last_result = None
        self._clear_pictures()
        self.query_one("#classify-warnings", Static).update("")
        self.query_one("#classify-verdict", Static).update("")
        run = self.selected_run()
        if run is not None:
            self._fill_table(run, [])

    def classify(self, path_text: str) -> None:
        """Check the path and the run here; load and classify in a thread."""
        self.clear_result()
        if not path_text:
            self.show_error("no file given", "type an audio file's path, or pick one on the left")
            return
        path = Path(path_text).expanduser()
        if path.is_dir():
            self.query_one("#classify-tree", AudioTree).path = path
            self.show_error(f"{path} is a folder", "pick a file in it on the left (or run "
                            f"`coughscope predict {path_text}` for every file)")
            return
        if not path.exists():
            self.show_error(f"{path} does not exist", "check the path")
            return
        run = self.selected_run()
        if run is None:
            self.show_error("no finished run to classify with",
                            "train models first (Models screen, key 2) or open the Runs screen")
            return
        self.set_status(Text(f"classifying {path.name} with run {run.id} … (the first time "
                             "loads the run's models)"))
        self.classify_worker(run, str(path))

    def classifier_for(self, run: RunDir) -> Any:
        """The run's :class:`~engine.inference.Classifier`, loaded once (imports torch)."""
        key = str(run.path.resolve())
        with self._classifiers_lock:
            if key not in self.classifiers:
                from engine.inference import Classifier

                self.classifiers[key] = Classifier(run)
            return self.classifiers[key]

    @work(thread=True, exclusive=True, group="classify", exit_on_error=False)
    def classify_worker(self, run: RunDir, path: str) -> None:
        try:
            result = self.classifier_for(run).classify(path)
        except CoughscopeError as err:
            self.post_message(ClassifyFailed(err.message, err.hint))
            return
        except Exception as exc:  # noqa: BLE001 - show it, keep the app going
            self.post_message(ClassifyFailed(
                f"classifying {path} failed: {type(exc).__name__}: {exc}",
                f"run `coughscope predict {path} --run {run.path}` for the full error"))
            return
        self.post_message(Classified(run.id, result))

    def on_classify_failed(self, message: ClassifyFailed) -> None:
        self.show_error(message.message, message.hint)
        self.app.notify(message.message, title="classify", severity="error", timeout=8)

    def on_classified(self, message: Classified) -> None:
        result = message.result
        chosen = self.selected_run()
        if chosen is None or chosen.id != message.run_id:
            return  # classified with a run no longer chosen: its answer is not this run's
        self.last_result, self.last_run_id = result, message.run_id
        run = next((r for r in self.finished if r.id == message.run_id), None)
        if result.error:
            self.show_error(f"cannot classify {Path(result.path).name}: {result.error}")
            self._clear_pictures()
        else:
            self.set_status(Text(f"{shown_path(Path(result.path))}  ({result.duration:.2f} s "
                                 f"of sound after trimming; run {message.run_id})"))
            self._draw_pictures(result)
            self.query_one("#classify-verdict", Static).update(
                verdict_text(result.verdicts, result))
        warnings = Text()
        for warning in result.warnings:
            warnings.append(f"warning: {warning}\n")
        self.query_one("#classify-warnings", Static).update(warnings)
        if run is not None:
            self._fill_table(run, result.verdicts or [])

    def _clear_pictures(self) -> None:
        for wid in ("#classify-wave", "#classify-spec"):
            self.query_one(wid, Static).update("")

    def _draw_pictures(self, result: Any) -> None:
        width = max(self.query_one("#classify-out").size.width - 2, 20)
        wave = Text("waveform (cleaned)\n", style="bold")
        wave.append(sparkline(result.samples, width))
        self.query_one("#classify-wave", Static).update(wave)
        spec = Text(spectrogram_caption(result), style="bold")
        spec.append_text(spectrogram_text(result.logmel, width, SPECTROGRAM_ROWS,
                                          colour=not self.app.no_color))
        self.query_one("#classify-spec", Static).update(spec)

    # ------------------------------------------------------------------ recording

    @work(thread=True, exclusive=True, group="mic", exit_on_error=False)
    def mic_worker(self) -> None:
        """Ask PortAudio for a microphone (imports sounddevice) off the UI thread."""
        from engine.recording import recording_status

        ok, sentence = recording_status()
        self.post_message(MicStatus(ok, sentence))

    def on_mic_status(self, message: MicStatus) -> None:
        if self.stream_factory is not None:
            return  # an injected stream (tests) stands in for the microphone
        self.set_mic(message.ok, message.sentence)

    def set_mic(self, ok: bool, sentence: str) -> None:
        self.mic_ok, self.mic_sentence = ok, sentence
        button = self.query_one("#classify-record", Button)
        button.disabled = not ok or self.recording
        button.tooltip = sentence
        first, details = mic_summary(ok, sentence)
        self.query_one("#classify-mic", Static).update(Text(first))
        self.query_one("#classify-mic-details", Static).update(Text(details))
        self.query_one("#classify-mic-details-toggle", Button).display = bool(details)

    def use_stream(self, factory: Callable[..., Any], name: str = "injected input stream") -> None:
        """Record from ``factory`` (``sounddevice.InputStream``'s signature) instead of the
        microphone: the recording flow's tests."""
        self.stream_factory = factory
        self.set_mic(True, f"recording from {name}")

    @on(Button.Pressed, "#classify-record")
    def action_record(self) -> None:
        self.start_recording()

    @on(Button.Pressed, "#classify-stop")
    def action_stop_recording(self) -> None:
        self._stop.set()

    def start_recording(self) -> None:
        if not self.mic_ok:
            self.show_error(self.mic_sentence or "still checking for a microphone",
                            "classify a file instead")
            return
        if self.recording:
            return
        self.recording = True
        self._stop = threading.Event()
        self.query_one("#classify-record", Button).disabled = True
        self.query_one("#classify-stop", Button).disabled = False
        out = paths.data_dir() / "recordings" / time.strftime("cough-%Y%m%d-%H%M%S.wav")
        self.record_worker(out, self.record_seconds, self.countdown, self._stop)

    @work(thread=True, exclusive=True, group="record", exit_on_error=False)
    def record_worker(self, out: Path, seconds: float, countdown: int,
                      stop: threading.Event) -> None:
        from engine.recording import record

        for i in range(countdown, 0, -1):
            self.post_message(RecordProgress(Text(f"recording starts in {i} …", style="bold")))
            if stop.wait(1.0):
                self.post_message(RecordDone(None, "recording cancelled before it started"))
                return
        self.post_message(RecordProgress(Text("● REC  cough now", style="bold red")))
        try:
            record(seconds, out, stream_factory=self.stream_factory, should_stop=stop.is_set,
                   on_level=lambda db, t: self.post_message(
                       RecordProgress(level_meter(db, t, seconds))))
        except CoughscopeError as err:
            self.post_message(RecordDone(None, err.message, err.hint))
            return
        except Exception as exc:  # noqa: BLE001 - PortAudio errors mid-recording
            self.post_message(RecordDone(None, f"recording failed: {type(exc).__name__}: {exc}",
                                         "check the input device, or classify a file instead"))
            return
        self.post_message(RecordDone(out))

    def on_record_progress(self, message: RecordProgress) -> None:
        self.query_one("#classify-level", Static).update(message.text)

    def on_record_done(self, message: RecordDone) -> None:
        self.recording = False
        self.query_one("#classify-record", Button).disabled = not self.mic_ok
        self.query_one("#classify-stop", Button).disabled = True
        if message.path is None:
            self.query_one("#classify-level", Static).update("")
            self.show_error(message.message, message.hint)
            return
        self.query_one("#classify-level", Static).update(Text(f"saved {message.path}"))
        self.query_one("#classify-path", Input).value = str(message.path)
        self.classify(str(message.path))
