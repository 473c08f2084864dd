"""Cross-dataset studies: train on each data set, test on every other, one record.

A study is a folder (the *study record*)::

    <studies dir>/<study id>/
      runs/<set name>/      one normal run per training row (engine.runner; `coughscope runs
                            --runs-dir <study>/runs` lists them, `evaluate` reads them)
      matrix.json           the matrix of AUCs with 95% intervals, per model (this module
                            writes it; :func:`load_study` reads it)
      caption.txt           how to read it, and what to keep in mind (rates, leakage, ...)

Two kinds:

* ``cross`` (``coughscope study cross --data A --data B ...``): rows are the data set a model
  was trained on, columns the data set it was tested on. The diagonal is the run's own test
  AUC (its participant-disjoint test part, scored once); off the diagonal, every usable clip
  of the other set is scored by :func:`engine.inference.evaluate_run` -- the very numbers
  ``coughscope evaluate RUN --data B`` prints -- at the model's own operating point.
* ``by`` (``--by source`` on one data set): leave one value of a metadata column out. Row
  ``v`` is a run with ``test_group = "source=v"``: column ``in-set`` is its test part (clips
  of the other values, never trained on), column ``held-out`` the clips of ``v``.

Every clip is resampled to the config's sample rate; the caption names every set (or value)
with clips recorded at a lower native rate (8 kHz phone audio holds nothing above 4 kHz,
whatever the rate it is resampled to). A set with one class cannot be trained on (its row
says so) and has no AUC as a test set (the cell gives the share called negative or
positive instead, with the reason): nothing is left out silently.

AUCs are means over seeds; intervals are the runs' 95% bootstrap intervals averaged over
seeds, as everywhere in coughscope. Nothing here reads a test part before the run that owns
it has finished training.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .bounded import interval, mean_of, number
from .errors import ConfigError, CoughscopeError, DataError, RunError

STUDY_VERSION = 1
MATRIX = "matrix.json"
CAPTION = "caption.txt"
KINDS = ("cross", "by")
CELL_KINDS = ("in-set", "cross-set", "held-out")
STUDIES_DIR_HELP = ("default: $COUGHSCOPE_STUDIES_DIR, else ./studies when it exists, else the "
                    "per-user studies folder")


@dataclass(frozen=True)
class Cell:
    """One AUC of the matrix (``auc`` None when undefined: ``note`` says why)."""

    auc: float | None
    ci: tuple[float, float] | None
    kind: str  # "in-set" | "cross-set" | "held-out"
    clips: int | None = None
    positives: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "ci": list(self.ci) if self.ci else None, "kind": self.kind,
                "clips": self.clips, "positives": self.positives, "note": self.note}


@dataclass(frozen=True)
class DataSet:
    """A row or column of the matrix: the data set (or the held-out value), its run."""

    name: str
    spec: str
    run: str | None  # the run folder, relative to the study; None when it was not trained
    native_rates: dict[str, int] = field(default_factory=dict)  # Hz -> clips
    note: str = ""  # why it has no run, when it has none
    synthetic: bool = False  # the demo generator's made-up clips


@dataclass(frozen=True)
class Study:
    """A study record read back by :func:`load_study`."""

    path: Path
    kind: str  # "cross" | "by"
    by: str | None
    rows: list[DataSet]
    columns: list[str]
    models: list[str]
    matrices: dict[str, list[list[Cell | None]]]  # model -> rows x columns
    caption: str
    sample_rate: int
    created: str

    @property
    def id(self) -> str:
        return self.path.name

    def cell(self, model: str, row: str, column: str) -> Cell | None:
        names = [r.name for r in self.rows]
        return self.matrices[model][names.index(row)][self.columns.index(column)]

    def run_path(self, row: str) -> Path | None:
        """The run trained for ``row``, or None."""
        entry = next(r for r in self.rows if r.name == row)
        return self.path / entry.run if entry.run else None


# ============================================================================ where


def studies_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit``, else ``$COUGHSCOPE_STUDIES_DIR``, else ``./studies`` when it exists,
    else ``<data dir>/studies``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("COUGHSCOPE_STUDIES_DIR")
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / "studies"
    if local.is_dir():
        return local
    from .paths import data_dir

    return data_dir() / "studies"


def list_studies(root: Path) -> list[Path]:
    """Study folders (holding ``matrix.json``) under ``root``, newest first by name."""
    try:
        entries = [p for p in root.iterdir() if p.is_dir() and (p / MATRIX).is_file()]
    except OSError:
        return []
    return sorted(entries, key=lambda p: p.name, reverse=True)


def set_names(specs: list[str]) -> list[str]:
    """A short, unique, folder-safe name per data set spec: the folder's name (the
    manifest's folder for ``manifest.csv``, else the CSV's name), ``demo:N`` as it is."""
    names: list[str] = []
    for spec in specs:
        text = spec.split("?", 1)[0]
        for prefix in ("coughvid:", "covid19-sounds:"):
            text = text[len(prefix):] if text.startswith(prefix) else text
        path = Path(text.rstrip("/")).expanduser()
        if spec.startswith("demo"):
            base = spec
        elif path.suffix.lower() == ".csv":
            base = path.parent.name if path.stem in ("manifest", "metadata") else path.stem
        else:
            base = path.name
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "data"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


# ============================================================================ running


Listener = Callable[[Any], None]


def run_study(config: Any, specs: list[str], path: Path, *, by: str | None = None,
              listeners: list[Listener] | None = None,
              preprocess_progress: Callable[[int, int], None] | None = None,
              say: Callable[[str], None] = lambda text: None, device: str = "cpu",
              resume: bool = False) -> Study:
    """Run the study of ``specs`` (one spec with ``by``) with ``config``'s run options into
    the new folder ``path``; returns it as :func:`load_study` reads it.

    With ``resume`` the folder is a study that stopped part-way: its finished runs are
    reused, interrupted ones continued, missing ones trained, and the matrix is written
    afresh; a run made with other options, or one that failed, is refused."""
    from .paths import ensure_dir

    _check_request(config, specs, by)
    if path.exists() and not resume:
        raise RunError(f"study folder {path} already exists",
                       "choose another --study-id, or add --continue to finish that study")
    if resume and not (path / "runs").is_dir():
        raise RunError(f"{path} is not a study that was started (no runs/ folder)",
                       "check --study-id and --studies-dir, or drop --continue")
    ensure_dir(path.parent, path)
    ensure_dir(path, path / "runs")
    train = functools.partial(_train, listeners=listeners, progress=preprocess_progress,
                              resume=resume, say=say)
    if by:
        rows, columns, matrices, rates = _by_value(config, specs[0], by, path, train, say)
    else:
        rows, columns, matrices, rates = _cross(config, specs, path, train, preprocess_progress,
                                                say, device)
    return write_study(path, kind="by" if by else "cross", by=by,
                       sample_rate=config.preprocess.sample_rate, seeds=config.seeds,
                       rows=rows, columns=columns, matrices=matrices, column_rates=rates)


def write_study(path: Path, *, kind: str, by: str | None, sample_rate: int, seeds: int,
                rows: list[DataSet], columns: list[str],
                matrices: dict[str, list[list[Cell | None]]],
                column_rates: dict[str, Any] | None = None) -> Study:
    """Write the study record's ``matrix.json`` and ``caption.txt`` into the folder ``path``
    (the one writer of the record; :func:`load_study` its one reader) and read it back."""
    from .paths import atomic_write_text
    from .runs import dumps, now_iso

    record = {
        "v": STUDY_VERSION, "kind": kind, "by": by, "created": now_iso(),
        "sample_rate": sample_rate, "models": list(matrices), "seeds": seeds,
        "columns": columns,
        "rows": [{"name": r.name, "spec": r.spec, "run": r.run, "native_rates": r.native_rates,
                  "note": r.note, "synthetic": r.synthetic} for r in rows],
        "column_rates": column_rates or {},
        "matrices": {m: [[c.as_dict() if c else None for c in row] for row in cells]
                     for m, cells in matrices.items()},
    }
    record["caption"] = caption(record)
    atomic_write_text(path / MATRIX, dumps(record, indent=1) + "\n", root=path)
    atomic_write_text(path / CAPTION, record["caption"] + "\n", root=path)
    return load_study(path)


def _check_request(config: Any, specs: list[str], by: str | None) -> None:
    if by and len(specs) != 1:
        raise ConfigError(f"--by {by} takes one data set, not {len(specs)}",
                          "give one --data with --by (its values are the rows), or leave --by "
                          "out to cross several data sets")
    if not by and len(specs) < 2:
        raise ConfigError("a cross-dataset study needs at least two --data",
                          "give --data A --data B, or one --data with --by source")
    if config.split.file:
        raise ConfigError("--split-file cannot be used in a study",
                          "a split file names one data set's clips; a study draws each run's "
                          "split (--split-seed)")
    if config.split.test_group:
        raise ConfigError("--test-group cannot be used in a study",
                          f"use --by {config.split.test_group.split('=')[0].strip()} to hold "
                          "each value out in turn")


def _train(config: Any, run_path: Path, *, listeners: list[Listener] | None,
           progress: Callable[[int, int], None] | None, resume: bool,
           say: Callable[[str], None]) -> dict[str, Any]:
    """The summary of the run for ``config`` in ``run_path``: trained, or (``resume``)
    reused when finished or continued when interrupted."""
    from .refit import resolve_preset_choices
    from .runner import preflight, run_experiment
    from .runs import RunDir, read_json

    run = RunDir(run_path)
    preflight(config)
    if not (resume and run_path.exists()):
        return run_experiment(config, run, listeners=listeners, preprocess_progress=progress)
    state = run.status().get("state") if run.status_path.exists() else None
    if state not in ("finished", "interrupted"):
        raise RunError(f"{run_path} is {state or 'not a finished run'}: it cannot be reused",
                       "start a new study (a failed run is not continued)")
    from .config import ExperimentConfig

    saved = ExperimentConfig.from_toml(run.config_path).to_dict()
    wanted = resolve_preset_choices(config).to_dict()
    if saved != wanted:
        differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise RunError(f"{run_path} was made with other options ({', '.join(differ)} differ)",
                       "continue the study with the options it was started with, or start a "
                       "new study")
    if state == "finished":
        say(f"{run_path.name}: finished before, reused")
        return read_json(run.summary_path)
    say(f"{run_path.name}: interrupted before, continued")
    return run_experiment(config, run, resume=True, listeners=listeners,
                          preprocess_progress=progress)


def _cross(config: Any, specs: list[str], path: Path, train: Callable[..., dict[str, Any]],
           progress: Callable[[int, int], None] | None, say: Callable[[str], None],
           device: str) -> tuple[list[DataSet], list[str], dict[str, list[list[Cell | None]]],
                                 dict[str, dict[str, int]]]:
    from .inference import evaluate_run
    from .runs import RunDir
    from .sources import load_source

    from .runner import preflight

    names = set_names(specs)
    # every set is loaded, checked and preprocessed (cached) before any training: a set that
    # cannot be read stops the study now, not after hours of the others' runs
    rates = {name: native_rates(spec, config) for name, spec in zip(names, specs)}
    rows: list[DataSet] = []
    for name, spec in zip(names, specs):
        clipset = load_source(spec, sound=config.sound)
        why = _one_class(clipset)
        if why:
            say(f"{name}: not trained ({why})")
            rows.append(DataSet(name, spec, None, rates[name], f"not trained: {why}",
                                clipset.synthetic))
            continue
        preflight(config.replace(data=spec))
        rows.append(DataSet(name, spec, f"runs/{name}", rates[name], "", clipset.synthetic))
    summaries: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.run is not None:
            say(f"training on {row.name}")
            summaries[row.name] = train(config.replace(data=row.spec), path / row.run)
    if not summaries:
        raise DataError("no data set of the study can be trained on: "
                        + "; ".join(f"{r.name}: {r.note}" for r in rows),
                        "a model needs positive and negative clips in the set it trains on")
    models = list(next(iter(summaries.values()))["models"])
    matrices: dict[str, list[list[Cell | None]]] = {m: [] for m in models}
    for row in rows:
        cells: dict[str, list[Cell | None]] = {m: [] for m in models}
        for column, spec in zip(names, specs):
            if row.run is None:
                for m in models:
                    cells[m].append(None)
                continue
            if column == row.name:
                for m in models:
                    cells[m].append(_in_set(summaries[row.name], m))
                continue
            say(f"scoring the {row.name} models on {column}")
            result = evaluate_run(RunDir(path / row.run), spec, progress=progress,
                                  device=device)
            for m in models:
                cells[m].append(_cross_cell(result, m))
        for m in models:
            matrices[m].append(cells[m])
    return rows, names, matrices, rates


def _by_value(config: Any, spec: str, by: str, path: Path,
              train: Callable[..., dict[str, Any]], say: Callable[[str], None]
              ) -> tuple[list[DataSet], list[str], dict[str, list[list[Cell | None]]],
                         dict[str, dict[str, int]]]:
    import dataclasses

    from .sources import load_source

    clipset = load_source(spec, sound=config.sound)
    if by not in clipset.meta_columns:
        raise ConfigError(f"--by {by}: the data set has no such metadata column",
                          f"columns: {', '.join(clipset.meta_columns) or 'none'}")
    values = sorted({c.meta[by] for c in clipset.clips})
    if len(values) < 2:
        raise DataError(f"every clip of {spec} has {by} = {values[0]!r}: there is nothing to "
                        "hold out", f"choose a column with several values")
    rates = native_rates(spec, config, by=by)
    rows: list[DataSet] = []
    summaries: dict[str, dict[str, Any]] = {}
    names = set_names([f"{by}={v}" for v in values])
    for value, name in zip(values, names):
        held = [c for c in clipset.clips if c.meta[by] == value]
        rest = [c for c in clipset.clips if c.meta[by] != value]
        why = _one_class(held, f"the held-out {by} = {value!r}") or _one_class(
            rest, f"the clips without {by} = {value!r}")
        if why:
            say(f"{name}: not run ({why})")
            rows.append(DataSet(value, spec, None, rates.get(value, {}), f"not run: {why}",
                                clipset.synthetic))
            continue
        say(f"training without {by} = {value}")
        split = dataclasses.replace(config.split, test_group=f"{by}={value}")
        summaries[value] = train(config.replace(data=spec, split=split), path / "runs" / name)
        rows.append(DataSet(value, spec, f"runs/{name}", rates.get(value, {}), "",
                            clipset.synthetic))
    if not summaries:
        raise DataError(f"no value of {by} can be held out: "
                        + "; ".join(f"{r.name}: {r.note}" for r in rows),
                        "each held-out value and the rest need positive and negative clips")
    models = list(next(iter(summaries.values()))["models"])
    matrices: dict[str, list[list[Cell | None]]] = {m: [] for m in models}
    for row in rows:
        for m in models:
            if row.run is None:
                matrices[m].append([None, None])
                continue
            summary = summaries[row.name]
            matrices[m].append([_in_set(summary, m), _held_out(summary, m)])
    return rows, ["in-set", "held-out"], matrices, rates


def _one_class(clips: Any, what: str = "the data set") -> str:
    """Why ``clips`` (a ClipSet or a list of clips) cannot be trained or scored on, or ""."""
    items = clips.clips if hasattr(clips, "clips") else clips
    pos = sum(1 for c in items if c.label == "positive")
    if pos == 0 or pos == len(items):
        only = "negative" if pos == 0 else "positive"
        return f"{what} has only {only} clips ({len(items)}): AUC needs both classes"
    return ""


def _ci(value: Any) -> tuple[float, float] | None:
    pair = interval(value)
    return (pair[0], pair[1]) if pair else None


def _in_set(summary: dict[str, Any], model: str) -> Cell:
    m = summary["models"][model]
    test = ((summary.get("data") or {}).get("split") or {}).get("test") or {}
    return Cell(mean_of(m["metrics"].get("roc_auc")), _ci(m.get("roc_auc_ci")), "in-set",
                test.get("clips"), test.get("positives"))


def _held_out(summary: dict[str, Any], model: str) -> Cell:
    ood = summary["models"][model].get("ood") or {}
    part = ((summary.get("data") or {}).get("split") or {}).get("ood") or {}
    return Cell(mean_of((ood.get("metrics") or {}).get("roc_auc")), _ci(ood.get("roc_auc_ci")),
                "held-out", part.get("clips"), part.get("positives"))


def _cross_cell(result: dict[str, Any], model: str) -> Cell:
    d = result["data"]
    m = result["models"].get(model) or {}
    auc = mean_of(m.get("roc_auc"))
    note = ""
    if auc is None:
        if not d["positive"] or not d["negative"]:
            rate, which = (("specificity", "negative") if not d["positive"]
                           else ("sensitivity", "positive"))
            share = mean_of(m.get(rate))
            note = (f"one class only ({d['usable']} {which} clips): no AUC; "
                    f"{rate} {share:.3f} at the model's threshold" if share is not None
                    else f"one class only ({d['usable']} {which} clips): no AUC")
        else:
            note = "AUC undefined"
    return Cell(auc, _ci(m.get("roc_auc_ci")), "cross-set", d["usable"], d["positive"], note)


def native_rates(spec: str, config: Any, by: str | None = None) -> Any:
    """Native sample rates of the usable clips of ``spec`` (``{"8000": n, ...}``); with
    ``by``, per value of that column. Preprocessing is cached: after the runs, no audio work."""
    from .preprocess import preprocess
    from .refit import resolve_preset_choices
    from .sources import load_source

    # the preprocessing the runs use (the preset's padding): one cache entry serves both
    preprocessing = resolve_preset_choices(config).preprocess
    dataset = preprocess(load_source(spec, sound=config.sound), preprocessing)
    def tally(rows: list[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in rows:
            rate = dataset.info[i].get("sample_rate") if i < len(dataset.info) else None
            if rate is not None:
                out[str(int(rate))] = out.get(str(int(rate)), 0) + 1
        return dict(sorted(out.items(), key=lambda kv: int(kv[0])))

    if by is None:
        return tally(list(range(len(dataset.clips))))
    values: dict[str, list[int]] = {}
    for i, clip in enumerate(dataset.clips):
        values.setdefault(clip.meta.get(by, ""), []).append(i)
    return {v: tally(rows) for v, rows in values.items()}


# ============================================================================ caption


def caption(record: dict[str, Any]) -> str:
    """How to read the matrix of ``record`` (the matrix.json object), in sentences."""
    rate = int(record["sample_rate"])
    if record["kind"] == "cross":
        lines = [
            "Rows: the data set the models were trained on (one run each). Columns: the data "
            "set they were tested on. Diagonal: ROC-AUC on the run's own held-out test part "
            "(participant-disjoint, used once). Off the diagonal: ROC-AUC on every usable "
            "clip of the other data set, at each model's own operating point (what "
            "`coughscope evaluate RUN --data SET` reports)."]
    else:
        lines = [
            f"Leave one {record['by']} out: each row is a run trained without that value of "
            f"{record['by']!r}. in-set: ROC-AUC on the run's test part (clips of the other "
            "values, never trained on). held-out: ROC-AUC on the clips of the held-out value."]
    lines.append(f"Each AUC is the mean over {record['seeds']} seed(s), with the 95% bootstrap "
                 "interval (averaged over seeds). A drop from in-set to cross-set or held-out "
                 "is how much of the in-set AUC does not carry over to new recording "
                 "conditions; an interval that holds 0.5 is no better than chance.")
    lines.append(f"Every clip was resampled to {rate} Hz before features were computed.")
    groups = ([(r["name"], r["native_rates"]) for r in record["rows"]] if record["kind"] == "cross"
              else sorted(record.get("column_rates", {}).items()))
    for name, rates in groups:
        low = {int(k): n for k, n in (rates or {}).items() if int(k) < rate}
        if low:
            total = sum((rates or {}).values())
            shown = ", ".join(f"{n} at {k} Hz" for k, n in sorted(low.items()))
            lines.append(f"Note: {name} has clips recorded below {rate} Hz ({shown}, of "
                         f"{total}): resampling adds no sound above half their rate (e.g. "
                         "nothing above 4 kHz in 8 kHz phone audio), so a model can tell "
                         "them apart by bandwidth alone.")
    synthetic = sorted({r["name"] for r in record["rows"] if r.get("synthetic")})
    if synthetic:
        lines.append(f"SYNTHETIC demo data ({', '.join(synthetic)}): these numbers say nothing "
                     "about real coughs.")
    for r in record["rows"]:
        if r.get("note"):
            lines.append(f"{r['name']}: {r['note']}.")
    return "\n".join(lines)


# ============================================================================ reading


def load_study(path: str | os.PathLike[str]) -> Study:
    """Read a study record (its folder, or its ``matrix.json``); a damaged one is a
    :class:`RunError` naming the file and what is wrong."""
    from .bounded import MAX_RUN_FILE_BYTES, loads_json

    folder = Path(path)
    if folder.name == MATRIX:
        folder = folder.parent
    file = folder / MATRIX
    try:
        size = file.stat().st_size
        if size > MAX_RUN_FILE_BYTES:
            raise RunError(f"{file} is {size} bytes: too large for a study record",
                           "is this a coughscope study folder?")
        raw = loads_json(file.read_bytes())
    except FileNotFoundError:
        raise RunError(f"{folder} holds no {MATRIX}", "is this a coughscope study folder? "
                       "(coughscope study list shows them)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{file} cannot be read: {exc}", "the study record is damaged; run the "
                       "study again") from None
    try:
        return _parse(folder, raw)
    except CoughscopeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise RunError(f"{file} is damaged ({type(exc).__name__}: {exc})",
                       "run the study again") from None


def _parse(folder: Path, raw: Any) -> Study:
    if not isinstance(raw, dict) or raw.get("v") != STUDY_VERSION or raw.get("kind") not in KINDS:
        raise RunError(f"{folder / MATRIX} is not a version-{STUDY_VERSION} study record",
                       "run the study again with this coughscope")
    columns = [str(c) for c in raw["columns"]]
    rows = [DataSet(str(r["name"]), str(r["spec"]), _run_ref(folder, r.get("run")),
                    {str(k): int(v) for k, v in (r.get("native_rates") or {}).items()},
                    str(r.get("note") or ""), bool(r.get("synthetic"))) for r in raw["rows"]]
    matrices: dict[str, list[list[Cell | None]]] = {}
    for model, cells in raw["matrices"].items():
        if len(cells) != len(rows) or any(len(row) != len(columns) for row in cells):
            raise ValueError(f"the {model} matrix is not {len(rows)} x {len(columns)}")
        matrices[str(model)] = [[_cell(c) for c in row] for row in cells]
    return Study(path=folder, kind=raw["kind"], by=raw.get("by"), rows=rows, columns=columns,
                 models=[str(m) for m in raw["models"]], matrices=matrices,
                 caption=str(raw.get("caption") or ""), sample_rate=int(raw["sample_rate"]),
                 created=str(raw.get("created") or ""))


def _run_ref(folder: Path, run: Any) -> str | None:
    """A row's run folder: relative, inside the study (a record cannot point elsewhere)."""
    if run is None:
        return None
    text = str(run)
    if Path(text).is_absolute() or ".." in Path(text).parts:
        raise ValueError(f"run {text!r} is not a folder inside the study")
    return text


def _cell(raw: Any) -> Cell | None:
    if raw is None:
        return None
    kind = str(raw["kind"])
    if kind not in CELL_KINDS:
        raise ValueError(f"cell kind {kind!r}")
    auc = raw.get("auc")
    if auc is not None and not (number(auc) is not None and 0.0 <= auc <= 1.0):
        raise ValueError(f"AUC {auc!r} is not a number from 0 to 1")
    def count(v: Any) -> int | None:
        return int(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
    return Cell(auc if auc is None else float(auc), _ci(raw.get("ci")), kind,
                count(raw.get("clips")), count(raw.get("positives")), str(raw.get("note") or ""))


def format_matrix(study: Study, model: str) -> str:
    """The matrix of ``model`` as plain text (rows: trained on; columns: tested on)."""
    from .bounded import printable

    head = "trained on \\ tested on" if study.kind == "cross" else f"{study.by} left out"
    width = max([len(head)] + [len(r.name) for r in study.rows]) + 2
    col = max([22] + [len(c) + 2 for c in study.columns])
    lines = [f"{model}", head.ljust(width) + "".join(c.rjust(col) for c in study.columns)]
    for r, cells in zip(study.rows, study.matrices[model]):
        texts = [cell_text(c) for c in cells]
        lines.append(r.name.ljust(width) + "".join(t.rjust(col) for t in texts))
    notes = [f"  {r.name} -> {c}: {cell.note}"
             for r, cells in zip(study.rows, study.matrices[model])
             for c, cell in zip(study.columns, cells) if cell and cell.note]
    return "\n".join(printable(line) for line in lines + notes)


def cell_text(cell: Cell | None) -> str:
    """``0.71 [0.63–0.79]``, ``n/a`` (with a note), or ``—`` (not trained)."""
    if cell is None:
        return "—"
    if cell.auc is None:
        return "n/a"
    if cell.ci:
        return f"{cell.auc:.2f} [{cell.ci[0]:.2f}–{cell.ci[1]:.2f}]"
    return f"{cell.auc:.2f}"
