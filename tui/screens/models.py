"""The Models screen: pick models from the registry, the recipe preset, seeds, epochs and
device, and start the experiment (as a detached runner process, see :mod:`tui.launcher`).

The data set the run will use is shown first, in bold, with a SYNTHETIC mark for demo data:
the screen never starts a run on data the user did not see. The choices are remembered for
next time (:mod:`tui.settings`); the first-time defaults are the headless ones (the config
dataclasses'), except the ticked models, and the screen says why. ResNet-50 models need
ImageNet weights: the screen checks for them (off the UI thread: it imports torch) and refuses
to start without them, naming the file and the offline route.

Options for later features go in ``#models-options`` (one ``.row`` each), above Start.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from engine.config import ExperimentConfig, TrainRecipe
from engine.errors import CoughscopeError

from ..launcher import ExperimentRequest
from .data import spec_problem

PRESETS = (("default: honest recipe (class weights, early stopping)", "default"),
           ("paper: the paper's optimisers, losses, 100 epochs", "paper"))
DEVICES = (("auto (GPU when there is one)", "auto"), ("cpu", "cpu"), ("cuda", "cuda"),
           ("mps", "mps"))
# headless trains every model that can run here; the app ticks the quick ones first, so a
# first click gives an answer in a minute (the note under the list says so)
DEFAULT_MODELS = ("ann", "logreg", "majority")
DEFAULT_SEEDS = ExperimentConfig().seeds
DEFAULT_EPOCHS = TrainRecipe().epochs
PAPER_EPOCHS = 100
TICKED, UNTICKED = "[x] ", "[ ] "


def model_label(spec: Any, weights: str = "") -> Text:
    """One registry entry (:class:`engine.models.ModelSpec`) as a list line (never wrapped)."""
    text = Text(f"{spec.name:<11}", style="bold", no_wrap=True, overflow="ellipsis")
    if spec.needs_weights:
        text.append(f"[{weights or 'needs ImageNet weights'}] ", style="italic")
    if spec.baseline:
        text.append("[baseline] ", style="italic")
    text.append(spec.description)
    return text


def parse_count(text: str, what: str, low: int, high: int) -> int:
    """An integer field's value, or a :class:`CoughscopeError` naming the field."""
    try:
        value = int(text.strip())
    except ValueError:
        raise CoughscopeError(f"{what} {text.strip()!r} is not a whole number",
                              f"type a number from {low} to {high}") from None
    if not low <= value <= high:
        raise CoughscopeError(f"{what} {value} is out of range", f"use {low} to {high}")
    return value


class CheckList(SelectionList[str]):
    """A SelectionList whose ticks read ``[x]`` / ``[ ]``: selection that does not depend on
    colour (NO_COLOR, monochrome terminals, colour-blind users)."""

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        index = self.scroll_offset.y + y
        try:
            selection = self.get_option_at_index(index)
        except Exception:  # noqa: BLE001 - below the last option
            return line
        mark = TICKED if selection.value in self._selected else UNTICKED
        base = next(iter(line)).style if line.cell_length else self.rich_style
        style = (base or Style()) + Style(bold=True, meta={"option": index})
        return Strip([Segment(mark, style), *line])


class ModelsView(Vertical):
    TITLE = "Models"
    registry_loaded = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weights: tuple[bool, str] | None = None  # (available, why); None: not checked
        self.specs: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        settings = self.app.settings
        yield Static("", id="models-data")
        yield CheckList(id="models-list")
        yield Static("", id="models-note", classes="note")
        with Vertical(id="models-options"):
            with Horizontal(classes="row"):
                yield Label("preset")
                yield Select(PRESETS, value=settings.preset if settings.preset in
                             ("default", "paper") else "default", allow_blank=False,
                             id="models-preset", compact=True)
            with Horizontal(classes="row"):
                yield Label("seeds")
                yield Input(str(settings.seeds or DEFAULT_SEEDS), id="models-seeds",
                            classes="number", compact=True, type="integer")
                yield Label("epochs")
                yield Input(str(settings.epochs or DEFAULT_EPOCHS), id="models-epochs",
                            classes="number", compact=True, type="integer")
                yield Label("device")
                yield Select(DEVICES, value=settings.device if settings.device in
                             dict((v, v) for _, v in DEVICES) else "auto", allow_blank=False,
                             id="models-device", compact=True)
        with Horizontal(classes="row"):
            yield Button("Start training", id="models-start", variant="success", compact=True)
            yield Static("", id="models-message", classes="message")
        yield Static("", id="models-device-found")

    def on_mount(self) -> None:
        self.show_device(self.app.device_text)
        self.show_data()
        self.load_registry()

    @work(thread=True, exclusive=True, group="registry")
    def load_registry(self) -> None:
        """The model registry imports numpy (~250 ms): load it off the first frame."""
        from engine.models import MODELS

        self.app.call_from_thread(self._fill_models, list(MODELS.values()))

    def _fill_models(self, specs: list[Any]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        remembered = [m for m in (self.app.settings.models or []) if m in self.specs]
        ticked = remembered or list(DEFAULT_MODELS)
        models = self.query_one("#models-list", CheckList)
        models.clear_options()
        models.add_options([Selection(model_label(spec), spec.name, spec.name in ticked)
                            for spec in specs])
        self.query_one("#models-note", Static).update(Text(
            ("ticked: your choice last time" if remembered else
             f"ticked: {', '.join(DEFAULT_MODELS)} (quick); headless trains every model that "
             "can run here") + ". Space ticks."))
        self.registry_loaded = True
        self._check_weights_if_needed()

    def on_show(self) -> None:
        self.show_data()

    def show_data(self) -> None:
        """The data set the run will train on, prominently (SYNTHETIC in capitals)."""
        spec = self.app.data_spec
        text = Text("data: ", style="bold")
        text.append(spec, style="bold reverse")
        if spec == "demo" or spec.startswith("demo:"):
            text.append("  SYNTHETIC clips, not real coughs", style="bold")
        text.append("  (change it on Data, key 1)")
        self.query_one("#models-data", Static).update(text)

    def show_device(self, text: str) -> None:
        self.query_one("#models-device-found", Static).update(Text(f"device detected: {text}"))

    def set_message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#models-message", Static)
        widget.set_class(error, "error")
        widget.update(Text(text))

    @on(Select.Changed, "#models-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        """The paper preset trains 100 epochs: follow it unless the user typed a number."""
        epochs = self.query_one("#models-epochs", Input)
        if epochs.value.strip() in (str(DEFAULT_EPOCHS), str(PAPER_EPOCHS)):
            epochs.value = str(PAPER_EPOCHS if event.value == "paper" else DEFAULT_EPOCHS)

    # ------------------------------------------------------------------ weights

    def needing_weights(self) -> list[str]:
        selected = self.query_one("#models-list", CheckList).selected
        return [m for m in selected if getattr(self.specs.get(m), "needs_weights", False)]

    @on(SelectionList.SelectedChanged, "#models-list")
    def _selection_changed(self) -> None:
        self._check_weights_if_needed()

    def _check_weights_if_needed(self) -> None:
        if self.weights is None and self.needing_weights():
            self.set_message("checking for ImageNet weights …")
            self.weights_worker()

    @work(thread=True, exclusive=True, group="weights", exit_on_error=False)
    def weights_worker(self) -> None:
        """torchvision's cache lookup imports torch (~2 s): never on the UI thread."""
        result = check_weights()
        self.app.call_from_thread(self._weights_checked, result)

    def _weights_checked(self, result: tuple[bool, str]) -> None:
        self.weights = result
        ok, why = result
        models = self.query_one("#models-list", CheckList)
        for name, spec in self.specs.items():
            if spec.needs_weights:
                index = models.get_option_index(name)
                models.replace_option_prompt_at_index(index, model_label(
                    spec, "weights found" if ok else "no weights here"))
        if ok:
            self.set_message("")
        elif self.needing_weights():
            self.set_message(f"{', '.join(self.needing_weights())}: {why}", error=True)

    # ------------------------------------------------------------------ start

    @on(Button.Pressed, "#models-start")
    def action_start(self) -> None:
        self.start()

    def request(self) -> ExperimentRequest:
        """The experiment the form describes; :class:`CoughscopeError` when it is incomplete."""
        models = tuple(self.query_one("#models-list", CheckList).selected)
        if not models:
            raise CoughscopeError("no model picked",
                                  "tick at least one model in the list (space toggles)")
        spec = self.app.data_spec
        problem = spec_problem(spec)
        if problem:
            raise CoughscopeError(problem, "fix the data set on the Data screen (key 1)")
        heavy = self.needing_weights()
        if heavy:
            if self.weights is None:
                self.weights = check_weights()
            ok, why = self.weights
            if not ok:
                raise CoughscopeError(
                    f"{', '.join(heavy)} need ImageNet ResNet-50 weights, and none are here",
                    f"{why}; or untick {', '.join(heavy)}. Offline: copy the file from a "
                    "machine that has it, or run headless with --weights PATH")
        return ExperimentRequest(
            data=spec,
            models=models,
            seeds=parse_count(self.query_one("#models-seeds", Input).value, "seeds", 1, 50),
            epochs=parse_count(self.query_one("#models-epochs", Input).value, "epochs", 1, 10000),
            preset=str(self.query_one("#models-preset", Select).value),
            device=str(self.query_one("#models-device", Select).value),
        )

    def start(self) -> None:
        try:
            request = self.request()
            run = self.app.start_experiment(request)
        except CoughscopeError as err:
            self.set_message(err.describe(), error=True)
            self.app.notify(err.message, title="cannot start", severity="error", timeout=8)
            return
        except OSError as exc:
            self.set_message(f"could not start the runner: {exc}", error=True)
            return
        self.app.remember(data=request.data, models=list(request.models), seeds=request.seeds,
                          epochs=request.epochs, preset=request.preset, device=request.device)
        self.set_message(f"started run {run.id}")


def check_weights() -> tuple[bool, str]:
    """Whether ResNet-50 weights are here (imports torch/torchvision)."""
    try:
        from engine.weights import weights_available

        return weights_available()
    except ImportError as exc:
        return False, f"torchvision cannot be imported ({exc})"
