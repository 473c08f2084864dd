"""Time to the app's first frame, in fresh processes, next to a bare Textual import.

    python bench/startup.py [--repeat 7]

Each sample is a new Python process: the app starts headless, records the first frame
(``CoughscopeApp.startup_ms``, measured from process start) and exits. The baseline is
``python -c "import textual.app"`` timed the same way, in the same run, and a plain Textual
app with the same frame (header, 7 tabs, footer, the first screen's widget types), whose first
frame is what Textual alone costs here. Goal: first frame
<= 0.5 s on the project machine; the ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

APP = """
import time
START = time.perf_counter()
import json, sys
from tui.app import build_app
app = build_app(runs_dir=sys.argv[1], detect_device=False, start=START)
app.exit_after_first_frame = True
app.run(headless=True, size=(100, 32))
print(json.dumps({"ms": app.startup_ms, "heavy": app.startup_heavy}))
"""
BARE = """
import time
START = time.perf_counter()
import textual.app
print((time.perf_counter() - START) * 1000)
"""

# A plain Textual app with the same frame: header, 7 tabs, footer, and the first screen's
# widget types. Its first frame is what Textual itself costs on this machine.
BARE_APP = """
import time
START = time.perf_counter()
from textual.app import App
from textual.widgets import (Button, DataTable, Footer, Header, Input, ProgressBar, Static,
                             TabbedContent, TabPane)

class Bare(App):
    def compose(self):
        yield Header()
        with TabbedContent():
            for i in range(7):
                with TabPane(f"{i} tab", id=f"t{i}"):
                    if i == 0:
                        yield Static("intro")
                        yield Input()
                        yield Button("go")
                        yield ProgressBar()
                        yield DataTable()
        yield Footer()

    def on_mount(self):
        self.call_after_refresh(self.done)

    def done(self):
        self.first = (time.perf_counter() - START) * 1000
        self.exit()

app = Bare()
app.run(headless=True, size=(100, 32))
print(app.first)
"""


def wall_ms(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=True)
    return (time.perf_counter() - started) * 1000, out.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        bare_wall, app_wall, app_first, bare_first = [], [], [], []
        heavy: list[str] = []
        for _ in range(args.repeat):
            wall, _ = wall_ms([sys.executable, "-c", BARE])
            bare_wall.append(wall)
            _, line = wall_ms([sys.executable, "-c", BARE_APP])
            bare_first.append(float(line))
            wall, line = wall_ms([sys.executable, "-c", APP, runs])
            result = json.loads(line)
            app_wall.append(wall)
            app_first.append(result["ms"])
            heavy = result["heavy"] or heavy
    bare, first, whole, plain = (statistics.median(v)
                                 for v in (bare_wall, app_first, app_wall, bare_first))
    print(f"baseline: python -c 'import textual.app'   {bare:7.0f} ms (process wall, median "
          f"of {args.repeat})")
    print(f"coughscope first frame (in process)        {first:7.0f} ms")
    print(f"coughscope start to exit (process wall)    {whole:7.0f} ms  "
          f"= {whole / bare:.2f}x the baseline")
    print(f"plain Textual app, same frame and widgets  {plain:7.0f} ms  "
          f"-> coughscope's first frame is {first / plain:.2f}x it")
    print(f"heavy modules at the first frame: {', '.join(heavy) or 'none'}")
    print(f"goal: first frame <= 500 ms -> {'met' if first <= 500 else 'NOT met'} here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
