"""Text that comes from outside (run folders, configs, caches, manifests): parsed with
limits, shown with control characters escaped (:func:`printable`).

``json`` and ``tomllib`` recurse once per nesting level, so a file of 100,000 ``[`` raises
``RecursionError`` -- which no caller expects, and which took down ``coughscope runs`` and
the app for a whole runs folder. :func:`loads_json` and :func:`loads_toml` measure the
nesting first (brackets outside strings and comments) and refuse more than
:data:`MAX_DEPTH` levels with :class:`TooDeep`, a ``ValueError``, so the existing "damaged
file" handling of every reader applies. Sizes are each reader's own limit
(:data:`MAX_RUN_FILE_BYTES` for a run's JSON and TOML files).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from typing import Any

MAX_DEPTH = 64  # coughscope's own files nest 6 levels at most
MAX_RUN_FILE_BYTES = 64 << 20  # summary.json of a large study is a few MB

_JSON_SKIP = re.compile(r'"(?:[^"\\]|\\.)*"')
_TOML_SKIP = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
                        r"|#[^\n]*")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class TooDeep(ValueError):
    """The text nests deeper than :data:`MAX_DEPTH`."""


def nesting_depth(text: str, skip: re.Pattern[str] = _JSON_SKIP) -> int:
    """How deep ``[``/``{`` nest in ``text``, not counting those inside strings (``skip``)."""
    brackets = _NOT_BRACKET.sub("", skip.sub("", text))
    depth = peak = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            peak = max(peak, depth)
        else:
            depth -= 1
    return peak


def _check(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TooDeep(f"nested {depth} levels deep (at most {MAX_DEPTH} are read)")


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses deep nesting (:class:`TooDeep`) instead of recursing."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    _check(nesting_depth(text))
    try:
        return json.loads(text)
    except RecursionError:  # a depth the scan above let through: still a damaged file
        raise TooDeep("nested too deeply to read") from None


def loads_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads`` that refuses deep nesting (:class:`TooDeep`) instead of recursing."""
    _check(nesting_depth(text, _TOML_SKIP))
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise TooDeep("nested too deeply to read") from None


# characters that move the cursor, change colours, or reorder text on a terminal: C0 and C1
# controls, DEL, and the bidirectional overrides and isolates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\n``, ``\\u202e``), so a
    file name, manifest value or run field can never drive the terminal it is shown on."""
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def seed_number(name: str) -> int | None:
    """The seed a ``RUN/<model>/<seed>/`` folder name stands for: ASCII digits only (at most 9),
    else None. ``str.isdigit`` alone also accepts Arabic-Indic, superscript and other digits,
    which ``int`` reads or rejects in surprising ways: such a folder is not a seed."""
    if not (name.isascii() and name.isdigit() and len(name) <= 9):
        return None
    return int(name)


def number(value: Any) -> float | None:
    """A finite number read from a run file, or None: bools, strings, NaN, infinities and
    other damage are not numbers (``summary.json`` and friends are written by someone else's
    coughscope, or edited)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def mean_of(value: Any) -> float | None:
    """``{"mean": .8, "std": .1}`` (a metric aggregated over seeds) or a bare number -> the
    number (:func:`number`)."""
    return number(value.get("mean")) if isinstance(value, dict) else number(value)


def interval(value: Any) -> list[float] | None:
    """``[lo, hi]`` with two finite bounds (a 95% interval), else None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = number(value[0]), number(value[1])
        if lo is not None and hi is not None:
            return [lo, hi]
    return None
