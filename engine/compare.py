"""Compare runs: every model's AUCs side by side, the fields that differ, and domain views.

One module builds what ``coughscope runs compare``, ``runs export`` and the app's Compare
screen show, from the run record (:mod:`engine.runs`) only:

* :func:`compare_runs` -- per run and model, five AUCs, each mean ± std over seeds with its
  95% interval (the seeds' bootstrap intervals averaged bound by bound):

  ``test``      the in-distribution test part;
  ``within``    the test AUC within each value of a metadata column, pooled
                (:func:`engine.metrics.stratified_auc`; the column the confound check
                flagged, else the first one the seeds recorded);
  ``held_out``  the held-out group of a ``--test-group COLUMN=VALUE`` run (``ood``);
  ``external``  the newest ``coughscope evaluate`` result saved under ``RUN/evaluations/``
                (all of them are listed in ``external``);
  ``shortcut``  the metadata-only baseline: the label predicted from one column alone
                (the run's ``group_baselines``; the same for every model of a run).

  A pinned baseline run (the first by default) gives each number a difference to the same
  model's number in the baseline. Then only the config, env and data fields whose values
  differ between the runs (the ``runs diff`` logic over N runs; a list of models in another
  order is not a difference).
* :func:`seed_curves` -- a model's validation curve per epoch, mean ± std over its seeds.
* :func:`mean_roc` -- a model's test ROC averaged over seeds (vertical averaging on a fixed
  false-positive grid), overall and per value of a metadata column (:func:`roc_by_value`).
* :func:`loso_matrix` -- from ``--test-group`` runs: training sources × test source, the
  AUC with its interval (the held-out source from ``ood``; the trained-on sources from
  their test part, ``by_group``).

Numbers are read, never recomputed from the test part: nothing here chooses anything.
numpy is imported inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bounded import interval, mean_of, number
from .errors import RunError
from .runs import (RunDir, Summary, describe, flatten, model_seeds, read_config, read_json,
                   read_metrics, read_predictions, read_summary)

KINDS: tuple[str, ...] = ("test", "within", "held_out", "external", "shortcut")
KIND_TITLES = {"test": "test", "within": "within", "held_out": "held-out",
               "external": "external", "shortcut": "shortcut"}
KIND_WORDS = {
    "test": "the in-distribution test part",
    "within": "the test AUC within each value of a metadata column, pooled",
    "held_out": "the held-out group of a --test-group run, never trained or validated on",
    "external": "the newest `coughscope evaluate` result on another data set",
    "shortcut": "the metadata-only baseline: the label predicted from that column alone",
}
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# lists whose order carries no meaning: the same models in another order are no difference
UNORDERED = ("models", "meta_columns")
SKIPPED = {"env": ("time",)}
ROC_GRID = 101  # false-positive rates 0, 0.01, ..., 1 for averaged ROC curves


@dataclass(frozen=True)
class AUC:
    """One AUC over seeds: mean, sample std (None with one seed), the 95% interval and
    what it was measured on (``what``: a column, a group, a data set)."""

    mean: float | None
    std: float | None = None
    ci: list[float] | None = None
    n_seeds: int = 0
    what: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "ci": self.ci, "n_seeds": self.n_seeds,
                "what": self.what}


@dataclass
class Row:
    """One model of one run: its AUCs by kind, every external evaluation, and differences
    to the baseline run's same model (None where either has no number)."""

    run: str  # run id
    label: str  # A, B, ...
    model: str
    seeds: list[int]
    aucs: dict[str, AUC | None]
    external: list[AUC] = field(default_factory=list)
    delta: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "label": self.label, "model": self.model, "seeds": self.seeds,
                "aucs": {k: (v.to_dict() if v else None) for k, v in self.aucs.items()},
                "external": [e.to_dict() for e in self.external], "delta": self.delta}


@dataclass
class RunInfo:
    run: RunDir
    label: str
    data: str
    models: list[str]
    state: str
    summary: Summary | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. a damaged evaluation, skipped

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "id": self.run.id, "path": str(self.run.path),
                "data": self.data, "models": self.models, "state": self.state,
                "problem": self.problem, "notes": self.notes}


@dataclass
class Comparison:
    runs: list[RunInfo]
    baseline: str  # run id
    rows: list[Row]
    differences: dict[str, dict[str, list[Any]]]
    loso: dict[str, dict[str, Any]]

    def label_of(self, run_id: str) -> str:
        return next(r.label for r in self.runs if r.run.id == run_id)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "baseline": self.baseline,
                "kinds": {k: KIND_WORDS[k] for k in KINDS},
                "rows": [r.to_dict() for r in self.rows],
                "differences": self.differences, "loso": self.loso}


# ------------------------------------------------------------------ reading numbers


def _std(value: Any) -> float | None:
    return number(value.get("std")) if isinstance(value, dict) else None


def _over_seeds(values: list[float | None], intervals: list[Any], what: str) -> AUC | None:
    """Mean ± sample std of the seeds' values, their intervals averaged bound by bound."""
    from .metrics import mean_interval, mean_std

    given = [v for v in values if v is not None]
    if not given:
        return None
    ms = mean_std(given)
    return AUC(mean=ms["mean"], std=ms["std"],
               ci=mean_interval([interval(c) for c in intervals]), n_seeds=len(given),
               what=what)


def within_auc(run: RunDir, model: str, summary: Summary) -> AUC | None:
    """The AUC within each value of a column, pooled, over the model's seeds: the column the
    confound check flagged (its summary entry), else the first column the seeds' metrics
    recorded (``stratified``)."""
    m = summary.models[model]
    cc = m.confound_controlled
    if cc is not None and cc.roc_auc is not None:
        return AUC(mean=cc.roc_auc, std=cc.roc_auc_std, ci=cc.roc_auc_ci,
                   n_seeds=len(m.seeds), what=cc.column)
    per_column: dict[str, tuple[list[float | None], list[Any]]] = {}
    for seed in model_seeds(run, model, summary):
        metrics = read_metrics(run, model, seed)
        for column, strat in (metrics.stratified if metrics else {}).items():
            values, intervals = per_column.setdefault(column, ([], []))
            values.append(strat.roc_auc)
            intervals.append(strat.roc_auc_ci)
    for column, (values, intervals) in per_column.items():
        found = _over_seeds(values, intervals, column)
        if found is not None:
            return found
    return None


def shortcut_auc(summary: Summary, model: str) -> AUC | None:
    """The metadata-only baseline's AUC (one column alone predicting the label, fitted on the
    training part, scored on the test part): the run's, else the model's entry."""
    baselines = summary.raw.get("group_baselines")
    entries: list[tuple[str, Any]] = []
    if isinstance(baselines, dict):
        entries = [(c, (b or {}).get("metrics")) for c, b in baselines.items()
                   if isinstance(b, dict)]
    if not entries:
        own = summary.models[model].raw.get("group_baseline")
        entries = list(own.items()) if isinstance(own, dict) else []
    best: AUC | None = None
    for column, metrics in entries:
        if not isinstance(metrics, dict):
            continue
        auc = mean_of(metrics.get("roc_auc"))
        if auc is None:
            continue
        found = AUC(mean=auc, ci=interval(metrics.get("roc_auc_ci")), n_seeds=1, what=column)
        if best is None or auc > (best.mean or 0.0):  # the strongest shortcut is the warning
            best = found
    return best


def evaluations(run: RunDir) -> list[dict[str, Any]]:
    """``RUN/evaluations/*.json`` (``coughscope evaluate`` results), oldest first by their
    time-stamped names; a damaged one is skipped with a note in its entry."""
    folder = run.path / "evaluations"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            raw = read_json(path)
        except RunError as err:
            out.append({"file": path.name, "problem": err.message, "models": {}})
            continue
        if not isinstance(raw, dict):
            continue
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        spec = str(data.get("spec") or path.stem)
        out.append({"file": path.name, "data": spec, "name": short_spec(spec),
                    "models": raw.get("models") if isinstance(raw.get("models"), dict) else {}})
    return out


def short_spec(spec: str) -> str:
    """``/x/covid19-cough/manifest.csv`` -> ``covid19-cough/manifest.csv``; ``demo:40``."""
    if spec.startswith("demo") or "/" not in spec:
        return spec
    p = Path(spec)
    return f"{p.parent.name}/{p.name}" if p.suffix and p.parent.name else (p.name or spec)


def external_aucs(run: RunDir, model: str) -> list[AUC]:
    out = []
    for ev in evaluations(run):
        entry = ev["models"].get(model)
        if not isinstance(entry, dict):
            continue
        auc = mean_of(entry.get("roc_auc"))
        if auc is None:
            continue
        seeds = entry.get("seeds")
        out.append(AUC(mean=auc, std=_std(entry.get("roc_auc")),
                       ci=interval(entry.get("roc_auc_ci")),
                       n_seeds=len(seeds) if isinstance(seeds, list) else 0,
                       what=ev.get("name", "")))
    return out


def model_aucs(run: RunDir, summary: Summary, model: str) -> tuple[dict[str, AUC | None],
                                                                   list[AUC]]:
    """The five AUCs of one model of a finished run, and every external evaluation."""
    m = summary.models[model]
    test = None if m.mean("roc_auc") is None else AUC(
        mean=m.mean("roc_auc"), std=m.std("roc_auc"), ci=m.roc_auc_ci, n_seeds=len(m.seeds),
        what="test part")
    held = None
    if m.ood is not None and m.ood.roc_auc is not None:
        held = AUC(mean=m.ood.roc_auc, std=m.ood.std("roc_auc"), ci=m.ood.roc_auc_ci,
                   n_seeds=len(m.seeds), what=m.ood.group)
    external = external_aucs(run, model)
    aucs = {"test": test, "within": within_auc(run, model, summary), "held_out": held,
            "external": external[-1] if external else None,
            "shortcut": shortcut_auc(summary, model)}
    return aucs, external


# ------------------------------------------------------------------ comparing


def run_info(run: RunDir, label: str) -> RunInfo:
    config = read_config(run)
    problem = None
    try:
        summary = read_summary(run)
    except RunError as err:
        summary, problem = None, err.message
    state = str(run.status().get("state", "unknown"))
    models = list(summary.models) if summary else list(config.get("models") or [])
    if summary is None and problem is None:
        problem = f"no summary.json yet ({state}): results appear when every model finished"
    notes = [f"evaluations/{ev['file']} skipped: {ev['problem']}" for ev in evaluations(run)
             if ev.get("problem")]
    return RunInfo(run=run, label=label, data=short_spec(str(config.get("data", "?"))),
                   models=models, state=state, summary=summary, problem=problem, notes=notes)


def compare_runs(runs: list[RunDir], baseline: RunDir | None = None) -> Comparison:
    """Every model of every run side by side (see the module docstring). ``baseline``: the
    run the differences are taken to (default: the first)."""
    if not runs:
        raise RunError("nothing to compare: no run given", "e.g. coughscope runs compare A B")
    if len(runs) > len(LABELS):
        raise RunError(f"{len(runs)} runs given; at most {len(LABELS)} can be compared at once",
                       "compare fewer runs")
    seen: set[Path] = set()
    for run in runs:
        if run.path.resolve() in seen:
            raise RunError(f"run {run.id} is given twice", "name each run once")
        seen.add(run.path.resolve())
    infos = [run_info(run, LABELS[i]) for i, run in enumerate(runs)]
    base = baseline or runs[0]
    if base.path.resolve() not in seen:
        raise RunError(f"the baseline {base.id} is not one of the compared runs",
                       "pass --baseline one of the RUNs given (its id, path or A, B...)")
    base_id = next(i.run.id for i in infos if i.run.path.resolve() == base.path.resolve())
    rows: list[Row] = []
    for info in infos:
        if info.summary is None:
            continue
        for model in info.summary.models:
            aucs, external = model_aucs(info.run, info.summary, model)
            rows.append(Row(run=info.run.id, label=info.label, model=model,
                            seeds=list(info.summary.models[model].seeds), aucs=aucs,
                            external=external))
    by_key = {(r.run, r.model): r for r in rows}
    for row in rows:
        ref = by_key.get((base_id, row.model))
        for kind in KINDS:
            mine, theirs = row.aucs.get(kind), ref.aucs.get(kind) if ref else None
            row.delta[kind] = (None if ref is None or mine is None or theirs is None
                               or mine.mean is None or theirs.mean is None
                               else mine.mean - theirs.mean)
    matrices = {m: loso_matrix(runs, m) for m in _models(infos)}
    return Comparison(runs=infos, baseline=base_id, rows=rows,
                      differences=differing_fields(runs),
                      loso={m: matrix for m, matrix in matrices.items() if matrix["rows"]})


def _models(infos: list[RunInfo]) -> list[str]:
    out: list[str] = []
    for info in infos:
        out += [m for m in info.models if m not in out]
    return out


def _normal(key: str, value: Any) -> Any:
    if isinstance(value, list) and key.rsplit(".", 1)[-1] in UNORDERED \
            and all(isinstance(v, str) for v in value):
        return sorted(value)
    return value


def differing_fields(runs: list[RunDir]) -> dict[str, dict[str, list[Any]]]:
    """Per section (config, env, data): the flattened keys whose values are not the same in
    every run, with each run's value (None: absent). A list of models (or metadata columns)
    in another order is the same list."""
    described = [describe(r) for r in runs]
    out: dict[str, dict[str, list[Any]]] = {}
    for section in ("config", "env", "data"):
        flat = [flatten(d[section]) for d in described]
        keys = sorted(set().union(*flat)) if flat else []
        differ: dict[str, list[Any]] = {}
        for key in keys:
            if any(key == s or key.endswith("." + s) for s in SKIPPED.get(section, ())):
                continue
            values = [f.get(key) for f in flat]
            normal = [_normal(key, v) for v in values]
            if any(n != normal[0] for n in normal[1:]):
                differ[key] = values
        out[section] = differ
    return out


# ------------------------------------------------------------------ curves and ROC


def seed_curves(run: RunDir, model: str, metric: str = "val_auc") -> list[dict[str, Any]]:
    """``[{"epoch", "mean", "std", "n"}]``: ``metric`` of the validation (or training) part
    per epoch, mean and sample std over the seeds that reached the epoch (std None for one)."""
    from .metrics import mean_std

    per_epoch: dict[int, list[float]] = {}
    try:
        summary = read_summary(run)
    except RunError:
        summary = None
    for seed in model_seeds(run, model, summary):
        try:
            metrics = read_metrics(run, model, seed)
        except RunError:
            continue
        for i, record in enumerate(metrics.history if metrics else []):
            value = mean_of(record.get(metric))
            epoch = record.get("epoch", i + 1)
            if value is not None and isinstance(epoch, int):
                per_epoch.setdefault(epoch, []).append(value)
    out = []
    for epoch in sorted(per_epoch):
        ms = mean_std(per_epoch[epoch])
        out.append({"epoch": epoch, "mean": ms["mean"], "std": ms["std"],
                    "n": len(per_epoch[epoch])})
    return out


def _tpr_on_grid(labels: list[int], probs: list[float]) -> Any:
    """A seed's ROC as the true-positive rate at each false-positive rate of the grid (the
    highest reached at or below it: the step curve)."""
    import numpy as np

    from .metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, probs)
    grid = np.linspace(0.0, 1.0, ROC_GRID)
    idx = np.searchsorted(np.asarray(fpr), grid, side="right") - 1
    return np.maximum.accumulate(np.asarray(tpr)[np.clip(idx, 0, len(tpr) - 1)])


def mean_roc(parts: list[tuple[list[int], list[float]]]) -> dict[str, Any] | None:
    """ROC averaged over seeds (vertical averaging): ``{"fpr", "tpr", "std", "n_seeds"}`` on
    the fixed grid; seeds with one class only are left out; None when none has both."""
    import numpy as np

    curves = [_tpr_on_grid(y, p) for y, p in parts if len(set(y)) == 2]
    if not curves:
        return None
    stack = np.vstack(curves)
    std = stack.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(ROC_GRID)
    return {"fpr": np.linspace(0.0, 1.0, ROC_GRID).round(4).tolist(),
            "tpr": stack.mean(axis=0).round(6).tolist(), "std": std.round(6).tolist(),
            "n_seeds": len(curves)}


def test_parts(run: RunDir, model: str, split: str = "test") -> list[tuple[list[int],
                                                                             list[float]]]:
    """Per seed, the labels and probabilities of one split part (``test``, ``ood``)."""
    out = []
    for seed in model_seeds(run, model, read_summary(run)):
        preds = read_predictions(run, model, seed)
        if preds is not None:
            labels, probs = preds.part(split)
            if labels:
                out.append((labels, probs))
    return out


def clip_values(run: RunDir, column: str) -> dict[str, str]:
    """clip path -> its value of metadata ``column``, read from the run's data set again (a
    manifest or Coswara table: no audio is read). Raises :class:`RunError` when the data
    set is not where the run found it, or has no such column."""
    from .errors import CoughscopeError
    from .sources import load_source

    config = read_config(run)
    spec = str(config.get("data") or "")
    if not spec:
        raise RunError(f"{run.config_path} names no data set", "the run is damaged")
    try:  # read once per data set, column and version of its file (Compare asks per row)
        stamp = Path(spec).expanduser().stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (spec, str(config.get("sound") or ""), column, stamp)
    if stamp is not None and key in _CLIP_VALUES:
        return _CLIP_VALUES[key]
    try:
        clips = load_source(spec, sound=str(config.get("sound") or "cough-heavy"))
    except CoughscopeError as err:
        raise RunError(f"the data set of run {run.id} ({spec}) cannot be read again: "
                       f"{err.message}", "per-source ROC curves need the data set where the "
                       "run found it (the clips' metadata); the AUCs per source are in "
                       "`coughscope runs show`") from None
    values = {str(c.path): c.meta[column] for c in clips.clips if column in c.meta}
    if not values:
        raise RunError(f"the data set of run {run.id} ({spec}) has no column {column!r}",
                       f"its columns: {', '.join(clips.meta_columns) or 'none'}")
    if stamp is not None:
        if len(_CLIP_VALUES) >= 8:
            _CLIP_VALUES.clear()
        _CLIP_VALUES[key] = values
    return values


_CLIP_VALUES: dict[tuple[str, str, str, int | None], dict[str, str]] = {}


def roc_by_value(run: RunDir, model: str, column: str = "source") -> dict[str, Any]:
    """The test ROC per value of ``column`` (averaged over seeds), with the held-out part of
    a ``--test-group`` run as its own curve (``VALUE (held out)``), and each value's AUC with
    its interval from the summary (``by_group``, ``ood``). ``{value: {"fpr", "tpr", "std",
    "n_seeds", "auc": AUC-dict or None, "clips"}}``."""
    values = clip_values(run, column)
    summary = read_summary(run)
    if summary is None or model not in summary.models:
        raise RunError(f"run {run.id} has no results for model {model!r}",
                       f"its models: {', '.join(summary.models) if summary else 'none yet'}")
    entry = summary.models[model]
    by_group = ((entry.raw.get("by_group") or {}).get(column) or {}) \
        if isinstance(entry.raw.get("by_group"), dict) else {}
    out: dict[str, Any] = {}
    for split, suffix in (("test", ""), ("ood", " (held out)")):
        parts = []
        for seed in model_seeds(run, model, summary):
            preds = read_predictions(run, model, seed)
            if preds is None:
                continue
            per: dict[str, tuple[list[int], list[float]]] = {}
            for clip, label, prob, part in zip(preds.clips, preds.labels, preds.probabilities,
                                               preds.splits):
                if part == split:
                    ys, ps = per.setdefault(values.get(clip, "(missing)"), ([], []))
                    ys.append(label)
                    ps.append(prob)
            parts.append(per)
        for value in sorted({v for per in parts for v in per}):
            curve = mean_roc([per[value] for per in parts if value in per])
            clips = max(len(per[value][0]) for per in parts if value in per)
            if split == "ood" and entry.ood is not None:
                auc = AUC(mean=entry.ood.roc_auc, std=entry.ood.std("roc_auc"),
                          ci=entry.ood.roc_auc_ci, n_seeds=len(entry.seeds), what=value)
            else:
                g = by_group.get(value) if isinstance(by_group.get(value), dict) else {}
                auc = None if mean_of(g.get("roc_auc")) is None else AUC(
                    mean=mean_of(g.get("roc_auc")), std=_std(g.get("roc_auc")),
                    ci=interval(g.get("roc_auc_ci")), n_seeds=int(
                        mean_of(g.get("n_seeds")) or len(entry.seeds)), what=value)
                if auc is None and not by_group and len({v for per in parts for v in per}) == 1:
                    # one value in the whole test part: its AUC is the test AUC
                    auc = AUC(mean=entry.mean("roc_auc"), std=entry.std("roc_auc"),
                              ci=entry.roc_auc_ci, n_seeds=len(entry.seeds), what=value)
            out[value + suffix] = {**(curve or {"fpr": [], "tpr": [], "std": [], "n_seeds": 0}),
                                   "auc": auc.to_dict() if auc else None, "clips": clips,
                                   "note": None if curve else "one class only: no ROC"}
    return out


# ------------------------------------------------------------------ leave one source out


def loso_matrix(runs: list[RunDir], model: str) -> dict[str, Any]:
    """Training sources × test source for ``model``, from the runs held out with
    ``--test-group COLUMN=VALUE``: each such run is one row (trained on the column's other
    values); its held-out value's cell is the ``ood`` AUC, the values it trained on are
    scored on its in-distribution test part (``by_group``). Every cell is mean ± std over
    seeds with the 95% interval. Runs without a held-out group, or of another column than
    the first one found, are left out (``skipped`` says which and why)."""
    column: str | None = None
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for run in runs:
        try:
            summary = read_summary(run)
        except RunError as err:
            skipped.append(f"{run.id}: {err.message}")
            continue
        entry = summary.models.get(model) if summary else None
        if entry is None or entry.ood is None:
            skipped.append(f"{run.id}: no held-out group" if entry is not None else
                           f"{run.id}: no results for {model}")
            continue
        if column is None:
            column = entry.ood.column
        if entry.ood.column != column:
            skipped.append(f"{run.id}: holds out {entry.ood.group}, not a {column}")
            continue
        cells: dict[str, Any] = {entry.ood.value: AUC(
            mean=entry.ood.roc_auc, std=entry.ood.std("roc_auc"), ci=entry.ood.roc_auc_ci,
            n_seeds=len(entry.seeds), what="held out").to_dict()}
        by_group = (entry.raw.get("by_group") or {}).get(column) or {} \
            if isinstance(entry.raw.get("by_group"), dict) else {}
        trained = trained_values(run, column) or sorted(by_group)
        trained = [v for v in trained if v != entry.ood.value]
        for value, g in by_group.items():
            if isinstance(g, dict) and mean_of(g.get("roc_auc")) is not None:
                cells[value] = AUC(mean=mean_of(g.get("roc_auc")), std=_std(g.get("roc_auc")),
                                   ci=interval(g.get("roc_auc_ci")),
                                   n_seeds=int(mean_of(g.get("n_seeds")) or len(entry.seeds)),
                                   what="test part").to_dict()
        if len(trained) == 1 and trained[0] not in cells and entry.mean("roc_auc") is not None:
            # one source trained on: the whole in-distribution test part is that source
            cells[trained[0]] = AUC(mean=entry.mean("roc_auc"), std=entry.std("roc_auc"),
                                    ci=entry.roc_auc_ci, n_seeds=len(entry.seeds),
                                    what="test part").to_dict()
        rows.append({"run": run.id, "held_out": entry.ood.value, "train": trained,
                     "cells": cells})
    values = sorted({v for r in rows for v in r["cells"]})
    return {"model": model, "column": column, "test_values": values, "rows": rows,
            "skipped": skipped}


def trained_values(run: RunDir, column: str) -> list[str]:
    """The values of ``column`` among the clips the run trained on (``split.csv``'s train
    part, the data set read again for the column); empty when the data set cannot be read."""
    import csv

    try:
        values = clip_values(run, column)
        with open(run.path / "split.csv", newline="", encoding="utf-8") as fh:
            return sorted({values.get(r.get("clip") or "", "(missing)")
                           for r in csv.DictReader(fh) if r.get("split") == "train"})
    except (RunError, OSError, csv.Error):
        return []


# ------------------------------------------------------------------ words


def short(value: float) -> str:
    """``0.613`` -> ``.61``; ``1.0`` -> ``1.00``."""
    text = f"{value:.2f}"
    return text[1:] if text.startswith("0") else ("-" + text[2:] if text.startswith("-0")
                                                  else text)


def auc_cell(auc: AUC | dict[str, Any] | None, std: bool = True) -> str:
    """``.61±.03 [.52–.69]``: mean ± std over seeds and the 95% interval; ``—`` when the run
    has no such number."""
    if isinstance(auc, dict):
        auc = AUC(**{k: auc.get(k) for k in ("mean", "std", "ci", "n_seeds", "what")})
    if auc is None or auc.mean is None:
        return "—"
    text = short(auc.mean)
    if std and auc.std is not None:
        text += f"±{short(auc.std)}"
    if auc.ci:
        text += f" [{short(auc.ci[0])}–{short(auc.ci[1])}]"
    return text


def delta_cell(delta: float | None) -> str:
    """``+.05`` / ``−.11`` / ``0``; ``—`` when there is nothing to compare with."""
    if delta is None:
        return "—"
    if abs(delta) < 0.005:
        return "0"
    return ("+" if delta > 0 else "−") + short(abs(delta))


def ordered_rows(comparison: Comparison) -> list[Row]:
    """Rows grouped by model (in the runs' model order), each model's runs in given order."""
    order = _models(comparison.runs)
    return sorted(comparison.rows, key=lambda r: (order.index(r.model) if r.model in order
                                                  else len(order), r.label))


def value_text(value: Any) -> str:
    """A config/env/data value as one line (lists joined, absent shown as such)."""
    if value is None:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(value_text(v) for v in value) if all(
            not isinstance(v, (list, dict)) for v in value) else str(value)
    return str(value)
