"""The COVID-19 Sounds data set (University of Cambridge), as released for the NeurIPS 2021
benchmark under a data transfer agreement: a bring-your-own-path source
(``covid19-sounds:PATH``; it cannot be downloaded without the agreement).

The layout expected under PATH (the release's zip files unpacked as they come)::

    <PATH>/covid19_data_0426/<Uid>/<Folder Name>/<audio file>
          (a doubled covid19_data_0426/covid19_data_0426/ from unzipping is accepted)
    <PATH>/covid19_data_0426_metadata/results_raw_20210426_lan_yamnet_<platform>_noloc.csv
          (or any folder directly under PATH, or PATH itself: every ``*.csv`` whose header has
          Uid, Folder Name and Covid-Tested is read)

The metadata tables are ``;``-separated, one row per recording session, with the columns
``Uid`` (the participant), ``Folder Name`` (the session), ``Covid-Tested``, ``Cough
filename`` / ``Breath filename`` / ``Voice filename`` and ``Cough check`` / ``Breath check``
/ ``Voice check`` (the release's YAMNet check: ``c``, ``b`` or ``v`` when the sound was
found in the recording).

Labels come from ``Covid-Tested``: ``positiveLast14`` and ``last14`` (tested positive in the
last 14 days) are positive; ``negativeNever`` and ``negativeOver14`` (tested negative) are
negative -- the benchmark's task 1 choice. Every other value (``positiveOver14``,
``never``, ``no``, blank...) is excluded with the value in the reason. A session whose
modality check fails (no ``c`` in ``Cough check`` for coughs) is excluded with that reason
(option ``check=false`` keeps them). Options after a ``?``: ``modality=cough|breath|voice``
(default ``cough``), ``check=true|false``.

Group (what splits keep apart): ``Uid``, the participant -- several sessions of one person
never straddle training and test. Metadata kept per clip: ``platform`` (android, ios, web:
from the table's name) and ``language`` when the table has it.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from ..clips import NEGATIVE, POSITIVE, Clip, ClipSet, Exclusion, file_problem, leaves
from ..errors import DataError

AUDIO_DIR = "covid19_data_0426"
REQUIRED = ("Uid", "Folder Name", "Covid-Tested")
STATUS_LABELS = {"positiveLast14": POSITIVE, "last14": POSITIVE,
                 "negativeNever": NEGATIVE, "negativeOver14": NEGATIVE}
MODALITIES = {"cough": ("Cough filename", "Cough check", "c"),
              "breath": ("Breath filename", "Breath check", "b"),
              "voice": ("Voice filename", "Voice check", "v")}
PLATFORMS = ("android", "ios", "web")


def parse_options(text: str, spec: str) -> dict[str, Any]:
    """``"modality=breath&check=false"`` -> ``{"modality": "breath", "check": False}``."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split("&")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if key == "modality" and value in MODALITIES:
            out["modality"] = value
        elif key == "check" and value in ("true", "false"):
            out["check"] = value == "true"
        else:
            raise DataError(f"unknown COVID-19 Sounds option {item!r} in {spec!r}",
                            "options: modality=cough|breath|voice, check=true|false")
    return out


def load_covid19_sounds(root: Path, *, modality: str = "cough", check: bool = True) -> ClipSet:
    """Load one modality's recordings of the release under ``root`` (module docstring)."""
    root = Path(root)
    audio = _audio_dir(root)
    tables = _tables(root)
    name_col, check_col, mark = MODALITIES[modality]
    clips: list[Clip] = []
    excluded: list[Exclusion] = []
    counts: Counter[str] = Counter()
    seen: set[Path] = set()

    def exclude(path: Path | str, key: str, reason: str) -> None:
        counts[key] += 1
        excluded.append(Exclusion(str(path), reason))

    for table, platform, header, rows in tables:
        if name_col not in header:
            raise DataError(f"{table} has no {name_col!r} column (found: "
                            f"{', '.join(header)[:300]})",
                            "use the release's metadata tables unchanged, or choose another "
                            "modality=")
        for line, row in rows:
            uid, folder = row.get("Uid", "").strip(), row.get("Folder Name", "").strip()
            name = row.get(name_col, "").strip()
            where = f"{table.name} line {line}"
            if not uid or not folder or not name:
                exclude(f"{where}", "incomplete_row",
                        f"{where}: no Uid, Folder Name or {name_col}")
                continue
            path = audio / uid / folder / name
            if path in seen:
                exclude(path, "duplicate_rows", f"{where} repeats a recording listed before")
                continue
            seen.add(path)
            problem = file_problem(path)
            if problem is not None:
                exclude(path, "row_without_audio" if problem.key == "file_not_found"
                        else problem.key, f"{problem.reason} ({where})")
                continue
            if leaves(path, root):
                exclude(path, "path_leaves_root", f"the file leaves {root} ({where}); a data "
                                                  "set's files must stay inside it")
                continue
            status = row.get("Covid-Tested", "").strip()
            label = STATUS_LABELS.get(status)
            if label is None:
                exclude(path, f"status_{status or 'missing'}",
                        f"Covid-Tested {status or '(blank)'!r} is neither a recent positive "
                        "test (positiveLast14, last14) nor a negative one (negativeNever, "
                        f"negativeOver14) ({where})")
                continue
            if check and mark not in row.get(check_col, ""):
                exclude(path, "failed_check", f"{check_col} has no {mark!r}: the release's "
                                              f"check did not find a {modality} ({where}; "
                                              "covid19-sounds:PATH?check=false keeps it)")
                continue
            meta = {"platform": platform}
            if "Language" in header:
                meta["language"] = row.get("Language", "").strip()
            clips.append(Clip(path, label, uid, meta))
    listed = {p.relative_to(audio).parts[:2] for p in seen}
    counts["sessions_without_row"] = sum(
        1 for uid_dir in audio.iterdir() if uid_dir.is_dir()
        for session in uid_dir.iterdir() if session.is_dir()
        and (uid_dir.name, session.name) not in listed)
    if not clips:
        first = f" (first: {excluded[0].path}: {excluded[0].reason})" if excluded else ""
        raise DataError(f"no usable {modality} recording in {root}{first}",
                        "check the layout (README, 'Data sets'); coughscope data summary "
                        "lists every exclusion")
    notes = [f"{n} recordings excluded: {key.replace('_', ' ')}"
             for key, n in sorted(counts.items()) if n and key != "sessions_without_row"]
    if counts["sessions_without_row"]:
        notes.append(f"{counts['sessions_without_row']} session folders under {audio} have "
                     "no row in the metadata tables (no label); they are not used")
    return ClipSet(
        kind="covid19-sounds",
        root=root,
        description=(f"COVID-19 Sounds ({modality}) at {root}: {len(tables)} metadata "
                     f"table(s), {len({c.group for c in clips})} participants used"),
        clips=clips, excluded=excluded, counts=dict(counts), notes=notes)


def _audio_dir(root: Path) -> Path:
    audio = root / AUDIO_DIR
    if (audio / AUDIO_DIR).is_dir():  # unzipped into a folder of the same name
        audio = audio / AUDIO_DIR
    if not audio.is_dir():
        raise DataError(f"{root} has no {AUDIO_DIR}/ folder",
                        f"unpack the release's {AUDIO_DIR}.zip into {root} (see README, "
                        "'Data sets')")
    return audio


def _tables(root: Path) -> list[tuple[Path, str, list[str], list[tuple[int, dict[str, str]]]]]:
    """Every metadata table: (path, platform, header, [(line, row)])."""
    candidates = sorted(root.glob("*.csv")) + sorted(
        p for d in sorted(root.iterdir()) if d.is_dir() and d.name != AUDIO_DIR
        for p in d.glob("*.csv"))
    out = []
    for path in candidates:
        header, rows = _read(path)
        if all(c in header for c in REQUIRED):
            stem = path.stem.lower()
            platform = next((p for p in PLATFORMS if f"_{p}_" in f"_{stem}_"), path.stem)
            out.append((path, platform, header, rows))
    if not out:
        raise DataError(f"no metadata table under {root}: no .csv (in it or a folder directly "
                        f"under it) has the columns {', '.join(REQUIRED)}",
                        "unpack the release's covid19_data_0426_metadata.zip into it")
    return out


def _read(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=";")
            header = [h.strip() for h in next(reader, [])]
            rows = [(reader.line_num, dict(zip(header, values))) for values in reader
                    if any(v.strip() for v in values)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", "use the release's metadata tables "
                        "unchanged (';'-separated UTF-8)") from None
    return header, rows
