"""The app's export (``e``) and figures (``f``) actions on Results and Confusion: what each
view shows, handed to :mod:`engine.export` (in a thread, :func:`.figures.export_view`) or to
the figures list (:class:`.figures.FiguresScreen`). From the palette, on another screen,
the open run's Results are exported."""

from __future__ import annotations

from typing import Any

from textual.widgets import TabbedContent


def _open_run(app: Any) -> Any:
    followed = getattr(app, "followed", None)
    return followed.run if followed is not None else None


def export_current(app: Any) -> None:
    from engine.export import export_comparison, export_confusion

    from .figures import export_view

    run = _open_run(app)
    if run is None:
        app.notify("no run open: open one on the Runs screen (6), or compare runs there (c)",
                   severity="warning")
        return
    active = app.query_one("#nav", TabbedContent).active
    confusion = app.view("confusion") if active == "confusion" else None
    if confusion is not None and confusion.shown is not None and confusion.run is not None:
        model, seed = confusion.shown
        counts, threshold = confusion.confusion_for(model, seed)
        if not counts:
            app.notify(f"{model} ({seed}): no confusion matrix to export", severity="warning")
            return
        moved = confusion.threshold is not None
        shown_run = confusion.run
        export_view(app, f"confusion-{model}", lambda folder: export_confusion(
            shown_run, model, seed, counts, threshold, folder, moved=moved))
        return
    export_view(app, f"results-{run.id}", lambda folder: export_comparison([run], folder))


def show_figures(app: Any) -> None:
    from .figures import FiguresScreen

    run = _open_run(app)
    if run is None:
        app.notify("no run open: open one on the Runs screen (6)", severity="warning")
        return
    app.push_screen(FiguresScreen([run]))
