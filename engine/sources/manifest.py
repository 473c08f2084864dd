"""Manifest CSV data sets: one row per clip.

Required columns ``path`` and ``label``; optional ``group`` (the participant; defaults to
the clip's own path, so each clip is its own group); every other column is kept as
metadata (e.g. ``source``). Paths are relative to the CSV's folder (absolute paths work
too). Column names are matched case-insensitively.

Accepted labels, case-insensitive: ``positive``/``pos``/``1`` and ``negative``/``neg``/``0``.
Anything else (``covid``, ``healthy``, blank...) is refused with the values and their
line numbers, rather than guessed. Rows whose file is missing, or that repeat an earlier
row's file, are excluded with a reason; the set is refused only when no clip remains.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..clips import NEGATIVE, POSITIVE, Clip, ClipSet, Exclusion
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


def load_manifest(csv_path: Path, *, kind: str = "manifest") -> ClipSet:
    """Load the clips listed in ``csv_path``."""
    csv_path = Path(csv_path)
    header, rows = _read(csv_path)
    columns = {name.strip().lower(): i for i, name in enumerate(header)}
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
    clips, excluded = _build_clips(csv_path, rows, labels, columns, meta_cols)
    if not clips:
        raise DataError(
            f"none of the {len(rows)} files listed in {csv_path} could be used "
            f"(first: {excluded[0].path}: {excluded[0].reason})",
            "paths in a manifest are relative to the CSV's own folder; check them",
        )
    counts = Counter(e.reason.split(" (")[0] for e in excluded)
    return ClipSet(
        kind=kind,
        root=csv_path.parent,
        description=f"manifest {csv_path}: {len(rows)} rows",
        clips=clips,
        excluded=excluded,
        counts={_count_key(reason): n for reason, n in counts.items()},
        notes=[f"{n} rows excluded: {reason}" for reason, n in counts.items()],
    )


def _count_key(reason: str) -> str:
    return "file_not_found" if reason.startswith("file not found") else "duplicate_rows"


def _read(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and ``(line number, values)`` for every non-blank row."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            rows = [(reader.line_num, values) for values in reader if any(v.strip() for v in values)]
    except UnicodeDecodeError:
        raise DataError(f"{csv_path} is not UTF-8 text", "save the manifest as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read {csv_path}: {exc}", "check the file") from None
    return header, rows


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
) -> tuple[list[Clip], list[Exclusion]]:
    base = csv_path.parent
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    first_line: dict[Path, int] = {}
    for (line, values), label in zip(rows, labels):
        rel = _cell(values, columns["path"])
        path = (base / rel) if rel else base / "<blank path>"
        if not rel or not path.is_file():
            excluded.append(Exclusion(str(path), f"file not found (line {line} of {csv_path.name})"))
            continue
        key = path.resolve()
        if key in first_line:
            excluded.append(
                Exclusion(str(path), f"duplicate row (line {line} repeats line {first_line[key]})")
            )
            continue
        first_line[key] = line
        group = _cell(values, columns["group"]) if "group" in columns else ""
        meta = {name: _cell(values, i) for name, i in meta_cols}
        clips.append(Clip(path, label, group or rel, meta))
    return clips, excluded
