"""Group-disjoint, stratified splits and k folds (engine.splits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import SplitConfig
from engine.errors import ConfigError, DataError
from engine.splits import Split, as_binary, make_folds, make_split, make_splits

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def random_data(seed: int, n_groups: int = 200, pos_rate: float = 0.25):
    """Groups of 1..6 clips; mostly one label per group, some groups mixed."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_groups)
    groups = np.repeat(np.array([f"p{i:04d}" for i in range(n_groups)]), sizes)
    group_label = (rng.random(n_groups) < pos_rate).astype(int)
    y = np.repeat(group_label, sizes)
    flip = rng.random(y.size) < 0.05  # a participant recorded with a different status
    y = np.where(flip, 1 - y, y)
    perm = rng.permutation(y.size)  # rows of one group need not be adjacent
    return y[perm], groups[perm]


def assert_disjoint(split: Split, groups: np.ndarray) -> None:
    sets = [set(groups[getattr(split, p)]) for p in ("train", "val", "test")]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7])
def test_split_is_group_disjoint_stratified_and_sized(seed: int) -> None:
    y, groups = random_data(seed)
    config = SplitConfig(test=0.3, val=0.2, seed=seed)
    split = make_split(y, groups, config)

    all_rows = np.sort(np.r_[split.train, split.val, split.test])
    assert np.array_equal(all_rows, np.arange(y.size))  # every row exactly once
    for part in (split.train, split.val, split.test):
        assert np.all(np.diff(part) > 0)  # sorted, no duplicates
    assert_disjoint(split, groups)

    n = y.size
    assert abs(split.test.size / n - 0.3) < 0.02
    assert abs(split.val.size / (n - split.test.size) - 0.2) < 0.02
    overall = y.mean()
    for part in (split.train, split.val, split.test):
        assert abs(y[part].mean() - overall) < 0.06  # stratified within tolerance


def test_split_is_deterministic_and_seed_dependent() -> None:
    y, groups = random_data(11)
    a = make_split(y, groups, SplitConfig(seed=5))
    b = make_split(y, groups, SplitConfig(seed=5))
    c = make_split(y, groups, SplitConfig(seed=6))
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)
    assert a.seed == 5 and a.fold is None


def test_mixed_label_group_stays_on_one_side() -> None:
    y = np.array([0, 1, 1, 0] + [1, 1, 1, 0, 0, 0] * 5)
    groups = np.array(["mixed"] * 4 + [f"g{i}" for i in range(30)])
    for seed in range(5):
        split = make_split(y, groups, SplitConfig(seed=seed))
        parts = split.parts(y.size)
        assert len(set(parts[groups == "mixed"])) == 1
        assert_disjoint(split, groups)


def test_parts_and_describe() -> None:
    y, groups = random_data(3, n_groups=60)
    labels = np.where(y == 1, "positive", "negative")  # string labels are accepted too
    split = make_split(labels, groups, SplitConfig(seed=1))
    parts = split.parts(y.size)
    assert set(parts) == {"train", "val", "test"}
    assert np.array_equal(np.flatnonzero(parts == "test"), split.test)
    d = split.describe(labels, groups)
    assert d["test"]["clips"] == split.test.size
    assert d["train"]["positives"] == int(y[split.train].sum())
    assert d["val"]["groups"] == len(set(groups[split.val]))
    assert sum(p["clips"] for p in d.values()) == y.size
    assert all(p["positives"] > 0 and p["negatives"] > 0 for p in d.values())


@pytest.mark.parametrize("seed", [0, 4])
@pytest.mark.parametrize("k", [3, 5])
def test_folds_cover_every_group_once_as_test(seed: int, k: int) -> None:
    y, groups = random_data(seed, n_groups=120)
    folds = make_folds(y, groups, SplitConfig(folds=k, seed=seed))
    assert len(folds) == k and [f.fold for f in folds] == list(range(k))
    test_groups = [g for f in folds for g in set(groups[f.test])]
    assert sorted(test_groups) == sorted(set(groups))  # each group test exactly once
    assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(y.size))
    for f in folds:
        assert_disjoint(f, groups)
        assert f.train.size + f.val.size + f.test.size == y.size
        assert abs(f.test.size / y.size - 1 / k) < 0.03
        assert abs(y[f.test].mean() - y.mean()) < 0.08
    again = make_folds(y, groups, SplitConfig(folds=k, seed=seed))
    assert all(np.array_equal(a.val, b.val) for a, b in zip(folds, again))
    assert len(make_splits(y, groups, SplitConfig(folds=k, seed=seed))) == k
    assert len(make_splits(y, groups, SplitConfig(seed=seed))) == 1


def test_one_class_is_a_data_error_naming_counts() -> None:
    y = np.zeros(76, dtype=int)
    groups = np.arange(76)
    with pytest.raises(DataError) as err:
        make_split(y, groups, SplitConfig())
    assert "all 76 clips are negative" in err.value.message
    assert "positive" in err.value.hint


def test_too_few_positive_groups_is_a_data_error() -> None:
    y = np.array([1, 1, 1, 1] + [0] * 40)
    groups = np.array(["a", "a", "b", "b"] + [f"n{i}" for i in range(40)])  # 2 positive groups
    with pytest.raises(DataError) as err:
        make_split(y, groups, SplitConfig())
    assert "too few groups" in err.value.message
    assert "4 positive and 40 negative" in err.value.message
    assert err.value.hint


def test_three_groups_per_class_is_enough() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    split = make_split(y, np.arange(6), SplitConfig(seed=2))
    assert all(split.describe(y, np.arange(6))[p]["positives"] == 1 for p in ("train", "val", "test"))


def test_bad_fold_settings() -> None:
    y, groups = random_data(0, n_groups=20)
    with pytest.raises(ConfigError):
        make_folds(y, groups, SplitConfig(folds=1))
    with pytest.raises(DataError, match="folds need at least"):
        make_folds([0, 1, 1], ["a", "b", "b"], SplitConfig(folds=5))


def test_unknown_label_values_are_named() -> None:
    with pytest.raises(DataError, match="'maybe'"):
        as_binary(np.array(["positive", "maybe"]))
    with pytest.raises(DataError, match="not binary"):
        as_binary(np.array([0, 2]))


def test_split_of_real_manifest_groups() -> None:
    """The covid19-cough manifest, split on its own group column when it has one."""
    manifest = SHARED / "covid19-cough" / "manifest.csv"
    if not manifest.exists():
        pytest.skip(f"real data not present at {manifest}")
    import csv

    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([r["label"] for r in rows])
    groups = np.array([r.get("group") or r["path"] for r in rows])
    split = make_split(y, groups, SplitConfig(seed=0))
    assert_disjoint(split, groups)
    d = split.describe(y, groups)
    assert abs(d["test"]["clips"] / len(rows) - 0.3) < 0.02
    assert all(p["positives"] > 0 and p["negatives"] > 0 for p in d.values())
