"""The Models screen: pick models from the registry, the recipe preset, seeds, epochs and
device, and start the experiment (as a detached runner process, see :mod:`tui.launcher`).

The data set the run will use is shown first, in bold, with a SYNTHETIC mark for demo data:
the screen never starts a run on data the user did not see. The choices are remembered for
next time (:mod:`tui.settings`); the first-time defaults are the headless ones (the config
dataclasses'), except the ticked models, and the screen says why. ResNet-50 models need
ImageNet weights: the screen checks for them (off the UI thread: it imports torch) and refuses
to start without them, naming the file and the offline route.

The options (``#models-options``, three rows that fit 80 columns) are the headless flags of
the same names, passed the same way (:class:`~tui.launcher.ExperimentRequest`): refit and
augmentation (the preset's choice, on or off), the feature set, how a short clip fills the
spectrogram (``--pad``: the preset's choice, repeat or zero), a metadata value held out as
an out-of-distribution test part (``--test-group COLUMN=VALUE``) and a column to balance the
training part by (``--balance-by``). The columns and values offered (completion and the help
line) are those of the summary the Data screen read for this data set
(``app.data_summary``); without one, typed text is taken. Start checks the text with the
config layer's rules (:func:`engine.config.check_field`) and, when the summary is known,
against the data set's columns and values, so a typo is refused before a run starts. One
help line under the options describes the option that has the focus.
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
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from engine.config import (FEATURE_SETS, ExperimentConfig, SplitConfig, TrainRecipe,
                           check_field)
from engine.errors import ConfigError, CoughscopeError

from ..launcher import ExperimentRequest
from ..widgets.lists import StopAtEnds
from .data import spec_problem

PRESETS = (("default (honest)", "default"), ("paper (published)", "paper"))
DEVICES = (("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"), ("mps", "mps"))
# refit and augmentation: the preset's choice (the flag left out), --X or --no-X
TOGGLES = ("preset", "on", "off")
TOGGLE_FLAG = {"preset": None, "on": True, "off": False}
# the padding of a clip shorter than the duration: the preset's choice (--pad left out),
# --pad repeat or --pad zero
PADS = ("preset", "repeat", "zero")
FEATURE_LABELS = {"paper": "paper (26)", "extended": "extended (92)",
                  "mel_stats": "mel_stats (282)", "egemaps": "egemaps (114)",
                  "compare": "compare (6,399)"}
FEATURE_HELP = {
    "paper": "the paper's 26: chroma, RMS, spectral and MFCC 1-20 means",
    "extended": "92: the paper's 26 with standard deviations and delta-MFCCs",
    "mel_stats": "282: the 26 + each log-mel band's mean, std (baselines)",
    "egemaps": "114: the 26 + openSMILE eGeMAPSv02's 88 (baselines; needs opensmile)",
    "compare": "6,399: the 26 + openSMILE ComParE_2016's 6,373 (baselines; needs opensmile)",
}
# the help line, by the focused option's id ({…} filled in by ModelsView.help_text)
HELP = {
    "models-list": "models: Space ticks or unticks the highlighted one (↑ ↓ move)",
    "models-preset": "default: class weights, AdamW, early stopping; paper: as published, "
                     "100 epochs",
    "models-refit": "refit: retrain on train + validation after validation chose ({refit})",
    "models-augment": "augment the spectrogram models' training batches ({augment})",
    "models-pad": "short clips: repeated to fill the spectrogram, or silence after them ({pad})",
    "models-seeds": "seeds: models trained per model name (mean ± std over them)",
    "models-epochs": "epochs: the most each network trains (early stopping may end it sooner)",
    "models-device": "device: auto trains on a GPU when there is one, else on the CPU",
    "models-features": "features {feature_set}: {features}",
    "models-test-group": "hold out {test_groups}",
    "models-balance": "balance by: as many positives as negatives per value in training; "
                      "{columns}",
}
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


def known_summary(app: Any) -> dict[str, Any] | None:
    """The Data screen's summary of the data set the run will use, when it has read it."""
    found = getattr(app, "data_summary", None)
    if found and found[0] == app.data_spec:
        return found[1]
    return None


def summary_columns(summary: dict[str, Any]) -> list[str]:
    """The metadata columns of every clip (older summaries: those with value counts)."""
    columns = summary.get("meta_columns")
    return list(columns) if columns is not None else list(summary.get("meta") or {})


def holdout_choices(summary: dict[str, Any] | None) -> list[str]:
    """``COLUMN=VALUE`` of every value that can be held out: its column has other values
    too (something is left to train on); blank values cannot be named."""
    if not summary:
        return []
    usable = int(summary.get("usable") or 0)
    tallies = summary.get("meta") or {}
    choices = []
    for column in summary_columns(summary):
        counts = tallies.get(column) or {}
        for value, count in sorted(counts.items()):
            if value != "(blank)" and int(count) < usable and len(counts) > 1:
                choices.append(f"{column}={value}")
    return choices


def check_test_group(text: str, spec: str, summary: dict[str, Any] | None) -> str | None:
    """The hold-out field's value (None when empty), checked by the config layer's rule and,
    when the data set's summary is known, against its columns and values; raises
    :class:`ConfigError` naming the value and what is valid."""
    text = text.strip()
    if not text:
        return None
    choices = holdout_choices(summary)
    try:
        check_field(SplitConfig, "test_group", text, f"hold out {text!r}")
    except ConfigError as err:
        known = f"; {spec} offers {', '.join(choices)}" if choices else ""
        raise ConfigError(err.message, err.hint + known) from None
    if summary is None:
        return text  # the runner checks it against the data
    from engine.splits import parse_test_group  # numpy: loaded with the registry already

    column, value = parse_test_group(text)
    columns = summary_columns(summary)
    if column not in columns:
        raise ConfigError(f"hold out {text!r}: {spec} has no metadata column {column!r}",
                          f"columns: {', '.join(columns) or 'none'}; leave the field empty "
                          "for the usual test part")
    counts = (summary.get("meta") or {}).get(column)
    if counts is None:  # too many values to be counted in the summary: the runner checks
        return text
    if value not in counts:
        raise ConfigError(f"hold out {text!r}: no clip of {spec} has {column} = {value!r}",
                          f"values of {column}: {', '.join(v for v in counts if v != '(blank)')}")
    if int(counts[value]) >= int(summary.get("usable") or 0):
        raise ConfigError(f"hold out {text!r}: every clip of {spec} has {column} = {value!r}: "
                          "nothing is left to train on",
                          f"hold out one of: {', '.join(choices)}" if choices else
                          f"{spec} has no metadata value to hold out; leave the field empty")
    return text


def check_balance_by(text: str, spec: str, summary: dict[str, Any] | None) -> str | None:
    """The balance field's column (None when empty), checked like :func:`check_test_group`."""
    text = text.strip()
    if not text:
        return None
    check_field(ExperimentConfig, "balance_by", text, f"balance by {text!r}")
    if summary is not None and text not in summary_columns(summary):
        columns = summary_columns(summary)
        raise ConfigError(f"balance by {text!r}: {spec} has no metadata column {text!r}",
                          f"columns: {', '.join(columns) or 'none'}; leave the field empty "
                          "for no rebalancing")
    return text


class CheckList(StopAtEnds, SelectionList[str]):
    """A SelectionList whose ticks read ``[x]`` / ``[ ]``: selection that does not depend on
    colour (NO_COLOR, monochrome terminals, colour-blind users). Its cursor stops at the
    first and last model, so a burst of arrow keys lands where it was aimed."""

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
        self.help_topic = "models-features"  # the option the help line describes

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
                yield Label("refit")
                yield Select(toggle_options(None), value=remembered(settings.refit, TOGGLES),
                             allow_blank=False, id="models-refit", compact=True)
                yield Label("augment")
                yield Select(toggle_options(None), value=remembered(settings.augment, TOGGLES),
                             allow_blank=False, id="models-augment", compact=True)
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
                yield Label("features")
                yield Select([(FEATURE_LABELS.get(f, f), f) for f in FEATURE_SETS],
                             value=remembered(settings.feature_set, FEATURE_SETS),
                             allow_blank=False, id="models-features", compact=True)
            with Horizontal(classes="row"):  # no fourth row at 80x24: pad goes here
                yield Label("pad")
                yield Select(pad_options(None), value=remembered(settings.pad, PADS),
                             allow_blank=False, id="models-pad", compact=True)
                yield Label("hold out")
                yield Input(settings.test_group or "", id="models-test-group", compact=True,
                            placeholder="none, or COL=VAL")
                yield Label("balance by")
                yield Input(settings.balance_by or "", id="models-balance", compact=True,
                            placeholder="none, or COLUMN")
            yield Static("", id="models-help")
        with Horizontal(classes="row"):
            yield Button("Start training", id="models-start", variant="success", compact=True)
            yield Static("", id="models-message", classes="message")
        yield Static("", id="models-device-found")

    def on_mount(self) -> None:
        self._first_choices: dict[str, Any] = self.choices()  # what the screen was built with
        self.show_device(self.app.device_text)
        self.call_after_refresh(self.fit_list)
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
            # one line at 80 columns: the ticks themselves show which the quick ones are
            ("ticked: your choice last time" if remembered else
             "quick ones ticked; headless trains every model that can run here") +
            ". Space ticks."))
        self.registry_loaded = True
        self._first_choices["models"] = list(models.selected)
        self.show_preset_choices()
        self.call_after_refresh(self.fit_list)
        self._check_weights_if_needed()

    def on_show(self) -> None:
        self.show_data()

    def show_data(self) -> None:
        """The data set the run will train on, prominently (SYNTHETIC in capitals)."""
        spec = self.app.data_spec
        text = Text()
        text.append("data: ", style="bold")
        text.append(spec, style="bold reverse")
        if spec == "demo" or spec.startswith("demo:"):
            append_separator(text)
            text.append("SYNTHETIC clips, not real coughs", style="bold")
        append_separator(text)
        text.append("change it on Data, key 1", style="dim")
        self.query_one("#models-data", Static).update(text)
        self.show_choices()

    # ------------------------------------------------------------------ options

    def show_choices(self) -> None:
        """Complete the hold-out and balance fields from the data set's summary (when the
        Data screen has read it), and redraw the help line."""
        summary = known_summary(self.app)
        columns = summary_columns(summary) if summary else []
        self.query_one("#models-test-group", Input).suggester = SuggestFromList(
            holdout_choices(summary), case_sensitive=False) if summary else None
        self.query_one("#models-balance", Input).suggester = SuggestFromList(
            columns, case_sensitive=False) if summary else None
        self.show_help()

    def preset_choices(self) -> dict[str, Any] | None:
        """What "by preset" means for the chosen preset ({"refit": bool, "augment": bool,
        "pad": "repeat" or "zero"}), from the engine's own rule; None until the registry
        (which it imports) is loaded."""
        if not self.registry_loaded:
            return None
        from engine.refit import resolve_preset_choices  # the registry: numpy, loaded

        preset = str(self.query_one("#models-preset", Select).value)
        config = resolve_preset_choices(
            ExperimentConfig(recipe=TrainRecipe.from_preset(preset)))
        return {"refit": bool(config.recipe.refit), "augment": bool(config.augment.enabled),
                "pad": str(config.preprocess.pad)}

    def show_preset_choices(self) -> None:
        """Refit, augment and pad say what the preset's choice is: "preset: on"."""
        choices = self.preset_choices()
        for name in ("refit", "augment", "pad"):
            select = self.query_one(f"#models-{name}", Select)
            value = select.value
            known = None if choices is None else choices[name]
            select.set_options(pad_options(known) if name == "pad" else toggle_options(known))
            select.value = value
            select.mutate_reactive(Select.value)  # the same value: redraw its new label
        self.show_help()

    def help_text(self, topic: str) -> str:
        """The help line for option ``topic`` (a widget id), with this data set's facts."""
        summary = known_summary(self.app)
        spec = self.app.data_spec
        choices = self.preset_choices()
        feature_set = str(self.query_one("#models-features", Select).value)
        if summary is None:
            groups = "COLUMN=VALUE: an out-of-distribution test part; Data (1) lists them"
            columns = "Data (1) lists the columns"
        else:
            found = holdout_choices(summary)
            groups = (f"as an out-of-distribution test: {', '.join(found)}" if found else
                      f"(COLUMN=VALUE): {spec} has no metadata value to hold out")
            columns = f"columns: {', '.join(summary_columns(summary)) or 'none'}"
        words = {True: "on", False: "off"}
        return HELP.get(topic, "").format(
            refit="by preset: " + (words[choices["refit"]] if choices else "default on, paper "
                                   "off"),
            augment="by preset: " + (words[choices["augment"]] if choices else "default on, "
                                     "paper off"),
            pad="by preset: " + (choices["pad"] if choices else "default repeat, paper zero"),
            feature_set=feature_set, features=FEATURE_HELP.get(feature_set, ""),
            test_groups=groups, columns=columns)

    def show_help(self, topic: str | None = None) -> None:
        self.help_topic = topic or self.help_topic
        self.query_one("#models-help", Static).update(Text(
            self.help_text(self.help_topic), no_wrap=True, overflow="ellipsis"))

    def on_descendant_focus(self, event: Any) -> None:
        """The help line follows the focus through the options (a Select's open list too)."""
        node = event.widget
        while node is not None and node is not self:
            if node.id in HELP:
                self.show_help(node.id)
                return
            node = node.parent

    @on(Select.Changed, "#models-features")
    def _features_changed(self) -> None:
        self.show_help("models-features")

    def options(self) -> dict[str, Any]:
        """The options' values as :class:`ExperimentRequest` fields; :class:`ConfigError`
        when the hold-out or balance field names what this data set does not have."""
        spec, summary = self.app.data_spec, known_summary(self.app)
        return {
            "refit": TOGGLE_FLAG[str(self.query_one("#models-refit", Select).value)],
            "augment": TOGGLE_FLAG[str(self.query_one("#models-augment", Select).value)],
            "pad": pad_flag(str(self.query_one("#models-pad", Select).value)),
            "feature_set": str(self.query_one("#models-features", Select).value),
            "test_group": check_test_group(
                self.query_one("#models-test-group", Input).value, spec, summary),
            "balance_by": check_balance_by(
                self.query_one("#models-balance", Input).value, spec, summary),
        }

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_list)

    def fit_list(self) -> None:
        """The model list is as tall as its models when the screen has room for them all
        (140x40), else it takes the room the rest leaves and scrolls (80x24): the options
        and Start always stay on screen."""
        models = self.query_one("#models-list", CheckList)
        others = sum(child.outer_size.height for child in self.children
                     if child is not models and child.display)
        fits = models.option_count + models.styles.gutter.height + others <= self.size.height
        models.styles.height = "auto" if fits else "1fr"

    def show_device(self, text: str) -> None:
        self.query_one("#models-device-found", Static).update(Text(f"device detected: {text}"))

    def set_message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#models-message", Static)
        widget.set_class(error, "error")
        widget.update(Text(text))
        self.call_after_refresh(self.fit_list)  # a longer message leaves less room

    @on(Select.Changed, "#models-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        """The paper preset trains 100 epochs: follow it unless the user typed a number."""
        epochs = self.query_one("#models-epochs", Input)
        if epochs.value.strip() in (str(DEFAULT_EPOCHS), str(PAPER_EPOCHS)):
            epochs.value = str(PAPER_EPOCHS if event.value == "paper" else DEFAULT_EPOCHS)
        if self.is_mounted:
            self.show_preset_choices()

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
                    f"{', '.join(heavy)} need{'s' if len(heavy) == 1 else ''} ImageNet "
                    "ResNet-50 weights, and none are here",
                    f"{why}; or untick {', '.join(heavy)}. Offline: copy the file from a "
                    "machine that has it, or run headless with --weights PATH")
        return ExperimentRequest(
            data=spec,
            models=models,
            seeds=parse_count(self.query_one("#models-seeds", Input).value, "seeds", 1, 50),
            epochs=parse_count(self.query_one("#models-epochs", Input).value, "epochs", 1, 10000),
            preset=str(self.query_one("#models-preset", Select).value),
            device=str(self.query_one("#models-device", Select).value),
            **self.options(),
        )

    # ------------------------------------------------------------------ remembered choices

    def choices(self) -> dict[str, Any]:
        """The screen's choices as :class:`~tui.settings.Settings` fields (seeds and epochs
        only when they are whole numbers in range)."""
        values: dict[str, Any] = {
            "preset": str(self.query_one("#models-preset", Select).value),
            "device": str(self.query_one("#models-device", Select).value),
            "refit": str(self.query_one("#models-refit", Select).value),
            "augment": str(self.query_one("#models-augment", Select).value),
            "pad": str(self.query_one("#models-pad", Select).value),
            "feature_set": str(self.query_one("#models-features", Select).value),
            "test_group": self.query_one("#models-test-group", Input).value.strip(),
            "balance_by": self.query_one("#models-balance", Input).value.strip(),
        }
        for key, low, high in (("seeds", 1, 50), ("epochs", 1, 10000)):
            try:
                values[key] = parse_count(self.query_one(f"#models-{key}", Input).value,
                                          key, low, high)
            except CoughscopeError:
                pass  # not saved until it is valid; Start says what is wrong
        if getattr(self, "registry_loaded", False):
            values["models"] = list(self.query_one("#models-list", CheckList).selected)
        return values

    @on(SelectionList.SelectedChanged, "#models-list")
    @on(Select.Changed)
    @on(Input.Changed)
    def remember_choices(self) -> None:
        """Save a choice as soon as it is made, not only on Start (issue 20, bug 8): the
        keys whose value the user changed since the screen was built, or that were
        remembered before."""
        if not self.is_mounted:
            return
        first = getattr(self, "_first_choices", None)
        if first is None:
            return
        now = self.choices()
        settings = self.app.settings
        changed = {key: value for key, value in now.items()
                   if key in first and (value != first[key] or getattr(settings, key) is not None)
                   and getattr(settings, key) != value}
        if changed:
            self.app.remember(**changed)

    def start(self) -> None:
        try:
            request = self.request()
            run = self.app.start_experiment(request)
        except CoughscopeError as err:
            # said on this screen, beside Start: a notification would cover the message
            # (and the fields under it) at 80x24 for seconds (issue 20, bug 7)
            self.set_message(err.describe(), error=True)
            return
        except OSError as exc:
            self.set_message(f"could not start the runner: {exc}", error=True)
            return
        self.app.remember(data=request.data, models=list(request.models), seeds=request.seeds,
                          epochs=request.epochs, preset=request.preset, device=request.device,
                          refit=str(self.query_one("#models-refit", Select).value),
                          augment=str(self.query_one("#models-augment", Select).value),
                          pad=str(self.query_one("#models-pad", Select).value),
                          feature_set=request.feature_set, test_group=request.test_group or "",
                          balance_by=request.balance_by or "")
        self.set_message(f"started run {run.id}")


def toggle_options(preset_on: bool | None) -> list[tuple[str, str]]:
    """Refit's or augment's choices; the first says what the preset chooses when known."""
    first = "by preset" if preset_on is None else f"preset: {'on' if preset_on else 'off'}"
    return [(first, "preset"), ("on", "on"), ("off", "off")]


def pad_options(preset_pad: str | None) -> list[tuple[str, str]]:
    """The padding's choices; the first says what the preset chooses when known."""
    first = "by preset" if preset_pad is None else f"preset: {preset_pad}"
    return [(first, "preset"), ("repeat", "repeat"), ("zero", "zero")]


def pad_flag(value: str) -> str | None:
    """The pad Select's value as ``--pad``'s (None: left out, the preset's choice)."""
    return None if value == "preset" else value


def append_separator(text: Text) -> None:
    """`` · `` between two parts of a line. The spaces are segments of their own (no style,
    the dot dim): an SVG text run that starts with a space loses it in some renderers
    (rsvg-convert draws the snapshots' ``demo  SYNTHETIC`` as ``demoSYNTHETIC``)."""
    text.append(" ")
    text.append("·", style="dim")
    text.append(" ")


def remembered(value: str | None, choices: tuple[str, ...]) -> str:
    """A remembered choice when it is still one of ``choices``, else the first."""
    return value if value in choices else choices[0]


def check_weights() -> tuple[bool, str]:
    """Whether ResNet-50 weights are here (imports torch/torchvision)."""
    try:
        from engine.weights import weights_available

        return weights_available()
    except ImportError as exc:
        return False, f"torchvision cannot be imported ({exc})"
