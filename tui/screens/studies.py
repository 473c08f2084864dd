"""The studies view: cross-dataset study records and their matrices of AUCs.

Opened with ``y`` (or "Cross-dataset studies" in the command palette). The left list holds
the study records under :func:`engine.study.studies_dir` (``coughscope study cross`` writes
them); the right side draws the highlighted study's matrix for one model -- rows trained on,
columns tested on, in-set cells marked -- and its caption. ``m`` shows the next model. A
damaged record is listed as damaged and never hides the others. Reading is done by
:func:`engine.study.load_study`, the one reader of the record.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine.bounded import printable
from engine.errors import CoughscopeError
from engine.study import Study, cell_text  # light: no heavy import at module level


class StudiesScreen(ModalScreen[None]):
    """Study records and the highlighted one's matrix (Esc closes)."""

    BINDINGS = [Binding("escape,q,y", "dismiss", "Close"),
                Binding("m", "next_model", "Next model")]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.studies: list[Study | str] = []  # a Study, or the error text of a damaged one
        self.model_index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="studies-box", classes="dialog"):
            yield Static(Text(f"Cross-dataset studies in {printable(self.root)}", style="bold"),
                         classes="dialog-title")
            with Horizontal(id="studies-body"):
                yield OptionList(id="studies-list")
                with VerticalScroll(id="studies-detail"):
                    yield Static("", id="studies-matrix")
                    yield Static("", id="studies-caption")
            yield Static("Esc: close · m: next model · coughscope study cross --data A "
                         "--data B makes one", classes="note")

    def on_mount(self) -> None:
        from engine.study import list_studies, load_study

        options = self.query_one("#studies-list", OptionList)
        for path in list_studies(self.root):
            try:
                study = load_study(path)
                self.studies.append(study)
                label = f"{study.id}  ({study.kind}{' by ' + study.by if study.by else ''})"
            except CoughscopeError as err:
                self.studies.append(err.message)
                label = f"{path.name}  (damaged)"
            options.add_option(Option(Text(printable(label))))  # no markup
        if not self.studies:
            self.query_one("#studies-matrix", Static).update(Text(
                f"No study records in {printable(self.root)}.\nRun one with: coughscope study "
                "cross --data A --data B --models logreg --seeds 1", style="italic"))
            return
        options.highlighted = 0
        options.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.model_index = 0
        self.show(event.option_index)

    def action_next_model(self) -> None:
        index = self.query_one("#studies-list", OptionList).highlighted
        if index is not None:
            self.model_index += 1
            self.show(index)

    def show(self, index: int) -> None:
        study = self.studies[index]
        matrix = self.query_one("#studies-matrix", Static)
        caption = self.query_one("#studies-caption", Static)
        if isinstance(study, str):
            matrix.update(Text(f"damaged study record: {printable(study)}", style="bold red"))
            caption.update("")
            return
        models = study.models
        if not models:
            matrix.update(Text("this study has no model results", style="italic"))
            caption.update("")
            return
        model = models[self.model_index % len(models)]
        matrix.update(matrix_table(study, model))
        caption.update(Text("\n".join(printable(line) for line in study.caption.splitlines())))


def matrix_table(study: Study, model: str) -> Table:
    """The matrix of ``model`` as a Rich table: in-set cells bold, held-out/cross-set plain,
    undefined ones with their reason beneath."""
    head = "trained on ╲ tested on" if study.kind == "cross" else f"{study.by} left out"
    # every string from the record is a Text: Rich never reads it as markup
    table = Table(title=Text(f"{printable(model)}: ROC-AUC [95% interval]"),
                  title_justify="left", show_lines=False, header_style="bold")
    table.add_column(Text(printable(head)))
    for column in study.columns:
        table.add_column(Text(printable(column)), justify="right")
    notes = []
    for row, cells in zip(study.rows, study.matrices[model]):
        texts = []
        for column, cell in zip(study.columns, cells):
            style = "bold" if cell is not None and cell.kind == "in-set" else ""
            texts.append(Text(cell_text(cell), style=style))
            if cell is not None and cell.note:
                notes.append(f"{row.name} → {column}: {cell.note}")
        table.add_row(Text(printable(row.name)), *texts)
        if row.note:
            notes.append(f"{row.name}: {row.note}")
    if notes:
        table.caption = Text(printable("; ".join(notes)))
        table.caption_justify = "left"
    return table
