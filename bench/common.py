"""What the bench scripts that study covid19-cough share: where its manifest lies beside the
project (``../shared/data``) and their ``--data``/``--column`` arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = (Path(__file__).resolve().parent.parent.parent / "shared" / "data"
                / "covid19-cough" / "manifest.csv")


def data_arguments(p: argparse.ArgumentParser) -> None:
    """``--data`` (a manifest with the confounded column; default covid19-cough's) and
    ``--column`` (that column, default ``source``)."""
    p.add_argument("--data", default=str(DEFAULT_DATA), help="manifest with a source column")
    p.add_argument("--column", default="source", help="the confounded metadata column")
