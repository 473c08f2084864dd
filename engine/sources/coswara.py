"""The Coswara data set in its extracted layout.

::

    <root>/combined_data.csv                   id, covid_status, a, g, l_c, ... per participant
    <root>/<date>/<date>.csv                   the same, per collection date (used when the
                                               combined table is absent or lacks an id)
    <root>/annotations/<sound>_labels.csv      FILENAME (<id>_<sound>), QUALITY 0 bad/1 good/2 excellent
    <root>/Extracted_data/<date>/<id>/<sound>.wav

Labels come from ``covid_status``: ``positive_mild|positive_moderate|positive_asymp`` are
positive, ``healthy|no_resp_illness_exposed|resp_illness_not_identified`` negative. Every
other status (``recovered_full``, ``under_validation``, anything new) is excluded with its
name in the reason and tallied as ``counts["status_<status>"]``; ``include_statuses``
(``"recovered_full=negative"``) maps extra statuses in. Participants in the tables without
audio and audio folders without a table row are counted and explained, never fatal. A
participant whose rows (in one table or several) give different statuses is excluded, with
the statuses and tables named in the reason: no row silently wins. A recording whose path,
links followed, leaves the Coswara root is excluded too (downloaded data stays inside its
folder).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..clips import NEGATIVE, POSITIVE, Clip, ClipSet, Exclusion, file_problem, leaves
from ..errors import ConfigError, DataError

STATUS_LABELS: dict[str, str] = {
    "positive_mild": POSITIVE,
    "positive_moderate": POSITIVE,
    "positive_asymp": POSITIVE,
    "healthy": NEGATIVE,
    "no_resp_illness_exposed": NEGATIVE,
    "resp_illness_not_identified": NEGATIVE,
}

# metadata table column -> Clip.meta key (low-cardinality, useful for per-group results)
META_COLUMNS: dict[str, str] = {"g": "gender", "a": "age", "l_c": "country"}

QUALITY_NAMES = {0: "bad", 1: "good", 2: "excellent"}


def find_coswara_root(path: Path) -> Path | None:
    """The Coswara root for ``path`` (the folder holding ``Extracted_data``), or None."""
    if (path / "Extracted_data").is_dir():
        return path
    if path.name == "Extracted_data" and path.is_dir():
        return path.parent
    return None


@dataclass
class _Tables:
    """Participant rows by id, and which files they came from."""

    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # id -> every distinct (covid_status, table file) seen for it, when there is more than one
    conflicts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # id -> table of its first row


def load_coswara(
    root: Path,
    *,
    sound: str = "cough-heavy",
    include_statuses: Sequence[str] = (),
    min_quality: int | None = None,
) -> ClipSet:
    """Load the ``sound`` recordings under ``root/Extracted_data`` with their labels."""
    from . import parse_status_mapping

    from ..config import ExperimentConfig, check_field

    root = Path(root)
    check_field(ExperimentConfig, "sound", sound, f"--sound {sound!r}")
    mapping = {**STATUS_LABELS, **parse_status_mapping(include_statuses)}
    if min_quality is not None and min_quality not in QUALITY_NAMES:
        raise ConfigError(
            f"--min-quality {min_quality} is not a Coswara quality level",
            "use 0 (bad), 1 (good) or 2 (excellent); clips rated below it are excluded",
        )
    tables = _read_tables(root)
    quality = _read_quality(root, sound, required=min_quality is not None)
    folders = _participant_folders(root / "Extracted_data")
    _check_sound_exists(root, folders, sound)

    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    counts: Counter[str] = Counter()
    for date, pid, folder in folders:
        wav = folder / f"{sound}.wav"
        problem = file_problem(wav)
        if problem is not None and problem.key == "file_not_found":
            counts[f"participants_without_{sound}"] += 1
            excluded.append(Exclusion(str(wav), f"participant {pid} has no {sound}.wav"))
            continue
        if leaves(wav, root):
            counts["path_leaves_root"] += 1
            excluded.append(Exclusion(str(wav), f"the file (a symbolic link) leaves {root}; "
                                                "a data set's files must stay inside it"))
            continue
        if problem is not None:
            counts[problem.key] += 1
            excluded.append(Exclusion(str(wav), problem.reason))
            continue
        reason = _exclusion_reason(pid, sound, tables, mapping, quality, min_quality, counts)
        if reason:
            excluded.append(Exclusion(str(wav), reason))
            continue
        row = tables.rows[pid]
        label = mapping[row.get("covid_status", "").strip()]
        clips.append(Clip(wav, label, pid, _meta(row, date, quality, f"{pid}_{sound}")))

    with_audio = {pid for _, pid, _ in folders}
    counts["csv_rows_without_audio"] = len(set(tables.rows) - with_audio)
    counts["audio_without_csv_row"] = counts.get("audio_without_csv_row", 0)
    dates = sorted({date for date, _, _ in folders})
    return ClipSet(
        kind="coswara",
        root=root,
        description=(
            f"Coswara {sound} recordings at {root}: {len(with_audio)} participant folders "
            f"from {len(dates)} collection date(s)"
        ),
        clips=clips,
        excluded=excluded,
        counts=dict(counts),
        notes=_notes(counts, tables, mapping, sound, min_quality),
    )


def _exclusion_reason(
    pid: str,
    sound: str,
    tables: _Tables,
    mapping: dict[str, str],
    quality: dict[str, int] | None,
    min_quality: int | None,
    counts: Counter[str],
) -> str:
    """Why this participant's clip is not used, or "" when it is usable."""
    row = tables.rows.get(pid)
    if pid in tables.conflicts:
        counts["conflicting_status"] += 1
        seen = "; ".join(f"{status or '(blank)'} in {name}" for status, name in tables.conflicts[pid])
        return (f"participant {pid} has conflicting covid_status rows ({seen}); "
                "it is left out rather than guessed")
    if row is None:
        counts["audio_without_csv_row"] += 1
        return f"participant {pid} has no row in {' or '.join(tables.files)}"
    status = row.get("covid_status", "").strip()
    if status not in mapping:
        counts[f"status_{status or 'missing'}"] += 1
        if not status:
            return f"participant {pid} has no covid_status"
        return (
            f"covid_status {status!r} is not mapped to a label "
            f"(include it with --include-status {status}=negative or ={POSITIVE})"
        )
    if min_quality is not None and quality is not None:
        q = quality.get(f"{pid}_{sound}")
        if q is None:
            counts["no_quality_annotation"] += 1
            return f"no quality annotation for {pid}_{sound} (needed by --min-quality {min_quality})"
        if q < min_quality:
            counts["below_min_quality"] += 1
            return f"quality {q} ({QUALITY_NAMES[q]}) is below --min-quality {min_quality}"
    return ""


def _meta(row: dict[str, str], date: str, quality: dict[str, int] | None, key: str) -> dict[str, str]:
    meta = {"date": date}
    for column, name in META_COLUMNS.items():
        meta[name] = (row.get(column) or "").strip()
    if quality is not None:
        q = quality.get(key)
        meta["quality"] = "" if q is None else str(q)
    return meta


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            rows = [dict(zip(header, values)) for values in reader if values]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", "check that it is a UTF-8 CSV file") from None
    return header, rows


def _read_tables(root: Path) -> _Tables:
    """Rows from combined_data.csv, then per-date CSVs for ids the combined table lacks."""
    tables = _Tables()
    candidates = [root / "combined_data.csv"]
    for base in (root, root / "Extracted_data"):
        candidates += sorted(p / f"{p.name}.csv" for p in base.iterdir() if p.is_dir())
    for path in candidates:
        if not path.is_file():
            continue
        header, rows = _read_csv(path)
        if "id" not in header or "covid_status" not in header:
            raise DataError(
                f"{path} has no 'id' and 'covid_status' columns (found: {', '.join(header)})",
                "use the metadata CSV from github.com/iiscleap/Coswara-Data unchanged",
            )
        tables.files.append(path.name)
        for row in rows:
            pid = row.get("id", "").strip()
            if not pid:
                continue
            status = (row.get("covid_status") or "").strip()
            first = tables.rows.get(pid)
            if first is None:
                tables.rows[pid] = row
                tables.sources[pid] = path.name
            elif (first.get("covid_status") or "").strip() != status:
                seen = tables.conflicts.setdefault(
                    pid, [((first.get("covid_status") or "").strip(), tables.sources[pid])])
                if (status, path.name) not in seen:
                    seen.append((status, path.name))
    if not tables.files:
        raise DataError(
            f"{root} has Extracted_data/ but no combined_data.csv and no per-date "
            "<date>/<date>.csv with the participants' covid_status",
            "copy combined_data.csv from github.com/iiscleap/Coswara-Data next to "
            "Extracted_data/ (`coughscope data get coswara` fetches it)",
        )
    return tables


def _read_quality(root: Path, sound: str, *, required: bool) -> dict[str, int] | None:
    path = root / "annotations" / f"{sound}_labels.csv"
    if not path.is_file():
        if required:
            raise DataError(
                f"--min-quality needs {path}, which does not exist",
                "copy annotations/ from github.com/iiscleap/Coswara-Data, or drop --min-quality",
            )
        return None
    header, rows = _read_csv(path)
    if "FILENAME" not in header or "QUALITY" not in header:
        raise DataError(
            f"{path} has no FILENAME and QUALITY columns (found: {', '.join(header)})",
            "use the annotation file from github.com/iiscleap/Coswara-Data unchanged",
        )
    out: dict[str, int] = {}
    for row in rows:
        try:
            out[row["FILENAME"].strip()] = int(float(row["QUALITY"]))
        except (ValueError, KeyError, AttributeError):
            continue  # unreadable rating: the clip counts as unannotated
    return out


def _participant_folders(extracted: Path) -> list[tuple[str, str, Path]]:
    """(date, participant id, folder) for every participant folder, sorted."""
    out = []
    for date_dir in sorted(p for p in extracted.iterdir() if p.is_dir()):
        for folder in sorted(p for p in date_dir.iterdir() if p.is_dir()):
            out.append((date_dir.name, folder.name, folder))
    if not out:
        raise DataError(
            f"{extracted} holds no <date>/<participant> folders",
            "extract the Coswara archives into it (`coughscope data get coswara` does this)",
        )
    return out


def _check_sound_exists(root: Path, folders: list[tuple[str, str, Path]], sound: str) -> None:
    if any((folder / f"{sound}.wav").is_file() for _, _, folder in folders):
        return
    seen = sorted({p.stem for _, _, folder in folders[:50] for p in folder.glob("*.wav")})
    raise DataError(
        f"no participant under {root / 'Extracted_data'} has a {sound}.wav",
        f"choose a sound that exists ({', '.join(seen) or 'none found'}) with --sound",
    )


def _notes(
    counts: Counter[str],
    tables: _Tables,
    mapping: dict[str, str],
    sound: str,
    min_quality: int | None,
) -> list[str]:
    notes = []
    if counts["csv_rows_without_audio"]:
        notes.append(
            f"{counts['csv_rows_without_audio']} participants in {', '.join(tables.files[:2])}"
            f"{'...' if len(tables.files) > 2 else ''} have no folder under Extracted_data "
            "(normal when only some collection dates were extracted)"
        )
    if counts["audio_without_csv_row"]:
        notes.append(
            f"{counts['audio_without_csv_row']} participant folders have no row in the "
            "metadata tables, so no label; they are excluded"
        )
    for key, n in sorted(counts.items()):
        if key.startswith("status_"):
            status = key[len("status_"):]
            notes.append(
                f"{n} participants with covid_status {status!r} excluded "
                f"(add --include-status {status}=negative or =positive to use them)"
            )
    if counts["conflicting_status"]:
        notes.append(
            f"{counts['conflicting_status']} participants with audio have rows giving "
            "different covid_status values; they are excluded (see the exclusions)"
        )
    if counts[f"participants_without_{sound}"]:
        notes.append(f"{counts[f'participants_without_{sound}']} participant folders lack {sound}.wav")
    if min_quality is not None:
        notes.append(
            f"quality filter: clips rated below {min_quality} ({QUALITY_NAMES[min_quality]}) "
            f"excluded: {counts['below_min_quality']}; unannotated: {counts['no_quality_annotation']}"
        )
    extra = sorted(s for s in mapping if s not in STATUS_LABELS)
    if extra:
        notes.append("extra statuses mapped in: " + ", ".join(f"{s}={mapping[s]}" for s in extra))
    return notes
