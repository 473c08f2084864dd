"""Tables that fit the terminal: which columns a DataTable can show whole in the room it
has, and which move to the detail pane under it (issue 20: at 80x24 no column is cut).

:func:`fit_columns` keeps the columns in order while they fit (the first ``keep`` always),
so the most important ones go first; what it leaves out the screen shows for the highlighted
row below the table (:func:`moved_text`)."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text

CELL_PADDING = 2  # a DataTable's cell padding: one cell each side
SCROLLBAR = 2


def cell_width(value: object) -> int:
    return Text(value).cell_len if isinstance(value, str) else \
        (value.cell_len if isinstance(value, Text) else len(str(value)))


def column_width(title: str, cells: Sequence[object]) -> int:
    return max([cell_width(title), *(cell_width(c) for c in cells)]) + CELL_PADDING


def fit_columns(titles: Sequence[str], rows: Sequence[Sequence[object]], room: int,
                keep: int = 1) -> int:
    """How many of the leading columns fit whole in ``room`` cells (at least ``keep``)."""
    used, count = 0, 0
    for index, title in enumerate(titles):
        used += column_width(title, [row[index] for row in rows if index < len(row)])
        if used > room and count >= keep:
            break
        count += 1
    return count


def moved_text(titles: Sequence[str], cells: Sequence[object], heading: str) -> Text:
    """``heading: title value · title value`` for the columns that did not fit."""
    text = Text()
    text.append(f"{heading}:", style="bold")
    text.append(" ")
    for i, (title, cell) in enumerate(zip(titles, cells)):
        if i:
            text.append(" · ")
        text.append(f"{title} ")
        text.append_text(cell if isinstance(cell, Text) else Text(str(cell)))
    return text
