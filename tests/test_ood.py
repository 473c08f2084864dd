"""Out-of-distribution evaluation: the confound-controlled (stratified) AUC, ``evaluate``'s
intervals and per-group results, on small real covid19-cough subsets (call-centre phone
clips vs Telegram voice notes, a source confounded with the label)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.metrics import roc_auc, stratified_auc

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ stratified AUC


def test_stratified_auc_counts_within_value_pairs_only() -> None:
    rng = np.random.default_rng(0)
    strata = np.repeat(["a", "b", "c"], [50, 80, 30])
    y = (rng.random(160) < np.where(strata == "a", 0.7, 0.2)).astype(int)
    y[strata == "c"] = 0  # one class only: no within-value pair
    p = rng.random(160) + 0.3 * y
    got = stratified_auc(y, p, strata, n_boot=200)
    wins = pairs = 0.0
    for s in ("a", "b"):
        m = strata == s
        for pp in p[m & (y == 1)]:
            for pn in p[m & (y == 0)]:
                wins += (pp > pn) + 0.5 * (pp == pn)
                pairs += 1
    assert got["roc_auc"] == pytest.approx(wins / pairs)
    assert got["left_out"] == ["c"] and set(got["by_value"]) == {"a", "b"}
    lo, hi = got["roc_auc_ci"]
    assert lo < got["roc_auc"] < hi


def test_stratified_auc_removes_what_the_column_alone_explains() -> None:
    """Scores that only know the source rank positives first overall, but not within a
    source: the pooled AUC is high, the stratified one is chance."""
    rng = np.random.default_rng(1)
    source = np.repeat(["phone", "app"], 400)
    y = (rng.random(800) < np.where(source == "phone", 0.7, 0.2)).astype(int)
    p = np.where(source == "phone", 0.8, 0.2) + 0.01 * rng.random(800)
    assert roc_auc(y, p) > 0.75
    got = stratified_auc(y, p, source, n_boot=300)
    assert abs(got["roc_auc"] - 0.5) < 0.08
    assert got["roc_auc_ci"][0] < 0.5 < got["roc_auc_ci"][1]
    assert stratified_auc(np.zeros(5), np.ones(5), ["x"] * 5)["roc_auc"] is None


# ------------------------------------------------------------------ on real clips


def _subset_manifest(shared: Path, out: Path, counts: dict[tuple[str, str], tuple[int, int]]
                     ) -> Path:
    """A manifest of real clips: for (source, label), rows [start, stop) of that kind."""
    src = shared / "covid19-cough" / "manifest.csv"
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    picked = []
    for (source, label), (start, stop) in counts.items():
        kind = [r for r in rows if r["source"] == source and r["label"] == label]
        picked += kind[start:stop]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "source"])
        for r in picked:
            w.writerow([str(src.parent / r["path"]), r["label"], r["source"]])
    return out


def real_manifests(shared: Path, base: Path) -> tuple[Path, Path]:
    """A confounded development subset (call-centre mostly positive, Telegram mostly
    negative, as the whole set) and a disjoint subset to evaluate on."""
    dev = _subset_manifest(shared, base / "dev.csv", {
        ("call-center", "positive"): (0, 40), ("call-center", "negative"): (0, 20),
        ("telegram", "positive"): (0, 14), ("telegram", "negative"): (0, 46)})
    other = _subset_manifest(shared, base / "other.csv", {
        ("call-center", "positive"): (40, 60), ("call-center", "negative"): (20, 32),
        ("telegram", "positive"): (14, 22), ("telegram", "negative"): (46, 70)})
    return dev, other


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("ood-home")
    return {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
            "COUGHSCOPE_CACHE_DIR": str(base / "cache"), "PYTHONUNBUFFERED": "1"}


def cs(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def real_run(shared_data: Path, env: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("ood")
    dev, other = real_manifests(shared_data, base)
    out = cs(["--headless", "--data", str(dev), "--models", "logreg", "--seeds", "2",
              "--runs-dir", str(base / "runs"), "--run-id", "dev", "--json"], env)
    assert out.returncode == 0, out.stderr
    return base / "runs" / "dev", other, json.loads(out.stdout)


def test_evaluate_reports_intervals_groups_and_the_confound_controlled_auc(
        real_run: tuple[Path, Path, dict], env: dict[str, str]) -> None:
    run, other, trained = real_run
    assert trained["group_baselines"]["source"]["warning"]  # the subset is confounded
    out = cs(["evaluate", str(run), "--data", str(other), "--json"], env)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["models"]["logreg"]
    lo, hi = m["roc_auc_ci"]
    assert 0 <= lo < m["roc_auc"]["mean"] < hi <= 1
    for value in ("call-center", "telegram"):
        g = m["by_group"]["source"][value]
        assert g["n_seeds"] == 2
        assert g["roc_auc_ci"][0] < g["roc_auc"]["mean"] < g["roc_auc_ci"][1]
    cc = m["confound_controlled"]
    assert cc["column"] == "source" and cc == {"column": "source", **m["stratified_auc"]["source"]}
    within = [m["by_group"]["source"][v]["roc_auc"]["mean"] for v in ("call-center", "telegram")]
    assert min(within) - 1e-9 <= cc["roc_auc"]["mean"] <= max(within) + 1e-9
    text = cs(["evaluate", str(run), "--data", str(other)], env)
    assert text.returncode == 0, text.stderr
    assert "confound-controlled" in text.stdout and "bootstrap interval" in text.stdout


# ------------------------------------------------------------------ leave one value out


def test_test_group_split_holds_one_value_out_and_splits_the_rest() -> None:
    from engine.config import SplitConfig
    from engine.splits import make_splits

    rng = np.random.default_rng(0)
    n = 300
    source = np.where(rng.random(n) < 0.4, "telegram", "call-center")
    y = (rng.random(n) < np.where(source == "call-center", 0.7, 0.2)).astype(int)
    groups = np.array([f"p{i // 2}" for i in range(n)])  # two clips per participant
    source[1] = "telegram"  # participant p0 recorded on both channels
    meta = {"source": source}
    (split,) = make_splits(y, groups, SplitConfig(test_group="source=telegram"), meta.get)
    held = np.isin(groups, np.unique(groups[source == "telegram"]))
    assert np.array_equal(split.ood, np.flatnonzero(held)) and 0 in split.ood
    rest = np.concatenate([split.train, split.val, split.test])
    assert not set(rest) & set(split.ood) and len(rest) + len(split.ood) == n
    assert set(source[rest]) == {"call-center"}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test"), ("train", "ood")):
        assert not set(groups[getattr(split, a)]) & set(groups[getattr(split, b)])
    parts = split.parts(n)
    assert set(parts[split.ood]) == {"ood"} and split.ood_group == "source=telegram"
    assert split.describe(y, groups)["ood"]["clips"] == len(split.ood)


@pytest.mark.parametrize("text, word", [
    ("source", "COLUMN=VALUE"), ("site=x", "no such metadata column"),
    ("source=fax", "values of source"), ("source=lab", "both classes"),
])
def test_test_group_mistakes_are_explained(text: str, word: str) -> None:
    from engine.config import SplitConfig
    from engine.errors import CoughscopeError
    from engine.splits import make_splits

    y = np.array([0, 1] * 10 + [1, 1])
    source = np.array(["a"] * 10 + ["b"] * 10 + ["lab"] * 2)
    with pytest.raises(CoughscopeError) as err:
        make_splits(y, np.arange(22).astype(str), SplitConfig(test_group=text),
                    {"source": source}.__getitem__)
    assert word in f"{err.value} {err.value.hint}"


def test_leave_one_source_out_is_reported_beside_the_test_part(
        shared_data: Path, env: dict[str, str], tmp_path: Path) -> None:
    """--test-group source=telegram on real clips: the Telegram clips are never trained or
    validated on, and every model reports them (ood) beside the call-centre test part."""
    dev, _ = real_manifests(shared_data, tmp_path)
    out = cs(["--headless", "--data", str(dev), "--models", "logreg,logreg_cv", "--seeds", "1",
              "--test-group", "source=telegram", "--runs-dir", str(tmp_path / "runs"),
              "--run-id", "loso", "--json"], env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    run = tmp_path / "runs" / "loso"
    with open(run / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(dev, newline="") as fh:
        source = {r["path"]: r["source"] for r in csv.DictReader(fh)}
    assert {r["split"] for r in rows if source[r["clip"]] == "telegram"} == {"ood"}
    assert {r["split"] for r in rows if source[r["clip"]] != "telegram"} == {"train", "val", "test"}
    for model in ("logreg", "logreg_cv"):
        ood = result["models"][model]["ood"]
        assert ood["group"] == "source=telegram"
        assert ood["metrics"]["n"]["mean"] == 60  # every Telegram clip of the subset
        lo, hi = ood["roc_auc_ci"]
        assert lo < ood["metrics"]["roc_auc"]["mean"] < hi
        metrics = json.loads((run / model / "0" / "metrics.json").read_text())
        assert metrics["test"]["n"] == sum(r["split"] == "test" for r in rows)
    bad = cs(["--headless", "--data", str(dev), "--models", "logreg", "--test-group",
              "source=fax", "--runs-dir", str(tmp_path / "runs")], env)
    assert bad.returncode == 2 and "fax" in bad.stderr and "call-center" in bad.stderr
