"""Folder-per-label data sets: ``<root>/positive/...`` and ``<root>/negative/...``.

Files are found recursively under each label folder. Files with an audio extension become
clips (each its own group: a folder layout names no participants); every other file is
listed as an exclusion so nothing disappears unseen. A set with no audio file at all is
refused.
"""

from __future__ import annotations

from pathlib import Path

from ..clips import LABELS, Clip, ClipSet, Exclusion
from ..errors import DataError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".webm", ".m4a", ".aac", ".opus"})


def load_folders(root: Path) -> ClipSet:
    """Load ``root/positive`` and ``root/negative`` (either may be absent, not both)."""
    root = Path(root)
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    notes: list[str] = []
    for label in LABELS:
        folder = root / label
        if not folder.is_dir():
            notes.append(f"{folder} does not exist: no {label} clips")
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        n_before = len(clips)
        for path in files:
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                clips.append(Clip(path, label, str(path.relative_to(root))))
            else:
                excluded.append(Exclusion(str(path), _not_audio_reason(path)))
        if len(clips) == n_before:
            notes.append(f"{folder} holds no audio files: no {label} clips")
    if not clips:
        raise DataError(
            f"no audio files in {root / 'positive'} or {root / 'negative'}"
            + (f" ({len(excluded)} other files ignored)" if excluded else " (folders are empty)"),
            "put recordings (" + ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
            + ") into positive/ and negative/",
        )
    counts = {"not_audio_files": len(excluded)} if excluded else {}
    if excluded:
        notes.append(f"{len(excluded)} files without an audio extension were skipped")
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
