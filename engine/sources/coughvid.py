"""The COUGHVID data set (EPFL; Orlandic et al., Scientific Data 2021) in its public layout.

::

    <root>/metadata_compiled.csv     one row per recording: uuid, datetime, cough_detected,
                                     SNR, latitude, longitude, age, gender,
                                     respiratory_condition, fever_muscle_pain, status, and the
                                     expert columns quality_1..4, cough_type_1..4, ...,
                                     diagnosis_1..4, severity_1..4 (blank where no expert
                                     annotated the recording)
    <root>/<uuid>.webm | .ogg        the recording (a .wav, .flac or .mp3 of the same uuid,
                                     e.g. after a conversion, is used before the original)
    <root>/<uuid>.json               the same metadata per recording (optional; not read)

Labels come from ``status``: ``COVID-19`` is positive, ``healthy`` negative.
``symptomatic`` is excluded by default, with the reason (it is neither: symptoms without a
COVID-19 diagnosis); the option ``symptomatic=positive`` or ``symptomatic=negative`` maps it.
A blank or unknown status is excluded with the value in the reason.

``cough_detected`` (the authors' cough classifier's probability that the recording holds a
cough) is a quality filter: recordings below the threshold -- default 0.8, the authors'
suggestion -- are excluded with the value in the reason (option ``cough_detected=X``).

Options follow the path after a ``?``: ``coughvid:PATH?symptomatic=positive&cough_detected=0.5``
(a folder holding ``metadata_compiled.csv`` is recognised as COUGHVID without the prefix).

COUGHVID has **no participant id**: each recording is its own group, so one person's
recordings may land in training and test and participant leakage cannot be ruled out. The
clip set's notes say so (``coughscope data summary`` shows them).

Metadata kept per clip: ``age``, ``gender``, ``respiratory_condition``,
``fever_muscle_pain``, ``expert`` (how many experts annotated it, 0-4), and the experts'
``diagnosis_1..4`` and ``quality_1..4``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..clips import NEGATIVE, POSITIVE, Clip, ClipSet, Exclusion, file_problem, leaves
from ..errors import DataError

METADATA = "metadata_compiled.csv"
STATUS_LABELS = {"COVID-19": POSITIVE, "healthy": NEGATIVE}
DEFAULT_COUGH_DETECTED = 0.8
# extensions of a recording, in the order they are preferred when a uuid has several
AUDIO_ORDER = (".wav", ".flac", ".mp3", ".ogg", ".webm")
EXPERTS = (1, 2, 3, 4)
META_COLUMNS = ("age", "gender", "respiratory_condition", "fever_muscle_pain")
OPTIONS = {"symptomatic": "positive, negative or exclude (default exclude)",
           "cough_detected": "a number from 0 to 1 (default 0.8)"}
LEAKAGE_NOTE = ("COUGHVID has no participant id: each recording is its own group, so one "
                "person's recordings may be in both training and test (participant leakage "
                "cannot be ruled out)")


def is_coughvid_root(path: Path) -> bool:
    return (path / METADATA).is_file()


def parse_options(text: str, spec: str) -> tuple[str | None, float]:
    """``"symptomatic=positive&cough_detected=0.5"`` -> ``("positive", 0.5)``."""
    symptomatic: str | None = None
    threshold = DEFAULT_COUGH_DETECTED
    for item in filter(None, text.split("&")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key not in OPTIONS or not sep:
            raise DataError(f"unknown COUGHVID option {item!r} in {spec!r}",
                            "options: " + "; ".join(f"{k}= {v}" for k, v in OPTIONS.items()))
        if key == "symptomatic":
            if value not in (POSITIVE, NEGATIVE, "exclude"):
                raise DataError(f"symptomatic={value!r} in {spec!r} is not positive, negative "
                                "or exclude", "e.g. coughvid:PATH?symptomatic=negative")
            symptomatic = None if value == "exclude" else value
        else:
            try:
                threshold = float(value)
            except ValueError:
                threshold = -1.0
            if not 0.0 <= threshold <= 1.0:
                raise DataError(f"cough_detected={value!r} in {spec!r} is not a number from 0 "
                                "to 1", "e.g. coughvid:PATH?cough_detected=0.5")
    return symptomatic, threshold


def load_coughvid(root: Path, *, symptomatic: str | None = None,
                  cough_detected: float = DEFAULT_COUGH_DETECTED) -> ClipSet:
    """Load the COUGHVID recordings under ``root`` (see the module docstring)."""
    root = Path(root)
    rows = _read_metadata(root / METADATA)
    recordings, other = _recordings(root)
    mapping = dict(STATUS_LABELS)
    if symptomatic:
        mapping["symptomatic"] = symptomatic
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    counts: Counter[str] = Counter()

    def exclude(path: Path, key: str, reason: str) -> None:
        counts[key] += 1
        excluded.append(Exclusion(str(path), reason))

    for uuid, files in sorted(recordings.items()):
        path, rest = files[0], files[1:]
        for extra in rest:
            exclude(extra, "other_file_of_a_recording",
                    f"another file of recording {uuid} ({path.name}) is used")
        if leaves(path, root):
            exclude(path, "path_leaves_root", f"the file (a symbolic link) leaves {root}; a "
                                              "data set's files must stay inside it")
            continue
        problem = file_problem(path)
        if problem is not None:
            exclude(path, problem.key, problem.reason)
            continue
        row = rows.get(uuid)
        if row is None:
            exclude(path, "audio_without_csv_row",
                    f"recording {uuid} has no row in {METADATA}, so no label")
            continue
        status = (row.get("status") or "").strip()
        label = mapping.get(status)
        if label is None:
            if status == "symptomatic":
                exclude(path, "status_symptomatic",
                        "status 'symptomatic' is neither COVID-19 nor healthy (use "
                        "coughvid:PATH?symptomatic=positive or =negative to include it)")
            elif not status:
                exclude(path, "status_missing", f"recording {uuid} has no status")
            else:
                exclude(path, "status_unknown", f"status {status!r} is not COVID-19, healthy "
                                                "or symptomatic")
            continue
        raw = (row.get("cough_detected") or "").strip()
        try:
            score = float(raw)
        except ValueError:
            score = float("nan")
        if not 0.0 <= score <= 1.0:  # NaN fails too
            exclude(path, "no_cough_detected", f"cough_detected {raw or '(blank)'!r} is not "
                                               "a probability from 0 to 1")
            continue
        if score < cough_detected:
            exclude(path, "below_cough_detected",
                    f"cough_detected {score:g} is below the threshold {cough_detected:g} (the "
                    "authors' cough classifier doubts it holds a cough; "
                    "coughvid:PATH?cough_detected=X to change it)")
            continue
        clips.append(Clip(path, label, uuid, _meta(row)))
    with_audio = set(recordings)
    counts["csv_rows_without_audio"] = len(set(rows) - with_audio)
    if not clips:
        first = f" (first: {excluded[0].path}: {excluded[0].reason})" if excluded else ""
        raise DataError(f"no usable COUGHVID recording in {root}: {len(recordings)} "
                        f"recordings, {len(rows)} metadata rows{first}",
                        "check the folder (recordings <uuid>.webm/.ogg beside "
                        f"{METADATA}); coughscope data summary lists every exclusion")
    return ClipSet(
        kind="coughvid",
        root=root,
        description=(f"COUGHVID at {root}: {len(recordings)} recordings, {len(rows)} rows in "
                     f"{METADATA}"),
        clips=clips,
        excluded=excluded,
        counts={k: v for k, v in counts.items() if v or k == "csv_rows_without_audio"},
        notes=_notes(counts, symptomatic, cough_detected, other),
    )


def _meta(row: dict[str, str]) -> dict[str, str]:
    meta = {name: (row.get(name) or "").strip() for name in META_COLUMNS}
    annotated = [k for k in EXPERTS if any((row.get(f"{c}_{k}") or "").strip()
                                           for c in ("quality", "diagnosis"))]
    meta["expert"] = str(len(annotated))
    for k in EXPERTS:
        meta[f"diagnosis_{k}"] = (row.get(f"diagnosis_{k}") or "").strip()
        meta[f"quality_{k}"] = (row.get(f"quality_{k}") or "").strip()
    return meta


def _read_metadata(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} does not exist", "COUGHVID's labels are in metadata_compiled."
                        "csv beside the recordings; `coughscope data get coughvid` fetches both")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            raw_rows = [values for values in reader if any(v.strip() for v in values)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", "use COUGHVID's metadata_compiled.csv "
                        "unchanged") from None
    missing = [c for c in ("uuid", "status", "cough_detected") if c not in header]
    if missing:
        raise DataError(f"{path} has no {', '.join(missing)} column(s) (found: "
                        f"{', '.join(h for h in header if h)[:300]})",
                        "use COUGHVID's metadata_compiled.csv unchanged")
    rows: dict[str, dict[str, str]] = {}
    for values in raw_rows:
        row = dict(zip(header, values))
        uuid = (row.get("uuid") or "").strip()
        if uuid:
            rows.setdefault(uuid, row)
    return rows


def _recordings(root: Path) -> tuple[dict[str, list[Path]], int]:
    """uuid -> its audio files (preferred first), and how many other files there are."""
    out: dict[str, list[Path]] = {}
    other = 0
    order = {ext: i for i, ext in enumerate(AUDIO_ORDER)}
    for path in sorted(root.iterdir()):
        ext = path.suffix.lower()
        if ext in order:
            out.setdefault(path.stem, []).append(path)
        elif ext != ".json" and path.name != METADATA:
            other += 1
    for files in out.values():
        files.sort(key=lambda p: order[p.suffix.lower()])
    return out, other


def _notes(counts: Counter[str], symptomatic: str | None, threshold: float,
           other: int) -> list[str]:
    notes = [LEAKAGE_NOTE]
    if counts["status_symptomatic"]:
        notes.append(f"{counts['status_symptomatic']} 'symptomatic' recordings excluded "
                     "(coughvid:PATH?symptomatic=positive or =negative maps them)")
    if symptomatic:
        notes.append(f"'symptomatic' recordings are counted as {symptomatic}")
    if counts["status_missing"] or counts["status_unknown"]:
        notes.append(f"{counts['status_missing'] + counts['status_unknown']} recordings with "
                     "a blank or unknown status excluded")
    notes.append(f"cough_detected threshold {threshold:g}: {counts['below_cough_detected']} "
                 "recordings below it excluded")
    if counts["audio_without_csv_row"]:
        notes.append(f"{counts['audio_without_csv_row']} recordings have no row in "
                     f"{METADATA}: excluded (no label)")
    if counts["csv_rows_without_audio"]:
        notes.append(f"{counts['csv_rows_without_audio']} rows of {METADATA} have no "
                     "recording here")
    if other:
        notes.append(f"{other} other files in the folder are not recordings and were ignored")
    return notes
