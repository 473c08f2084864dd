"""Snapshot tests (pytest-textual-snapshot) of the six main screens at 80x24 (the smallest
size the app supports, e.g. over SSH) and 140x40, on a fixed, hand-written finished run. Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``
after a deliberate change, and look at the SVGs in ``tests/__snapshots__``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

try:
    from test_tui_support import make_finished_run
except ImportError:  # tests/ is a package
    from tests.test_tui_support import make_finished_run

SIZES = {"80x24": (80, 24), "140x40": (140, 40)}


@pytest.fixture
def finished_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tui.app import build_app

    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # shown paths are relative: the same at every run
    run = make_finished_run(tmp_path / "runs")
    return build_app(runs_dir=tmp_path / "runs", open_run=run.name, detect_device=False,
                     device_text="cpu (test)")


async def _opened(pilot: Any) -> None:
    app = pilot.app
    for _ in range(200):
        if app.followed is not None and app.followed.was_over:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def _models_loaded(pilot: Any) -> None:
    """The Models screen is built on first show; wait for its model list."""
    for _ in range(200):
        views = pilot.app.query("#models-view")
        if views and views.first().registry_loaded:
            break
        await pilot.pause(0.05)


def _goto(key: str) -> Any:
    async def before(pilot: Any) -> None:
        await _opened(pilot)
        await pilot.press(key)
        if key == "2":
            await _models_loaded(pilot)
        await pilot.pause(0.3)

    return before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("key,name", [
    ("1", "data"), ("2", "models"), ("3", "training"), ("4", "results"),
    ("5", "confusion"), ("6", "runs"),
])
def test_screen_snapshot(snap_compare: Any, finished_app: Any, key: str, name: str,
                         size: str) -> None:
    assert snap_compare(finished_app, terminal_size=SIZES[size], run_before=_goto(key))
