"""Confound-aware training: rebalance the training part within a metadata column.

When a column such as ``source`` predicts the label (the confound check of the runner), a
model can score well by recognising the recording channel instead of the cough. Rebalancing
the *training* part so that, within every value of the column, positives and negatives are
equally many (minority clips of each value repeated) removes that shortcut from what the
model learns: in the rebalanced training data the column carries no information about the
label. Validation and test are left as they are, so the reported numbers stay comparable.

Values whose training clips are all of one class cannot be balanced; they are kept as they
are and named in a warning.
"""

from __future__ import annotations

import numpy as np


def balanced_indices(y: np.ndarray, values: np.ndarray, seed: int
                     ) -> tuple[np.ndarray, list[str]]:
    """Row indices (into ``y``) that balance the labels within every value of ``values``.

    Each value's minority class is oversampled (whole copies, then a seeded random remainder)
    up to its majority class's count. Returns the indices (sorted) and the values that could
    not be balanced because they hold one class only.
    """
    y = np.asarray(y).astype(int)
    values = np.asarray(values).astype(str)
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    one_class: list[str] = []
    for value in sorted(set(values.tolist())):
        rows = np.flatnonzero(values == value)
        pos, neg = rows[y[rows] == 1], rows[y[rows] == 0]
        if len(pos) == 0 or len(neg) == 0:
            one_class.append(value)
            keep.append(rows)
            continue
        small, large = (pos, neg) if len(pos) < len(neg) else (neg, pos)
        copies, remainder = divmod(len(large), len(small))
        extra = rng.choice(small, size=remainder, replace=False)
        keep += [large, np.tile(small, copies), extra]
    return np.sort(np.concatenate(keep)), one_class
