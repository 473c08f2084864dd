"""Issue 9 in the app: the Models screen's options (refit, augmentation, feature set, the
padding of short clips, a metadata value held out as an out-of-distribution test,
balance-by) reach the run as the headless flags do, offer the data set's own columns, refuse what the data set does not have
before anything starts, and are remembered per user.

Driven with Pilot (the shared driver in test_tui_support) on the real app; the configs are
read back from the real :class:`~tui.launcher.ExperimentRequest` (the TOML the launcher
writes), and one test trains a tiny real run and reads its ``config.toml``.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

try:
    from test_tui_support import drive, make_app, text_of, wait_for
except ImportError:  # tests/ is a package
    from tests.test_tui_support import drive, make_app, text_of, wait_for

SMALL, LARGE = (80, 24), (140, 40)
OPTION_IDS = ("#models-preset", "#models-refit", "#models-augment", "#models-seeds",
              "#models-epochs", "#models-device", "#models-features", "#models-pad",
              "#models-test-group",
              "#models-balance", "#models-help", "#models-start")


async def models_screen(pilot: Any) -> Any:
    await pilot.press("2")
    await wait_for(pilot, lambda: bool(pilot.app.query("#models-view")) and
                   pilot.app.query_one("#models-view").registry_loaded, 60)
    await pilot.pause()
    return pilot.app.query_one("#models-view")


async def read_data(pilot: Any, spec: str) -> None:
    """The Data screen reads ``spec`` (as a user does: type it, Summarise) until its summary
    has reached the app."""
    from textual.widgets import Input

    app = pilot.app
    app.query_one("#data-spec", Input).value = spec
    await pilot.click("#data-summarise")
    await wait_for(pilot, lambda: app.data_summary is not None and
                   app.data_summary[0] == spec, 180)
    await pilot.pause()


def two_source_manifest(folder: Path, n: int = 48) -> Path:
    """The synthetic demo clips in a manifest whose ``source`` column has two values (odd
    participants "phone", even "lab"), both with positive and negative clips."""
    from engine.sources.demo import generate_demo

    generate_demo(folder, n=n)
    manifest = folder / "manifest.csv"
    rows = list(csv.DictReader(manifest.open()))
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "label", "group", "source"])
        writer.writeheader()
        for row in rows:
            row["source"] = "phone" if int(row["group"][1:]) % 2 else "lab"
            writer.writerow(row)
    return manifest


def request_toml(view: Any) -> dict[str, Any]:
    """What the launcher would write as the run's --config for the form as it is."""
    return tomllib.loads(view.request().config().to_toml())


def headless_toml(*flags: str) -> dict[str, Any]:
    from engine.cli import build_run_parser
    from engine.commands.experiment import build_config

    args = build_run_parser().parse_args(["--headless", *flags])
    return tomllib.loads(build_config(args).to_toml())


def set_options(app: Any, **values: str) -> None:
    from textual.widgets import Input, Select

    for name, value in values.items():
        widget = app.query_one(f"#models-{name.replace('_', '-')}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value


# ------------------------------------------------------------------ into the config


CASES = [
    # (form values, the headless flags that mean the same, what the config then holds)
    ({"refit": "off"}, ["--no-refit"], lambda c: c["recipe"]["refit"] is False),
    ({"refit": "on", "preset": "paper"}, ["--refit", "--preset", "paper"],
     lambda c: c["recipe"]["refit"] is True and c["recipe"]["preset"] == "paper"),
    ({"augment": "off"}, ["--no-augment"], lambda c: c["augment"]["enabled"] is False),
    ({"augment": "on", "preset": "paper"}, ["--augment", "--preset", "paper"],
     lambda c: c["augment"]["enabled"] is True),
    ({"features": "extended"}, ["--feature-set", "extended"],
     lambda c: c["preprocess"]["feature_set"] == "extended"),
    ({"features": "mel_stats"}, ["--feature-set", "mel_stats"],
     lambda c: c["preprocess"]["feature_set"] == "mel_stats"),
    ({"pad": "zero"}, ["--pad", "zero"], lambda c: c["preprocess"]["pad"] == "zero"),
    ({"pad": "repeat", "preset": "paper"}, ["--pad", "repeat", "--preset", "paper"],
     lambda c: c["preprocess"]["pad"] == "repeat" and c["recipe"]["preset"] == "paper"),
    ({"test_group": " source=telegram "}, ["--test-group", "source=telegram"],
     lambda c: c["split"]["test_group"] == "source=telegram"),
    ({"balance": "source"}, ["--balance-by", "source"], lambda c: c["balance_by"] == "source"),
]


def test_each_option_changes_the_built_config_as_its_flag_does(tmp_path: Path) -> None:
    from textual.widgets import Input

    app = make_app(tmp_path / "runs", data="demo:24")

    def base() -> list[str]:  # the form's other fields as flags (paper follows 100 epochs)
        return ["--data", "demo:24", "--models", "ann,majority,logreg", "--seeds", "4",
                "--epochs", app.query_one("#models-epochs", Input).value, "--device", "auto"]

    async def body(pilot: Any) -> None:
        view = await models_screen(pilot)
        untouched = request_toml(view)
        # left alone: refit, augment and pad follow the preset (not written), the paper's
        # features
        assert untouched == headless_toml(*base(), "--preset", "default")
        assert "refit" not in untouched["recipe"] and "enabled" not in untouched["augment"]
        assert "pad" not in untouched["preprocess"]
        assert "test_group" not in untouched["split"] and "balance_by" not in untouched
        assert untouched["preprocess"]["feature_set"] == "paper"
        for values, flags, holds in CASES:
            set_options(app, preset="default", refit="preset", augment="preset", pad="preset",
                        features="paper", test_group="", balance="")
            await pilot.pause()
            set_options(app, **values)
            await pilot.pause()
            built = request_toml(view)
            preset = [] if "--preset" in flags else ["--preset", "default"]
            assert built == headless_toml(*base(), *preset, *flags), values
            assert holds(built), (values, built)

    drive(app, body, SMALL)


def test_options_are_set_with_the_keyboard_and_the_help_line_follows(tmp_path: Path) -> None:
    from textual.widgets import Select

    app = make_app(tmp_path / "runs", data="demo:24")

    async def body(pilot: Any) -> None:
        view = await models_screen(pilot)
        assert "the paper's 26" in text_of(app, "#models-help")  # first: the feature set
        # the preset's choice is named: on for default, off for paper
        refit = app.query_one("#models-refit", Select)
        assert "preset: on" in str(refit.query_one("SelectCurrent #label").render())
        app.query_one("#models-preset", Select).value = "paper"
        await wait_for(pilot, lambda: "preset: off" in str(
            refit.query_one("SelectCurrent #label").render()))
        app.query_one("#models-preset", Select).value = "default"
        await pilot.pause()
        # features: open the list with Enter, Down twice, Enter: mel_stats
        app.query_one("#models-features", Select).focus()
        await pilot.press("enter", "down", "down", "enter")
        await wait_for(pilot, lambda: app.query_one("#models-features", Select).value
                       == "mel_stats")
        assert "282" in text_of(app, "#models-help")
        assert request_toml(view)["preprocess"]["feature_set"] == "mel_stats"
        # refit: the help line says what it is and what the preset chooses
        refit.focus()
        await pilot.pause()
        assert text_of(app, "#models-help").startswith("refit: retrain on train + validation")
        assert "by preset: on" in text_of(app, "#models-help")
        await pilot.press("enter", "down", "down", "enter")  # off
        await wait_for(pilot, lambda: refit.value == "off")
        assert request_toml(view)["recipe"]["refit"] is False
        # pad: named by the preset (repeat for default, zero for paper), the help says what
        # it does; Down once: repeat, Down twice: zero
        pad = app.query_one("#models-pad", Select)
        assert "preset: repeat" in str(pad.query_one("SelectCurrent #label").render())
        pad.focus()
        await pilot.pause()
        assert text_of(app, "#models-help").startswith(
            "short clips: repeated to fill the spectrogram, or silence after them")
        assert view.help_text("models-pad").endswith("(by preset: repeat)")
        app.query_one("#models-preset", Select).value = "paper"
        await wait_for(pilot, lambda: "preset: zero" in str(
            pad.query_one("SelectCurrent #label").render()))
        assert view.help_text("models-pad").endswith("(by preset: zero)")
        assert request_toml(view)["recipe"]["preset"] == "paper"
        assert "pad" not in request_toml(view)["preprocess"]  # the paper's, zero, at run time
        pad.focus()
        await pilot.press("enter", "down", "enter")  # repeat, whatever the preset
        await wait_for(pilot, lambda: pad.value == "repeat")
        assert request_toml(view)["preprocess"]["pad"] == "repeat"
        app.query_one("#models-preset", Select).value = "default"
        await pilot.pause()
        assert pad.value == "repeat"  # an explicit choice stays when the preset changes
        # hold out: typed text (no summary read yet), and the help says where choices come from
        app.query_one("#models-test-group").focus()
        await pilot.press(*"source=synthetic")
        await pilot.pause()
        assert "Data (1) lists them" in text_of(app, "#models-help")
        assert request_toml(view)["split"]["test_group"] == "source=synthetic"

    drive(app, body, SMALL)


# ------------------------------------------------------------------ the data set's own values


def test_hold_out_choices_come_from_the_data_sets_metadata(tmp_path: Path) -> None:
    manifest = two_source_manifest(tmp_path / "two-sources", n=24)
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from textual.widgets import Input

        await read_data(pilot, str(manifest))
        view = await models_screen(pilot)
        field = app.query_one("#models-test-group", Input)
        field.focus()
        await pilot.pause()
        assert text_of(app, "#models-help") == ("hold out as an out-of-distribution test: "
                                                "source=lab, source=phone")
        # completion offers the manifest's values: "source=p" completes to source=phone
        await pilot.press(*"source=p")
        await wait_for(pilot, lambda: field._suggestion == "source=phone")
        await pilot.press("right")  # accept the completion
        assert field.value == "source=phone"
        app.query_one("#models-balance", Input).focus()
        await pilot.pause()
        assert "columns: source" in text_of(app, "#models-help")
        built = request_toml(view)
        assert built["split"]["test_group"] == "source=phone"

    drive(app, body, LARGE)


def test_demo_data_offers_nothing_to_hold_out(tmp_path: Path) -> None:
    """The demo's only metadata value covers every clip: nothing is offered."""
    from tui.screens.models import holdout_choices

    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        await read_data(pilot, "demo:24")
        view = await models_screen(pilot)
        summary = app.data_summary[1]
        assert summary["meta"] == {"source": {"synthetic": 24}}
        assert summary["meta_columns"] == ["source"]
        assert holdout_choices(summary) == []
        view.show_help("models-test-group")
        assert "demo:24 has no metadata value to hold out" in text_of(app, "#models-help")

    drive(app, body, SMALL)


def test_hold_out_choices_of_real_covid19_cough_clips(tmp_path: Path, shared_data: Path) -> None:
    """A small manifest of real covid19-cough recordings (absolute paths into
    ../shared/data): the choices are its real sources and values."""
    source = shared_data / "covid19-cough" / "manifest.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    rows = list(csv.DictReader(source.open()))
    picked = ([r for r in rows if r["source"] == "call-center"][:6] +
              [r for r in rows if r["source"] == "telegram"][:6])
    manifest = tmp_path / "real" / "manifest.csv"
    manifest.parent.mkdir()
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        for row in picked:
            writer.writerow({**row, "path": str(source.parent / row["path"])})
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        from tui.screens.models import holdout_choices

        await read_data(pilot, str(manifest))
        await models_screen(pilot)
        summary = app.data_summary[1]
        choices = holdout_choices(summary)
        assert {"source=call-center", "source=telegram"} <= set(choices)
        usable = summary["usable"]
        for choice in choices:  # each a column of the manifest, a value some clips have
            column, value = choice.split("=", 1)
            assert column in rows[0] and column != "path"
            assert 0 < sum(r[column] == value for r in picked) < len(picked)
        assert usable > 0

    drive(app, body, LARGE)


# ------------------------------------------------------------------ refused before Start


def test_bad_hold_out_and_balance_values_are_refused_and_nothing_starts(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    app = make_app(runs)
    cases = [  # (field, typed value, what the message must say)
        ("test_group", "source", ["hold out 'source'", "COLUMN=VALUE"]),
        ("test_group", "=telegram", ["hold out '=telegram'", "COLUMN=VALUE"]),
        ("test_group", "site=north", ["hold out 'site=north'", "no metadata column 'site'",
                                      "columns: source"]),
        ("test_group", "source=telegram", ["no clip of demo:24 has source = 'telegram'",
                                           "values of source: synthetic"]),
        ("test_group", "source=synthetic", ["every clip of demo:24 has source = 'synthetic'",
                                            "no metadata value to hold out"]),
        ("balance", "site", ["balance by 'site'", "no metadata column 'site'",
                             "columns: source"]),
    ]

    async def body(pilot: Any) -> None:
        await read_data(pilot, "demo:24")
        await models_screen(pilot)
        for field, value, words in cases:
            set_options(app, test_group="", balance="")
            set_options(app, **{field: value})
            await pilot.press("ctrl+s")  # Start's key (the button moves as messages wrap)
            await wait_for(pilot, lambda: app.query_one("#models-message").has_class("error"))
            message = text_of(app, "#models-message")
            for word in words:
                assert word in message, (value, message)
            assert app.followed is None and app.query_one("#nav").active == "models"
            assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())
            app.query_one("#models-view").set_message("")

    drive(app, body, SMALL)


# ------------------------------------------------------------------ fit at 80x24 and 140x40


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "140x40"])
def test_every_option_is_on_screen_without_colour(tmp_path: Path, size: tuple[int, int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path / "runs", data="demo:24")

    async def body(pilot: Any) -> None:
        await models_screen(pilot)
        assert app.no_color
        width, height = size
        labels = [str(label.render()) for label in app.query("#models-options Label")]
        assert labels == ["preset", "refit", "augment", "seeds", "epochs", "device",
                          "features", "pad", "hold out", "balance by"]
        for selector in OPTION_IDS:
            region = app.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            # inside the screen, above the footer (the last row)
            assert region.right <= width and region.bottom <= height - 1, (selector, region)
        models = app.query_one("#models-list")
        rows = models.option_count + models.styles.gutter.height
        if size == LARGE:  # room for all: every model shows, with nothing to spare
            assert models.region.height == rows
            assert models.max_scroll_y == 0
        else:  # 80x24, 13 models (ModelsView.fit_list): it takes the room left and scrolls
            assert models.region.height >= 10
            assert models.max_scroll_y == rows - models.region.height > 0
        # the help line is one row; at 80 columns a long one ends in an ellipsis
        app.query_one("#models-view").show_help("models-balance")
        await pilot.pause()
        shown = app.query_one("#models-help").render_line(0).text.rstrip()
        assert len(shown) <= width - 2 and shown.startswith("balance by:")

    drive(app, body, size)


# ------------------------------------------------------------------ remembered


def test_old_and_odd_settings_files_still_load(tmp_path: Path) -> None:
    from textual.widgets import Input, Select

    from tui.settings import load_settings, settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # app.json as written before the options existed
    path.write_text(json.dumps({"data": "demo:24", "models": ["ann"], "seeds": 2,
                                "epochs": 3, "preset": "paper", "device": "cpu",
                                "theme": "textual-light"}))
    old = load_settings()
    assert not old.problems and old.seeds == 2
    assert (old.refit, old.augment, old.pad, old.feature_set, old.test_group,
            old.balance_by) == (None, None, None, None, None, None)
    app = make_app(tmp_path / "runs")

    async def defaults(pilot: Any) -> None:
        view = await models_screen(pilot)
        assert app.query_one("#models-refit", Select).value == "preset"
        assert app.query_one("#models-augment", Select).value == "preset"
        assert app.query_one("#models-pad", Select).value == "preset"
        assert app.query_one("#models-features", Select).value == "paper"
        assert app.query_one("#models-test-group", Input).value == ""
        built = request_toml(view)
        assert built["recipe"]["preset"] == "paper" and "refit" not in built["recipe"]
        assert "pad" not in built["preprocess"]

    drive(app, defaults, SMALL)
    # values the screen does not know, and wrong types: defaults, and a note for the types
    path.write_text(json.dumps({"refit": "maybe", "augment": True, "feature_set": "mfcc",
                                "pad": "edge", "test_group": 3, "balance_by": ["source"]}))
    odd = load_settings()
    assert odd.refit == "maybe" and odd.feature_set == "mfcc" and odd.pad == "edge"
    assert {p.split(": ", 1)[1].split(" ")[0] for p in odd.problems} == {
        "'augment'", "'test_group'", "'balance_by'"}
    app = make_app(tmp_path / "runs")

    async def fallback(pilot: Any) -> None:
        await models_screen(pilot)
        assert app.query_one("#models-refit", Select).value == "preset"
        assert app.query_one("#models-features", Select).value == "paper"
        assert app.query_one("#models-pad", Select).value == "preset"
        assert app.query_one("#models-balance", Input).value == ""

    drive(app, fallback, SMALL)
    path.write_text(json.dumps({"pad": False}))  # a bool is not a choice's name
    wrong = load_settings()
    assert wrong.pad is None and wrong.problems == [f"{path}: 'pad' = False has the wrong type; "
                                                    "ignored"]


def test_a_real_run_gets_the_options_and_they_are_remembered(tmp_path: Path) -> None:
    """A tiny real run (48 synthetic clips in two sources, ann + logreg, 1 seed, 2 epochs)
    with every option set: the run's own config.toml holds them, the held-out source is
    scored, and the next app opens with the same choices."""
    from textual.widgets import Input, Select, SelectionList

    from tui.settings import load_settings

    manifest = two_source_manifest(tmp_path / "two-sources", n=48)
    runs = tmp_path / "runs"
    app = make_app(runs)

    async def body(pilot: Any) -> None:
        await read_data(pilot, str(manifest))
        await models_screen(pilot)
        models = app.query_one("#models-list", SelectionList)
        models.deselect_all()
        models.select("ann")
        models.select("logreg")
        set_options(app, seeds="1", epochs="2", device="cpu", refit="off", augment="off",
                    pad="zero", features="extended", test_group="source=phone",
                    balance="source")
        await pilot.pause()
        await pilot.click("#models-start")
        await wait_for(pilot, lambda: app.followed is not None, 30)
        await wait_for(pilot, lambda: app.followed.state.is_over, 300)
        await wait_for(pilot, lambda: app.followed.was_over, 60)
        state = app.followed.state
        log = app.followed.run.path / "runner.log"
        assert state.state == "finished", (state.errors, log.read_text() if log.exists()
                                           else "")

    drive(app, body, SMALL)
    (run,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["recipe"]["refit"] is False and config["augment"]["enabled"] is False
    assert config["preprocess"]["feature_set"] == "extended"
    assert config["preprocess"]["pad"] == "zero"
    assert config["split"]["test_group"] == "source=phone"
    assert config["balance_by"] == "source"
    assert config["data"] == str(manifest) and config["models"] == ["ann", "logreg"]
    summary = json.loads((run / "summary.json").read_text())
    for model in ("ann", "logreg"):  # the held-out source is scored as its own part
        assert summary["models"][model]["ood"]["group"] == "source=phone"
    saved = load_settings()
    assert (saved.refit, saved.augment, saved.pad, saved.feature_set, saved.test_group,
            saved.balance_by) == ("off", "off", "zero", "extended", "source=phone", "source")
    again = make_app(runs)

    async def reopened(pilot: Any) -> None:
        await models_screen(pilot)
        assert again.query_one("#models-refit", Select).value == "off"
        assert again.query_one("#models-augment", Select).value == "off"
        assert again.query_one("#models-pad", Select).value == "zero"
        assert again.query_one("#models-features", Select).value == "extended"
        assert again.query_one("#models-test-group", Input).value == "source=phone"
        assert again.query_one("#models-balance", Input).value == "source"

    again.attach_on_start = False
    drive(again, reopened, SMALL)
