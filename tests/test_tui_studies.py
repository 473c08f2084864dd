"""The studies view: study records written by the engine's own writer (engine.study), listed
and drawn as a matrix in the app; a damaged record is listed as damaged."""

from __future__ import annotations

from pathlib import Path

try:
    from test_tui_support import drive, make_app, wait_for
except ImportError:  # run from the repository root as a package
    from tests.test_tui_support import drive, make_app, wait_for

from engine.study import Cell, DataSet, load_study, write_study


def _render(renderable) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def make_study(root: Path) -> Path:
    """A cross study of two sets and two models, through the real writer."""
    path = root / "study-20261205-230000-ab12"
    (path / "runs").mkdir(parents=True)
    rows = [DataSet("call-center", "cc.csv", "runs/call-center", {"8000": 54}),
            DataSet("telegram", "tg.csv", "runs/telegram", {"48000": 54})]
    def cells(shift: float) -> list[list[Cell | None]]:
        return [[Cell(0.81 - shift, (0.7, 0.9), "in-set", 17, 9),
                 Cell(0.55 - shift, (0.4, 0.7), "cross-set", 54, 20)],
                [Cell(0.48 - shift, (0.35, 0.61), "cross-set", 54, 30),
                 Cell(0.77 - shift, (0.6, 0.9), "in-set", 17, 6)]]
    write_study(path, kind="cross", by=None, sample_rate=22050, seeds=1, rows=rows,
                columns=["call-center", "telegram"],
                matrices={"logreg": cells(0.0), "gbm": cells(0.1)})
    return path


def test_the_record_reads_back_as_written(tmp_path):
    study = load_study(make_study(tmp_path))
    assert study.models == ["logreg", "gbm"]
    assert study.cell("logreg", "telegram", "call-center").auc == 0.48
    assert study.run_path("telegram") == study.path / "runs" / "telegram"
    assert "call-center has clips recorded below 22050 Hz (54 at 8000 Hz" in study.caption


def test_studies_view_lists_records_and_draws_the_matrix(tmp_path, monkeypatch):
    from tui.screens.studies import StudiesScreen

    studies = tmp_path / "studies"
    make_study(studies)
    damaged = studies / "study-19990101-000000-0000"
    damaged.mkdir()
    (damaged / "matrix.json").write_text('{"v": 1, "kind": "cross"}')
    monkeypatch.setenv("COUGHSCOPE_STUDIES_DIR", str(studies))
    app = make_app(tmp_path / "runs")

    async def body(pilot) -> None:
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen))
        matrix = app.screen.query_one("#studies-matrix")
        await wait_for(pilot, lambda: "logreg" in _render(matrix.content))
        text = _render(matrix.content)
        assert "0.81 [0.70–0.90]" in text and "0.48 [0.35–0.61]" in text
        assert "8000 Hz" in _render(app.screen.query_one("#studies-caption").content)
        await pilot.press("m")  # the next model
        await wait_for(pilot, lambda: "gbm" in _render(matrix.content))
        assert "0.71 [0.70–0.90]" in _render(matrix.content)
        await pilot.press("down")  # the damaged record: listed, not hiding the other
        await wait_for(pilot, lambda: "damaged study record" in _render(matrix.content))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StudiesScreen))

    drive(app, body, size=(140, 40))


def test_studies_view_without_records_says_how_to_make_one(tmp_path, monkeypatch):
    from tui.screens.studies import StudiesScreen

    monkeypatch.setenv("COUGHSCOPE_STUDIES_DIR", str(tmp_path / "none"))
    app = make_app(tmp_path / "runs")

    assert any(action == "show_studies" for _, action, _ in app.palette_actions())

    async def body(pilot) -> None:
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen))
        text = _render(app.screen.query_one("#studies-matrix").content)
        assert "No study records" in text and "coughscope study cross" in text

    drive(app, body)


def test_names_from_a_record_are_never_markup(tmp_path):
    from tui.screens.studies import matrix_table

    path = tmp_path / "s"
    (path / "runs").mkdir(parents=True)
    study = write_study(path, kind="cross", by=None, sample_rate=22050, seeds=1,
                        rows=[DataSet("[bold red]x\x1b[2J", "a.csv", None, {}, "not trained")],
                        columns=["[bold red]x\x1b[2J"], matrices={"m": [[None]]})
    text = _render(matrix_table(study, "m"))
    assert "[bold red]x\\x1b[2J" in text and "\x1b" not in text
