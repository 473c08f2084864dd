"""Regenerate docs/compare.svg: the Compare screen at 80x24, as the README shows it.

Trains two small runs with the real headless runner into a temporary folder -- ``whole`` on
the data set, and ``held`` with ``--test-group`` when one is given (else with other epochs)
-- then drives the real app with Pilot: Runs screen, mark both, ``c``, and Textual's
``save_screenshot``. Given RUN folders instead, it screenshots those.

  python scripts/compare_screenshot.py --data demo:40
  python scripts/compare_screenshot.py --data covid19-cough-subset.csv \\
      --test-group source=telegram --evaluate another-subset.csv
  python scripts/compare_screenshot.py --runs runs/A runs/B --out docs/compare.svg
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(runs: Path, data: str, models: str, run_id: str, extra: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--headless", "--data", data, "--models", models,
         "--seeds", "2", "--runs-dir", str(runs), "--run-id", run_id, *extra],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training {run_id} failed:\n{done.stderr[-3000:]}")


async def screenshot(runs_dir: Path, order: list[str], out: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tui.app import build_app

    app = build_app(runs_dir=runs_dir, detect_device=False, device_text="cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("6")
        for _ in range(200):
            view = app.view("runs")
            if view is not None and view.rows:
                break
            await pilot.pause(0.05)
        view = app.view("runs")
        table = app.query_one("#runs-table")
        table.focus()
        ids = [row.run.id for row in view.rows]
        for run_id in order:
            table.move_cursor(row=ids.index(run_id))
            await pilot.press("m")
        await pilot.press("c")
        for _ in range(200):
            if type(app.screen).__name__ == "CompareScreen" and app.screen.comparison:
                break
            await pilot.pause(0.05)
        screen = app.screen
        # run B's first model with curves over several epochs (a baseline has one point)
        target = next((i for i, r in enumerate(screen.rows) if r.label == "B"
                       and r.model in ("ann", "cnn", "cne", "tabnet")),
                      next((i for i, r in enumerate(screen.rows) if r.label == "B"), 0))
        screen.query_one("#compare-table").move_cursor(row=target)
        await pilot.pause()
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(out.name, str(out.parent))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo:40")
    parser.add_argument("--models", default="logreg,ann")
    parser.add_argument("--test-group", metavar="COLUMN=VALUE")
    parser.add_argument("--evaluate", metavar="SPEC",
                        help="also score the first run on this data set (coughscope evaluate)")
    parser.add_argument("--runs", nargs="+", metavar="RUN", help="screenshot these runs")
    parser.add_argument("--out", default=str(REPO / "docs" / "compare.svg"))
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_COLOR", "1")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        if args.runs:
            runs.mkdir()
            for run in args.runs:
                shutil.copytree(run, runs / Path(run).name, symlinks=True)
            order = [Path(r).name for r in args.runs]
        else:
            train(runs, args.data, args.models, "whole", ["--epochs", "4"])
            second = ["--test-group", args.test_group] if args.test_group else ["--epochs", "8"]
            train(runs, args.data, args.models, "held" if args.test_group else "longer",
                  ["--epochs", "4", *second] if args.test_group else second)
            order = ["whole", "held" if args.test_group else "longer"]
            if args.evaluate:
                done = subprocess.run([sys.executable, "-m", "engine", "evaluate",
                                       str(runs / "whole"), "--data", args.evaluate],
                                      cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"evaluate failed:\n{done.stderr[-3000:]}")
        asyncio.run(screenshot(runs, order, Path(args.out)))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
