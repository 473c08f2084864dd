"""Figures for papers and reports, written into a run directory's ``figures/`` folder.

Per model, as PNG (150 dpi) and SVG (text kept as text, so it stays editable):

* ``curves_<model>``    -- training and validation loss and accuracy per epoch, one colour
  per seed (solid: train, dashed: validation);
* ``roc_<model>``       -- the test ROC curve of every seed, the majority-class baseline
  (the diagonal, AUC 0.5) and, when given, each group-only baseline (dotted);
* ``confusion_<model>`` -- the confusion matrix pooled over seeds: counts and row rates;
* ``reliability_<model>`` -- the reliability diagram of the calibrated P(positive) on the
  test part, seeds pooled: observed share of positives per probability bin (with its 95%
  interval) against the predicted one, the diagonal of perfect calibration, the clips per
  bin below, and the operating point; Brier score and ECE in the title.

Output is deterministic for the same input (fixed SVG hash salt, no dates in metadata).
matplotlib is imported inside :func:`write_figures` and used through ``Figure`` objects
with the Agg canvas, never pyplot, so no global backend state is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .metrics import roc_curve
from .paths import safe_name

FORMATS: tuple[str, ...] = ("png", "svg")
_RC = {"svg.hashsalt": "coughscope", "svg.fonttype": "none", "font.size": 9}


def write_figures(run_dir: Path, results: dict[str, Any]) -> list[Path]:
    """Write every figure for every model in ``results``; return the written paths.

    ``results`` maps a model name to ``{"seeds": {seed: {"history": [...], "test_y": [...],
    "test_p": [...], "metrics": {...}}}, "group_baseline": {column: {"fpr", "tpr",
    "roc_auc"}}}``; ``history`` rows hold ``epoch, train_loss, train_acc, val_loss,
    val_acc`` (missing values are skipped). A figure whose data is absent is not drawn.
    """
    import matplotlib  # ~0.3 s; only runs that draw figures pay it

    from .paths import ensure_dir

    out_dir = ensure_dir(run_dir, Path(run_dir) / "figures")  # refused when it is a link
    written: list[Path] = []
    with matplotlib.rc_context(_RC):
        for model, result in results.items():
            seeds = result.get("seeds", {})
            for kind, draw in (("curves", _curves), ("roc", _roc), ("confusion", _confusion),
                               ("reliability", _reliability)):
                fig = draw(model, seeds, result)
                if fig is not None:
                    written += _save(fig, out_dir / f"{kind}_{safe_name(model)}", run_dir)
    return written


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, stem: Path, root: Path) -> list[Path]:
    import io

    from .paths import atomic_write_bytes

    paths = []
    fig.draw_without_rendering()  # lay out once, then keep the positions for every format
    fig.set_layout_engine("none")
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, metadata=meta)
        atomic_write_bytes(path, buf.getvalue(), root=root)
        paths.append(path)
    return paths


def _curves(model: str, seeds: dict[Any, Any], result: dict[str, Any]) -> Any:
    if not any(s.get("history") for s in seeds.values()):
        return None
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig = _figure(8.0, 3.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    handles = []
    for i, (seed, s) in enumerate(_sorted(seeds)):
        hist = s.get("history") or []
        colour = f"C{i % 10}"
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            for part, style in (("train", "-"), ("val", "--")):
                x, v = _series(hist, f"{part}_{metric}")
                if x.size:
                    ax.plot(x, v, style, color=colour)
        handles.append(Line2D([], [], color=colour, label=f"seed {seed}"))
    handles += [Line2D([], [], color="grey", ls="-", label="train"),
                Line2D([], [], color="grey", ls="--", label="validation")]
    ax_loss.set(title=f"{model}: loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title=f"{model}: accuracy", xlabel="epoch", ylabel="accuracy")
    ax_acc.legend(handles=handles, fontsize=7, ncols=2)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _roc(model: str, seeds: dict[Any, Any], result: dict[str, Any]) -> Any:
    drawable = [(seed, s) for seed, s in _sorted(seeds) if _two_classes(s.get("test_y"))]
    baselines = result.get("group_baseline") or {}
    if not drawable:
        return None
    fig = _figure(4.6, 4.4)
    ax = fig.subplots()
    for i, (seed, s) in enumerate(drawable):
        fpr, tpr, _ = roc_curve(s["test_y"], s["test_p"])
        auc = (s.get("metrics") or {}).get("roc_auc")
        label = f"seed {seed}" + (f" (AUC {auc:.3f})" if auc is not None else "")
        ax.plot(fpr, tpr, color=f"C{i % 10}", label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="majority baseline (AUC 0.500)")
    for j, (column, base) in enumerate(sorted(baselines.items())):
        auc = base.get("roc_auc")
        label = f"{column} only" + (f" (AUC {auc:.3f})" if auc is not None else "")
        ax.plot(base["fpr"], base["tpr"], "-.", color="black", alpha=0.6 + 0.2 * (j % 2),
                label=label)
    ax.set(title=f"{model}: test ROC", xlabel="false positive rate (1 - specificity)",
           ylabel="true positive rate (sensitivity)", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _confusion(model: str, seeds: dict[Any, Any], result: dict[str, Any]) -> Any:
    pooled = np.zeros((2, 2), dtype=np.int64)  # rows: true neg/pos; columns: predicted
    found = False
    for _, s in _sorted(seeds):
        c = (s.get("metrics") or {}).get("confusion")
        if c:
            pooled += np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
            found = True
    if not found:
        return None
    rows = pooled.sum(axis=1, keepdims=True)
    rates = np.divide(pooled, rows, out=np.zeros((2, 2)), where=rows > 0)
    fig = _figure(4.2, 3.6)
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for r in range(2):
        for c in range(2):
            colour = "white" if rates[r, c] > 0.6 else "black"
            ax.text(c, r, f"{pooled[r, c]}\n{rates[r, c]:.1%}", ha="center", va="center",
                    color=colour)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["negative", "positive"],
           yticklabels=["negative", "positive"], xlabel="predicted", ylabel="true",
           title=f"{model}: confusion, {len(seeds)} seed(s) pooled")
    fig.colorbar(image, ax=ax, label="share of true class")
    return fig


def _reliability(model: str, seeds: dict[Any, Any], result: dict[str, Any]) -> Any:
    from .metrics import pool_reliability

    tests = [s.get("metrics") or {} for _, s in _sorted(seeds)]
    bins = pool_reliability([t.get("reliability") or [] for t in tests])
    if not bins:
        return None
    fig = _figure(4.4, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    pred = np.array([b["predicted"] for b in bins])
    obs = np.array([b["observed"] for b in bins])
    lo = np.array([(b.get("observed_ci") or [o, o])[0] for b, o in zip(bins, obs)])
    hi = np.array([(b.get("observed_ci") or [o, o])[1] for b, o in zip(bins, obs)])
    top.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    top.errorbar(pred, obs, yerr=[np.maximum(obs - lo, 0), np.maximum(hi - obs, 0)],
                 fmt="o-", color="C0", capsize=2,
                 label="observed share of positives (95% CI)")
    points = result.get("points") or []
    cut = [t.get("threshold_calibrated") for t in points
           if t.get("threshold_calibrated") is not None]
    if cut:
        rule = next((t["rule"] for t in points if t.get("rule")), "")
        top.axvline(float(np.mean(cut)), color="C3", alpha=0.7, linestyle="--",
                    label=f"operating point ({rule})")
    briers = [t["brier"] for t in tests if t.get("brier") is not None]
    eces = [t["ece"] for t in tests if t.get("ece") is not None]
    title = f"{model}: reliability (test, calibrated)"
    if briers and eces:
        title += f"\nBrier {np.mean(briers):.3f}, ECE {np.mean(eces):.3f}"
    top.set(title=title, ylabel="observed share positive", xlim=(0, 1), ylim=(0, 1.01))
    top.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    width = [b["hi"] - b["lo"] for b in bins]
    bottom.bar([b["lo"] for b in bins], [b["n"] for b in bins], width=width, align="edge",
               color="C0", alpha=0.5, edgecolor="white")
    bottom.set(xlabel="predicted P(positive)", ylabel="clips")
    bottom.grid(alpha=0.3)
    return fig


def _series(history: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(r.get("epoch", i), r.get(key)) for i, r in enumerate(history)]
    rows = [(e, v) for e, v in rows if v is not None]
    if not rows:
        return np.array([]), np.array([])
    epochs, values = zip(*rows)
    return np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)


def _sorted(seeds: dict[Any, Any]) -> list[tuple[Any, Any]]:
    return sorted(seeds.items(), key=lambda kv: (str(type(kv[0])), kv[0]))


def _two_classes(y: Any) -> bool:
    if y is None or len(y) == 0:
        return False
    from .splits import as_binary

    yb = as_binary(y)
    return 0 < int(yb.sum()) < yb.size
