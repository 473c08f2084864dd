"""The Models screen: pick models from the registry, the recipe preset, seeds, epochs and
device, and start the experiment (as a detached runner process, see :mod:`tui.launcher`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from engine.errors import CoughscopeError

from ..launcher import ExperimentRequest
from .data import spec_problem

PRESETS = (("default: honest recipe (class weights, early stopping on validation)", "default"),
           ("paper: the paper's optimisers, losses and learning rates", "paper"))
DEVICES = (("auto (GPU when there is one)", "auto"), ("cpu", "cpu"), ("cuda", "cuda"),
           ("mps", "mps"))
DEFAULT_MODELS = ("ann", "logreg")


def model_label(spec: Any) -> Text:
    """One registry entry (:class:`engine.models.ModelSpec`) as a list line."""
    name = spec.name
    text = Text(f"{name:<11}", style="bold")
    text.append(spec.description)
    if spec.baseline:
        text.append("  [baseline]", style="italic")
    if spec.needs_weights:
        text.append("  [needs ImageNet weights]", style="italic")
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


class ModelsView(Vertical):
    TITLE = "Models"
    registry_loaded = False

    def compose(self) -> ComposeResult:
        yield Static("", id="models-data", classes="intro")
        yield SelectionList[str](id="models-list")
        with Horizontal(classes="row"):
            yield Label("preset")
            yield Select(PRESETS, value="default", allow_blank=False, id="models-preset")
        with Horizontal(classes="row"):
            yield Label("seeds")
            yield Input("2", id="models-seeds", classes="number")
            yield Label("epochs")
            yield Input("10", id="models-epochs", classes="number")
            yield Label("device")
            yield Select(DEVICES, value="auto", allow_blank=False, id="models-device")
        yield Static("", id="models-device-found")
        with Horizontal(classes="row"):
            yield Button("Start training", id="models-start", variant="success")
            yield Static("", id="models-message", classes="message")

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
        models = self.query_one("#models-list", SelectionList)
        models.clear_options()
        models.add_options([Selection(model_label(spec), spec.name, spec.name in DEFAULT_MODELS)
                            for spec in specs])
        self.registry_loaded = True

    def on_show(self) -> None:
        self.show_data()

    def show_data(self) -> None:
        self.query_one("#models-data", Static).update(Text(
            f"data: {self.app.data_spec}  (change it on the Data screen, key 1)"))

    def show_device(self, text: str) -> None:
        self.query_one("#models-device-found", Static).update(Text(f"detected: {text}"))

    def set_message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#models-message", Static)
        widget.set_class(error, "error")
        widget.update(Text(text))

    @on(Button.Pressed, "#models-start")
    def action_start(self) -> None:
        self.start()

    def request(self) -> ExperimentRequest:
        """The experiment the form describes; :class:`CoughscopeError` when it is incomplete."""
        models = tuple(self.query_one("#models-list", SelectionList).selected)
        if not models:
            raise CoughscopeError("no model picked",
                                  "tick at least one model in the list (space toggles)")
        spec = self.app.data_spec
        problem = spec_problem(spec)
        if problem:
            raise CoughscopeError(problem, "fix the data set on the Data screen (key 1)")
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
        self.set_message(f"started run {run.id}")
