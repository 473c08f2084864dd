"""Rebalancing the training part within a metadata column (confound-aware training)."""

from __future__ import annotations

import numpy as np

from engine.balance import balanced_indices


def test_every_value_ends_up_balanced_and_rows_are_real():
    rng = np.random.default_rng(0)
    values = np.array(["call"] * 70 + ["bot"] * 50 + ["web"] * 9)
    y = np.concatenate([rng.random(70) < 0.7, rng.random(50) < 0.18, np.ones(9, bool)]).astype(int)
    idx, one_class = balanced_indices(y, values, seed=3)
    assert one_class == ["web"]
    for value in ("call", "bot"):
        rows = idx[values[idx] == value]
        assert (y[rows] == 1).sum() == (y[rows] == 0).sum()
        # the majority class is kept whole, exactly once
        original = np.flatnonzero(values == value)
        major = 1 if (y[original] == 1).sum() > (y[original] == 0).sum() else 0
        assert sorted(rows[y[rows] == major]) == sorted(original[y[original] == major])
    assert set(idx[values[idx] == "web"]) == set(np.flatnonzero(values == "web"))
    # after rebalancing, the column no longer predicts the label
    for value in ("call", "bot"):
        assert y[idx][values[idx] == value].mean() == 0.5


def test_seeded_and_deterministic():
    y = np.array([1, 0, 0, 0, 0, 1, 1, 0])
    values = np.array(list("aaaaabbb"))
    a, _ = balanced_indices(y, values, seed=1)
    b, _ = balanced_indices(y, values, seed=1)
    assert np.array_equal(a, b)
