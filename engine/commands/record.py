"""Record a cough from this machine's microphone, save it as WAV, then classify it.

A countdown, then a level meter on stderr; Ctrl+C stops early and keeps what was recorded.
Over SSH the microphone is the server's, not your computer's: record locally and use
`coughscope predict FILE` instead.

  coughscope record --seconds 5 --out cough.wav
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import paths
from ..errors import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=5.0, help="length (default 5)")
    parser.add_argument("--out", metavar="FILE", help="WAV file to write "
                        "(default cough-YYYYmmdd-HHMMSS.wav in the current folder)")
    parser.add_argument("--countdown", type=int, default=3, help="seconds before recording")
    parser.add_argument("--run", metavar="RUN", default="latest",
                        help="run whose models classify the recording (default: latest finished)")
    parser.add_argument("--runs-dir", metavar="DIR",
                       help=f"where runs are ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--no-classify", action="store_true", help="only record")


def meter(level_db: float, elapsed: float) -> None:
    width = 30
    fill = max(0, min(width, int((level_db + 60) / 60 * width)))
    print(f"\r  {elapsed:4.1f}s  [{'#' * fill}{'.' * (width - fill)}] {level_db:6.1f} dBFS",
          end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..recording import default_input_device, record

    dev = default_input_device()  # fails early, with the reason, when recording is impossible
    out = Path(args.out or time.strftime("cough-%Y%m%d-%H%M%S.wav"))
    print(f"recording from {dev.name}", file=sys.stderr)
    for i in range(args.countdown, 0, -1):
        print(f"  {i}...", file=sys.stderr, flush=True)
        time.sleep(1)
    print("  cough now (Ctrl+C to stop early)", file=sys.stderr)
    import signal

    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    try:  # Ctrl+C ends the recording early and keeps what was recorded
        record(args.seconds, out, on_level=meter, should_stop=lambda: stop["now"])
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"\nsaved {out}", file=sys.stderr)
    if args.no_classify:
        return int(ExitCode.OK)
    from .predict import classify_paths, format_result
    from ..inference import DISCLAIMER

    _, results, _ = classify_paths([str(out)], args.run, args.runs_dir, None)
    print(format_result(results[0]))
    print(DISCLAIMER)
    return int(ExitCode.OK)
