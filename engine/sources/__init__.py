"""Data sources: turn a location (a *spec*) into a :class:`~engine.clips.ClipSet`.

These forms are accepted, decided by :func:`load_source`:

* ``demo`` or ``demo:N`` -- the synthetic generator (:mod:`engine.sources.demo`);
* ``coughvid:PATH[?OPTIONS]``, or a folder holding ``metadata_compiled.csv`` -- COUGHVID
  (:mod:`engine.sources.coughvid`);
* ``covid19-sounds:PATH`` -- the COVID-19 Sounds release (:mod:`engine.sources.covid19_sounds`);
* a Coswara root (a folder holding ``Extracted_data/``, or ``Extracted_data`` itself)
  -- :mod:`engine.sources.coswara`;
* a manifest CSV (``path,label[,group,...]``) -- :mod:`engine.sources.manifest`;
* a folder with ``positive/`` and/or ``negative/`` subfolders -- :mod:`engine.sources.folders`.

This module also owns :func:`summarize`, the JSON-able description of a data set that
``coughscope data summary`` prints. Sources import nothing heavy at module level.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..clips import LABELS, ClipSet, file_problem
from ..errors import DataError

ACCEPTED_FORMS = (
    "`demo` (or `demo:N`) for the built-in synthetic set; "
    "`coughvid:PATH` (a COUGHVID folder with metadata_compiled.csv); "
    "`covid19-sounds:PATH` (the COVID-19 Sounds release); "
    "a Coswara folder holding Extracted_data/ and combined_data.csv; "
    "a manifest .csv with path,label[,group,...] columns; "
    "or a folder with positive/ and negative/ subfolders"
)

# meta columns with more distinct values than this are left out of the summary's tallies
MAX_META_VALUES = 30


def load_source(
    spec: str,
    *,
    sound: str = "cough-heavy",
    include_statuses: Sequence[str] = (),
    min_quality: int | None = None,
    demo_dir: Path | None = None,
    seed: int = 0,
) -> ClipSet:
    """Load the data set named by ``spec`` (see the module docstring for the four forms).

    ``sound``, ``include_statuses`` (``"STATUS=LABEL"`` strings) and ``min_quality`` apply to
    Coswara; ``demo_dir`` (the folder under which demo sets are generated) and ``seed`` to
    the demo. Raises :class:`DataError` for a path that does not exist or has no known form.
    """
    spec = str(spec).strip()
    if not spec:
        raise DataError("the data set is empty ('')", f"give one of: {ACCEPTED_FORMS}")
    parse_status_mapping(include_statuses)  # a malformed mapping is an error for any spec
    if spec == "demo" or spec.startswith("demo:"):
        from .demo import load_demo

        return load_demo(_demo_size(spec), seed=seed, base_dir=demo_dir)
    for prefix, loader in PREFIXED.items():
        if spec.startswith(prefix + ":"):
            return loader(spec, spec[len(prefix) + 1:])
    path = Path(spec).expanduser()
    if not path.exists():
        problem = file_problem(path)
        raise DataError(
            f"data path {spec!r} does not exist"
            + (f" ({problem.reason})" if problem and problem.key != "file_not_found" else ""),
            f"give an existing path, or one of: {ACCEPTED_FORMS}",
        )
    if not path.is_file() and not path.is_dir():
        raise DataError(f"data path {spec!r} {file_problem(path).reason}",
                        f"accepted data sets: {ACCEPTED_FORMS}")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            from .manifest import load_manifest

            return load_manifest(path)
        raise DataError(
            f"{path} is a file but not a .csv manifest",
            f"accepted data sets: {ACCEPTED_FORMS}",
        )
    from .coswara import find_coswara_root

    coswara_root = find_coswara_root(path)
    if coswara_root is not None:
        from .coswara import load_coswara

        return load_coswara(
            coswara_root,
            sound=sound,
            include_statuses=include_statuses,
            min_quality=min_quality,
        )
    from .coughvid import is_coughvid_root

    if is_coughvid_root(path):
        return _coughvid(spec, spec)
    if (path / "positive").is_dir() or (path / "negative").is_dir():
        from .folders import load_folders

        return load_folders(path)
    raise DataError(
        f"{path} is not a data set coughscope knows: no Extracted_data/, no positive/ or "
        "negative/ subfolder",
        f"accepted data sets: {ACCEPTED_FORMS}",
    )


def spec_path(spec: str) -> Path | None:
    """The file or folder a spec names (``coughvid:PATH?x=y`` -> ``PATH``); None for the
    demo. For checks that a path exists before loading it (the app's fields)."""
    spec = str(spec).strip()
    if spec == "demo" or spec.startswith("demo:"):
        return None
    for prefix in PREFIXED:
        if spec.startswith(prefix + ":"):
            return Path(spec[len(prefix) + 1:].partition("?")[0]).expanduser()
    return Path(spec).expanduser()


def _existing_folder(spec: str, text: str, what: str) -> Path:
    path = Path(text).expanduser()
    if not text.strip() or not path.is_dir():
        raise DataError(f"{what} folder {text!r} (from {spec!r}) "
                        f"{'is not a folder' if path.exists() else 'does not exist'}",
                        f"give the folder that holds the {what} files after the prefix")
    return path


def _coughvid(spec: str, rest: str) -> ClipSet:
    """``coughvid:PATH[?symptomatic=positive&cough_detected=0.5]``."""
    from .coughvid import load_coughvid, parse_options

    text, _, options = rest.partition("?")
    symptomatic, threshold = parse_options(options, spec)
    return load_coughvid(_existing_folder(spec, text, "COUGHVID"), symptomatic=symptomatic,
                         cough_detected=threshold)


def _covid19_sounds(spec: str, rest: str) -> ClipSet:
    """``covid19-sounds:PATH[?modality=cough]``."""
    from .covid19_sounds import load_covid19_sounds, parse_options

    text, _, options = rest.partition("?")
    return load_covid19_sounds(_existing_folder(spec, text, "COVID-19 Sounds"),
                               **parse_options(options, spec))


# "PREFIX:PATH" specs -> loader(spec, text after the prefix)
PREFIXED = {"coughvid": _coughvid, "covid19-sounds": _covid19_sounds}


def _demo_size(spec: str) -> int:
    from .demo import DEFAULT_N

    if spec == "demo":
        return DEFAULT_N
    text = spec.split(":", 1)[1]
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 8 or n > 100_000:
        raise DataError(
            f"demo size {text!r} in {spec!r} is not a whole number between 8 and 100000",
            f"e.g. demo:{DEFAULT_N}",
        )
    return n


def parse_status_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["recovered_full=negative", ...]`` -> ``{"recovered_full": "negative"}``."""
    out: dict[str, str] = {}
    for item in items:
        status, sep, label = str(item).partition("=")
        status, label = status.strip(), label.strip().lower()
        if not sep or not status or label not in LABELS:
            raise DataError(
                f"status mapping {item!r} is not STATUS=LABEL",
                "write e.g. recovered_full=negative or under_validation=positive "
                "(LABEL is positive or negative)",
            )
        out[status] = label
    return out


def summarize(ds: Any) -> dict[str, Any]:
    """The JSON-able summary of a preprocessed ``Dataset`` (or of a bare ``ClipSet``).

    Keys: ``kind``, ``description``, ``synthetic``, ``root``, ``clips`` (usable + excluded),
    ``usable``, ``labels``, ``groups``, ``durations`` (min/median/max raw seconds; empty
    for a bare ClipSet), ``sample_rates``, ``channels``, ``meta`` (value counts of
    low-cardinality columns), ``meta_columns`` (the columns every clip has: what a run can
    hold out or balance by, whatever their cardinality), ``counts``, ``notes``, ``warnings``
    (e.g. the cache could not be written), ``excluded`` (``{path, reason, stage}``).
    """
    clipset: ClipSet = ds.clipset if hasattr(ds, "clipset") else ds
    clips = list(ds.clips)
    excluded = list(ds.excluded) if hasattr(ds, "excluded") else list(clipset.excluded)
    info: list[dict[str, Any]] = list(getattr(ds, "info", None) or [])
    labels = {lab: 0 for lab in LABELS}
    for clip in clips:
        labels[clip.label] += 1
    return {
        "kind": clipset.kind,
        "description": clipset.description,
        "synthetic": bool(clipset.synthetic),
        "root": str(clipset.root),
        "clips": len(clips) + len(excluded),
        "usable": len(clips),
        "labels": labels,
        "groups": len({clip.group for clip in clips}),
        "durations": _durations(info),
        "sample_rates": _tally(i.get("sample_rate") for i in info),
        "channels": _tally(i.get("channels") for i in info),
        "meta": _meta_tallies(clips),
        "meta_columns": list(clipset.meta_columns),
        "counts": dict(clipset.counts),
        "notes": list(clipset.notes),
        "warnings": list(getattr(ds, "warnings", None) or []),
        "excluded": [e.as_dict() for e in excluded],
    }


def require_both_classes(ds: Any, purpose: str) -> None:
    """Raise a :class:`DataError` when the usable clips of ``ds`` (a ``Dataset`` or a
    ``ClipSet``) lack a class: ``purpose`` (e.g. "evaluation") needs both to be measured."""
    clipset: ClipSet = ds.clipset if hasattr(ds, "clipset") else ds
    counts = {lab: 0 for lab in LABELS}
    for clip in ds.clips:
        counts[clip.label] += 1
    missing = [lab for lab, n in counts.items() if n == 0]
    if missing:
        have = ", ".join(f"{n} {lab}" for lab, n in counts.items() if n)
        raise DataError(
            f"{clipset.root} has no usable {' and no '.join(missing)} clip ({have or 'none'}): "
            f"{purpose} needs both classes (AUC, sensitivity and specificity are undefined "
            "with one)",
            "check the label column and the exclusions (coughscope data summary SPEC lists "
            "them), or add clips of the missing class",
        )


def _durations(info: list[dict[str, Any]]) -> dict[str, float]:
    values = [float(i["duration"]) for i in info if i.get("duration") is not None]
    if not values:
        return {}
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _tally(values: Any) -> dict[str, int]:
    counts = Counter(str(v) for v in values if v is not None)
    return {k: counts[k] for k in sorted(counts, key=_numeric_first)}


def _numeric_first(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _meta_tallies(clips: list[Any]) -> dict[str, dict[str, int]]:
    columns: dict[str, Counter[str]] = {}
    for clip in clips:
        for key, value in clip.meta.items():
            columns.setdefault(key, Counter())[value if value != "" else "(blank)"] += 1
    return {
        key: dict(counts.most_common())
        for key, counts in columns.items()
        if len(counts) <= MAX_META_VALUES
    }
