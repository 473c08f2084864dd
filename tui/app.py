"""The coughscope Textual app: navigation, the followed run, and app-wide actions.

:func:`build_app` is the one factory for the command line and the tests. The app owns the
run it is following (a :class:`FollowedRun`: run directory, the engine's
:class:`~engine.runs.RunFollower` and its :class:`~engine.runs.RunState`, and, when this app
started it, the runner process); one thread worker drives the follower and posts
:class:`~tui.messages.RunUpdated`, and a 4 Hz timer redraws the screens when that flag is
set. The app reads the run only through :mod:`engine.runs`. The screens (``tui/screens``) read the app's state and call its
methods; the runner itself is always a separate process (:mod:`tui.launcher`).

Startup: only the first tab's screen is built for the first frame. The others (and their
modules: textual-plotext costs ~0.2 s) are built when first shown, or when a followed run
needs them (:meth:`CoughscopeApp.with_view`); each reads the app's state when it mounts.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.widgets import Tabs
from textual.worker import get_current_worker

from engine import paths
from engine.errors import CoughscopeError
from engine.runs import RunDir, RunFollower, RunState, pid_alive

from .commands import CoughscopeCommands
from .dialogs import ConfirmScreen, HelpScreen, QuitScreen
from .launcher import ExperimentRequest, LaunchedRun, resume_run, start_run, stop_pid
from .messages import DataSummarised, DeviceDetected, RunUpdated
from .settings import load_settings, save_settings
from textual.widget import AwaitMount, Widget

# modules the first frame must not have imported (each costs seconds here)
HEAVY_MODULES = ("torch", "torchvision", "lightning", "pytorch_lightning", "lightning_fabric",
                 "pytorch_tabular", "sklearn", "librosa")

# (tab id, title, key)
SCREENS = (
    ("data", "Data", "1"),
    ("models", "Models", "2"),
    ("training", "Training", "3"),
    ("results", "Results", "4"),
    ("confusion", "Confusion", "5"),
    ("runs", "Runs", "6"),
    ("classify", "Classify", "7"),
)
# tab id -> (module, class) of its screen, imported when the tab is first built
VIEWS = {
    "data": ("tui.screens.data", "DataView"),
    "models": ("tui.screens.models", "ModelsView"),
    "training": ("tui.screens.training", "TrainingView"),
    "results": ("tui.screens.results", "ResultsView"),
    "confusion": ("tui.screens.confusion", "ConfusionView"),
    "runs": ("tui.screens.runs", "RunsView"),
    "classify": ("tui.screens.classify", "ClassifyView"),
}
INITIAL_TAB = "data"
POLL_SECONDS = 0.2
REDRAW_SECONDS = 0.25  # at most ~4 redraws a second, however fast events arrive


@dataclass
class FollowedRun:
    """The run the Training/Results/Confusion screens show."""

    run: RunDir
    follower: RunFollower
    launched: LaunchedRun | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    was_over: bool = False

    @property
    def state(self) -> RunState:
        return self.follower.state


class CoughscopeApp(App[None]):
    """Pick data and models, watch training live, read results, manage runs."""

    TITLE = "coughscope"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {CoughscopeCommands}
    BINDINGS = [
        *(Binding(key, f"goto('{tab}')", title, show=False) for tab, title, key in SCREENS),
        Binding("f1,question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
        Binding("ctrl+q,q", "quit", "Quit"),
        # Esc leaves any text field (the field's own keys stop there); Enter on a screen
        # whose tab strip has the focus does that screen's main action; / jumps to the path
        Binding("escape", "leave_input", "Leave field", show=False),
        Binding("enter", "screen_enter", "Do it", show=False),
        # priority: the App runs it as it reads the key, so the keys typed after it in the
        # same burst ("/tag:x" through a real terminal) already go to the field; in a text
        # field (check_action) "/" is typed as usual
        Binding("slash", "focus_path", "Path field", show=False, priority=True),
        # screen actions: shown in the footer, and active, on their own screen only
        Binding("ctrl+r", "summarise_data", "Summarise"),
        Binding("ctrl+s", "start_training", "Start"),
        Binding("ctrl+x", "stop_run", "Stop run"),
        Binding("c", "cycle_chart", "Next chart"),
        Binding("ctrl+o", "open_selected_run", "Open/follow"),
        Binding("ctrl+e", "resume_selected_run", "Resume"),
        Binding("delete", "delete_selected_run", "Delete"),
        Binding("f5", "refresh_runs", "Refresh"),
        Binding("e", "export_view", "Export"),
        Binding("f", "show_figures", "Figures"),
        # Runs list (tui/screens/runs.py) and the log view (tui/screens/log.py)
        Binding("s", "sort_runs", "Sort", show=False),
        Binding("r", "reverse_runs", "Reverse order", show=False),
        Binding("t", "tag_run", "Tags", show=False),
        Binding("n", "note_run", "Note", show=False),
        Binding("l", "show_run_log", "Log", show=False),
        Binding("y", "show_studies", "Studies", show=False),
    ]
    # action -> the tab on which its key binding works
    SCREEN_ACTIONS = {
        "summarise_data": "data",
        "start_training": "models",
        "stop_run": "training",
        "cycle_chart": "training",
        "open_selected_run": "runs",
        "resume_selected_run": "runs",
        "delete_selected_run": "runs",
        "refresh_runs": "runs",
        "export_view": ("results", "confusion"),
        "show_figures": ("results", "confusion"),
        "focus_path": ("data", "classify", "runs"),
        "sort_runs": "runs",
        "reverse_runs": "runs",
        "tag_run": "runs",
        "note_run": "runs",
        "show_run_log": ("training", "runs"),
    }

    def __init__(
        self,
        runs_dir: Path | None = None,
        data: str | None = None,
        open_run: str | None = None,
        detect_device: bool = True,
        device_text: str | None = None,
        start: float | None = None,
    ) -> None:
        super().__init__()
        self.start_time = start if start is not None else time.perf_counter()
        self.runs_dir = paths.runs_dir(runs_dir)
        self.runs_dir_reason = paths.runs_dir_reason(runs_dir)
        self.settings = load_settings()
        # --data wins; else the data set chosen last time; else the synthetic demo
        self.data_spec = data or self.settings.data or "demo"
        # a data set remembered from last time is read again on start (in a worker), so the
        # Models screen's hold-out and balance completion have its columns (issue 20, bug 8)
        self.reread_data = data is None and bool(self.settings.data)
        self.attach_on_start = True
        self.open_run_spec = open_run
        self.detect_device = detect_device
        self.device_text = device_text or ("detecting…" if detect_device else "not detected")
        # (spec, summary) the Data screen read last: the Models screen offers its columns
        self.data_summary: tuple[str, dict[str, Any]] | None = None
        self.followed: FollowedRun | None = None
        self.launched: dict[str, LaunchedRun] = {}
        self.startup_ms: float | None = None
        self.startup_heavy: list[str] = []
        self.exit_after_first_frame = False
        self._dirty = False
        self._stop_offered = False  # whether the footer offers Ctrl+X (a live run)
        self._mounting: dict[str, AwaitMount] = {}

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≋")
        with TabbedContent(initial=INITIAL_TAB, id="nav"):
            for tab, title, key in SCREENS:
                with TabPane(f"{key} {title}", id=tab):
                    if tab == INITIAL_TAB:  # the others are built when first needed
                        yield new_view(tab)
        yield Footer()

    def build_view(self, tab: str) -> None:
        """Mount ``tab``'s screen unless it is built (or being built) already."""
        if tab in self._mounting or tab not in VIEWS:
            return
        pane = self.query_one(f"#nav #{tab}", TabPane)
        if pane.query(f"#{tab}-view"):
            return
        self._mounting[tab] = pane.mount(new_view(tab))

    def view(self, tab: str) -> Widget | None:
        """``tab``'s screen when it is built and mounted, else None."""
        found = self.query(f"#{tab}-view")
        if not found or not found.first().is_mounted:
            return None
        return found.first()

    def with_view(self, tab: str, call: Callable[[Any], object]) -> None:
        """``call(view)`` now, or as soon as ``tab``'s screen has been built and mounted."""
        view = self.view(tab)
        if view is not None:
            call(view)
            return
        self.build_view(tab)
        pending = self._mounting.get(tab)

        async def when_mounted() -> None:
            if pending is not None:
                await pending
            found = self.view(tab)
            if found is not None:
                result = call(found)
                if inspect.isawaitable(result):
                    await result

        self.call_later(when_mounted)

    def on_mount(self) -> None:
        self.theme = self.settings.theme if self.settings.theme in self.available_themes \
            else "textual-dark"
        for problem in self.settings.problems:
            self.notify(problem, title="settings", severity="warning", timeout=8)
        self.sub_title = f"device: {self.device_text}"
        self.call_after_refresh(self._first_frame)
        self.set_interval(REDRAW_SECONDS, self._redraw_if_dirty)

    def _first_frame(self) -> None:
        self.startup_ms = (time.perf_counter() - self.start_time) * 1000
        self.startup_heavy = [m for m in HEAVY_MODULES if m in sys.modules]
        self.log.info(f"started in {self.startup_ms:.0f} ms")
        if self.exit_after_first_frame:
            self.exit()
            return
        if self.detect_device:
            self.detect_device_worker()
        if self.reread_data:
            self.with_view("data", lambda view: view.summarise())
        if self.open_run_spec:
            self.open_run_by_spec(self.open_run_spec)
        elif self.attach_on_start:
            self.attach_to_running_run()

    def attach_to_running_run(self) -> None:
        """Follow the newest run that is still training (after a reconnect, say)."""
        from engine.runs import list_runs

        running = [run for run in list_runs(self.runs_dir)
                   if run.status().get("state") == "running"]
        if not running:
            return
        run = running[0]
        self.open_run(run)
        more = f" ({len(running) - 1} more on Runs, 6)" if len(running) > 1 else ""
        self.notify(f"run {run.id} is still training: following it{more}",
                    title="attached", timeout=8)

    # ------------------------------------------------------------------ device

    @work(thread=True, exclusive=True, group="device", exit_on_error=False)
    def detect_device_worker(self) -> None:
        self.post_message(DeviceDetected(describe_this_device()))

    def on_device_detected(self, message: DeviceDetected) -> None:
        self.device_text = message.text
        # the header keeps the device only (80 columns); the Models screen shows the notice
        self.sub_title = f"device: {message.text.split(' — ')[0]}"
        models = self.view("models")
        if models is not None:  # a Models screen built later reads app.device_text
            models.show_device(message.text)

    def on_data_summarised(self, message: DataSummarised) -> None:
        """The Data screen read a data set (the message bubbles up from it): keep the
        summary for the Models screen's hold-out and balance choices."""
        self.data_summary = (message.spec, message.summary)
        models = self.view("models")
        if models is not None:  # a Models screen built later reads app.data_summary
            models.show_data()

    # ------------------------------------------------------------------ navigation

    def action_goto(self, tab: str) -> None:
        tabbed = self.query_one("#nav", TabbedContent)
        if tabbed.active == tab and self.view(tab) is not None:
            # already there (Ctrl+S on Models, a palette action): the focus stays where it
            # is; on the tab strip, a digit typed next would switch screens (issue 20, bug 2)
            return
        # focus the tab strip first: a focused widget left in the hidden pane would pull
        # the old pane back (and arrows then move between screens)
        tabbed.query_one(Tabs).focus()
        self.build_view(tab)
        tabbed.active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if not self.screen_stack:  # the app is closing (quit while a tab switch was queued)
            return
        if event.pane.id:
            self.build_view(event.pane.id)
        self.refresh_bindings()  # the footer shows the new screen's actions

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[tuple[str, str, str]]:
        """(where, key, what) of every key binding, for the help screen."""
        titles = {tab: title for tab, title, _ in SCREENS}
        rows = [("everywhere", key, f"go to {title}") for _, title, key in SCREENS]
        rows.append(("everywhere", key_label("ctrl+p"), "command palette: every action by name"))
        what = {"leave_input": "leave a text field (then screen keys work)",
                "focus_path": "type a path (Data, Classify); Runs: the filter",
                "sort_runs": "sort by the next column (or click a column's header)",
                "reverse_runs": "sort the other way round",
                "tag_run": "edit the highlighted run's tags",
                "note_run": "edit the highlighted run's note",
                "show_run_log": "the runner's log, live (Training: the followed run; Runs: "
                                "the highlighted one)",
                "screen_enter": "Data: read the data set; Runs: open the highlighted run"}
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and not binding.action.startswith("goto"):
                tabs = self.SCREEN_ACTIONS.get(binding.action, "")
                tabs = (tabs,) if isinstance(tabs, str) else tabs
                where = ", ".join(titles[t] for t in tabs if t in titles) or "everywhere"
                keys = " / ".join(key_label(k) for k in binding.key.split(","))
                rows.append((where, keys, what.get(binding.action, binding.description)))
        rows += [("Runs", "Enter", "open the highlighted run"),
                 ("Runs", "m / Space", "mark or unmark the highlighted run for Compare"),
                 ("Runs", "c", "compare the marked runs (or the highlighted one)"),
                 ("Compare", "b", "pin the highlighted row's run as the baseline"),
                 ("Compare", "v", "next curve: validation AUC → loss → accuracy"),
                 ("Compare", "e / f", "export everything / the runs' figures"),
                 ("Compare", "Esc", "back to Runs"),
                 ("Runs", "filter", "model:cnn auc>.8 data:covid19 status:running tag:x "
                                    "note:word, free text; AND (default), OR, NOT or -term, "
                                    "( ); numbers < <= > >= ="),
                 ("Training", "Enter", "show the highlighted model/seed's curves"),
                 ("Confusion", "← / →", "move the threshold (Shift: in bigger steps)"),
                 ("Confusion", "0", "back to the threshold validation chose"),
                 ("Models", "Space", "tick or untick the highlighted model"),
                 ("dialogs", "Esc", "close / cancel")]
        return rows

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Screen actions' keys work (and show in the footer) on their own screen only; Stop
        run only while the followed run is live (the palette's Stop still says why not)."""
        if action == "stop_run" and not self.run_is_live():
            return False
        if action == "focus_path":
            from textual.widgets import Input

            if isinstance(self.focused, Input) or not self.screen.is_attached or \
                    self.screen is not self.screen_stack[0]:
                return False
        tab = self.SCREEN_ACTIONS.get(action)
        if tab is None or not self.is_mounted or not self.screen.is_attached:
            return True
        try:
            active = self.query_one("#nav", TabbedContent).active
        except Exception:  # noqa: BLE001 - a modal screen is on top
            return False
        return active in tab if isinstance(tab, tuple) else active == tab

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.remember(theme=self.theme)

    def remember(self, **changes: Any) -> None:
        """Save settings for next time (last data set, Models choices, theme)."""
        for key, value in changes.items():
            setattr(self.settings, key, value)
        problem = save_settings(self.settings)
        if problem:
            self.notify(problem, title="settings", severity="warning", timeout=8)

    def action_leave_input(self) -> None:
        """Esc in a text field: give the focus back to the tab strip, so keys 1-7 work."""
        from textual.widgets import Input

        if isinstance(self.focused, Input):
            self.query_one("#nav", TabbedContent).query_one(Tabs).focus()

    def action_screen_enter(self) -> None:
        """Enter on the tab strip: the screen's main action (Data reads the data set, Runs
        opens the highlighted run), as the screens say."""
        active = self.query_one("#nav", TabbedContent).active
        if active == "data":
            self.with_view("data", lambda view: view.summarise())
        elif active == "runs":
            self.with_view("runs", lambda view: view.action_open())

    def action_focus_path(self) -> None:
        tab = self.query_one("#nav", TabbedContent).active
        field = {"data": "#data-spec", "runs": "#runs-filter"}.get(tab, f"#{tab}-path")

        def focus(view: Any) -> None:
            # now, not after the queued keys (Widget.focus defers): "/tag:x" typed in one
            # burst through a real terminal goes into the field, every key of it
            widget = view.query_one(field)
            widget.screen.set_focus(widget)

        self.with_view(tab, focus)

    def palette_actions(self) -> list[tuple[str, str, str]]:
        """(name, action, help) of every action, for the command palette (run with
        :meth:`run_palette_action`, which skips the per-screen key filter)."""
        actions = [(f"Go to {title}", f"goto('{tab}')", f"show the {title} screen (key {key})")
                   for tab, title, key in SCREENS]
        actions += [
            ("Summarise data", "summarise_data", "read the chosen data set and show its summary"),
            ("Start training", "start_training", "start the experiment set on the Models screen"),
            ("Stop the run", "stop_run", "interrupt the followed run (asks first; resumable)"),
            ("Next training chart", "cycle_chart", "loss → accuracy → validation AUC"),
            ("Refresh runs", "refresh_runs", "re-read the runs directory"),
            ("Open the selected run", "open_selected_run", "follow it live or show its results"),
            ("Resume the selected run", "resume_selected_run", "continue an interrupted run"),
            ("Delete the selected run", "delete_selected_run", "remove its directory (asks first)"),
            ("Compare marked runs", "compare_runs", "AUCs side by side, curves, what differs "
             "(mark runs on Runs with m)"),
            ("Export this view", "export_view", "Results/Confusion: tables and figures as CSV, "
             "JSON, SVG, PNG, .tex"),
            ("Show the run's figures", "show_figures", "RUN/figures/: open one"),
            ("Sort runs by the next column", "sort_runs", "run, status, best AUC, data, models"),
            ("Tag the selected run", "tag_run", "edit its tags (kept in the run folder)"),
            ("Note on the selected run", "note_run", "edit its note (kept in the run folder)"),
            ("Show the runner log", "show_run_log", "the followed (or highlighted) run's log"),
            ("Cross-dataset studies", "show_studies", "study records (coughscope study cross) "
             "and their matrices of AUCs (key y)"),
            ("Toggle light/dark theme", "toggle_theme", "switch between light and dark"),
            ("Help", "help", "every screen and key binding"),
            ("Quit", "quit", "leave coughscope (asks about a run still going)"),
        ]
        return actions

    async def run_palette_action(self, action: str) -> None:
        name, _, arg = action.partition("(")
        method = getattr(self, f"action_{name}")
        result = method(arg.strip("')")) if arg else method()
        if inspect.isawaitable(result):
            await result

    # screen actions reachable from anywhere (palette, help)
    def action_summarise_data(self) -> None:
        self.action_goto("data")
        self.with_view("data", lambda view: view.summarise())

    def action_show_studies(self) -> None:
        from engine.study import studies_dir

        from .screens.studies import StudiesScreen

        self.push_screen(StudiesScreen(studies_dir()))

    def action_start_training(self) -> None:
        self.action_goto("models")
        self.with_view("models", lambda view: view.start())

    def action_cycle_chart(self) -> None:
        self.action_goto("training")
        self.with_view("training", lambda view: view.cycle_chart())

    def action_refresh_runs(self) -> None:
        self.action_goto("runs")
        self.with_view("runs", lambda view: view.refresh_runs())

    def action_open_selected_run(self) -> None:
        self.action_goto("runs")
        self.with_view("runs", lambda view: view.action_open())

    def action_resume_selected_run(self) -> None:
        self.action_goto("runs")
        self.with_view("runs", lambda view: view.action_resume())

    def action_delete_selected_run(self) -> None:
        self.action_goto("runs")
        self.with_view("runs", lambda view: view.action_delete())

    def action_compare_runs(self) -> None:
        self.action_goto("runs")
        self.with_view("runs", lambda view: view.action_compare())

    def action_export_view(self) -> None:
        from .screens.workbench import export_current

        export_current(self)

    def action_show_figures(self) -> None:
        from .screens.workbench import show_figures

        show_figures(self)

    def action_sort_runs(self) -> None:
        self.with_view("runs", lambda view: view.next_sort())

    def action_reverse_runs(self) -> None:
        self.with_view("runs", lambda view: view.reverse_sort())

    def action_tag_run(self) -> None:
        self.with_view("runs", lambda view: view.edit_tags())

    def action_note_run(self) -> None:
        self.with_view("runs", lambda view: view.edit_note())

    def action_show_run_log(self) -> None:
        """``l``: the runner log of the highlighted run (Runs), else of the followed run."""
        if self.query_one("#nav", TabbedContent).active == "runs":
            self.with_view("runs", lambda view: view.show_log())
        elif self.followed is not None:
            self.show_log(self.followed.run, self.followed.launched)
        else:
            self.notify("no run is followed: open one on Runs (6)", title="log",
                        severity="warning")

    def show_log(self, run: RunDir, launched: LaunchedRun | None = None) -> None:
        """Push the log view of ``run`` (its runner.log, or the launch log until the runner
        moves it into the run folder)."""
        from engine.logtail import runner_log_paths

        from .screens.log import LogScreen

        launched = launched or self.launched.get(run.id)
        self.push_screen(LogScreen(run.id, runner_log_paths(
            run.path, launched.log if launched is not None else None)))

    # ------------------------------------------------------------------ runs

    def start_experiment(self, request: ExperimentRequest) -> RunDir:
        """Start the runner for ``request`` and follow it on the Training screen."""
        launched = start_run(request, self.runs_dir)
        self.launched[launched.run.id] = launched
        self.follow(launched.run, launched)
        self.action_goto("training")
        return launched.run

    def resume(self, run: RunDir) -> None:
        """Resume ``run`` in a new runner process and follow it from its first event, so the
        charts keep the epochs from before the stop."""
        launched = resume_run(run)
        self.launched[run.id] = launched
        self.follow(run, launched)
        self.action_goto("training")

    def open_run_by_spec(self, spec: str) -> None:
        from engine.runs import resolve_run

        try:
            run = resolve_run(spec, self.runs_dir)
        except CoughscopeError as err:
            self.notify(err.describe(), title="cannot open run", severity="error", timeout=10)
            return
        self.open_run(run)

    def open_run(self, run: RunDir) -> None:
        """Show a run: follow it live when it is running, else load its results."""
        self.follow(run, self.launched.get(run.id))
        live = run.status().get("state") == "running"
        self.action_goto("training" if live else "results")

    def follow(self, run: RunDir, launched: LaunchedRun | None) -> None:
        alive = (lambda: launched.running) if launched is not None else None
        log = launched.log_path if launched is not None else None
        follower = RunFollower(run, alive=alive, log_path=log)
        followed = self.followed = FollowedRun(run, follower, launched)
        self.with_view("training", lambda view: view.show_run(followed))
        self.with_view("results", lambda view: view.load(run))
        self.with_view("confusion", lambda view: view.load(run))
        self.follow_worker(followed)

    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def follow_worker(self, followed: FollowedRun) -> None:
        """Drive the engine's follower until the run is over and its writer gone (or another
        run is followed); each change becomes one :class:`RunUpdated` message."""
        worker = get_current_worker()
        followed.follower.follow(lambda _: self.post_message(RunUpdated(followed.run.id)),
                                 lambda: worker.is_cancelled, POLL_SECONDS, lock=followed.lock)
        launched = followed.launched
        if followed.follower.done and launched is not None and launched.log is not None \
                and not followed.run.path.exists():
            # refused before it began (its message is in the state's errors): no run
            # directory, and no staging files left behind either
            launched.log.unlink(missing_ok=True)
            launched.log.with_suffix(".toml").unlink(missing_ok=True)

    def on_run_updated(self, message: RunUpdated) -> None:
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if not self._dirty or self.followed is None:
            return
        self._dirty = False
        followed = self.followed
        training = self.view("training")
        if training is None:
            self._dirty = True  # still being built: draw on the next tick
            return
        try:
            training.redraw()
        except NoMatches:
            # the app is shutting down: Textual removes the views' children before this
            # timer stops (seen on a loaded machine); a view being built is None above
            return
        if self.run_is_live() != self._stop_offered:  # the footer's Ctrl+X follows the run
            self._stop_offered = not self._stop_offered
            self.refresh_bindings()
        if followed.follower.done and not followed.was_over:
            followed.was_over = True
            self.with_view("results", lambda view: view.load(followed.run))
            self.with_view("confusion", lambda view: view.load(followed.run))
            for tab in ("runs", "classify"):  # unbuilt ones read the runs when built
                view = self.view(tab)
                if view is not None:
                    view.refresh_runs()

    def run_is_live(self) -> bool:
        """Whether the followed run is still going (as far as its events say)."""
        return self.followed is not None and not self.followed.state.is_over

    def action_stop_run(self) -> None:
        """Ctrl+X: ask first (a stopped run can be resumed from its last checkpoint)."""
        followed = self.followed
        if followed is None or followed.state.is_over:
            self.notify("no run is training", severity="warning")
            return

        def decide(yes: bool | None) -> None:
            if yes:
                self.stop_followed_run()

        self.push_screen(ConfirmScreen(
            f"Stop run {followed.run.id}?\nIt is marked interrupted; resume it later from "
            "the Runs screen (Ctrl+E), and it continues from its last checkpoint.",
            yes="Stop run",
            no="Keep training"), decide)

    def stop_followed_run(self) -> None:
        followed = self.followed
        if followed is None or not followed.follower.alive():
            self.notify("no run is training", severity="warning")
            return
        pid = followed.launched.process.pid if followed.launched else followed.run.status().get("pid")
        if isinstance(pid, int) and stop_pid(pid):
            self.notify(f"asked run {followed.run.id} to stop; it will be marked interrupted")
        else:
            self.notify(f"run {followed.run.id} has no live process to stop", severity="warning")

    def live_launched(self) -> list[LaunchedRun]:
        return [launched for launched in self.launched.values() if launched.running]

    def live_runs(self) -> dict[str, int]:
        """run id -> pid of every run still training that quitting would leave: the ones
        this app started, and the followed one whichever process started it."""
        live = {launched.run.id: launched.process.pid for launched in self.live_launched()}
        followed = self.followed
        if followed is not None and followed.run.id not in live and not followed.state.is_over:
            status = followed.run.status()
            pid = status.get("pid")
            if status.get("state") == "running" and isinstance(pid, int) and pid_alive(pid):
                live[followed.run.id] = pid
        return live

    async def action_quit(self) -> None:
        live = self.live_runs()
        if not live:
            self.exit()
            return

        def decide(choice: str | None) -> None:
            if choice == "stop":
                for pid in live.values():
                    stop_pid(pid)
                self.exit()
            elif choice == "leave":
                self.exit()

        self.push_screen(QuitScreen(list(live)), decide)


def new_view(tab: str) -> Widget:
    """A new screen widget for ``tab`` (imports its module on first use)."""
    module, name = VIEWS[tab]
    return getattr(importlib.import_module(module), name)(id=f"{tab}-view")


def key_label(key: str) -> str:
    """A binding's key as people write it: ``ctrl+x`` -> ``Ctrl+X``, ``question_mark`` -> ``?``."""
    from textual.keys import format_key

    *modifiers, name = key.split("+")
    shown = format_key(name)
    shown = shown.upper() if len(shown) == 1 and modifiers else shown
    shown = {"escape": "Esc", "esc": "Esc", "enter": "Enter", "delete": "Delete", "del": "Delete",
             "tab": "Tab"}.get(
        shown, shown.upper() if len(shown) <= 3 and shown[:1] == "f" else shown)
    return "+".join([*(m.capitalize() for m in modifiers), shown])


def describe_this_device() -> str:
    """What ``--device auto`` resolves to here (imports torch: call from a thread)."""
    try:
        from engine import devices  # imports torch (~2 s)
    except ImportError as exc:
        return f"unknown ({exc.name or 'engine.devices'} is not available)"
    try:
        device, notice = devices.resolve_device("auto")
        text = str(devices.describe_device(device))
        return f"{text} — {notice}" if notice else text
    except CoughscopeError as err:
        return f"unknown ({err.message})"
    except Exception as exc:  # noqa: BLE001 - the header must say something, not crash
        return f"unknown ({type(exc).__name__}: {exc})"


def build_app(
    runs_dir: str | Path | None = None,
    data: str | None = None,
    open_run: str | None = None,
    detect_device: bool = True,
    device_text: str | None = None,
    start: float | None = None,
) -> CoughscopeApp:
    """The app, as the command line and the tests build it."""
    return CoughscopeApp(
        runs_dir=Path(runs_dir) if runs_dir else None,
        data=data,
        open_run=open_run,
        detect_device=detect_device,
        device_text=device_text,
        start=start,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    from .launch import app_parser

    return app_parser().parse_args(list(argv))


def main(argv: Iterable[str] | None = None, start: float | None = None) -> int:
    args = parse_args(list(argv if argv is not None else sys.argv[1:]))
    app = build_app(runs_dir=args.runs_dir, data=args.data, open_run=args.open_run, start=start)
    app.run()
    if args.debug and app.startup_ms is not None:
        print(f"coughscope: started in {app.startup_ms:.0f} ms", file=sys.stderr)
    return int(app.return_code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
