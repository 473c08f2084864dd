"""Marking runs on the Runs screen for the Compare screen: ``m`` (or Space) marks or
unmarks the highlighted run, ``c`` compares the marked runs (in the order they were marked;
the first is the baseline), or the highlighted one alone when none is marked. Kept apart
from ``runs.py`` so the Runs screen's own logic stays in one place."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

MARK = "● "


def apply_marks(view: Any) -> None:
    """Show ``●`` before each marked run's id in the table; forget marks of runs that are
    no longer listed."""
    # marks survive a filter that hides the run; only runs gone from the folder lose theirs
    ids = {row.run.id for row in getattr(view, "all_rows", view.rows)}
    view.marked = [m for m in view.marked if m in ids]
    table = view.query_one("#runs-table", DataTable)
    for row in view.rows:
        marked = row.run.id in view.marked
        try:
            table.update_cell(row.run.id, "run", Text(MARK + row.run.id) if marked
                              else row.run.id, update_width=True)
        except Exception:  # noqa: BLE001 - the row is being rebuilt; drawn next refresh
            continue


def toggle_mark(view: Any) -> None:
    row = view.selected()
    if row is None:
        return
    if row.run.id in view.marked:
        view.marked.remove(row.run.id)
    else:
        view.marked.append(row.run.id)
    apply_marks(view)
    n = len(view.marked)
    view.set_message(f"{n} run{'s' if n != 1 else ''} marked: c compares them"
                     if n else "no run marked (m marks the highlighted one)")


def open_compare(view: Any) -> None:
    """Push the Compare screen with the marked runs (or the highlighted one)."""
    from .compare import CompareScreen

    by_id = {row.run.id: row.run for row in getattr(view, "all_rows", view.rows)}
    runs = [by_id[m] for m in view.marked if m in by_id]
    if not runs:
        row = view.selected()
        if row is None:
            return
        runs = [row.run]
        view.set_message(f"comparing {row.run.id} alone: mark runs with m to compare several")
    view.app.push_screen(CompareScreen(runs))
