"""Calibrated probabilities: a map from a model's raw output to P(positive).

A network's sigmoid, a class-weighted logistic regression or a linear SVM's squashed margin
ranks clips well (that is what the AUC measures) but is not a probability: a class-weighted
loss alone moves every output towards 0.5. A :class:`Calibrator` is fitted on predictions
the model did not train on -- the out-of-fold predictions of models trained with the final
model's recipe (refit), or the validation predictions of the model itself (no refit) -- and
applied to the final model's outputs. It never sees the test part.

Methods (``[recipe] calibration``):

* ``platt`` (the default): ``sigmoid(a * logit(p) + b)``, fitted by Newton's method on the
  log-loss with Platt's smoothed targets ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)), so a handful
  of clips cannot make it certain. Two parameters: stable on the few hundred clips a cough
  study has, and monotone, so the operating point keeps the clips on the same side.
* ``temperature``: ``sigmoid(a * logit(p))``, one parameter (the intercept stays 0).
* ``isotonic``: a non-decreasing step function (pool adjacent violators), interpolated.
  Flexible, but it needs many clips and it flattens the ranking within its steps.
* ``none``: the raw output, stated as uncalibrated.

``bench/calibration.py`` compares them by cross-validation on the out-of-fold predictions
of real runs; that measurement chose ``platt``.

A fitted slope that is not positive means the model's outputs do not rank the held-out clips
at all (or rank them backwards): the calibrator then answers the base rate for every clip and
says so (``informative`` false) rather than turn a ranking upside down.

The parameters are plain numbers (``to_json``/``from_json``), stored in ``model.json`` and
``metrics.json``; nothing is pickled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("platt", "temperature", "isotonic", "none")
EPS = 1e-6
MAX_KNOTS = 4096  # an isotonic map read back from a file is bounded


def logit(p: Any) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


@dataclass(frozen=True)
class Calibrator:
    """A fitted map raw output -> P(positive). ``method`` one of :data:`METHODS`."""

    method: str
    a: float = 1.0  # platt / temperature slope on the logit
    b: float = 0.0  # platt intercept
    x: tuple[float, ...] = field(default_factory=tuple)  # isotonic knots (raw outputs)
    y: tuple[float, ...] = field(default_factory=tuple)  # isotonic values there
    base_rate: float | None = None  # the positives' share of the clips it was fitted on
    informative: bool = True  # False: the outputs did not rank those clips; base rate given
    n: int = 0  # clips it was fitted on

    def apply(self, p: Any) -> np.ndarray:
        raw = np.asarray(p, dtype=np.float64)
        if self.method == "none":
            return raw.copy()
        if not self.informative:
            return np.full(raw.shape, float(self.base_rate if self.base_rate is not None
                                             else 0.5))
        if self.method == "isotonic":
            return np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        return sigmoid(self.a * logit(raw) + self.b)

    def describe(self) -> str:
        if self.method == "none":
            return "not calibrated"
        if not self.informative:
            return (f"{self.method}: the outputs did not rank held-out clips; every clip gets "
                    f"the base rate {self.base_rate:.2f}")
        if self.method == "isotonic":
            return f"isotonic ({len(self.x)} knots, {self.n} clips)"
        if self.method == "temperature":
            return f"temperature (slope {self.a:.3g}, {self.n} clips)"
        return f"Platt (slope {self.a:.3g}, intercept {self.b:.3g}, {self.n} clips)"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "informative": self.informative,
                               "n": self.n, "base_rate": self.base_rate}
        if self.method in ("platt", "temperature"):
            out.update(a=self.a, b=self.b)
        if self.method == "isotonic":
            out.update(x=list(self.x), y=list(self.y))
        return out

    @classmethod
    def from_json(cls, raw: Any) -> "Calibrator":
        """Read back :meth:`to_json`'s object, checked: a ValueError names what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("calibration is not an object")
        method = raw.get("method")
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")

        def num(key: str, default: float | None = None) -> float | None:
            v = raw.get(key, default)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"calibration {key} {v!r} is not a finite number")
            return float(v)

        base = num("base_rate")
        if base is not None and not 0.0 <= base <= 1.0:
            raise ValueError(f"calibration base_rate {base} is not a probability")
        n = raw.get("n", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"calibration n {n!r} is not a count")
        x: tuple[float, ...] = ()
        y: tuple[float, ...] = ()
        if method == "isotonic":
            xs, ys = raw.get("x"), raw.get("y")
            if (not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys)
                    or not 1 <= len(xs) <= MAX_KNOTS):
                raise ValueError("calibration x/y must be two lists of equal length "
                                 f"(1 to {MAX_KNOTS})")
            try:
                xa = np.asarray(xs, dtype=np.float64)
                ya = np.asarray(ys, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError("calibration x/y hold something other than numbers") from None
            if (not np.all(np.isfinite(xa)) or not np.all(np.isfinite(ya))
                    or np.any(np.diff(xa) < 0) or np.any(np.diff(ya) < 0)
                    or ya.min() < 0 or ya.max() > 1):
                raise ValueError("calibration x/y are not a non-decreasing map into [0, 1]")
            x, y = tuple(xa.tolist()), tuple(ya.tolist())
        return cls(method=method, a=num("a", 1.0) or 0.0, b=num("b", 0.0) or 0.0, x=x, y=y,
                   base_rate=base, informative=bool(raw.get("informative", True)), n=n)


def fit_calibrator(method: str, y: Any, p: Any) -> Calibrator:
    """Fit ``method`` on labels ``y`` (0/1) and raw outputs ``p`` of clips the model did not
    train on."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}")
    yb = np.asarray(y, dtype=np.float64).ravel()
    pv = np.asarray(p, dtype=np.float64).ravel()
    n = int(yb.size)
    base = float(yb.mean()) if n else None
    if method == "none":
        return Calibrator("none", base_rate=base, n=n)
    if n == 0 or yb.min() == yb.max():
        return Calibrator(method, base_rate=base if base is not None else 0.5,
                          informative=False, n=n)
    if method == "isotonic":
        return _fit_isotonic(yb, pv, base)
    a, b = _fit_logistic(logit(pv), yb, intercept=(method == "platt"))
    if not a > 0:
        return Calibrator(method, base_rate=base, informative=False, n=n)
    return Calibrator(method, a=a, b=b, base_rate=base, n=n)


def _fit_logistic(z: np.ndarray, y: np.ndarray, *, intercept: bool,
                  iters: int = 100) -> tuple[float, float]:
    """Slope (and intercept) of ``sigmoid(a z + b)`` minimising the log-loss against Platt's
    smoothed targets; Newton's method with step halving (a 2x2 problem)."""
    n_pos, n_neg = float(y.sum()), float(y.size - y.sum())
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    prior = (n_pos + 1.0) / (n_pos + n_neg + 2.0)
    params = np.array([0.0, math.log(prior / (1 - prior)) if intercept else 0.0])
    X = np.stack([z, np.ones_like(z)], axis=1) if intercept else z[:, None]
    params = params[: X.shape[1]]

    def loss(w: np.ndarray) -> float:
        q = np.clip(sigmoid(X @ w), 1e-12, 1 - 1e-12)
        return float(-np.sum(t * np.log(q) + (1 - t) * np.log(1 - q)))

    current = loss(params)
    for _ in range(iters):
        q = sigmoid(X @ params)
        grad = X.T @ (q - t)
        hess = (X * (q * (1 - q))[:, None]).T @ X + 1e-9 * np.eye(X.shape[1])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        while scale > 1e-6:
            trial = params - scale * step
            value = loss(trial)
            if value <= current:
                break
            scale /= 2
        else:
            break
        done = abs(current - value) < 1e-10
        params, current = trial, value
        if done:
            break
    a = float(params[0])
    b = float(params[1]) if intercept else 0.0
    return a, b


def _fit_isotonic(y: np.ndarray, p: np.ndarray, base: float | None) -> Calibrator:
    """Pool adjacent violators on the outputs sorted ascending; knots at each block's
    smallest and largest output."""
    order = np.argsort(p, kind="mergesort")
    ps, ys = p[order], y[order]
    # tied outputs form one block from the start
    values, start = np.unique(ps, return_index=True)
    sums = np.add.reduceat(ys, start)
    counts = np.diff(np.r_[start, ps.size]).astype(np.float64)
    blocks: list[list[float]] = []  # [sum, count, lo_x, hi_x]
    for v, s_, c in zip(values, sums, counts):
        blocks.append([float(s_), float(c), float(v), float(v)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s2, c2, _, hi = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += c2
            blocks[-1][3] = hi
    xs: list[float] = []
    ys_out: list[float] = []
    for s_, c, lo, hi in blocks:
        level = s_ / c
        for x in ((lo,) if lo == hi else (lo, hi)):
            xs.append(x)
            ys_out.append(level)
    informative = len(blocks) > 1
    if len(xs) > MAX_KNOTS:  # a very large set: keep evenly spaced knots (still monotone)
        keep = np.unique(np.linspace(0, len(xs) - 1, MAX_KNOTS).round().astype(int))
        xs, ys_out = [xs[i] for i in keep], [ys_out[i] for i in keep]
    return Calibrator("isotonic", x=tuple(xs), y=tuple(ys_out), base_rate=base,
                      informative=informative, n=int(y.size))
