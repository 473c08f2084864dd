"""Metrics, intervals, thresholds, aggregation and confound checks (engine.metrics).

Values are cross-checked against scikit-learn on random data.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from engine.config import SplitConfig
from engine.metrics import (
    METRIC_KEYS,
    aggregate,
    binary_metrics,
    bootstrap_auc_ci,
    choose_threshold,
    confound_warning,
    group_only_baseline,
    per_group,
    roc_auc,
    roc_curve,
    spec_at_sens,
)
from engine.splits import make_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def scored(seed: int, n: int = 400, pos_rate: float = 0.3, signal: float = 0.25, digits=2):
    """Labels and probabilities with signal; rounding makes plenty of ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(int)
    p = np.clip(rng.random(n) * 0.7 + signal * y, 0, 1)
    return y, np.round(p, digits)


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_roc_curve_match_sklearn(seed: int) -> None:
    y, p = scored(seed)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, p)
    fpr2, tpr2, thr2 = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr2)
    np.testing.assert_allclose(tpr, tpr2)
    assert thr[0] == np.inf
    np.testing.assert_allclose(thr[1:], thr2[1:])


def test_auc_edge_cases() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc([0, 1], [0.9, 0.2]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5] * 4) == 0.5  # all tied: half credit
    assert roc_auc(["negative", "positive"], [0.1, 0.7]) == 1.0
    assert math.isnan(bootstrap_auc_ci([0, 0], [0.1, 0.2])[0])


@pytest.mark.parametrize("seed", range(4))
def test_binary_metrics_match_sklearn(seed: int) -> None:
    y, p = scored(seed)
    t = 0.45
    m = binary_metrics(y, p, t, n_boot=200, seed=seed)
    assert list(m) == list(METRIC_KEYS)
    pred = (p >= t).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"] == pytest.approx(skm.recall_score(1 - y, 1 - pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["majority_accuracy"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert m["n"] == y.size and m["n_positive"] == int(y.sum())
    assert m["threshold"] == t
    json.dumps(m, allow_nan=False)  # plain, JSON-able values


def test_majority_accuracy_uses_the_training_majority_when_given() -> None:
    y = np.array([1] * 6 + [0] * 4)  # this set is mostly positive
    p = np.linspace(0, 1, 10)
    assert binary_metrics(y, p, 0.5, n_boot=10)["majority_accuracy"] == 0.6
    assert binary_metrics(y, p, 0.5, n_boot=10, majority_label=0)["majority_accuracy"] == 0.4
    assert binary_metrics(y, p, 0.5, n_boot=10, majority_label="negative")[
        "majority_accuracy"
    ] == 0.4


def test_undefined_metrics_are_none() -> None:
    m = binary_metrics([0, 0, 0], [0.1, 0.6, 0.2], 0.5, n_boot=50)
    assert m["roc_auc"] is None and m["roc_auc_ci"] is None
    assert m["sensitivity"] is None and m["spec_at_80_sens"] is None
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m["f1"] == 0.0  # one false positive, no true positive
    json.dumps(m, allow_nan=False)


def test_spec_at_80_sens_follows_the_dicova_definition() -> None:
    # 5 positives, 5 negatives; sensitivity first reaches 0.8 at the 4th positive (p=0.6),
    # where negatives 0.7 and 0.65 are above the threshold -> specificity 3/5.
    y = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.7, 0.8, 0.65, 0.75, 0.6, 0.3, 0.2, 0.1, 0.05])
    assert spec_at_sens(y, p, 0.8) == pytest.approx(0.6)
    assert binary_metrics(y, p, 0.5, n_boot=10)["spec_at_80_sens"] == pytest.approx(0.6)
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    assert spec_at_sens(y, p, 0.8) == pytest.approx(1 - fpr[np.argmax(tpr >= 0.8)])


def test_bootstrap_ci_contains_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (100, 400, 1600):
        y, p = scored(1, n=n, digits=4)
        lo, hi = bootstrap_auc_ci(y, p, n_boot=1000, seed=0)
        auc = roc_auc(y, p)
        assert lo < auc < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] / widths[2] == pytest.approx(2.0, rel=0.3)  # ~ 1/sqrt(n)
    assert bootstrap_auc_ci(y, p, seed=3) == bootstrap_auc_ci(y, p, seed=3)  # deterministic


def test_bootstrap_matches_a_plain_loop() -> None:
    """The vectorised resampler computes the same AUCs as resampling and scoring one by one."""
    from engine.metrics import _bootstrap_aucs

    y, p = scored(2, n=60)
    pos, neg = p[y == 1], p[y == 0]
    fast = _bootstrap_aucs(pos, neg, 50, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    draws_pos = rng.integers(0, pos.size, size=(50, pos.size))
    draws_neg = rng.integers(0, neg.size, size=(50, neg.size))
    for b in range(50):
        ps, ns = pos[draws_pos[b]], neg[draws_neg[b]]
        yy = np.r_[np.ones(ps.size), np.zeros(ns.size)]
        assert fast[b] == pytest.approx(skm.roc_auc_score(yy, np.r_[ps, ns]))


def test_choose_threshold_maximises_youden_on_validation() -> None:
    y, p = scored(4, digits=3)
    t = choose_threshold(y, p)
    fpr, tpr, thr = skm.roc_curve(y, p)
    best = np.max(tpr - fpr)
    pred = p >= t
    j = pred[y == 1].mean() - pred[y == 0].mean()
    assert j == pytest.approx(best)
    assert choose_threshold([1, 1, 1], [0.2, 0.4, 0.9]) == 0.5  # one class
    assert choose_threshold([0, 1, 0, 1], [0.3] * 4) == 0.5  # constant scores
    assert choose_threshold([0, 1], [0.9, 0.1]) == 0.5  # useless (J <= 0)


def test_aggregate_mean_std_and_pooled_confusion() -> None:
    seeds = [binary_metrics(*scored(s), 0.45, n_boot=20) for s in range(4)]
    seeds[1]["sensitivity"] = None  # undefined in one seed: ignored
    agg = aggregate(seeds)
    assert agg["n_seeds"] == 4
    aucs = [s["roc_auc"] for s in seeds]
    assert agg["roc_auc"]["mean"] == pytest.approx(np.mean(aucs))
    assert agg["roc_auc"]["std"] == pytest.approx(np.std(aucs, ddof=1))
    sens = [s["sensitivity"] for s in seeds if s["sensitivity"] is not None]
    assert agg["sensitivity"]["mean"] == pytest.approx(np.mean(sens))
    assert agg["confusion_pooled"]["tp"] == sum(s["confusion"]["tp"] for s in seeds)
    assert "roc_auc_ci" not in agg and "confusion" not in agg
    one = aggregate(seeds[:1])
    assert one["accuracy"] == {"mean": seeds[0]["accuracy"], "std": None}
    json.dumps(agg, allow_nan=False)


def test_aggregate_recurses_into_by_group() -> None:
    by_seed = []
    for s in range(3):
        y, p = scored(s, n=200)
        source = np.where(np.arange(200) % 2, "a", "b")
        by_seed.append({"by_group": per_group(y, p, 0.45, {"source": source}, n_boot=20)})
    agg = aggregate(by_seed)
    a = agg["by_group"]["source"]["a"]
    assert a["roc_auc"]["mean"] == pytest.approx(
        np.mean([b["by_group"]["source"]["a"]["roc_auc"] for b in by_seed])
    )
    assert "confusion_pooled" in a


def test_per_group_columns_small_groups_and_values() -> None:
    y, p = scored(6, n=300)
    rng = np.random.default_rng(0)
    source = rng.choice(["call-center", "telegram"], size=300)
    source[:5] = "web"  # a tiny group
    meta = {
        "source": source,
        "id": np.arange(300).astype(str),  # too many values: skipped
        "constant": np.full(300, "x"),  # one value: skipped
        "verified": np.array(["true", "", None] * 100, dtype=object),  # empty -> (missing)
    }
    out = per_group(y, p, 0.45, meta, min_size=10, n_boot=50)
    assert set(out) == {"source", "verified"}
    assert set(out["source"]) == {"call-center", "telegram", "web"}
    assert set(out["verified"]) == {"true", "(missing)"}
    tele = source == "telegram"
    assert out["source"]["telegram"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y[tele], p[tele])
    )
    assert out["source"]["telegram"]["n"] == int(tele.sum())
    web = out["source"]["web"]
    assert web["roc_auc"] is None and web["roc_auc_ci"] is None and "5 clips" in web["note"]
    assert web["n"] == 5 and web["accuracy"] is not None


def confounded(seed: int, n: int = 600, confound: bool = True):
    """Two sources; positives are far more common in one when ``confound`` is set."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["phone", "studio"], size=n)
    rate = np.where(source == "phone", 0.6, 0.1) if confound else np.full(n, 0.3)
    y = (rng.random(n) < rate).astype(int)
    return y, source


def test_confound_warning_fires_on_a_confounded_set_only() -> None:
    y, src = confounded(0)
    yt, st = confounded(1)
    base = group_only_baseline(y, src, yt, st, n_boot=200)
    assert base["roc_auc"] > 0.7
    assert base["p_by_value"]["phone"] > 0.5 > base["p_by_value"]["studio"]
    phone = src == "phone"
    assert base["p_by_value"]["phone"] == pytest.approx((y[phone].sum() + 1) / (phone.sum() + 2))
    assert base["fpr"][0] == 0.0 and base["tpr"][-1] == 1.0
    warning = confound_warning(base["roc_auc"], column="source")
    assert warning and "source alone predicts the label" in warning
    assert "within-group" in warning

    y, src = confounded(0, confound=False)
    yt, st = confounded(1, confound=False)
    fair = group_only_baseline(y, src, yt, st, n_boot=200)
    assert abs(fair["roc_auc"] - 0.5) < 0.08
    assert confound_warning(fair["roc_auc"]) is None
    assert confound_warning(None) is None
    json.dumps(base, allow_nan=False)


def test_unseen_group_value_gets_the_training_prior() -> None:
    base = group_only_baseline([1, 0, 0, 0], ["a", "a", "b", "b"], [1, 0], ["c", "a"], n_boot=10)
    assert base["p_unseen"] == pytest.approx(2 / 6)
    assert base["p_by_value"] == {"a": 0.5, "b": 0.25}


def test_source_confound_on_the_real_covid19_cough_manifest() -> None:
    """The real manifest's `source` column alone predicts the label (DESIGN.md's worry)."""
    manifest = SHARED / "covid19-cough" / "manifest.csv"
    if not manifest.exists():
        pytest.skip(f"real data not present at {manifest}")
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([r["label"] for r in rows])
    source = np.array([r["source"] for r in rows])
    split = make_split(y, np.array([r["path"] for r in rows]), SplitConfig(seed=0))
    base = group_only_baseline(
        y[split.train], source[split.train], y[split.test], source[split.test], n_boot=200
    )
    assert base["roc_auc"] > 0.65
    assert confound_warning(base["roc_auc"], column="source") is not None
