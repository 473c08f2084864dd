"""Metrics for binary classifiers, with intervals, baselines and per-group confound checks.

This module owns every number a run reports about predictions:

* :func:`roc_auc` (rank based, ties averaged), :func:`roc_curve`, and
  :func:`bootstrap_auc_ci` -- a stratified bootstrap percentile interval, vectorised.
* :func:`choose_threshold` -- the decision threshold, chosen by Youden's J on the
  *validation* predictions (never the test part); :class:`OperatingPoint` and
  :func:`operating_threshold` -- the user's operating point (``youden``, ``sensitivity=0.8``,
  ``specificity=0.95``), placed on out-of-fold or validation predictions, and
  :func:`rates_with_intervals` -- the sensitivity, specificity and share called positive
  expected there (or measured on test), with Wilson intervals.
* :func:`calibration_metrics` -- Brier score and expected calibration error with bootstrap
  intervals, and the reliability diagram's points.
* :func:`binary_metrics` -- the full report at a threshold (a row is predicted positive when
  its probability is ``>= threshold``), with the majority-class baseline beside accuracy.
* :func:`aggregate` -- mean and standard deviation over seeds.
* :func:`per_group` and :func:`group_only_baseline` / :func:`confound_warning` -- results per
  metadata value (e.g. ``source``) and a check whether that column alone predicts the label.
* :func:`stratified_auc` -- the confound-controlled AUC: positives ranked against negatives of
  the *same* value of a column only (within-value AUCs pooled by their pair counts), so a
  column that predicts the label cannot raise it.

All results are plain JSON-able Python values; anything undefined (e.g. AUC with one class)
is ``None``. Labels are 0/1 (1 = positive) or the strings ``negative``/``positive``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .splits import as_binary

METRIC_KEYS: tuple[str, ...] = (
    "roc_auc",
    "roc_auc_ci",
    "accuracy",
    "majority_accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "spec_at_80_sens",
    "f1",
    "threshold",
    "confusion",
    "n",
    "n_positive",
)
MAX_GROUP_VALUES = 20  # per_group only looks at columns with 2..20 distinct values
MISSING = "(missing)"  # the group value used for empty/None metadata


# ----------------------------------------------------------------------------- ROC / AUC


def roc_auc(y: Any, p: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg), ties count half).

    ``nan`` when ``y`` holds only one class.
    """
    yb, pv = _inputs(y, p)
    n_pos = int(yb.sum())
    n_neg = yb.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(pv)
    u = ranks[yb == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates for every distinct threshold, highest first.

    ``thresholds[0]`` is ``inf`` (nothing predicted positive: the point (0, 0)); at
    ``thresholds[i]`` a row is positive when ``p >= thresholds[i]``. Rates are ``nan`` for a
    class that is absent.
    """
    yb, pv = _inputs(y, p)
    order = np.argsort(-pv, kind="mergesort")
    ps, ys = pv[order], yb[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1] if ps.size else []
    tps = np.cumsum(ys)[last_of_value]
    fps = (np.asarray(last_of_value) + 1) - tps
    n_pos, n_neg = int(yb.sum()), int(yb.size - yb.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.r_[0.0, tps] / (n_pos if n_pos else np.nan)
        fpr = np.r_[0.0, fps] / (n_neg if n_neg else np.nan)
    thresholds = np.r_[np.inf, ps[last_of_value]] if ps.size else np.array([np.inf])
    return fpr, tpr, thresholds


def bootstrap_auc_ci(
    y: Any, p: Any, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the AUC over ``n_boot`` stratified bootstrap resamples.

    Positives and negatives are resampled separately (each with its own count), so every
    resample has both classes. ``(nan, nan)`` when ``y`` has one class or ``n_boot < 1``.
    """
    yb, pv = _inputs(y, p)
    pos, neg = pv[yb == 1], pv[yb == 0]
    if pos.size == 0 or neg.size == 0 or n_boot < 1:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    aucs = _bootstrap_aucs(pos, neg, n_boot, rng)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(aucs, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def _bootstrap_aucs(
    pos: np.ndarray, neg: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """AUC of each resample, from per-resample multiplicities over the distinct scores."""
    values, inverse = np.unique(np.r_[pos, neg], return_inverse=True)
    pos_bin, neg_bin = inverse[: pos.size], inverse[pos.size :]
    n_bins = values.size
    w_pos = _resample_counts(pos.size, n_boot, rng)  # (B, n_pos) multiplicities
    w_neg = _resample_counts(neg.size, n_boot, rng)
    # negatives' weight per distinct score, then below/at each positive's score
    offsets = (np.arange(n_boot) * n_bins)[:, None]
    neg_hist = np.bincount(
        (offsets + neg_bin[None, :]).ravel(), weights=w_neg.ravel(), minlength=n_boot * n_bins
    ).reshape(n_boot, n_bins)
    below = np.cumsum(neg_hist, axis=1) - neg_hist
    score = below[:, pos_bin] + 0.5 * neg_hist[:, pos_bin]
    return (w_pos * score).sum(axis=1) / (pos.size * neg.size)


def _resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``n_boot`` resamples of size n."""
    draws = rng.integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)


# ------------------------------------------------------------------------------ thresholds


def log_loss(y: Any, p: Any) -> float:
    """Mean binary cross-entropy, probabilities clipped away from 0 and 1 (the one log-loss
    of the engine: runner, baselines and reports use it)."""
    yb, pv = _inputs(y, p)
    pv = np.clip(pv.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(yb * np.log(pv) + (1 - yb) * np.log(1 - pv)))


def choose_threshold(y_val: Any, p_val: Any) -> float:
    """The threshold maximising Youden's J = sensitivity + specificity - 1 on validation.

    Call it with the *validation* part's labels and probabilities; the test part is then
    scored once at this threshold. Ties in J go to the highest threshold. Falls back to 0.5
    when J is undefined or not positive (one class in ``y_val``, constant or useless scores).
    """
    yb, pv = _inputs(y_val, p_val)
    if yb.size == 0 or yb.min() == yb.max():
        return 0.5
    fpr, tpr, thresholds = roc_curve(yb, pv)
    j = tpr[1:] - fpr[1:]
    best = int(np.argmax(j))
    if not j[best] > 0 or not np.isfinite(thresholds[1 + best]):
        return 0.5
    return float(thresholds[1 + best])


def spec_at_sens(y: Any, p: Any, sensitivity: float = 0.8) -> float:
    """Specificity at the highest threshold whose sensitivity reaches ``sensitivity``.

    With 0.8 this is the DiCOVA challenge's "specificity at 80% sensitivity". ``nan`` when a
    class is absent.
    """
    fpr, tpr, _ = roc_curve(y, p)
    if not np.all(np.isfinite(tpr)) or not np.all(np.isfinite(fpr)):
        return math.nan
    first = int(np.argmax(tpr >= sensitivity - 1e-12))
    return float(1.0 - fpr[first])


# ------------------------------------------------------------------------ operating points

OPERATING_POINT_HINT = ("youden (the threshold maximising sensitivity + specificity), "
                        "sensitivity=0.8 (the DiCOVA point: the highest threshold reaching that "
                        "sensitivity) or specificity=0.95")


@dataclass(frozen=True)
class OperatingPoint:
    """Where a model's decision threshold is put on its ROC curve.

    ``youden``: maximise sensitivity + specificity - 1. ``sensitivity=S``: the highest
    threshold whose sensitivity reaches S (the most specific such point). ``specificity=S``:
    the lowest threshold whose specificity reaches S (the most sensitive such point).
    """

    rule: str  # "youden" | "sensitivity" | "specificity"
    target: float | None = None

    def __str__(self) -> str:
        return self.rule if self.target is None else f"{self.rule}={self.target:g}"

    @classmethod
    def parse(cls, text: str) -> "OperatingPoint":
        """``"youden"``, ``"sensitivity=0.8"`` or ``"specificity=0.95"`` (a ValueError with
        the valid forms otherwise)."""
        raw = str(text).strip().lower()
        if raw == "youden":
            return cls("youden")
        name, sep, value = raw.partition("=")
        name = name.strip()
        if sep and name in ("sensitivity", "specificity"):
            try:
                target = float(value)
            except ValueError:
                raise ValueError(f"operating point {text!r}: {value.strip()!r} is not a "
                                 "number") from None
            if not 0.0 < target < 1.0:
                raise ValueError(f"operating point {text!r}: {name} must lie between 0 and 1 "
                                 "(exclusive), e.g. 0.8")
            return cls(name, target)
        raise ValueError(f"unknown operating point {text!r}")


def operating_threshold(y: Any, p: Any, point: OperatingPoint | str) -> float:
    """The threshold for ``point`` on predictions ``p`` of labels ``y`` (a row is positive
    when its probability is ``>= threshold``).

    The threshold is put halfway between the last score called positive and the next lower
    distinct score, so a model whose new scores fall between its old ones is not decided by
    which side of a single old score they land. 0.5 when ``y`` holds one class or ``p`` is
    constant (no threshold separates anything).
    """
    if isinstance(point, str):
        point = OperatingPoint.parse(point)
    yb, pv = _inputs(y, p)
    if yb.size == 0 or yb.min() == yb.max() or pv.min() == pv.max():
        return 0.5
    fpr, tpr, thresholds = roc_curve(yb, pv)
    # index i >= 1: rows with p >= thresholds[i] positive; i == len-1 calls everything positive
    if point.rule == "youden":
        j = tpr[1:] - fpr[1:]
        best = 1 + int(np.argmax(j))  # ties: the highest threshold
        if not j[best - 1] > 0:
            return 0.5
    elif point.rule == "sensitivity":
        best = int(np.argmax(tpr >= point.target - 1e-12))
        best = max(best, 1)
    else:  # specificity: the lowest threshold (largest index) with 1 - fpr >= target
        ok = np.flatnonzero(1.0 - fpr >= point.target - 1e-12)
        best = int(ok.max()) if ok.size else 0
        if best == 0:  # not even the strictest threshold reaches it: nothing positive
            return float(np.nextafter(pv.max(), np.inf))
    t = float(thresholds[best])
    lower = thresholds[best + 1] if best + 1 < thresholds.size else None
    if lower is not None and np.isfinite(lower):
        return float((t + float(lower)) / 2.0)
    return t


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> list[float] | None:
    """The Wilson score 95% interval of a proportion (None when ``n`` is 0)."""
    if n <= 0:
        return None
    phat = successes / n
    den = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / den
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / den
    return [max(0.0, centre - half), min(1.0, centre + half)]


def rates_with_intervals(y: Any, p: Any, threshold: float) -> dict[str, Any]:
    """Sensitivity, specificity and the share called positive at ``threshold``, each with its
    Wilson 95% interval: what is *expected* when measured on out-of-fold predictions, what
    was *measured* on the test part."""
    yb, pv = _inputs(y, p)
    c = confusion_at(yb, pv, threshold)
    n_pos, n_neg = c["tp"] + c["fn"], c["tn"] + c["fp"]
    called = c["tp"] + c["fp"]
    n = n_pos + n_neg
    return {
        "sensitivity": _clean(_ratio(c["tp"], n_pos)),
        "sensitivity_ci": wilson_interval(c["tp"], n_pos),
        "specificity": _clean(_ratio(c["tn"], n_neg)),
        "specificity_ci": wilson_interval(c["tn"], n_neg),
        "positive_share": _clean(_ratio(called, n)),
        "positive_share_ci": wilson_interval(called, n),
        "n": int(n),
    }


# ----------------------------------------------------------------------------- calibration

RELIABILITY_BINS = 10


def brier(y: Any, p: Any) -> float:
    """Mean squared difference between P(positive) and the 0/1 label (lower is better;
    always answering the base rate scores base_rate * (1 - base_rate))."""
    yb, pv = _inputs(y, p)
    return float(np.mean((pv - yb) ** 2)) if yb.size else math.nan


def expected_calibration_error(y: Any, p: Any, bins: int = RELIABILITY_BINS) -> float:
    """ECE: over ``bins`` equal-width probability bins, the clip-weighted mean of
    |mean predicted probability - share of positives|."""
    yb, pv = _inputs(y, p)
    if not yb.size:
        return math.nan
    b = np.minimum((np.clip(pv, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    count = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, weights=pv, minlength=bins)
                 - np.bincount(b, weights=yb, minlength=bins))
    return float(gap.sum() / yb.size) if count.sum() else math.nan


def reliability(y: Any, p: Any, bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """The reliability diagram's points: per non-empty equal-width bin ``[lo, hi)``, its
    clip count, mean predicted probability and observed share of positives (with the Wilson
    interval of that share)."""
    yb, pv = _inputs(y, p)
    b = np.minimum((np.clip(pv, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    out = []
    for i in range(bins):
        mask = b == i
        n = int(mask.sum())
        if not n:
            continue
        pos = int(yb[mask].sum())
        out.append({"lo": i / bins, "hi": (i + 1) / bins, "n": n,
                    "predicted": float(pv[mask].mean()), "observed": pos / n,
                    "observed_ci": wilson_interval(pos, n)})
    return out


def calibration_metrics(y: Any, p: Any, *, n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict[str, Any]:
    """Brier score and ECE with percentile bootstrap intervals (clips resampled), and the
    reliability points. Undefined values are None.

    ECE sums absolute gaps, so resampling noise only adds to it: for a well-calibrated model
    the interval lies above the estimate (it says how large the gap could look, not that it
    is larger). Brier's interval has no such bias."""
    yb, pv = _inputs(y, p)
    if not yb.size:
        return {"brier": None, "brier_ci": None, "ece": None, "ece_ci": None, "reliability": []}
    out: dict[str, Any] = {"brier": _clean(brier(yb, pv)), "brier_ci": None,
                           "ece": _clean(expected_calibration_error(yb, pv)), "ece_ci": None,
                           "reliability": reliability(yb, pv)}
    if n_boot > 0 and yb.size > 1:
        rng = np.random.default_rng([seed, 7])
        idx = rng.integers(0, yb.size, size=(n_boot, yb.size))
        ys, ps = yb[idx], pv[idx]
        briers = ((ps - ys) ** 2).mean(axis=1)
        bins = np.minimum((np.clip(ps, 0.0, 1.0) * RELIABILITY_BINS).astype(np.int64),
                          RELIABILITY_BINS - 1)
        flat = (bins + (np.arange(n_boot) * RELIABILITY_BINS)[:, None]).ravel()
        size = n_boot * RELIABILITY_BINS
        gap = np.abs(np.bincount(flat, weights=ps.ravel(), minlength=size)
                     - np.bincount(flat, weights=ys.ravel(), minlength=size))
        eces = gap.reshape(n_boot, RELIABILITY_BINS).sum(axis=1) / yb.size
        alpha = (1.0 - level) / 2.0
        out["brier_ci"] = [float(v) for v in np.quantile(briers, [alpha, 1 - alpha])]
        out["ece_ci"] = [float(v) for v in np.quantile(eces, [alpha, 1 - alpha])]
    return out


def pool_reliability(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Reliability bins of several seeds (or models) pooled: counts added, predicted and
    observed shares weighted by them, the Wilson interval of the pooled share."""
    pooled: dict[tuple[float, float], list[float]] = {}
    for bins in per_seed:
        for b in bins:
            entry = pooled.setdefault((b["lo"], b["hi"]), [0.0, 0.0, 0.0])
            entry[0] += b["n"]
            entry[1] += b["predicted"] * b["n"]
            entry[2] += b["observed"] * b["n"]
    return [{"lo": lo, "hi": hi, "n": int(n), "predicted": pred / n, "observed": obs / n,
             "observed_ci": wilson_interval(int(round(obs)), int(n))}
            for (lo, hi), (n, pred, obs) in sorted(pooled.items()) if n]


# --------------------------------------------------------------------------------- report


def binary_metrics(
    y: Any,
    p: Any,
    threshold: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    majority_label: int | str | None = None,
) -> dict[str, Any]:
    """Every reported metric for probabilities ``p`` at ``threshold`` (positive: p >= t).

    ``majority_accuracy`` is the accuracy of always answering one class: the training
    part's majority class when given as ``majority_label`` (the honest baseline: it is what
    a constant model trained there would answer), else this set's own majority class.
    ``roc_auc_ci`` is ``[lo, hi]`` from a stratified bootstrap (``None`` with one class).
    """
    yb, pv = _inputs(y, p)
    confusion = confusion_at(yb, pv, threshold)
    tn, fp, fn, tp = (confusion[k] for k in ("tn", "fp", "fn", "tp"))
    n, n_pos = int(yb.size), int(yb.sum())
    rates = confusion_rates(confusion)
    sens = math.nan if rates["sensitivity"] is None else rates["sensitivity"]
    spec = math.nan if rates["specificity"] is None else rates["specificity"]
    recalls = [r for r in (sens, spec) if not math.isnan(r)]
    lo, hi = bootstrap_auc_ci(yb, pv, n_boot=n_boot, seed=seed)
    if majority_label is None:
        majority = 1 if n_pos > n - n_pos else 0
    else:
        majority = int(as_binary(np.array([majority_label]))[0])
    return {
        "roc_auc": _clean(roc_auc(yb, pv)),
        "roc_auc_ci": None if math.isnan(lo) else [lo, hi],
        "accuracy": rates["accuracy"],
        "majority_accuracy": _clean(_ratio(n_pos if majority else n - n_pos, n)),
        "balanced_accuracy": _clean(float(np.mean(recalls)) if recalls else math.nan),
        "sensitivity": _clean(sens),
        "specificity": _clean(spec),
        "spec_at_80_sens": _clean(spec_at_sens(yb, pv, 0.8) if n_pos and n - n_pos else math.nan),
        "f1": _clean(_ratio(2 * tp, 2 * tp + fp + fn)),
        "threshold": float(threshold),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "n": n,
        "n_positive": n_pos,
    }


def confusion_at(y: Any, p: Any, threshold: float) -> dict[str, int]:
    """``{tn, fp, fn, tp}`` when a row is predicted positive at ``p >= threshold``."""
    yb, pv = _inputs(y, p)
    pred = pv >= threshold
    pos = yb == 1
    return {"tn": int((~pred & ~pos).sum()), "fp": int((pred & ~pos).sum()),
            "fn": int((~pred & pos).sum()), "tp": int((pred & pos).sum())}


def confusion_rates(confusion: dict[str, Any]) -> dict[str, float | None]:
    """Sensitivity, specificity, precision, NPV and accuracy from ``{tn, fp, fn, tp}``
    (None where a denominator is zero). The one place these ratios are computed."""
    tn, fp, fn, tp = (int(confusion.get(k, 0) or 0) for k in ("tn", "fp", "fn", "tp"))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
    }


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of every numeric metric.

    Each numeric key becomes ``{"mean", "std"}``; ``None`` values (undefined in that seed)
    are ignored, and both are ``None`` when no seed defines it. ``std`` is the sample
    standard deviation (ddof=1: the seeds are a sample of possible trainings), ``None`` with
    a single value. ``confusion`` dicts are summed into ``confusion_pooled``; nested dicts
    (e.g. a ``by_group`` result) are aggregated recursively; strings are kept when all seeds
    agree, else joined with ``"; "``; lists (``roc_auc_ci``) are left out -- each seed has
    its own interval, see the per-seed metrics. ``n_seeds`` says how many dicts were given.
    """
    out: dict[str, Any] = {"n_seeds": len(per_seed)}
    keys: list[str] = []
    for d in per_seed:
        keys += [k for k in d if k not in keys]
    for key in keys:
        values = [d[key] for d in per_seed if key in d]
        if key == "confusion":
            out["confusion_pooled"] = _sum_counts(values)
        elif all(_is_number_or_none(v) for v in values):
            out[key] = mean_std(values)
        elif all(isinstance(v, dict) for v in values):
            out[key] = aggregate(values)
            out[key].pop("n_seeds", None)
        elif all(isinstance(v, str) for v in values):
            distinct = list(dict.fromkeys(values))
            out[key] = distinct[0] if len(distinct) == 1 else "; ".join(distinct)
    return out


def aggregate_by_group(by_groups: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    """Per-seed :func:`per_group` results -> ``{column: {value: aggregate(...)}}`` for every
    column in ``columns`` (empty when no seed reported it).

    A value is aggregated over the seeds whose test part holds it (``n_seeds`` says how
    many: in a k-fold run each fold's test part has its own values); ``roc_auc_ci`` is the
    seeds' intervals averaged bound by bound (:func:`mean_interval`).
    """
    out: dict[str, Any] = {}
    for column in columns:
        seen = [d[column] for d in by_groups if column in d]
        values = sorted({v for d in seen for v in d})
        out[column] = {}
        for v in values:
            entries = [d[v] for d in seen if v in d]
            out[column][v] = aggregate(entries)
            out[column][v]["roc_auc_ci"] = mean_interval([e.get("roc_auc_ci") for e in entries])
    return out


def mean_std(values: list[Any]) -> dict[str, float | None]:
    """``{"mean", "std"}`` over seeds of one metric's values, ``None`` entries ignored (what
    :func:`aggregate` gives each numeric key)."""
    return _mean_std([v for v in values if v is not None])


def mean_interval(intervals: list[Any]) -> list[float] | None:
    """The seeds' intervals ``[lo, hi]`` averaged bound by bound (``None`` entries skipped);
    ``None`` when there is none."""
    given = [c for c in intervals if c]
    if not given:
        return None
    return [float(np.mean([c[0] for c in given])), float(np.mean([c[1] for c in given]))]


# ------------------------------------------------------------------------------ per group


def group_columns(meta: dict[str, Any], max_values: int = MAX_GROUP_VALUES) -> list[str]:
    """The metadata columns worth a per-group report: 2..max_values distinct values."""
    return [
        col
        for col, values in meta.items()
        if 2 <= np.unique(_group_values(values)).size <= max_values
    ]


def per_group(
    y: Any,
    p: Any,
    threshold: float,
    meta: dict[str, Any],
    *,
    min_size: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{column: {value: binary_metrics}}`` for each column with 2..20 distinct values.

    Empty or missing values form the group ``"(missing)"``. A value with fewer than
    ``min_size`` clips, or only one class, still gets its counts and rates, but ``roc_auc``
    and ``roc_auc_ci`` are ``None`` and a ``note`` says why.
    """
    yb, pv = _inputs(y, p)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for col in group_columns(meta):
        values = _group_values(meta[col])
        out[col] = {}
        for value in sorted(np.unique(values).tolist()):
            mask = values == value
            m = binary_metrics(yb[mask], pv[mask], threshold, n_boot=n_boot, seed=seed)
            note = _small_group_note(m, min_size)
            if note:
                m.update(roc_auc=None, roc_auc_ci=None, note=note)
            out[col][str(value)] = m
    return out


def stratified_auc(
    y: Any, p: Any, strata: Any, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, Any]:
    """The AUC over within-stratum pairs only, with a stratified bootstrap interval.

    Equal to ``sum_s AUC_s * P_s * N_s / sum_s P_s * N_s`` over the values ``s`` of ``strata``
    holding both classes (``P_s``/``N_s``: their positives/negatives): the probability that a
    positive scores above a negative *recorded the same way*. Values with one class have no
    pair and are listed in ``left_out``. The bootstrap resamples positives and negatives within
    every value. ``roc_auc`` is ``None`` when no value holds both classes.
    """
    yb, pv = _inputs(y, p)
    values = _group_values(strata)
    rng = np.random.default_rng(seed)
    weights, aucs, boots, per_value, left_out = [], [], [], {}, []
    for value in sorted(np.unique(values).tolist()):
        mask = values == value
        pos, neg = pv[mask & (yb == 1)], pv[mask & (yb == 0)]
        if pos.size == 0 or neg.size == 0:
            left_out.append(str(value))
            continue
        auc = roc_auc(yb[mask], pv[mask])
        weights.append(pos.size * neg.size)
        aucs.append(auc)
        per_value[str(value)] = {"roc_auc": float(auc), "n_positive": int(pos.size),
                                 "n_negative": int(neg.size)}
        if n_boot > 0:
            boots.append(_bootstrap_aucs(pos, neg, n_boot, rng))
    if not weights:
        return {"roc_auc": None, "roc_auc_ci": None, "by_value": per_value, "left_out": left_out}
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    ci = None
    if boots:
        pooled = (np.stack(boots) * w[:, None]).sum(axis=0)
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(pooled, [alpha, 1.0 - alpha])
        ci = [float(lo), float(hi)]
    return {"roc_auc": float(np.dot(w, aucs)), "roc_auc_ci": ci, "by_value": per_value,
            "left_out": left_out}


def group_only_baseline(
    y_train: Any,
    g_train: Any,
    y_test: Any,
    g_test: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How well one metadata column alone predicts the label.

    P(positive | value) is estimated on the training part with Laplace smoothing,
    (positives + 1) / (clips + 2); a value never seen in training gets the training prior.
    The test part is scored with these probabilities: :func:`binary_metrics` at the
    threshold Youden's J picks on the training part, plus ``fpr``/``tpr`` lists (the ROC
    for figures) and ``p_by_value`` (the lookup table).
    """
    ytr, yte = as_binary(y_train), as_binary(y_test)
    gtr, gte = _group_values(g_train), _group_values(g_test)
    prior = (ytr.sum() + 1.0) / (ytr.size + 2.0)
    table = {
        str(v): float((ytr[gtr == v].sum() + 1.0) / ((gtr == v).sum() + 2.0))
        for v in np.unique(gtr)
    }
    p_train = np.array([table[str(v)] for v in gtr])
    p_test = np.array([table.get(str(v), prior) for v in gte])
    threshold = choose_threshold(ytr, p_train)
    result = binary_metrics(yte, p_test, threshold, n_boot=n_boot, seed=seed)
    fpr, tpr, _ = roc_curve(yte, p_test)
    result.update(
        fpr=[_clean(float(x)) for x in fpr],
        tpr=[_clean(float(x)) for x in tpr],
        p_by_value=table,
        p_unseen=float(prior),
    )
    return result


def confound_warning(
    baseline_auc: float | None, threshold: float = 0.65, column: str = "this column"
) -> str | None:
    """A warning sentence when a group-only baseline's AUC reaches ``threshold``, else None."""
    if baseline_auc is None or math.isnan(baseline_auc) or baseline_auc < threshold:
        return None
    return (
        f"{column} alone predicts the label (test ROC-AUC {baseline_auc:.2f} from {column} "
        f"only): either the data set is confounded with {column} (a recording channel, site "
        f"or date), so overall numbers may measure it rather than the cough, or {column} "
        f"describes the label itself (e.g. a test result). Read the within-group AUCs per "
        f"{column}, or resample so every value of it has a similar share of positives."
    )


# -------------------------------------------------------------------------------- helpers


def _inputs(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    yb = as_binary(y).ravel()
    pv = np.asarray(p, dtype=np.float64).ravel()
    if yb.shape != pv.shape:
        raise ValueError(f"{yb.size} labels but {pv.size} probabilities")
    return yb, pv


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    return mean_rank[inverse]


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else math.nan


def _clean(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _is_number_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _mean_std(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None}
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else None
    return {"mean": float(arr.mean()), "std": std}


def _sum_counts(values: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in values:
        for k, v in d.items():
            total[k] = total.get(k, 0) + int(v)
    return total


def _group_values(values: Any) -> np.ndarray:
    """Metadata values as strings, empty/None/nan as ``"(missing)"``."""
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        missing = v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""
        out.append(MISSING if missing else str(v))
    return np.array(out, dtype=str)


def _small_group_note(m: dict[str, Any], min_size: int) -> str | None:
    n, n_pos = m["n"], m["n_positive"]
    if n_pos == 0 or n_pos == n:
        only = "positive" if n_pos else "negative"
        return f"all {n} clips are {only}: ROC-AUC is undefined"
    if n < min_size:
        return f"only {n} clips (< {min_size}): ROC-AUC not reported"
    return None
