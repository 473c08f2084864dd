"""``python -m engine ...`` is the headless command line (what the TUI starts as a child)."""

import sys

from engine.cli import main

sys.exit(main())
