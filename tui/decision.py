"""How the TUI words a model's decision record: its operating point (the rule, what chose it,
the threshold, expected vs measured rates), its calibration (method, Brier, ECE) and the AUC
the recording channel cannot inflate. One wording for Results, Confusion and Runs.

Reads one model's ``summary.json`` entry (``ModelSummary.raw``) or one seed's
``metrics.json`` through the engine's public API. A run made before coughscope recorded
these gets a line that says so, never a blank."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from engine.bounded import interval, mean_of, number
from engine.compare import short
from engine.runs import trusted_auc

TRUST = "◆"  # marks the number the recording channel cannot inflate (a glyph: NO_COLOR too)
OLD_POINT = ("not recorded (run made before coughscope recorded operating points: its "
             "threshold was chosen on the validation part)")
OLD_CALIBRATION = ("not recorded (run made before coughscope calibrated probabilities: "
                   "P(positive) is the model's raw output)")
OLD_RELIABILITY = "not recorded (run made before coughscope calibrated probabilities)"
RATES = (("sensitivity", "sensitivity"), ("specificity", "specificity"),
         ("positive_share", "called positive"))


def span(ci: Any, digits: int = 2) -> str:
    """``[0.61, 0.9]`` -> ``" [0.61–0.90]"``; empty without an interval."""
    ci = interval(ci)
    return f" [{ci[0]:.{digits}f}–{ci[1]:.{digits}f}]" if ci else ""


def auc_ci(mean: float | None, ci: Any) -> str:
    """``.61 [.52–.69]``: an AUC with its 95% interval; ``—`` when undefined."""
    if mean is None:
        return "—"
    ci = interval(ci)
    return f"{short(mean)} [{short(ci[0])}–{short(ci[1])}]" if ci else short(mean)


def point_of(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    op = (entry or {}).get("operating_point")
    return op if isinstance(op, dict) and op.get("rule") else None


def calibration_of(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    cal = (entry or {}).get("calibration")
    return cal if isinstance(cal, dict) and cal.get("method") else None


def trusted_of(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """The AUC to trust as the run recorded it, else as the engine computes it for runs
    made before it was recorded."""
    if not entry:
        return None
    recorded = entry.get("trusted_auc")
    if isinstance(recorded, dict) and number(recorded.get("roc_auc")) is not None:
        return recorded
    return trusted_auc(entry)


def trusted_text(entry: dict[str, Any] | None) -> str:
    """``test (no confound found) .88 [.69–1.00]``; ``not recorded`` without an AUC."""
    t = trusted_of(entry)
    if t is None:
        return "not recorded"
    return f"{t.get('label')} {auc_ci(number(t.get('roc_auc')), t.get('roc_auc_ci'))}"


def source_words(op: dict[str, Any]) -> str:
    """``sensitivity=0.8 on out-of-fold predictions (5 folds)``."""
    folds = op.get("folds")
    return (f"{op.get('rule')} on {op.get('source')} predictions"
            + (f" ({folds} folds)" if isinstance(folds, int) else ""))


def threshold_words(op: dict[str, Any]) -> str:
    """``threshold 0.420 ± 0.009 over seeds`` (summary) or ``threshold 0.413`` (one seed);
    empty when not recorded. The threshold applies to the model's raw output."""
    t = op.get("threshold")
    if isinstance(t, dict):
        mean, std = number(t.get("mean")), number(t.get("std"))
        if mean is None:
            return ""
        return f"threshold {mean:.3f}" + (f" ± {std:.3f}" if std is not None else "")
    return f"threshold {number(t):.3f}" if number(t) is not None else ""


def point_line(op: dict[str, Any] | None, sep: str = ", ") -> str:
    """The rule, what chose it and the threshold (mean ± std over seeds, or one seed's)."""
    if op is None:
        return f"operating point: {OLD_POINT}"
    where = threshold_words(op)
    return f"operating point: {source_words(op)}" + (f"{sep}{where}" if where else "")


def rate(section: Any, key: str) -> tuple[float | None, list[float] | None]:
    """One rate of ``expected``/``measured``: summary form ``{key: {"mean", "ci"}}`` or one
    seed's form ``{key: v, key_ci: [lo, hi]}``."""
    if not isinstance(section, dict):
        return None, None
    value = section.get(key)
    if isinstance(value, dict):
        return mean_of(value), interval(value.get("ci"))
    return number(value), interval(section.get(f"{key}_ci"))


def rate_cell(value: float | None, ci: list[float] | None) -> str:
    return "—" if value is None else f"{value:.2f}{span(ci)}"


def rates_table(op: dict[str, Any], measured: Any = None) -> Table:
    """Expected (from the predictions that chose the point) beside measured (test part),
    each with its 95% interval."""
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("at the point", style="bold")
    table.add_column(f"expected ({op.get('source')})")
    table.add_column("measured (test)")
    measured = op.get("measured") if measured is None else measured
    for key, label in RATES:
        table.add_row(label, rate_cell(*rate(op.get("expected"), key)),
                      rate_cell(*rate(measured, key)))
    return table


def reliability_table(bins: list[dict[str, Any]]) -> Table:
    """The reliability diagram's numbers: per bin of calibrated P(positive), the clips, the
    mean predicted and the observed share positive with its 95% interval."""
    table = Table(title="reliability (test, calibrated)", box=None, padding=(0, 1, 0, 0),
                  show_edge=False)
    table.add_column("bin")
    table.add_column("clips", justify="right")
    table.add_column("pred.", justify="right")
    table.add_column("observed [95%]")
    for b in bins:
        table.add_row(f"{b['lo']:.1f}–{b['hi']:.1f}", str(b["n"]), f"{b['predicted']:.2f}",
                      f"{b['observed']:.2f}{span(b.get('observed_ci'))}")
    return table


def calibration_lines(entry: dict[str, Any]) -> Text:
    """Method and source, Brier with interval beside the uncalibrated Brier, ECE with
    interval (test part, seeds pooled); the method's own words when it learnt nothing."""
    cal = calibration_of(entry)
    if cal is None:
        return Text(f"calibration: {OLD_CALIBRATION}")
    text = Text(f"calibration: {cal.get('method')} on {cal.get('source')} predictions")
    brier, raw, ece = (mean_of(cal.get(k)) for k in ("brier", "brier_uncalibrated", "ece"))
    if brier is not None:
        text.append(f"\n  Brier {brier:.3f}{span(cal.get('brier_ci'), 3)}")
        if raw is not None:
            text.append(f" (uncalibrated {raw:.3f})")
    if ece is not None:
        text.append(f"\n  ECE {ece:.3f}{span(cal.get('ece_ci'), 3)}")
    text.append("  (test part; lower is better)" if brier is not None or ece is not None else
                "\n  Brier, ECE: not recorded")
    if cal.get("informative") is False and cal.get("description"):
        text.append(f"\n  {cal['description']}", style="italic")
    return text
