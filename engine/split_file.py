"""Published splits: write the split a run would use, and make a run use a given one.

``coughscope data split SPEC --out split.csv`` writes, per usable clip, the part it lands in
(the very split :func:`engine.runner.prepare_data` makes with the same options), and
``--split-file split.csv`` (config ``[split] file``) makes a run use such a file instead of
drawing its own, so that two people compare models on the same clips.

The file is a CSV with columns ``clip,group,label,split`` (and ``split_fold1``... for the
other folds of a k-fold split), the layout of a run's own ``split.csv``: a run's ``split.csv``
is itself a valid split file. ``clip`` is the recording's path relative to the data set's
root (its folder, or the manifest's folder), so the file is valid on any machine that holds
the same data set; absolute paths under the root are accepted too.

Applying a file to a data set (:func:`apply_split_file`):

* a clip the file names that the data set lacks -- not there at all, or excluded here by the
  source or by preprocessing -- is refused: the error names the first few and the count
  (the comparison would not be on the same clips);
* a usable clip of the data set that the file does not name is **excluded**, stage
  ``split``, with the reason ``not in the split file``: it is neither trained nor tested on,
  and the run's exclusions and warnings say how many (a data set that grew since the split
  was published still compares on the published clips);
* a participant (group) whose clips the file puts in two parts, a part without a positive
  or a negative clip, and an unknown part name are refused;
* a clip whose label in the file differs from the data set's is refused (the same clips
  with other labels are not the same comparison).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .clips import Exclusion
from .errors import DataError

PART_NAMES = ("train", "val", "test", "ood")
SHOWN = 5  # clips named in one error message
MAX_SPLIT_FILE_BYTES = 256 << 20


@dataclass(frozen=True)
class SplitFile:
    """A parsed split file: per clip key (see :func:`clip_key`) its parts, one per column."""

    path: Path
    columns: list[str]  # "split", "split_fold1", ...
    parts: dict[str, tuple[str, ...]]
    labels: dict[str, str]  # clip key -> label, where the file gives one
    lines: dict[str, int]  # clip key -> line number


def clip_key(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """How a split file names a clip: its path relative to ``root`` (POSIX separators) when
    it lies under it, lexically or with both made absolute; else the path as given."""
    p, r = Path(path), Path(root)
    for candidate, base in ((p, r), (Path(os.path.abspath(p)), Path(os.path.abspath(r)))):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def split_columns(n_splits: int) -> list[str]:
    """``split`` (the first split), then ``split_fold1``... (the run's split.csv layout)."""
    return ["split"] + [f"split_fold{i}" for i in range(1, n_splits)]


def split_csv(dataset: Any, splits: list[Any]) -> str:
    """The split file's text for ``dataset`` (a preprocessed Dataset) and its ``splits``."""
    n = len(dataset.clips)
    columns = [s.parts(n) for s in splits]
    root = dataset.clipset.root
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["clip", "group", "label", *split_columns(len(splits))])
    for i, clip in enumerate(dataset.clips):
        w.writerow([clip_key(clip.path, root), clip.group, clip.label,
                    *(str(c[i]) for c in columns)])
    return buf.getvalue()


def read_split_file(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> SplitFile:
    """Parse ``path``; clip names are turned into keys relative to ``root``.

    Raises :class:`DataError` naming the file (and line) for a missing file, missing
    columns, an unknown part, or a clip named twice.
    """
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DataError(f"split file {path} is not a regular file", "give a split.csv file")
        if size > MAX_SPLIT_FILE_BYTES:
            raise DataError(f"split file {path} is {size} bytes: too large for a split file",
                            "give the CSV `coughscope data split` wrote")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"split file {path} does not exist",
                        "write one with `coughscope data split SPEC --out FILE`") from None
    except UnicodeDecodeError:
        raise DataError(f"split file {path} is not UTF-8 text", "give a CSV file") from None
    except OSError as exc:
        raise DataError(f"cannot read split file {path}: {exc.strerror or exc}",
                        "check the path and its permissions") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise DataError(f"split file {path} is not valid CSV: {exc}", "fix the file") from None
    header = [h.strip().lower() for h in (rows[0] if rows else [])]
    if "clip" not in header or "split" not in header:
        raise DataError(
            f"split file {path} has no 'clip' and 'split' columns (found: "
            f"{', '.join(header) or 'none'})",
            "a split file has columns clip,group,label,split (see `coughscope data split`)")
    columns = ["split"] + sorted((h for h in header if h.startswith("split_fold")),
                                 key=_fold_number)
    expected = split_columns(len(columns))
    if columns != expected:
        raise DataError(f"split file {path}: fold columns {', '.join(columns[1:])} are not "
                        f"{', '.join(expected[1:])}",
                        "name them split_fold1, split_fold2, ... without gaps")
    index = {h: i for i, h in enumerate(header)}
    parts: dict[str, tuple[str, ...]] = {}
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        cell = lambda name: values[index[name]].strip() if index[name] < len(values) else ""
        raw = cell("clip")
        if not raw:
            raise DataError(f"split file {path}, line {line}: the clip is blank",
                            "every row names a clip")
        key = clip_key(raw, root)
        if key in parts:
            raise DataError(f"split file {path}: clip {raw!r} is named twice (lines "
                            f"{lines[key]} and {line})", "name every clip once")
        row_parts = tuple(cell(c) for c in columns)
        bad = [p for p in row_parts if p not in PART_NAMES]
        if bad:
            raise DataError(f"split file {path}, line {line}: part {bad[0]!r} is not one of "
                            f"{', '.join(PART_NAMES)}", "fix the row")
        parts[key] = row_parts
        lines[key] = line
        if "label" in index and cell("label"):
            labels[key] = cell("label").lower()
    if not parts:
        raise DataError(f"split file {path} names no clips", "write one with `coughscope data "
                        "split SPEC --out FILE`")
    return SplitFile(path=path, columns=columns, parts=parts, labels=labels, lines=lines)


def _fold_number(name: str) -> int:
    tail = name[len("split_fold"):]
    return int(tail) if tail.isdigit() else 10**9


def check_clipset(split_file: SplitFile, clipset: Any) -> None:
    """Refuse a file naming clips ``clipset`` (a source's ClipSet) does not hold or has
    excluded: before any audio work (the run's preflight)."""
    root = clipset.root
    have = {clip_key(c.path, root) for c in clipset.clips}
    excluded = {clip_key(e.path, root): e.reason for e in clipset.excluded}
    _refuse_missing(split_file, have, excluded, clipset.root)


def _refuse_missing(split_file: SplitFile, have: set[str], excluded: dict[str, str],
                    root: Path) -> None:
    missing = [k for k in split_file.parts if k not in have]
    if not missing:
        return
    shown = "; ".join(
        f"{k} ({'excluded here: ' + excluded[k] if k in excluded else 'not in the data set'})"
        for k in missing[:SHOWN])
    more = f"; ... and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
    raise DataError(
        f"split file {split_file.path} names {len(missing)} clip(s) that {root} lacks or "
        f"excludes: {shown}{more}",
        "use the data set (and preprocessing options) the split was written for, or write a "
        "new split with `coughscope data split`")


def apply_split_file(dataset: Any, split_file: SplitFile, config: Any) -> tuple[Any, list[Any]]:
    """The dataset restricted to the clips the file names (the others excluded with a
    reason) and its splits (one per column), after every check of the module docstring.

    ``config`` is the run's :class:`~engine.config.SplitConfig` (its ``seed`` is recorded;
    ``folds`` must match the file's fold columns; ``test_group`` names the ``ood`` part)."""
    from .splits import Split, _check_parts, _GroupTable

    root = dataset.clipset.root
    keys = [clip_key(c.path, root) for c in dataset.clips]
    excluded_reasons = {clip_key(e.path, root): e.reason for e in dataset.excluded}
    _refuse_missing(split_file, set(keys), excluded_reasons, root)
    n_splits = len(split_file.columns)
    wanted = config.folds if config.folds >= 2 else 1
    if n_splits != wanted:
        raise DataError(
            f"split file {split_file.path} holds {n_splits} split column(s) "
            f"({', '.join(split_file.columns)}); the run asks for "
            f"{'folds = ' + str(config.folds) if config.folds >= 2 else 'one split'}",
            f"run with --folds {n_splits}" if n_splits > 1 else "drop --folds")
    keep = [i for i, k in enumerate(keys) if k in split_file.parts]
    dropped = [Exclusion(str(dataset.clips[i].path),
                         f"not in the split file {split_file.path.name}", stage="split")
               for i in range(len(keys)) if keys[i] not in split_file.parts]
    wrong = [keys[i] for i in keep if split_file.labels.get(keys[i], dataset.clips[i].label)
             != dataset.clips[i].label]
    if wrong:
        shown = "; ".join(f"{k} (line {split_file.lines[k]}: {split_file.labels[k]})"
                          for k in wrong[:SHOWN])
        raise DataError(f"split file {split_file.path} gives {len(wrong)} clip(s) another "
                        f"label than the data set: {shown}",
                        "the file was written for another labelling of the data set: write "
                        "a new split, or use the data set it was written for")
    subset = subset_dataset(dataset, keep, dropped)
    y, groups = subset.y, subset.groups
    table = _GroupTable.build(y, groups)
    splits = []
    for col, name in enumerate(split_file.columns):
        per_row = np.array([split_file.parts[keys[i]][col] for i in keep])
        _refuse_shared_groups(split_file, name, per_row, groups)
        idx = {p: np.flatnonzero(per_row == p) for p in PART_NAMES}
        has_ood = idx["ood"].size > 0
        split = Split(train=idx["train"], val=idx["val"], test=idx["test"], seed=config.seed,
                      fold=col if n_splits > 1 else None,
                      ood=idx["ood"] if has_ood else None,
                      ood_group=(config.test_group or "held out by the split file") if has_ood
                      else None)
        _check_parts(split, table, config)
        splits.append(split)
    return subset, splits


def _refuse_shared_groups(split_file: SplitFile, column: str, per_row: np.ndarray,
                          groups: np.ndarray) -> None:
    seen: dict[str, str] = {}
    shared: list[str] = []
    for g, p in zip(groups.tolist(), per_row.tolist()):
        if seen.setdefault(g, p) != p and g not in shared:
            shared.append(g)
    if shared:
        raise DataError(
            f"split file {split_file.path}: column {column!r} puts {len(shared)} "
            f"participant(s) in two parts: {', '.join(shared[:SHOWN])}"
            f"{' ...' if len(shared) > SHOWN else ''}",
            "a participant's clips must all be in one part (else the test part is not new "
            "to the model); fix the file or write one with `coughscope data split`")


def subset_dataset(dataset: Any, rows: list[int], dropped: list[Exclusion]) -> Any:
    """A Dataset of ``rows`` of ``dataset`` (in order), with ``dropped`` added to its
    exclusions."""
    import dataclasses

    idx = np.asarray(rows, dtype=np.int64)
    return dataclasses.replace(
        dataset,
        clips=[dataset.clips[i] for i in rows],
        features=dataset.features[idx],
        logmel=dataset.logmel[idx],
        info=[dataset.info[i] for i in rows] if dataset.info else [],
        excluded=list(dataset.excluded) + dropped,
        warnings=list(dataset.warnings) + (
            [f"{len(dropped)} usable clip(s) are not in the split file and are left out "
             "(stage 'split' in the exclusions)"] if dropped else []),
    )
