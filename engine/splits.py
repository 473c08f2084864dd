"""Honest splits: group-disjoint, label-stratified train/validation/test parts and k folds.

This module owns how rows (clips) are divided for training and evaluation:

* No group (participant) ever appears in two parts -- the unit of assignment is the group.
* Stratified by label: each group has a *stratum*, its majority label (ties count as
  positive, so scarce positives are spread over the parts), and every stratum is divided
  over the parts in the requested fractions, measured in clips.
* Every part holds at least one positive and one negative clip, or a :class:`DataError`
  says how many there are and what to do.
* Deterministic from ``SplitConfig.seed``; a different seed gives a different split.

``make_split`` makes one train/val/test split (``test`` of all clips held out, ``val`` of
the rest for validation); ``make_folds`` makes k folds over groups, each fold's groups being
one split's test part, with validation carved from the remaining groups.
``make_test_group_split`` holds one value of a metadata column out (``test_group =
"source=telegram"``): its clips are the out-of-distribution part ``ood``, never trained or
validated on, and the other clips are split into train/val/test as usual (``test`` then
being the in-distribution test part reported beside it).

Labels may be given as 0/1 (1 = positive) or as the strings ``negative``/``positive``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import SplitConfig
from .errors import ConfigError, DataError

PARTS: tuple[str, str, str] = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices (sorted, disjoint by group) of the three parts of one split.

    Compared by identity (the fields are arrays); compare ``train``/``val``/``test`` with
    ``np.array_equal``.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    fold: int | None = None
    ood: np.ndarray | None = None  # the held-out value of ``test_group`` (out of distribution)
    ood_group: str | None = None  # "column=value"

    @property
    def train_val(self) -> np.ndarray:
        """Training and validation rows together, sorted: what a refit trains on and what
        out-of-fold predictions cover (never a test or ``ood`` row)."""
        return np.sort(np.concatenate([self.train, self.val]))

    def parts(self, n: int) -> np.ndarray:
        """Per row, the name of its part (``"train"``, ``"val"``, ``"test"``, ``"ood"``;
        ``""`` if none)."""
        out = np.full(n, "", dtype="<U5")
        for name in PARTS:
            out[getattr(self, name)] = name
        if self.ood is not None:
            out[self.ood] = "ood"
        return out

    def describe(self, y: Any, groups: Any) -> dict[str, dict[str, int]]:
        """Per part: ``clips``, ``positives``, ``negatives`` and ``groups`` (distinct) counts."""
        yb = as_binary(y)
        g = np.asarray(groups)
        out: dict[str, dict[str, int]] = {}
        for name in PARTS + (("ood",) if self.ood is not None else ()):
            idx = getattr(self, name)
            pos = int(yb[idx].sum())
            out[name] = {
                "clips": int(idx.size),
                "positives": pos,
                "negatives": int(idx.size) - pos,
                "groups": int(np.unique(g[idx]).size) if idx.size else 0,
            }
        return out


def as_binary(y: Any) -> np.ndarray:
    """Labels as an int array, 1 = positive. Accepts 0/1, bools or label strings."""
    arr = np.asarray(y)
    if arr.dtype.kind == "O" and arr.size and not isinstance(arr.flat[0], str):
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "UOS":
        values = set(np.unique(arr.astype(str)).tolist())
        unknown = values - {"negative", "positive"}
        if unknown:
            raise DataError(
                f"unknown label value(s) {', '.join(sorted(map(repr, unknown)))}",
                "labels must be 'positive' or 'negative' (or 1/0)",
            )
        return (arr.astype(str) == "positive").astype(np.int64)
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise DataError(
            f"label values {sorted(values)} are not binary",
            "use 1 for positive and 0 for negative",
        )
    return arr.astype(np.int64)


def make_split(y: Any, groups: Any, config: SplitConfig) -> Split:
    """One group-disjoint, stratified train/val/test split.

    ``config.test`` of the clips go to test, ``config.val`` of the remaining clips to
    validation, the rest to training (fractions by clip count, as close as groups allow).
    """
    table = _GroupTable.build(y, groups)
    rng = np.random.default_rng([config.seed, 0])
    f_test = config.test
    f_val = (1.0 - config.test) * config.val
    fractions = np.array([1.0 - f_test - f_val, f_val, f_test])
    assign = table.assign(fractions, rng)
    split = table.split_from(assign, seed=config.seed)
    _check_parts(split, table, config)
    return split


def make_folds(y: Any, groups: Any, config: SplitConfig) -> list[Split]:
    """``config.folds`` splits whose test parts partition the groups (each group is test once).

    Within each fold, ``config.val`` of the non-test clips become validation.
    """
    k = config.folds
    if k < 2:
        raise ConfigError(
            f"k-fold needs folds >= 2, got folds={k}",
            "set split.folds to 2 or more, or use a single train/val/test split",
        )
    table = _GroupTable.build(y, groups)
    if table.n_groups < k:
        raise DataError(
            f"{k} folds need at least {k} groups; the data has {table.n_groups}",
            f"use at most {table.n_groups} folds, or add data",
        )
    rng = np.random.default_rng([config.seed, 1])
    fold_of = table.assign(np.full(k, 1.0 / k), rng)
    splits = []
    for fold in range(k):
        rest = fold_of != fold
        rng_fold = np.random.default_rng([config.seed, 2, fold])
        sub = table.assign(
            np.array([1.0 - config.val, config.val]), rng_fold, subset=rest
        )
        assign = np.where(rest, sub, 2)  # 0 train, 1 val, 2 test
        split = table.split_from(assign, seed=config.seed, fold=fold)
        _check_parts(split, table, config)
        splits.append(split)
    return splits


def make_splits(y: Any, groups: Any, config: SplitConfig,
                meta: Any = None) -> list[Split]:
    """The k folds when ``config.folds >= 2``, else a list holding the one split (with its
    out-of-distribution part when ``config.test_group`` is set; ``meta(column)`` gives a
    metadata column's values)."""
    test_group = getattr(config, "test_group", None)
    if test_group:
        if config.folds >= 2:
            raise ConfigError(f"test_group {test_group!r} and folds={config.folds} cannot be "
                              "combined", "use one of them")
        column, value = parse_test_group(test_group)
        return [make_test_group_split(y, groups, _column(meta, column), column, value, config)]
    if config.folds >= 2:
        return make_folds(y, groups, config)
    return [make_split(y, groups, config)]


def parse_test_group(text: str) -> tuple[str, str]:
    """``"source=telegram"`` -> ``("source", "telegram")``."""
    column, sep, value = str(text).partition("=")
    if not sep or not column.strip() or not value.strip():
        raise ConfigError(f"test group {text!r} is not COLUMN=VALUE",
                          "e.g. --test-group source=telegram (a metadata column and one value)")
    return column.strip(), value.strip()


def _column(meta: Any, column: str) -> np.ndarray:
    try:
        values = meta(column) if meta is not None else None
    except (KeyError, ValueError):
        values = None
    if values is None:
        raise ConfigError(f"cannot hold out {column!r}: the data set has no such metadata "
                          "column", "name a column of the manifest, e.g. source")
    return np.asarray(values).astype(str)


def make_test_group_split(y: Any, groups: Any, values: Any, column: str, value: str,
                          config: SplitConfig) -> Split:
    """Rows with ``values == value`` (and every row of a participant who has one) form the
    out-of-distribution part ``ood``; the other rows get the usual stratified, group-disjoint
    train/val/test split (:func:`make_split`)."""
    yb = as_binary(y)
    g = np.asarray(groups).astype(str)
    v = np.asarray(values).astype(str)
    held = v == value
    if not held.any():
        known = ", ".join(sorted(set(v.tolist()))[:20])
        raise DataError(f"no clip has {column} = {value!r}",
                        f"values of {column}: {known}")
    held = np.isin(g, np.unique(g[held]))  # a participant is never on both sides
    n_held, pos_held = int(held.sum()), int(yb[held].sum())
    if pos_held in (0, n_held):
        raise DataError(
            f"the held-out {column} = {value!r} has {n_held} clips, {pos_held} positive: an "
            "AUC needs both classes", "hold out a value with positive and negative clips")
    if held.all():
        raise DataError(f"every clip has {column} = {value!r}: nothing is left to train on",
                        f"hold out one of several values of {column}")
    rest = np.flatnonzero(~held)
    inner = make_split(yb[rest], g[rest], config)
    return Split(train=rest[inner.train], val=rest[inner.val], test=rest[inner.test],
                 seed=config.seed, ood=np.flatnonzero(held), ood_group=f"{column}={value}")


@dataclass(frozen=True)
class _GroupTable:
    """Per distinct group: its rows' labels summarised, and the row -> group mapping."""

    y: np.ndarray  # per row, 0/1
    row_group: np.ndarray  # per row, index into the group arrays
    size: np.ndarray  # per group, clips
    positives: np.ndarray  # per group, positive clips
    stratum: np.ndarray  # per group, 1 if positives >= negatives

    @property
    def n_groups(self) -> int:
        return int(self.size.size)

    @classmethod
    def build(cls, y: Any, groups: Any) -> "_GroupTable":
        yb = as_binary(y)
        g = np.asarray(groups)
        if yb.ndim != 1 or g.shape != yb.shape:
            raise ValueError(f"y {yb.shape} and groups {g.shape} must be 1-D of equal length")
        n = yb.size
        n_pos = int(yb.sum())
        if n == 0:
            raise DataError("there are no clips to split", "check the data set")
        if n_pos == 0 or n_pos == n:
            only = "positive" if n_pos else "negative"
            other = "negative" if n_pos else "positive"
            raise DataError(
                f"all {n} clips are {only}: a classifier needs both classes",
                f"add {other} clips (e.g. another data set or manifest rows), or check the "
                "label mapping",
            )
        _, row_group = np.unique(g.astype(str), return_inverse=True)
        size = np.bincount(row_group)
        positives = np.bincount(row_group, weights=yb).astype(np.int64)
        stratum = (2 * positives >= size).astype(np.int64)
        return cls(yb, row_group, size, positives, stratum)

    def assign(
        self, fractions: np.ndarray, rng: np.random.Generator, subset: np.ndarray | None = None
    ) -> np.ndarray:
        """A part number per group; groups outside ``subset`` get -1.

        Per stratum: groups in a seeded random order, larger first, each to the part furthest
        below its clip target; then every part is given at least one group if the stratum
        has enough groups.
        """
        out = np.full(self.n_groups, -1, dtype=np.int64)
        chosen = np.ones(self.n_groups, bool) if subset is None else subset
        for stratum in (1, 0):
            members = np.flatnonzero(chosen & (self.stratum == stratum))
            out[members] = _fill(self.size[members], fractions, rng)
        return out

    def split_from(self, assign: np.ndarray, *, seed: int, fold: int | None = None) -> Split:
        row_part = assign[self.row_group]
        idx = [np.flatnonzero(row_part == p) for p in range(3)]
        return Split(train=idx[0], val=idx[1], test=idx[2], seed=seed, fold=fold)


def _fill(sizes: np.ndarray, fractions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Assign items of ``sizes`` to len(fractions) bins, filling each towards its share."""
    n_bins = fractions.size
    out = np.zeros(sizes.size, dtype=np.int64)
    if sizes.size == 0:
        return out
    targets = fractions * sizes.sum()
    loads = np.zeros(n_bins)
    order = rng.permutation(sizes.size)
    order = order[np.argsort(-sizes[order], kind="stable")]
    for item in order:
        b = int(np.argmax(targets - loads))
        out[item] = b
        loads[b] += sizes[item]
    _ensure_each_bin(out, sizes, targets, n_bins)
    return out


def _ensure_each_bin(
    out: np.ndarray, sizes: np.ndarray, targets: np.ndarray, n_bins: int
) -> None:
    """Move the smallest group of the most over-full bin into each empty bin, when possible."""
    for empty in range(n_bins):
        counts = np.bincount(out, minlength=n_bins)
        if counts[empty] or sizes.size < n_bins:
            continue
        loads = np.bincount(out, weights=sizes, minlength=n_bins)
        surplus = np.where(counts >= 2, loads - targets, -np.inf)
        donor = int(np.argmax(surplus))
        if not np.isfinite(surplus[donor]):
            continue
        items = np.flatnonzero(out == donor)
        out[items[np.argmin(sizes[items])]] = empty


def _check_parts(split: Split, table: _GroupTable, config: SplitConfig) -> None:
    """Raise a DataError naming the counts if any part lacks a positive or a negative."""
    y = table.y
    for name in PARTS:
        idx = getattr(split, name)
        pos = int(y[idx].sum())
        if pos == 0 or pos == idx.size:
            pos_groups = int((table.stratum == 1).sum())
            neg_groups = table.n_groups - pos_groups
            where = "" if split.fold is None else f" (fold {split.fold + 1} of {config.folds})"
            raise DataError(
                f"too few groups to put a positive and a negative clip in each of train, "
                f"val and test{where}: the {name} part got {idx.size} clips, {pos} positive; "
                f"the data has {int(y.sum())} positive and {int(y.size - y.sum())} negative "
                f"clips in {pos_groups} mostly-positive and {neg_groups} mostly-negative "
                "groups",
                "add data (at least 3 participants of each class, more for k folds), "
                "or use fewer folds",
            )


def inner_folds(y: Any, groups: Any, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) per row: ``k`` participant-disjoint folds, stratified by label,
    for the out-of-fold predictions that set a refit model's operating point and calibration
    (:mod:`engine.refit`). Fewer folds when there are fewer than ``k`` groups per class
    stratum (never fewer than 2); the caller reads the count from the result's maximum."""
    table = _GroupTable.build(y, groups)
    per_stratum = [int((table.stratum == s).sum()) for s in (0, 1)]
    k = max(2, min(k, max(per_stratum)))
    if table.n_groups < 2:
        raise DataError("out-of-fold predictions need at least 2 participants",
                        "add data, or turn refit off (--no-refit)")
    rng = np.random.default_rng([seed, 3])
    fold_of_group = table.assign(np.full(k, 1.0 / k), rng)
    return fold_of_group[table.row_group]
