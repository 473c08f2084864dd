"""Manifest CSV data sets: one row per clip.

Required columns ``path`` and ``label``; optional ``group`` (the participant; defaults to
the clip's own path, so each clip is its own group); every other column is kept as
metadata (e.g. ``source``). Column names are matched case-insensitively; a column named
twice is an error (which one would count?), and so is a quote left open (it would swallow
the rest of the file into one cell).

Paths are relative to the CSV's folder. In your own manifest, absolute paths and paths
through ``..`` are followed: the manifest is yours, like a shell command. A manifest written
by ``coughscope data get`` (its folder holds ``.coughscope/``) comes from downloaded
metadata, so its paths must stay inside that folder, links followed: a row that leaves it
is excluded with the reason.

Accepted labels, case-insensitive: ``positive``/``pos``/``1`` and ``negative``/``neg``/``0``.
Anything else (``covid``, ``healthy``, blank...) is refused with the values and their
line numbers, rather than guessed. Rows whose file is missing (or is a folder, a pipe, a
broken link, unreadable...), or that repeat an earlier row's file, are excluded with a
reason; the set is refused only when no clip remains.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..clips import NEGATIVE, POSITIVE, Clip, ClipSet, Exclusion, file_problem, leaves
from ..errors import DataError

LABEL_ALIASES: dict[str, str] = {
    "positive": POSITIVE,
    "pos": POSITIVE,
    "1": POSITIVE,
    "negative": NEGATIVE,
    "neg": NEGATIVE,
    "0": NEGATIVE,
}

MAX_LISTED = 8  # bad values named in one error message
DOWNLOAD_MARKER = ".coughscope"  # a folder `coughscope data get` writes beside its downloads


def load_manifest(csv_path: Path, *, kind: str = "manifest") -> ClipSet:
    """Load the clips listed in ``csv_path``."""
    csv_path = Path(csv_path)
    header, rows = _read(csv_path)
    columns = _columns(csv_path, header)
    missing = [c for c in ("path", "label") if c not in columns]
    if missing:
        raise DataError(
            f"{csv_path} has no {' and no '.join(repr(c) for c in missing)} column "
            f"(columns found: {', '.join(repr(h) for h in header) or 'none'})",
            "the first line must name the columns, e.g. path,label,group; "
            "path is relative to the CSV's folder, label is positive or negative",
        )
    if not rows:
        raise DataError(f"{csv_path} lists no clips", "add one row per clip below the header")
    labels = _parse_labels(csv_path, rows, columns["label"])
    meta_cols = [
        (name, i) for name, i in columns.items() if name not in ("path", "label", "group")
    ]
    confine = (csv_path.parent / DOWNLOAD_MARKER).is_dir()
    clips, excluded, keys = _build_clips(csv_path, rows, labels, columns, meta_cols, confine)
    if not clips:
        raise DataError(
            f"none of the {len(rows)} files listed in {csv_path} could be used "
            f"(first: {excluded[0].path}: {excluded[0].reason})",
            "paths in a manifest are relative to the CSV's own folder; check them",
        )
    counts = Counter(keys)
    heads = {key: e.reason.split(" (line")[0] for key, e in zip(keys, excluded)}
    return ClipSet(
        kind=kind,
        root=csv_path.parent,
        description=f"manifest {csv_path}: {len(rows)} rows",
        clips=clips,
        excluded=excluded,
        counts=dict(counts),
        notes=[f"{n} rows excluded: {heads[key]}" for key, n in counts.items()],
    )


def _columns(csv_path: Path, header: list[str]) -> dict[str, int]:
    """Column name (stripped, lower case) -> index; a name given twice is an error."""
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if key in columns:
            raise DataError(
                f"{csv_path}: column {name.strip()!r} appears twice in the header "
                f"(columns {columns[key] + 1} and {i + 1}); it is not clear which one counts",
                "rename or remove one of them (names are compared without case)",
            )
        columns[key] = i
    return columns


def _read(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and ``(line number, values)`` for every non-blank row."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            _check_one_line(csv_path, header, 1, reader.line_num)
            rows = []
            last = reader.line_num
            for values in reader:
                _check_one_line(csv_path, values, last + 1, reader.line_num)
                last = reader.line_num
                if any(v.strip() for v in values):
                    rows.append((reader.line_num, values))
    except UnicodeDecodeError:
        raise DataError(f"{csv_path} is not UTF-8 text", "save the manifest as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read {csv_path}: {exc}", "check the file") from None
    return header, rows


def _check_one_line(csv_path: Path, values: list[str], first: int, last: int) -> None:
    """A row whose cell holds a line break comes from a quote left open: refuse it, naming
    the line, rather than read the rest of the file as one cell."""
    if last > first and any("\n" in v or "\r" in v for v in values):
        raise DataError(
            f"{csv_path}: a quote opened on line {first} is not closed on that line: lines "
            f"{first} to {last} run into one cell",
            "close the quote (\"...\") or remove it; a manifest cell never holds a line break",
        )


def _cell(values: list[str], index: int) -> str:
    return values[index].strip() if index < len(values) else ""


def _parse_labels(csv_path: Path, rows: list[tuple[int, list[str]]], index: int) -> list[str]:
    labels: list[str] = []
    bad: dict[str, list[int]] = {}
    for line, values in rows:
        raw = _cell(values, index)
        label = LABEL_ALIASES.get(raw.lower())
        if label is None:
            bad.setdefault(raw, []).append(line)
        labels.append(label or "")
    if bad:
        listed = "; ".join(
            f"{value!r} on line{'s' if len(lines) > 1 else ''} "
            f"{', '.join(map(str, lines[:5]))}{'...' if len(lines) > 5 else ''}"
            for value, lines in list(bad.items())[:MAX_LISTED]
        )
        raise DataError(
            f"{csv_path}: unknown label value(s) in column 'label': {listed}",
            "labels must be positive/negative (or pos/neg, 1/0); fix those rows or remove them",
        )
    return labels


def _build_clips(
    csv_path: Path,
    rows: list[tuple[int, list[str]]],
    labels: list[str],
    columns: dict[str, int],
    meta_cols: list[tuple[str, int]],
    confine: bool,
) -> tuple[list[Clip], list[Exclusion], list[str]]:
    """The clips, the excluded rows, and a tally key per excluded row."""
    base = csv_path.parent
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    keys: list[str] = []
    first_line: dict[Path, tuple[int, str]] = {}
    conflicts: dict[Path, list[tuple[int, str]]] = {}  # one clip, rows that disagree on its label

    def exclude(path: Path, key: str, reason: str) -> None:
        excluded.append(Exclusion(str(path), reason))
        keys.append(key)

    for (line, values), label in zip(rows, labels):
        rel = _cell(values, columns["path"])
        path = (base / rel) if rel else base / "<blank path>"
        where = f"line {line} of {csv_path.name}"
        if not rel:
            exclude(path, "file_not_found", f"file not found (blank path; {where})")
            continue
        if "\x00" in rel:
            exclude(path, "unreadable", "unreadable: the path contains a NUL byte, which no "
                    f"file name can hold ({where})")
            continue
        if confine and leaves(path, base):
            exclude(path, "path_leaves_download",
                    f"path leaves the downloaded data set folder ({where}); paths from "
                    "downloaded metadata must stay inside it")
            continue
        problem = file_problem(path)
        if problem is not None:
            exclude(path, problem.key, f"{problem.reason} ({where})")
            continue
        key = path.resolve()
        if key in first_line:
            first, first_label = first_line[key]
            if label != first_label:  # which one is true? neither row is used
                conflicts.setdefault(key, [(first, first_label)]).append((line, label))
                continue
            exclude(path, "duplicate_rows",
                    f"duplicate row (line {line} repeats line {first})")
            continue
        first_line[key] = (line, label)
        group = _cell(values, columns["group"]) if "group" in columns else ""
        meta = {name: _cell(values, i) for name, i in meta_cols}
        clips.append(Clip(path, label, group or rel, meta))
    if conflicts:
        kept = []
        for clip in clips:
            rows_of = conflicts.get(clip.path.resolve())
            if rows_of is None:
                kept.append(clip)
                continue
            said = "; ".join(f"{lab} on line {ln}" for ln, lab in rows_of)
            exclude(clip.path, "conflicting_labels",
                    f"conflicting labels: {said} of {csv_path.name} (the same clip); neither "
                    "row is used -- keep the row with the right label and delete the other")
        clips = kept
    return clips, excluded, keys
