"""Tags and a note per run: ``RUN/annotations.json``, the one file of a run that the user
writes (from the app, or ``coughscope runs tag`` / ``runs note``) rather than the runner.

It sits at the run's top level, outside every ``<model>/<seed>/`` folder, so it is never
part of what ``runs trust`` signs, and editing it never invalidates a signature. It is
written atomically inside the run folder (:func:`engine.paths.atomic_write_text`) and read
bounded (size, depth) like every run file; a damaged one is reported with its path and the
fix, and hides nothing else of the run.

    {"v": 1, "tags": ["baseline", "mic-check"], "note": "re-ran with --pad zero"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .bounded import printable
from .errors import RunError

FILE = "annotations.json"
MAX_BYTES = 256 << 10
MAX_TAGS = 32
MAX_TAG = 40
MAX_NOTE = 2000
# a tag is one word a filter can name (tag:baseline): letters, digits and . _ - + / =
TAG = re.compile(r"[\w.+/=-]+")


@dataclass(frozen=True)
class Annotations:
    """A run's tags (sorted, unique) and its note ("" when none)."""

    tags: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"v": 1, "tags": list(self.tags), "note": self.note}


def path_of(run_path: Path) -> Path:
    return Path(run_path) / FILE


def check_tag(tag: str) -> str:
    """``tag`` if it can be stored and filtered on, else a RunError naming it."""
    if not tag or len(tag) > MAX_TAG or not TAG.fullmatch(tag):
        raise RunError(f"tag {printable(tag)!r} cannot be used: a tag is one word of at most "
                       f"{MAX_TAG} letters, digits or . _ - + / =",
                       "e.g. coughscope runs tag RUN baseline mic-check")
    return tag


def check_note(note: str) -> str:
    """``note`` (surrounding space stripped) if it can be stored, else a RunError."""
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise RunError(f"the note is {len(note)} characters, more than the {MAX_NOTE} a run "
                       "note may hold", "shorten it (the run's README or a file beside it "
                       "can hold more)")
    if any(ord(c) < 32 and c not in "\n\t" for c in note):
        raise RunError("the note holds control characters", "type plain text")
    return note


def read_annotations(run_path: Path) -> Annotations:
    """The run's annotations; empty when it has none. A damaged file is a RunError that
    names it and says what to do."""
    from .bounded import loads_json

    path = path_of(run_path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return Annotations()
    except OSError as exc:
        raise RunError(f"{path} cannot be read: {exc.strerror or exc}",
                       "check the file's permissions") from None
    hint = f"fix it, or delete {path} (the run's tags and note are lost, nothing else)"
    if len(data) > MAX_BYTES:
        raise RunError(f"{path} is larger than {MAX_BYTES} bytes", hint)
    try:
        obj = loads_json(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON: {exc}", hint) from None
    tags, note = (obj.get("tags", []), obj.get("note", "")) if isinstance(obj, dict) \
        else (None, None)
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) \
            or not isinstance(note, str):
        raise RunError(f"{path} is not an annotations file (tags: a list of words, note: "
                       "text)", hint)
    try:
        return Annotations(tuple(sorted({check_tag(t) for t in tags}))[:MAX_TAGS],
                           check_note(note))
    except RunError as err:
        raise RunError(f"{path}: {err.message}", hint) from None


def write_annotations(run_path: Path, annotations: Annotations) -> Annotations:
    """Replace the run's annotations (atomically, inside the run folder)."""
    from .paths import atomic_write_text
    from .runs import dumps

    run_path = Path(run_path)
    if len(annotations.tags) > MAX_TAGS:
        raise RunError(f"{len(annotations.tags)} tags: a run keeps at most {MAX_TAGS}",
                       "remove some first (coughscope runs tag RUN TAG --remove)")
    atomic_write_text(path_of(run_path), dumps(annotations.to_dict(), indent=2) + "\n",
                      root=run_path)
    return annotations


def set_tags(run_path: Path, tags: Iterable[str]) -> Annotations:
    """Make the run's tags exactly ``tags`` (the note is kept)."""
    current = read_annotations(run_path)
    new = tuple(sorted({check_tag(t) for t in tags}))
    return write_annotations(run_path, Annotations(new, current.note))


def add_tags(run_path: Path, tags: Iterable[str], remove: bool = False) -> Annotations:
    """Add ``tags`` to the run's tags (or, with ``remove``, take them away)."""
    current = read_annotations(run_path)
    given = {check_tag(t) for t in tags}
    new = set(current.tags) - given if remove else set(current.tags) | given
    return write_annotations(run_path, Annotations(tuple(sorted(new)), current.note))


def set_note(run_path: Path, note: str) -> Annotations:
    """Replace the run's note ("" removes it); the tags are kept."""
    current = read_annotations(run_path)
    return write_annotations(run_path, Annotations(current.tags, check_note(note)))
