"""Regenerate docs/runs.svg: the filtered Runs list at 80x24, as the README shows it.

Trains three small runs with the real headless runner into a temporary folder (or takes the
runs in ``--runs``), tags and annotates them with the real ``coughscope runs tag`` /
``runs note`` commands, then drives the real app with Pilot: Runs screen, the filter typed
into its field, and Textual's ``save_screenshot``.

  python scripts/runs_screenshot.py --data demo:40
  python scripts/runs_screenshot.py --runs runs/ --filter 'tag:paper OR auc>.8'
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def cs(*argv: str) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=REPO, env=ENV,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"coughscope {' '.join(argv)} failed:\n{done.stderr[-3000:]}")


def make_runs(runs: Path, data: str) -> None:
    """Three runs of the same data: the paper's recipe, the default, and a baseline."""
    for run_id, extra in (("paper-recipe", ["--models", "logreg,majority", "--preset", "paper"]),
                          ("default-recipe", ["--models", "logreg,majority"]),
                          ("baseline-only", ["--models", "majority", "--seeds", "1"])):
        cs("--headless", "--data", data, "--runs-dir", str(runs), "--run-id", run_id,
           "--seeds", "2", *extra)
    cs("runs", "tag", "paper-recipe", "paper", "--runs-dir", str(runs))
    cs("runs", "tag", "default-recipe", "paper", "refit", "--runs-dir", str(runs))
    cs("runs", "note", "default-recipe", "the recipe coughscope recommends",
       "--runs-dir", str(runs))


async def screenshot(runs: Path, text: str, out: Path, theme: str) -> None:
    sys.path.insert(0, str(REPO))
    from tui.app import build_app

    app = build_app(runs_dir=runs, detect_device=False, device_text="cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        await pilot.press("6")
        await pilot.pause(0.5)
        await pilot.press("slash", *text)
        for _ in range(20):
            await pilot.pause(0.05)
        app.save_screenshot(str(out.name), path=str(out.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo:40", help="data set for the three runs")
    parser.add_argument("--runs", type=Path, help="screenshot these runs instead")
    parser.add_argument("--filter", default="tag:paper OR auc>.9",
                        help="what to type into the filter")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "runs.svg")
    parser.add_argument("--theme", default="textual-dark")
    args = parser.parse_args()
    os.environ.setdefault("NO_COLOR", "1")
    if args.runs:
        asyncio.run(screenshot(args.runs, args.filter, args.out, args.theme))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            runs = Path(tmp) / "runs"
            make_runs(runs, args.data)
            asyncio.run(screenshot(runs, args.filter, args.out, args.theme))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
