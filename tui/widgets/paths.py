"""Path completion for text fields: Textual's suggester, fed by the file system.

Typing ``../sha`` suggests ``../shared/`` (Right or End accepts it). Folders end with ``/`` so
the next Right completes inside them. Hidden entries are suggested only when the typed name
starts with a dot. When several names match, the suggestion goes as far as they agree (as a
shell's Tab does: ``rec`` with ``recording-1.wav`` and ``recording-2.wav`` suggests
``recording-``), and ``on_matches`` is told every match so the screen can list them (issue 20:
only the first match was ever offered). Listing a folder is cheap, but it runs off the UI
thread (Textual calls suggesters from a task); nothing is cached, so new files show up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from textual.suggester import Suggester

from engine.bounded import printable

MAX_LISTED = 200  # a folder's first names looked at past this many matches: no more


def path_matches(value: str) -> list[str]:
    """Every completion of the typed path's last component, sorted (folders end in ``/``)."""
    folder_text, _, stem = value.rpartition("/")
    if "/" in value:
        folder = Path(folder_text or "/").expanduser()
        prefix = folder_text + "/"
    else:
        folder, prefix = Path("."), ""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        if not name.startswith(stem) or (name.startswith(".") and not stem.startswith(".")):
            continue
        is_dir = (folder / name).is_dir()
        if name == stem and not is_dir:
            continue
        found.append(prefix + name + ("/" if is_dir else ""))
        if len(found) >= MAX_LISTED:
            break
    return [full for full in found if full != value]


class PathSuggester(Suggester):
    """Completes the last component of a typed path (``demo`` and ``demo:N`` stay as typed)."""

    def __init__(self, extra: tuple[str, ...] = (),
                 on_matches: Callable[[str, list[str]], None] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.extra = extra  # non-path words to complete too, e.g. ("demo",)
        self.on_matches = on_matches  # (typed, matches), called on the app's event loop

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            self._tell(value, [])
            return None
        for word in self.extra:
            if word.startswith(value) and word != value:
                return word
        found = path_matches(value)
        self._tell(value, found)
        if not found:
            return None
        common = os.path.commonprefix(found)
        return common if len(common) > len(value) else None

    def _tell(self, value: str, found: list[str]) -> None:
        if self.on_matches is not None:
            self.on_matches(value, found)


def matches_text(found: list[str], limit: int = 6) -> str:
    """``3 matches: a.wav  ab.wav  abc/`` (the last components; ``+N more`` past ``limit``)."""
    names = [printable(full).rstrip("/").rpartition("/")[2] + ("/" if full.endswith("/") else "")
             for full in found]
    shown = "  ".join(names[:limit]) + (f"  +{len(names) - limit} more" if len(names) > limit
                                        else "")
    return f"{len(names)} matches: {shown}"
