"""``coughscope demo``: the recorded demo, made by driving the real app with no one at a keyboard.

This module owns the demo *story* -- Data (summary of the built-in synthetic set), Models
(pick models, seeds, epochs), Training (live epoch points), Results, Confusion, Classify --
played by a Textual pilot against the real app at a fixed terminal size, and what it leaves
in the output folder:

* ``01-data.svg`` … ``06-classify.svg``: one screenshot per screen (:data:`SHOTS`);
* ``demo.cast``: an asciinema v2 recording of the session when ``asciinema`` is installed.

The same command writes the same SVGs (on one machine: the Classify screen says whether it
has a microphone): the data and the runner are seeded and train on the CPU, the header shows a
fixed device text and no clock, the terminal size is fixed, text cursors do not blink, the run
id is fixed (:data:`RUN_ID`), the work folder (data, cache, runs) is a temporary folder that
is also the working directory (shown paths are relative; the Classify file browser is rooted
at ``.``), the training time ("took …") is left out of the Training capture, and the SVG's
``terminal-<hash>`` CSS prefix becomes ``terminal-<shot name>`` (:func:`normalise_svg`).

The cast is what the app writes to its terminal, captured by a driver that records instead of
printing (:class:`CastRecorder`), so it costs no second run; long waits are shortened to
:data:`IDLE_LIMIT` seconds and each screenshot is held :data:`HOLD_SECONDS` on screen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, Sequence

from engine.errors import ConfigError, CoughscopeError, ExitCode, RunError

if TYPE_CHECKING:  # textual loads only when the demo runs
    from textual.driver import Driver
    from textual.pilot import Pilot

    from .app import CoughscopeApp

SHOTS = ("01-data", "02-models", "03-training", "04-results", "05-confusion", "06-classify")
RUN_ID = "demo"
DEVICE_TEXT = "cpu (the demo trains on the CPU)"
CLIP_NAME = "cough.wav"  # the demo recording classified on the Classify screen
CAST_NAME = "demo.cast"
IDLE_LIMIT = 1.0
HOLD_SECONDS = 2.5
WAIT_SECONDS = 600.0  # longest wait for reading the data or for training
SHORT_WAIT = 180.0  # for anything else (the first use of torch or librosa included)
STEP = 0.1
SVG_CHAR_WIDTH = 12.2  # rich's SVG export: one terminal cell is 0.61 x its 20 px font


@dataclass(frozen=True)
class DemoOptions:
    """What ``coughscope demo`` was asked for."""

    out: Path = Path("demo-out")
    data: str = "demo"
    models: tuple[str, ...] = ("ann", "cnn", "logreg")
    seeds: int = 2
    epochs: int = 4
    size: tuple[int, int] = (140, 40)  # the Results table's columns fit at 140
    cast: bool = True


@dataclass
class DemoResult:
    """What the demo wrote, and what it could not show."""

    screenshots: list[Path] = field(default_factory=list)
    cast: Path | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- arguments


def parse_size(text: str) -> tuple[int, int]:
    """``"120x36"`` -> ``(120, 36)``; :class:`ConfigError` naming the value otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise ConfigError(f"--size {text!r} is not WIDTHxHEIGHT", "e.g. --size 120x36")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 80 or height < 24:
        raise ConfigError(f"--size {text} is smaller than the app's 80x24",
                          "use at least --size 80x24 (the default is 140x40)")
    return width, height


def parse_models(text: str) -> tuple[str, ...]:
    """``"ann,cnn"`` -> ``("ann", "cnn")``, checked against the model registry."""
    from engine.models import MODELS  # numpy (~250 ms)

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in MODELS]
    if not names or unknown:
        raise ConfigError(f"--models {text!r}: unknown model(s) {', '.join(unknown) or '(none)'}",
                          f"pick from: {', '.join(MODELS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    defaults = DemoOptions()
    parser = argparse.ArgumentParser(
        prog="coughscope demo",
        description="Drive the real app through the whole story on the built-in synthetic "
                    "data (data summary, model picking, live training, results, confusion "
                    "matrix, classifying a file) and write an SVG screenshot of each screen, "
                    "plus an asciinema cast when asciinema is installed. The same command "
                    "writes the same screens.")
    parser.add_argument("--out", metavar="DIR", default=str(defaults.out),
                        help="folder for the screenshots and the cast (default ./demo-out)")
    parser.add_argument("--data", metavar="SPEC", default=defaults.data,
                        help="data set (default: demo, the built-in synthetic set; demo:N "
                             "for N clips)")
    parser.add_argument("--models", metavar="LIST", default=",".join(defaults.models),
                        help="models to train, comma-separated (default ann,cnn,logreg)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, metavar="N",
                        help=f"seeds per model (default {defaults.seeds})")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, metavar="N",
                        help=f"epochs per model (default {defaults.epochs})")
    parser.add_argument("--size", default="x".join(map(str, defaults.size)), metavar="WxH",
                        help="terminal size of the captures (default 140x40)")
    parser.add_argument("--no-cast", action="store_true",
                        help="write only the SVGs, no asciinema cast")
    return parser


def parse_args(argv: Sequence[str]) -> DemoOptions:
    args = build_parser().parse_args(list(argv))
    for name in ("seeds", "epochs"):
        value = getattr(args, name)
        if not 1 <= value <= 1000:
            raise ConfigError(f"--{name} {value} is out of range", f"use 1 to 1000 {name}")
    return DemoOptions(out=Path(args.out).expanduser(), data=args.data,
                       models=parse_models(args.models), seeds=args.seeds, epochs=args.epochs,
                       size=parse_size(args.size), cast=not args.no_cast)


# ---------------------------------------------------------------------------- SVG


def normalise_svg(svg: str, name: str) -> str:
    """Replace the screenshot's content-hash CSS prefix with one named after the shot."""
    return re.sub(r"terminal-\d+", f"terminal-{name}", svg)


def svg_text(svg: str) -> str:
    """The text of an SVG screenshot, one line per terminal row, spaces where the screen
    has blank cells (for tests and for reading a capture without a browser)."""
    rows: dict[int, list[tuple[int, int, str]]] = {}
    for attributes, text in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', attributes))
        line = re.search(r"-line-(\d+)\)", attrs.get("clip-path", ""))
        if line is None or "x" not in attrs:
            continue  # the window title
        column = round(float(attrs["x"]) / SVG_CHAR_WIDTH)
        cells = round(float(attrs.get("textLength", 0)) / SVG_CHAR_WIDTH)
        rows.setdefault(int(line.group(1)), []).append((column, cells, html.unescape(text)))
    lines = []
    for _, spans in sorted(rows.items()):
        out, used = "", 0
        for column, cells, text in sorted(spans):
            out += " " * max(0, column - used) + text
            used = max(used, column) + cells
        lines.append(out.replace("\xa0", " ").rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------- cast


class CastRecorder:
    """Collects what the app writes to its terminal, with times, as an asciinema v2 cast."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.started = time.monotonic()
        self.held = 0.0  # hold time not yet given to an event
        self.events: list[tuple[float, float, str]] = []  # (real time, held before, data)

    def write(self, data: str) -> None:
        if data:
            self.events.append((time.monotonic() - self.started, self.held, data))
            self.held = 0.0

    def hold(self, seconds: float) -> None:
        """Keep the current screen up for ``seconds`` more in the cast (a screenshot)."""
        self.held += seconds

    def lines(self, title: str, idle_limit: float = IDLE_LIMIT) -> list[str]:
        """The cast file's lines: a JSON header, then ``[time, "o", data]`` events; real
        gaps longer than ``idle_limit`` (waiting for training) are shortened to it."""
        width, height = self.size
        header = {"version": 2, "width": width, "height": height, "title": title,
                  "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"}}
        out = [json.dumps(header)]
        clock, last = 0.0, 0.0
        for when, held, data in self.events:
            clock += min(when - last, idle_limit) + held
            last = when
            out.append(json.dumps([round(clock, 6), "o", data]))
        return out

    def save(self, path: Path, title: str) -> Path:
        from engine.paths import atomic_write_text

        atomic_write_text(path, "\n".join(self.lines(title)) + "\n")
        return path


def recording_driver(recorder: CastRecorder) -> type[Driver]:
    """A driver class that behaves like a terminal for the app but writes into ``recorder``."""
    from textual.drivers.headless_driver import HeadlessDriver

    class RecordingDriver(HeadlessDriver):
        @property
        def is_headless(self) -> bool:
            return False  # so the app renders its frames (to us)

        def start_application_mode(self) -> None:
            recorder.write("\x1b[?1049h\x1b[?25l\x1b[2J")  # alternate screen, hide cursor
            super().start_application_mode()

        def write(self, data: str) -> None:
            recorder.write(data)

        def stop_application_mode(self) -> None:
            recorder.write("\x1b[?25h\x1b[?1049l")

    return RecordingDriver


# ---------------------------------------------------------------------------- the app


def make_app(runs_dir: Path, data: str) -> CoughscopeApp:
    """The real app, except that a started run gets the fixed id :data:`RUN_ID`."""
    from .app import CoughscopeApp
    from .launcher import ExperimentRequest, start_run

    class DemoApp(CoughscopeApp):
        def start_experiment(self, request: ExperimentRequest) -> Any:
            launched = start_run(request, self.runs_dir, run_id=RUN_ID)
            self.launched[launched.run.id] = launched
            self.follow(launched.run, launched)
            self.action_goto("training")
            return launched.run

    return DemoApp(runs_dir=runs_dir, data=data, detect_device=False, device_text=DEVICE_TEXT)


@contextlib.contextmanager
def demo_environment(work: Path) -> Iterator[None]:
    """Data, cache and settings under ``work``, ``work`` as the working directory (shown paths are
    relative to it), truecolor for the cast; everything restored afterwards."""
    import engine

    names = ("COUGHSCOPE_DATA_DIR", "COUGHSCOPE_CACHE_DIR", "COUGHSCOPE_RUNS_DIR",
             "COUGHSCOPE_CONFIG_DIR", "COLORTERM", "PYTHONPATH")
    saved = {name: os.environ.get(name) for name in names}
    cwd = Path.cwd()
    source_root = str(Path(engine.__file__).resolve().parents[1])  # the runner's engine
    os.environ.update(COUGHSCOPE_DATA_DIR=str(work / "data"),
                      COUGHSCOPE_CACHE_DIR=str(work / "cache"),
                      COUGHSCOPE_CONFIG_DIR=str(work / "config"),  # the user's settings stay
                      COLORTERM="truecolor",
                      PYTHONPATH=os.pathsep.join(p for p in (source_root, saved["PYTHONPATH"])
                                                 if p))
    os.environ.pop("COUGHSCOPE_RUNS_DIR", None)
    os.chdir(work)
    try:
        yield
    finally:
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------------------- the story


STARTED = time.monotonic()  # reset when a demo starts


def say(text: str) -> None:
    """Progress on the real stderr (inside the app, ``sys.stderr`` is Textual's capture)."""
    print(f"[{time.monotonic() - STARTED:6.1f}s] {text}", file=sys.__stderr__, flush=True)


Shoot = Callable[[str], Awaitable[None]]


async def wait_until(pilot: Pilot[Any], done: Callable[[], bool], what: str,
                     seconds: float = WAIT_SECONDS) -> None:
    """Let the app run until ``done()``; :class:`RunError` naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RunError(f"the demo waited {seconds:.0f} s for {what}",
                           "the machine may be very busy; try again, or with fewer "
                           "--models/--epochs")
        await pilot.pause(STEP)


def mounted(app: CoughscopeApp, selector: str) -> Any | None:
    """The widget ``selector`` names once it is mounted (screens are built when first shown)."""
    found = app.query(selector)
    widget = found.first() if found else None
    return widget if widget is not None and widget.is_mounted else None


async def wait_for_widget(pilot: Pilot[Any], selector: str, what: str) -> Any:
    await wait_until(pilot, lambda: mounted(pilot.app, selector) is not None, what, SHORT_WAIT)
    return mounted(pilot.app, selector)


def shown_text(app: CoughscopeApp, selector: str) -> str:
    """The plain text a Static widget shows."""
    return str(app.query_one(selector).render())


def freeze_cursors(app: CoughscopeApp) -> None:
    """No blinking text cursors: a capture must not depend on when it was taken."""
    from textual.widgets import Input

    for widget in app.query(Input):
        widget.cursor_blink = False


async def type_into(pilot: Pilot[Any], widget: Any, text: str) -> None:
    """Focus an Input, clear it and type ``text`` key by key, as a user would."""
    widget.focus()
    widget.value = ""
    await pilot.pause()
    await pilot.press(*text)


async def show_data(pilot: Pilot[Any], shoot: Shoot) -> None:
    app = pilot.app
    await wait_for_widget(pilot, "#data-summarise", "the Data screen")
    freeze_cursors(app)
    say(f"Data screen: reading {app.data_spec} …")
    await pilot.click("#data-summarise")
    message = "#data-message"
    await wait_until(pilot, lambda: "usable clips" in shown_text(app, message) or
                     app.query_one(message).has_class("error"), "the data summary")
    if app.query_one(message).has_class("error"):
        raise RunError(f"the Data screen could not read {app.data_spec!r}: "
                       f"{shown_text(app, message)}",
                       f"try `coughscope data summary {app.data_spec}` for details")
    await shoot("01-data")


async def pick_models(pilot: Pilot[Any], options: DemoOptions, shoot: Shoot) -> None:
    from textual.widgets import Select, SelectionList

    app = pilot.app
    await pilot.press("2")
    view = await wait_for_widget(pilot, "#models-view", "the Models screen")
    await wait_until(pilot, lambda: view.registry_loaded, "the model list", SHORT_WAIT)
    freeze_cursors(app)
    models = app.query_one("#models-list", SelectionList)
    models.deselect_all()
    for name in options.models:
        models.select(name)
    await type_into(pilot, app.query_one("#models-seeds"), str(options.seeds))
    await type_into(pilot, app.query_one("#models-epochs"), str(options.epochs))
    app.query_one("#models-device", Select).value = "cpu"  # the same numbers on any machine
    await shoot("02-models")


async def train(pilot: Pilot[Any], shoot: Shoot) -> None:
    from textual.widgets import OptionList

    app = pilot.app
    say(f"training {', '.join(pilot.app.query_one('#models-list').selected)} …")
    await pilot.click("#models-start")
    threading.Thread(target=warm_up, name="demo-warm-up", daemon=True).start()
    await wait_until(pilot, lambda: app.followed is not None or
                     app.query_one("#models-message").has_class("error"), "the run to start", SHORT_WAIT)
    if app.followed is None:
        raise RunError(f"the Models screen did not start the run: "
                       f"{shown_text(app, '#models-message')}", "see the message above")
    followed = app.followed
    training = await wait_for_widget(pilot, "#training-view", "the Training screen")
    await wait_until(pilot, lambda: bool(training.plotted.get("val_loss")) or
                     followed.state.is_over, "the first epoch")
    await wait_until(pilot, lambda: followed.state.is_over and followed.was_over,
                     "training to finish")
    if followed.state.state != "finished":
        from .launcher import runner_log_tail

        errors = "; ".join(message for message, _ in followed.state.errors)
        raise RunError(f"the demo run ended {followed.state.state}: {errors or 'no error event'}",
                       f"the runner's output:\n{runner_log_tail(followed.run)}")
    # show the curves of the last trained (not baseline) part with the most epochs, picked
    # on the list as a user would
    from engine.models import MODELS

    keys = list(followed.state.parts)
    chosen = max(keys, key=lambda k: (len(followed.state.parts[k].history),
                                      not getattr(MODELS.get(k[0]), "baseline", True),
                                      keys.index(k)))
    parts = app.query_one("#training-parts", OptionList)
    parts.focus()
    parts.highlighted = keys.index(chosen)
    await pilot.press("enter")
    with followed.lock:
        followed.state.seconds = None  # the time it took is not part of the capture
    training.redraw()
    await shoot("03-training")


def warm_up() -> None:
    """Import what classifying needs (torch, librosa: seconds) while the runner trains."""
    with contextlib.suppress(Exception):
        import engine.inference  # noqa: F401
        import librosa  # noqa: F401
        import torch  # noqa: F401


def demo_clip(run_path: Path) -> Path | None:
    """A positive clip of the run's test part (one the models have not seen), else any clip."""
    import csv

    split = run_path / "split.csv"
    if split.is_file():
        with open(split, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            if row.get("split") == "test" and row.get("label") == "positive":
                path = Path(row.get("clip") or row.get("path") or "")
                if path.is_file():
                    return path
    return next((p for p in sorted(Path("data").rglob("*.wav"))), None)


async def classify(pilot: Pilot[Any], shoot: Shoot) -> str | None:
    """Classify a demo recording on the Classify screen (type its path, press Classify);
    a note when that cannot be shown."""
    from textual.widgets import Input

    app = pilot.app
    await pilot.press("7")
    view = await wait_for_widget(pilot, "#classify-view", "the Classify screen")
    freeze_cursors(app)
    if not view.query("#classify-path") or not view.query("#classify-go"):
        await shoot("06-classify")
        return ("the Classify screen has no #classify-path input and #classify-go button: "
                "06-classify.svg shows the screen as it is")
    mic = "#classify-mic"
    await wait_until(pilot, lambda: not shown_text(app, mic).startswith("checking"),
                     "the microphone check", SHORT_WAIT)
    view.query_one("#classify-tree").path = Path(".")  # the work folder, not its temp path
    clip = demo_clip(app.followed.run.path)
    if clip is None:
        await shoot("06-classify")
        return "no demo recording was found to classify"
    shutil.copyfile(clip, CLIP_NAME)
    await type_into(pilot, view.query_one("#classify-path", Input), CLIP_NAME)
    await pilot.click("#classify-go")
    status = "#classify-status"
    await wait_until(pilot, lambda: not shown_text(app, status).startswith("classifying"),
                     "the classification", SHORT_WAIT)
    if app.query_one(status).has_class("error"):
        raise RunError(f"the Classify screen could not classify {CLIP_NAME}: "
                       f"{shown_text(app, status)}", "see the message above")
    view.query_one("#classify-models").scroll_visible(animate=False)  # the verdicts
    await shoot("06-classify")
    return None


async def play(pilot: Pilot[Any], options: DemoOptions, shoot: Shoot) -> list[str]:
    """The whole story; returns notes about what could not be shown."""
    await show_data(pilot, shoot)
    await pick_models(pilot, options, shoot)
    await train(pilot, shoot)
    for key, tab, name in (("4", "results", "04-results"), ("5", "confusion", "05-confusion")):
        await pilot.press(key)
        await wait_for_widget(pilot, f"#{tab}-view", f"the {tab.title()} screen")
        await shoot(name)
    note = await classify(pilot, shoot)
    return [note] if note else []


# ---------------------------------------------------------------------------- running it


async def drive(app: CoughscopeApp, options: DemoOptions, out: Path,
                recorder: CastRecorder | None, result: DemoResult) -> None:
    from engine.paths import atomic_write_text

    async def shoot(name: str) -> None:
        await pilot.pause(0.6)  # past the app's 4 Hz redraw timer
        await pilot.wait_for_scheduled_animations()
        path = out / f"{name}.svg"
        atomic_write_text(path, normalise_svg(app.export_screenshot(), name))
        result.screenshots.append(path)
        say(f"{name.split('-', 1)[1]} screen -> {path}")
        if recorder is not None:
            recorder.hold(HOLD_SECONDS)

    if recorder is not None:
        app.driver_class = recording_driver(recorder)
    async with app.run_test(headless=recorder is None, size=options.size) as pilot:
        try:
            result.notes += await play(pilot, options, shoot)
        finally:
            stop_runs(app)


def stop_runs(app: CoughscopeApp) -> None:
    """Stop a runner the demo left going (it failed half-way)."""
    from .launcher import stop_pid

    for launched in app.live_launched():
        stop_pid(launched.process.pid)
        try:
            launched.process.wait(timeout=30)
        except Exception:  # noqa: BLE001 - best effort; the temp folder goes anyway
            launched.process.kill()


def run_demo(options: DemoOptions) -> DemoResult:
    """Play the demo; write the SVGs (and the cast) into ``options.out``."""
    global STARTED
    STARTED = time.monotonic()
    out = options.out.resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out}: {exc.strerror}",
                          "pass a writable folder with --out DIR") from None
    result = DemoResult()
    recorder = None
    if options.cast and shutil.which("asciinema") is None:
        result.notes.append("asciinema is not installed, so no demo.cast was written "
                            "(install it: sudo apt-get install asciinema); the SVGs are")
    elif options.cast:
        recorder = CastRecorder(options.size)
    with tempfile.TemporaryDirectory(prefix="coughscope-demo-") as tmp:
        work = Path(tmp) / "coughscope-demo"
        work.mkdir()
        with demo_environment(work):
            app = make_app(work / "runs", options.data)
            asyncio.run(drive(app, options, out, recorder, result))
    if recorder is not None:
        result.cast = recorder.save(out / CAST_NAME, "coughscope demo")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``coughscope demo [options]``; prints the written files on stdout."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        result = run_demo(options)
    except CoughscopeError as err:
        print(f"coughscope demo: error: {err.describe()}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("coughscope demo: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPT)
    for note in result.notes:
        say(f"note: {note}")
    for path in [*result.screenshots, *([result.cast] if result.cast else [])]:
        print(path)
    say("done")
    return int(ExitCode.OK)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
