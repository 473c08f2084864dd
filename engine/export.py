"""Export what a view shows: its tables as CSV and JSON, its figures as SVG, PNG and pgfplots.

``coughscope runs export RUN... --out DIR`` and the app's export key (Results, Compare,
Confusion) call :func:`export_comparison` or :func:`export_confusion`. Every file is
written inside the chosen folder through :mod:`engine.paths` (never through a link), and
none that exists is replaced: the whole export is refused, naming the file, before anything
is written (:func:`free_folder` picks a new folder name for the app instead).

A comparison export holds (``<model>`` made file-safe):

* ``aucs.csv``, ``aucs.json``, ``aucs.tex`` -- every model's AUCs per run (test, within,
  held-out, external, shortcut: :mod:`engine.compare`), mean, std, 95% interval, the
  difference to the baseline run; the ``.tex`` is a ``booktabs`` table;
* ``metrics.csv`` -- every metric of every model's summary, mean and std over seeds;
* ``scalars.csv`` -- every epoch's losses, accuracies and validation AUC of every model and
  seed (the curves' numbers);
* ``differences.csv`` -- the config, environment and data fields that differ;
* ``loso_<model>.csv``/``.tex`` -- the leave-one-source-out matrix, from ``--test-group``
  runs;
* ``roc_<model>.{svg,png,tex}`` -- each run's test ROC averaged over seeds, ± 1 std band;
* ``curves_<model>.{svg,png,tex}`` -- each run's validation AUC per epoch, mean ± std over
  seeds;
* ``roc_by_<column>_<run>_<model>.{svg,png,tex}`` -- a run's ROC per recording source (the
  held-out source of a ``--test-group`` run as its own curve), when its data set has the
  column and can be read again.

A confusion export: ``confusion.csv``/``.json``/``.tex`` and ``confusion.{svg,png}``.
The ``.tex`` figures are ``tikzpicture``s for ``\\usepackage{pgfplots}``; tables need
``\\usepackage{booktabs}``. matplotlib is imported inside the functions that draw.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import paths
from .errors import RunError
from .runs import RunDir, dumps

FIGURE_FORMATS = ("svg", "png", "tex")


@dataclass
class Export:
    """What an export wrote (in order) and what it could not draw, with why."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Writer:
    """Collects the files of one export, then writes them all or none: a name that exists
    in the folder refuses the export before the first write."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.pending: dict[str, bytes | Callable[[], bytes]] = {}
        self.notes: list[str] = []

    def add(self, name: str, data: str | bytes | Callable[[], bytes]) -> None:
        if name in self.pending:
            raise ValueError(f"two exported files named {name}")
        self.pending[name] = data.encode("utf-8") if isinstance(data, str) else data

    def write(self) -> Export:
        existing = [n for n in self.pending if os.path.lexists(self.folder / n)]
        if existing:
            raise RunError(
                f"{self.folder / existing[0]} exists already"
                + (f" (and {len(existing) - 1} more of the files to export)"
                   if len(existing) > 1 else ""),
                "coughscope never overwrites an export: choose another --out folder, or "
                "move the old files away")
        paths.ensure_dir(self.folder, self.folder)
        out = Export(self.folder, notes=self.notes)
        for name, data in self.pending.items():
            path = self.folder / name
            paths.atomic_write_bytes(path, data() if callable(data) else data,
                                     root=self.folder)
            out.files.append(path)
        return out


def free_folder(parent: Path, stem: str) -> Path:
    """``parent/stem``, or ``parent/stem-2``, ``-3``... : the first name not taken."""
    candidate = parent / stem
    n = 2
    while os.path.lexists(candidate):
        candidate = parent / f"{stem}-{n}"
        n += 1
    return candidate


safe = paths.safe_name  # one file-name part (engine.paths)


# ------------------------------------------------------------------ text formats


def csv_text(heads: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(heads)
    for row in rows:
        writer.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
                         for v in row])
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def tex_escape(text: Any) -> str:
    """Text as LaTeX reads it literally (``logreg_cv`` -> ``logreg\\_cv``)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def tex_auc(auc: dict[str, Any] | None) -> str:
    """``$0.681 \\pm 0.012$ [0.49, 0.85]``; ``--`` without a number."""
    if not auc or auc.get("mean") is None:
        return "--"
    text = f"${auc['mean']:.3f}"
    if auc.get("std") is not None:
        text += f" \\pm {auc['std']:.3f}"
    text += "$"
    if auc.get("ci"):
        text += f" [{auc['ci'][0]:.2f}, {auc['ci'][1]:.2f}]"
    return text


def booktabs(caption: str, heads: list[str], rows: list[list[str]], label: str) -> str:
    """A ``table`` with a ``tabular`` ruled by booktabs; cells are LaTeX already."""
    spec = "l" * 2 + "c" * (len(heads) - 2)
    lines = [f"% made by coughscope; needs \\usepackage{{booktabs}}",
             "\\begin{table}[ht]", "\\centering", f"\\caption{{{caption}}}",
             f"\\label{{{label}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(heads) + " \\\\", "\\midrule"]
    lines += [" & ".join(row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def _coords(xs: list[float], ys: list[float]) -> str:
    return " ".join(f"({x:.4g},{y:.4g})" for x, y in zip(xs, ys))


PGF_COLOURS = ("blue", "red", "teal", "orange", "violet", "brown", "olive", "cyan")


def pgfplots(title: str, xlabel: str, ylabel: str,
             series: list[dict[str, Any]], *, diagonal: bool = False,
             limits: tuple[float, float, float, float] | None = None) -> str:
    """A ``tikzpicture`` with one ``\\addplot`` per series (``x``, ``y``, ``label``; with
    ``low``/``high``: a shaded band under it), for ``\\usepackage{pgfplots}``."""
    options = [f"title={{{tex_escape(title)}}}", f"xlabel={{{tex_escape(xlabel)}}}",
               f"ylabel={{{tex_escape(ylabel)}}}", "legend pos=south east",
               "legend style={font=\\small}", "width=8cm", "height=7cm", "grid=major"]
    if limits:
        options += [f"xmin={limits[0]}", f"xmax={limits[1]}", f"ymin={limits[2]}",
                    f"ymax={limits[3]}"]
    lines = ["% made by coughscope; needs \\usepackage{pgfplots} (\\pgfplotsset{compat=1.16})",
             "\\begin{tikzpicture}", "\\begin{axis}[", "  " + ",\n  ".join(options), "]"]
    for i, s in enumerate(series):
        colour = PGF_COLOURS[i % len(PGF_COLOURS)]
        if s.get("low") and s.get("high"):
            xs = list(s["x"]) + list(reversed(s["x"]))
            ys = list(s["high"]) + list(reversed(s["low"]))
            lines.append(f"\\addplot[draw=none, fill={colour}, fill opacity=0.15, "
                         f"forget plot] coordinates {{{_coords(xs, ys)}}} -- cycle;")
        mark = "mark=*, mark size=1pt" if len(s["x"]) < 30 else "no marks"
        lines.append(f"\\addplot[{colour}, thick, {mark}] coordinates "
                     f"{{{_coords(s['x'], s['y'])}}};")
        lines.append(f"\\addlegendentry{{{tex_escape(s['label'])}}}")
    if diagonal:
        lines.append("\\addplot[gray, dotted, domain=0:1] {x};")
        lines.append("\\addlegendentry{chance (AUC 0.5)}")
    lines += ["\\end{axis}", "\\end{tikzpicture}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ matplotlib


def _render(draw: Callable[[Any], None], width: float, height: float) -> dict[str, bytes]:
    """One matplotlib figure as SVG and PNG bytes (deterministic: the run figures' rc)."""
    import matplotlib  # ~0.3 s; only exports pay it

    from .figures import _RC, _figure

    with matplotlib.rc_context(_RC):
        fig = _figure(width, height)
        draw(fig)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        out = {}
        for fmt in ("svg", "png"):
            buf = io.BytesIO()
            meta = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(buf, format=fmt, dpi=150, metadata=meta)
            out[fmt] = buf.getvalue()
    return out


def _add_figure(writer: _Writer, stem: str, title: str, xlabel: str, ylabel: str,
                series: list[dict[str, Any]], *, diagonal: bool = False,
                limits: tuple[float, float, float, float] | None = None) -> None:
    """``stem.svg``, ``stem.png`` (matplotlib) and ``stem.tex`` (pgfplots) of the same
    series; the bitmaps are drawn when the export is written."""
    rendered: dict[str, bytes] = {}

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        for i, s in enumerate(series):
            colour = f"C{i % 10}"
            if s.get("low") and s.get("high"):
                ax.fill_between(s["x"], s["low"], s["high"], color=colour, alpha=0.15,
                                linewidth=0)
            ax.plot(s["x"], s["y"], color=colour, label=s["label"],
                    marker="o" if len(s["x"]) < 30 else None, markersize=3)
        if diagonal:
            ax.plot([0, 1], [0, 1], ":", color="grey", label="chance (AUC 0.5)")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if limits:
            ax.set(xlim=limits[:2], ylim=limits[2:])
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)

    def get(fmt: str) -> Callable[[], bytes]:
        def make() -> bytes:
            if not rendered:
                rendered.update(_render(draw, 5.2, 4.6))
            return rendered[fmt]
        return make

    writer.add(f"{stem}.svg", get("svg"))
    writer.add(f"{stem}.png", get("png"))
    writer.add(f"{stem}.tex", pgfplots(title, xlabel, ylabel, series, diagonal=diagonal,
                                       limits=limits))


# ------------------------------------------------------------------ comparison


def export_comparison(runs: list[RunDir], out: Path, baseline: RunDir | None = None,
                      *, figures: bool = True) -> Export:
    """Tables and figures of :func:`engine.compare.compare_runs` into folder ``out`` (see
    the module docstring); refused before any write when one of the files exists."""
    from .compare import KIND_TITLES, KINDS, compare_runs, ordered_rows, value_text

    comparison = compare_runs(runs, baseline)
    writer = _Writer(out)
    rows = ordered_rows(comparison)
    table = []
    for r in rows:
        for kind in KINDS:
            auc = r.aucs.get(kind)
            ci = auc.ci if auc else None
            table.append([r.label, r.run, r.model, kind, auc.what if auc else None,
                          auc.mean if auc else None, auc.std if auc else None,
                          ci[0] if ci else None, ci[1] if ci else None,
                          auc.n_seeds if auc else None, r.delta.get(kind)])
    writer.add("aucs.csv", csv_text(
        ["run", "run_id", "model", "kind", "what", "roc_auc_mean", "roc_auc_std",
         "ci_low", "ci_high", "n_seeds", "delta_to_baseline"], table))
    writer.add("aucs.json", dumps(comparison.to_dict(), indent=2) + "\n")
    base = comparison.label_of(comparison.baseline)
    tex_rows = [[tex_escape(r.model), tex_escape(r.label),
                 *(tex_auc(r.aucs[k].to_dict() if r.aucs.get(k) else None) for k in KINDS)]
                for r in rows]
    runs_caption = "; ".join(f"{i.label}: {tex_escape(i.run.id)} ({tex_escape(i.data)})"
                             for i in comparison.runs)
    writer.add("aucs.tex", booktabs(
        f"ROC-AUC, mean $\\pm$ std over seeds [95\\% interval]. Runs {runs_caption}; "
        f"baseline {base}.", ["model", "run", *(KIND_TITLES[k] for k in KINDS)], tex_rows,
        "tab:coughscope-aucs"))
    metric_rows = []
    for info in comparison.runs:
        for model, m in (info.summary.models.items() if info.summary else []):
            for metric, v in m.metrics.items():
                if isinstance(v, dict):
                    metric_rows.append([info.label, info.run.id, model, metric, v.get("mean"),
                                        v.get("std")])
    writer.add("metrics.csv", csv_text(["run", "run_id", "model", "metric", "mean", "std"],
                                       metric_rows))
    writer.add("scalars.csv", scalars_csv(comparison))
    diff_rows = [[section, key, *(value_text(v) for v in values)]
                 for section, fields in comparison.differences.items()
                 for key, values in fields.items()]
    writer.add("differences.csv", csv_text(
        ["section", "field", *(i.label for i in comparison.runs)], diff_rows))
    for model, matrix in comparison.loso.items():
        _add_loso(writer, model, matrix)
    if figures:
        _add_comparison_figures(writer, comparison)
    return writer.write()


SCALARS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "seconds")


def scalars_csv(comparison: Any) -> str:
    """Every epoch's numbers of every model and seed of every run (``metrics.json``'s
    history): one row per run, model, seed and epoch."""
    from .runs import model_seeds, read_metrics

    rows = []
    for info in comparison.runs:
        for model in info.models:
            for seed in model_seeds(info.run, model, info.summary):
                try:
                    metrics = read_metrics(info.run, model, seed)
                except RunError as err:
                    rows.append([info.label, info.run.id, model, seed, None,
                                 *([None] * len(SCALARS)), err.message])
                    continue
                for i, record in enumerate(metrics.history if metrics else []):
                    rows.append([info.label, info.run.id, model, seed,
                                 record.get("epoch", i + 1),
                                 *(record.get(k) if isinstance(record.get(k), (int, float))
                                   and not isinstance(record.get(k), bool) else None
                                   for k in SCALARS), None])
    return csv_text(["run", "run_id", "model", "seed", "epoch", *SCALARS, "problem"], rows)


def _add_loso(writer: _Writer, model: str, matrix: dict[str, Any]) -> None:
    values = matrix["test_values"]
    rows, tex_rows = [], []
    for row in matrix["rows"]:
        trained = "+".join(row["train"]) or f"all but {row['held_out']}"
        for value in values:
            cell = row["cells"].get(value) or {}
            ci = cell.get("ci")
            rows.append([row["run"], trained, value, value == row["held_out"], cell.get("mean"),
                         cell.get("std"), ci[0] if ci else None, ci[1] if ci else None])
        tex_rows.append([tex_escape(trained), tex_escape(row["run"]), *(
            ("held out: " if v == row["held_out"] else "") + tex_auc(row["cells"].get(v))
            for v in values)])
    writer.add(f"loso_{safe(model)}.csv", csv_text(
        ["run_id", "trained_on", "tested_on", "held_out", "roc_auc_mean", "roc_auc_std",
         "ci_low", "ci_high"], rows))
    writer.add(f"loso_{safe(model)}.tex", booktabs(
        f"Leave one {tex_escape(matrix['column'])} out, {tex_escape(model)}: ROC-AUC, mean "
        "$\\pm$ std over seeds [95\\% interval]; rows: trained on, columns: tested on.",
        ["trained on", "run", *(tex_escape(v) for v in values)], tex_rows,
        f"tab:coughscope-loso-{safe(model)}"))


def _add_comparison_figures(writer: _Writer, comparison: Any) -> None:
    from .compare import mean_roc, roc_by_value, seed_curves, test_parts

    models: list[str] = []
    for info in comparison.runs:
        models += [m for m in info.models if m not in models]
    for model in models:
        rocs, curves = [], []
        for info in comparison.runs:
            if info.summary is None or model not in info.summary.models:
                continue
            try:
                roc = mean_roc(test_parts(info.run, model))
            except RunError as err:
                writer.notes.append(f"{info.label} {model}: no ROC ({err.message})")
                roc = None
            if roc is not None:
                auc = info.summary.models[model].mean("roc_auc")
                rocs.append(_band(roc["fpr"], roc["tpr"], roc["std"],
                                  f"{info.label} {model}"
                                  + (f" (AUC {auc:.3f})" if auc is not None else "")))
            points = seed_curves(info.run, model, "val_auc")
            if points:
                curves.append(_band([float(p["epoch"]) for p in points],
                                    [p["mean"] for p in points],
                                    [p["std"] or 0.0 for p in points],
                                    f"{info.label} {model}"))
        if rocs:
            _add_figure(writer, f"roc_{safe(model)}",
                        f"{model}: test ROC, mean over seeds (band ± 1 std)",
                        "false positive rate", "true positive rate", rocs, diagonal=True,
                        limits=(0, 1, 0, 1))
        if curves:
            _add_figure(writer, f"curves_{safe(model)}",
                        f"{model}: validation AUC, mean ± std over seeds", "epoch",
                        "validation AUC", curves)
    for info in comparison.runs:
        columns = []
        if info.summary is not None:
            columns = [c for c in (info.summary.data.get("meta_columns") or [])
                       if isinstance(c, str)]
        column = "source" if "source" in columns else (columns[0] if columns else None)
        if column is None:
            continue
        for model in info.models:
            try:
                by_value = roc_by_value(info.run, model, column)
            except RunError as err:
                writer.notes.append(f"{info.label} {model}: no ROC per {column} "
                                    f"({err.message})")
                break
            series = [_band(c["fpr"], c["tpr"], c["std"], f"{value}" + (
                f" (AUC {c['auc']['mean']:.3f})" if c.get("auc") else ""))
                for value, c in by_value.items() if c["fpr"]]
            if series:
                _add_figure(writer, f"roc_by_{safe(column)}_{safe(info.run.id)}_{safe(model)}",
                            f"{info.label} {model}: test ROC per {column} (band ± 1 std)",
                            "false positive rate", "true positive rate", series,
                            diagonal=True, limits=(0, 1, 0, 1))


def _band(x: list[float], y: list[float], std: list[float], label: str) -> dict[str, Any]:
    return {"x": list(x), "y": list(y), "label": label,
            "low": [max(0.0, a - s) for a, s in zip(y, std)],
            "high": [min(1.0, a + s) for a, s in zip(y, std)]}


# ------------------------------------------------------------------ confusion


def export_confusion(run: RunDir, model: str, seed: str, confusion: dict[str, Any],
                     threshold: float | None, out: Path, *, moved: bool = False) -> Export:
    """The Confusion view as shown: counts and rates (CSV, JSON, booktabs ``.tex``) and the
    matrix as a figure (SVG, PNG)."""
    from .metrics import confusion_rates

    tn, fp, fn, tp = (int(confusion.get(k, 0) or 0) for k in ("tn", "fp", "fn", "tp"))
    rates = confusion_rates({"tn": tn, "fp": fp, "fn": fn, "tp": tp})
    record = {"run": run.id, "model": model, "seed": seed, "threshold": threshold,
              "threshold_moved_by_user": moved, "confusion": {"tn": tn, "fp": fp, "fn": fn,
                                                              "tp": tp},
              "rates": rates}
    writer = _Writer(out)
    writer.add("confusion.csv", csv_text(
        ["true", "predicted_negative", "predicted_positive"],
        [["negative", tn, fp], ["positive", fn, tp]]))
    writer.add("confusion.json", dumps(record, indent=2) + "\n")
    which = "pooled over seeds" if seed == "pooled" else f"seed {tex_escape(seed)}"
    what = f"{tex_escape(model)}, {which}"
    where = f"threshold {threshold:.3f}" if isinstance(threshold, (int, float)) else \
        "each seed at its own operating point"
    rows = [["negative", "", str(tn), str(fp)], ["positive", "", str(fn), str(tp)]]
    writer.add("confusion.tex", booktabs(
        f"Confusion matrix of run {tex_escape(run.id)}, {what}, test part, {where}"
        + (" (moved by hand: not an honest estimate)" if moved else "") + ".",
        ["true", "", "predicted negative", "predicted positive"], rows,
        "tab:coughscope-confusion"))

    def draw(fig: Any) -> None:
        import numpy as np

        ax = fig.subplots()
        counts = np.array([[tn, fp], [fn, tp]])
        totals = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros((2, 2)), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for r in range(2):
            for c in range(2):
                ax.text(c, r, f"{counts[r, c]}\n{share[r, c]:.1%}", ha="center", va="center",
                        color="white" if share[r, c] > 0.6 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["negative", "positive"],
               yticklabels=["negative", "positive"], xlabel="predicted", ylabel="true",
               title=f"{model}: confusion ({where})")

    rendered: dict[str, bytes] = {}

    def get(fmt: str) -> Callable[[], bytes]:
        def make() -> bytes:
            if not rendered:
                rendered.update(_render(draw, 4.4, 3.8))
            return rendered[fmt]
        return make

    writer.add("confusion.svg", get("svg"))
    writer.add("confusion.png", get("png"))
    return writer.write()
