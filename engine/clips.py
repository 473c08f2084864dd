"""The vocabulary every data source speaks: clips, exclusions and clip sets.

A *source* (see :mod:`engine.sources`) turns a location into a :class:`ClipSet`: the usable
:class:`Clip` objects plus every :class:`Exclusion` with its reason, so nothing is dropped
silently. Labels are always the strings ``"negative"`` and ``"positive"``; index 1 is the
positive class everywhere (arrays, probabilities, metrics).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

LABELS: tuple[str, str] = ("negative", "positive")
POSITIVE = "positive"
NEGATIVE = "negative"


def label_index(label: str) -> int:
    """0 for ``negative``, 1 for ``positive``."""
    return LABELS.index(label)


@dataclass(frozen=True)
class Clip:
    """One recording.

    ``group`` is the participant (or, when the source does not know one, the clip's own
    path) and is what splits keep disjoint. ``meta`` holds every other column the source
    knows (``source``, ``date``, ``quality``...), as strings.
    """

    path: Path
    label: str
    group: str
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def y(self) -> int:
        return label_index(self.label)


@dataclass(frozen=True)
class Exclusion:
    """A clip that will not be used, and why. ``stage`` is ``source`` or ``audio``."""

    path: str
    reason: str
    stage: str = "source"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "stage": self.stage}


@dataclass
class ClipSet:
    """What a source found at a location.

    ``counts`` holds named tallies a user should see (e.g. ``csv_rows_without_audio``),
    ``notes`` human sentences about them. ``synthetic`` is true for the demo generator, and
    everything that displays such a set says so.
    """

    kind: str
    root: Path
    description: str
    clips: list[Clip]
    excluded: list[Exclusion] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def meta_columns(self) -> list[str]:
        """Metadata columns present on every clip, in first-seen order."""
        if not self.clips:
            return []
        cols = list(self.clips[0].meta)
        return [c for c in cols if all(c in clip.meta for clip in self.clips)]

    def label_counts(self) -> dict[str, int]:
        out = {lab: 0 for lab in LABELS}
        for clip in self.clips:
            out[clip.label] += 1
        return out

    def n_groups(self) -> int:
        return len({clip.group for clip in self.clips})


# --------------------------------------------------------------------------- file checks

# special file types -> how a reason names them
_SPECIAL = ((stat.S_ISDIR, "directory", "is a directory, not an audio file"),
            (stat.S_ISFIFO, "fifo", "is a named pipe (FIFO), not a regular file"),
            (stat.S_ISSOCK, "special_file", "is a socket, not a regular file"),
            (stat.S_ISCHR, "special_file", "is a character device, not a regular file"),
            (stat.S_ISBLK, "special_file", "is a block device, not a regular file"))


@dataclass(frozen=True)
class FileProblem:
    """Why a path cannot be read as a recording: ``key`` for tallies, ``reason`` for people."""

    key: str
    reason: str


def file_problem(path: str | os.PathLike[str]) -> FileProblem | None:
    """None when ``path`` is a readable regular file; else what is wrong with it.

    Only ``stat``/``lstat``/``access`` calls: nothing is opened, so a FIFO cannot block and a
    huge file costs nothing. Tells apart a missing file, a dangling or looping symbolic link,
    a directory, a FIFO, a device or socket, and a file this user may not read.
    """
    if "\x00" in os.fspath(path):
        return FileProblem("unreadable", "unreadable: the path contains a NUL byte, which no "
                           "file name can hold")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        try:
            target = os.readlink(path)
        except OSError:
            return FileProblem("file_not_found", "file not found")
        return FileProblem("dangling_link",
                           f"dangling symbolic link (to {target}, which does not exist)")
    except OSError as exc:
        return os_problem(exc)
    for test, key, reason in _SPECIAL:
        if test(st.st_mode):
            return FileProblem(key, reason)
    if not os.access(path, os.R_OK):
        return FileProblem("permission_denied", "permission denied (this user may not read it)")
    return None


def os_problem(exc: OSError) -> FileProblem:
    """A :class:`FileProblem` for an ``OSError`` raised while looking at or reading a file."""
    if exc.errno == errno.ELOOP:
        return FileProblem("link_loop", "symbolic link loop (the link points back to itself)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileProblem("permission_denied", "permission denied (this user may not read it)")
    if exc.errno == errno.ENOENT:
        return FileProblem("file_not_found", "file not found")
    if exc.errno == errno.EISDIR:
        return FileProblem("directory", "is a directory, not an audio file")
    if exc.errno == errno.ENAMETOOLONG:
        return FileProblem("unreadable", "unreadable: the file name is too long")
    return FileProblem("unreadable", f"unreadable: {exc.strerror or exc}")


def leaves(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path``, with every symbolic link followed, is not inside ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)
