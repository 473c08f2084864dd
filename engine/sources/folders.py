"""Folder-per-label data sets: ``<root>/positive/...`` and ``<root>/negative/...``.

Files are found recursively under each label folder (symbolic links to folders are followed,
once). Files with an audio extension become clips (each its own group: a folder layout names
no participants). Every other entry is listed as an exclusion with its reason, so nothing
disappears unseen: files without an audio extension, named pipes (FIFOs), sockets and
devices, dangling symbolic links, symbolic link loops, unreadable files, and subfolders that
cannot be listed (the reason says their files are not seen). A set with no audio file at all
is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..clips import LABELS, Clip, ClipSet, Exclusion, file_problem, os_problem
from ..errors import DataError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".webm", ".m4a", ".aac", ".opus"})


def load_folders(root: Path) -> ClipSet:
    """Load ``root/positive`` and ``root/negative`` (either may be absent, not both)."""
    root = Path(root)
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    notes: list[str] = []
    # real folders already listed (or never to be: the root), shared by both labels so that a
    # link from one label folder into the other, or back up, is a loop and not a second copy
    seen = {os.path.realpath(root)}
    for label in LABELS:
        folder = root / label
        if not folder.is_dir():
            notes.append(f"{folder} does not exist: no {label} clips")
            continue
        files, problems = _walk(folder, seen)
        excluded += problems
        n_before = len(clips)
        for path in files:
            problem = file_problem(path)
            if problem is not None:
                excluded.append(Exclusion(str(path), problem.reason))
                continue
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                excluded.append(Exclusion(str(path), _not_audio_reason(path)))
                continue
            clips.append(Clip(path, label, str(path.relative_to(root))))
        if len(clips) == n_before:
            notes.append(f"{folder} holds no audio files: no {label} clips")
    if not clips:
        raise DataError(
            f"no audio files in {root / 'positive'} or {root / 'negative'}"
            + (f" ({len(excluded)} other files ignored)" if excluded else " (folders are empty)"),
            "put recordings (" + ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
            + ") into positive/ and negative/",
        )
    counts: dict[str, int] = {}
    for e in excluded:
        key = "not_audio_files" if e.reason.startswith("not an audio") else "unusable_entries"
        counts[key] = counts.get(key, 0) + 1
    if counts.get("not_audio_files"):
        notes.append(f"{counts['not_audio_files']} files without an audio extension were skipped")
    if counts.get("unusable_entries"):
        notes.append(f"{counts['unusable_entries']} entries could not be used (pipes, broken "
                     "or looping links, unreadable files or folders): see the exclusions")
    return ClipSet(
        kind="folders",
        root=root,
        description=f"folders {root}/positive and {root}/negative",
        clips=clips,
        excluded=excluded,
        counts=counts,
        notes=notes,
    )


def _not_audio_reason(path: Path) -> str:
    ext = path.suffix or "(none)"
    return f"not an audio file extension: {ext}"


def _walk(folder: Path, seen: set[str]) -> tuple[list[Path], list[Exclusion]]:
    """Every non-folder entry under ``folder`` (sorted), and the entries that cannot be
    walked: unlistable folders, link loops. Folder links are followed once per real folder
    (``seen`` holds the real paths listed so far), so a loop ends."""
    files: list[Path] = []
    problems: list[Exclusion] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:
            problems.append(Exclusion(str(current), "symbolic link loop (this folder was "
                                                    "already listed through another path)"))
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            reason = os_problem(exc).reason
            problems.append(Exclusion(str(current), f"folder cannot be listed: {reason}; the "
                                                    "files in it are not used"))
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError as exc:  # a link loop
                problems.append(Exclusion(str(path), os_problem(exc).reason))
                continue
            if is_dir:
                stack.append(path)
            else:
                files.append(path)
    return sorted(files), problems
