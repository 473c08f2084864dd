"""Path completion for text fields: Textual's suggester, fed by the file system.

Typing ``../sha`` suggests ``../shared/`` (Right or End accepts it). Folders end with ``/`` so
the next Right completes inside them. Hidden entries are suggested only when the typed name
starts with a dot. Listing a folder is cheap, but it runs off the UI thread (Textual calls
suggesters from a task) and is cached per folder by the Suggester base class.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    """Completes the last component of a typed path (``demo`` and ``demo:N`` stay as typed)."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.extra = extra  # non-path words to complete too, e.g. ("demo",)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        for word in self.extra:
            if word.startswith(value) and word != value:
                return word
        folder_text, _, stem = value.rpartition("/")
        if "/" in value:
            folder = Path(folder_text or "/").expanduser()
            prefix = folder_text + "/"
        else:
            folder, prefix = Path("."), ""
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for name in names:
            if not name.startswith(stem) or name == stem and not (folder / name).is_dir():
                continue
            if name.startswith(".") and not stem.startswith("."):
                continue
            full = prefix + name + ("/" if (folder / name).is_dir() else "")
            if full != value:
                return full
        return None
