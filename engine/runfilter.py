"""The runs filter: one parser for the app's Runs list and ``coughscope runs --filter``.

An expression is terms joined by AND (the default between terms), OR and NOT (``-term`` is
NOT too), with parentheses; keywords are case-insensitive:

    model:cnn auc>.8            cnn among the models, and best AUC above 0.8
    data:covid19 OR tag:paper   the data set's name holds "covid19", or tagged "paper"
    NOT status:failed           every run that did not fail
    (model:ann OR model:cnn) seeds>=4 "bad mic"

A term is ``field:value`` (text: the value is contained, case-insensitive; ``model`` and
``tag`` match a whole name, ``*`` and ``?`` as wildcards), ``field OP number`` with OP one
of ``< <= > >= =`` (a run without that number never matches), or free text, matched against
the run's id, state, data, models, tags and note. Values with spaces go in double quotes.

:func:`parse` turns the text into a :class:`Filter` (or raises :class:`FilterError`, which
names the term and says what to write); :meth:`Filter.matches` tests a :class:`RunFacts`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .bounded import number, printable
from .errors import CoughscopeError

# text field -> what it reads; list fields match whole names
TEXT_FIELDS = {
    "id": "the run id", "status": "running, finished, failed, interrupted, damaged",
    "data": "the data set (path or name)", "note": "the run's note",
    "preset": "the recipe preset", "device": "the device asked for",
    "holdout": "the held-out group (--test-group)", "balance": "--balance-by's column",
}
LIST_FIELDS = {"model": "a model trained", "tag": "a tag"}
NUMBER_FIELDS = {"auc": "the best model's test AUC", "trust": "the AUC to trust",
                 "seeds": "seeds per model", "epochs": "the epoch budget"}
ALIASES = {"models": "model", "state": "status", "tags": "tag", "run": "id",
           "hold-out": "holdout", "test-group": "holdout", "balance-by": "balance",
           "trusted": "trust"}
FIELDS = {**TEXT_FIELDS, **LIST_FIELDS, **NUMBER_FIELDS}
HELP = ("filter: model:cnn auc>.8 data:covid19 status:running tag:x, free text; "
        "AND (default), OR, NOT or -term, ( ); numbers < <= > >= =")

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "=": lambda a, b: abs(a - b) < 5e-4,
}
_COMPARISON = re.compile(r"^([A-Za-z][\w-]*):?(<=|>=|<|>|=)(.*)$")
_TOKEN = re.compile(r'"[^"]*"?|[()]|[^\s()"]+(?:"[^"]*"?)?')


class FilterError(CoughscopeError):
    """A filter expression that cannot be read (the message names the term)."""


@dataclass(frozen=True)
class RunFacts:
    """What a filter can ask about one run (both faces build it from what they read)."""

    id: str
    status: str
    data: str = ""
    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    note: str = ""
    numbers: Mapping[str, float | None] = field(default_factory=dict)
    text: Mapping[str, str] = field(default_factory=dict)  # preset, device, holdout, balance

    def text_of(self, name: str) -> str:
        if name == "id":
            return self.id
        if name == "status":
            return self.status
        if name == "data":
            return self.data
        if name == "note":
            return self.note
        return str(self.text.get(name) or "")

    def free_text(self) -> str:
        return " ".join([self.id, self.status, self.data, *self.models, *self.tags,
                         self.note]).lower()


def facts_of(run_id: str, status: str, config: Mapping[str, Any], *, best_auc: float | None,
             trusted_auc: float | None, tags: tuple[str, ...] = (), note: str = "",
             models: tuple[str, ...] | None = None) -> RunFacts:
    """:class:`RunFacts` from a run's config (as read from ``config.toml``), its state,
    best and trusted AUC and annotations."""
    recipe = config.get("recipe") if isinstance(config.get("recipe"), Mapping) else {}
    split = config.get("split") if isinstance(config.get("split"), Mapping) else {}

    return RunFacts(
        id=run_id, status=status, data=str(config.get("data") or ""),
        models=tuple(models if models is not None else
                     (str(m) for m in config.get("models") or ())),
        tags=tags, note=note,
        numbers={"auc": best_auc, "trust": trusted_auc, "seeds": number(config.get("seeds")),
                 "epochs": number(recipe.get("epochs"))},
        text={"preset": str(recipe.get("preset") or ""), "device": str(config.get("device") or ""),
              "holdout": str(split.get("test_group") or ""),
              "balance": str(config.get("balance_by") or "")})


# ---------------------------------------------------------------------- the expression tree

@dataclass(frozen=True)
class Filter:
    """A parsed expression; ``matches(facts)`` says whether a run is kept."""

    test: Callable[[RunFacts], bool]
    text: str = ""

    def matches(self, facts: RunFacts) -> bool:
        return self.test(facts)


def _text_term(name: str, value: str) -> Callable[[RunFacts], bool]:
    needle = value.lower()
    if name in LIST_FIELDS:
        def whole(f: RunFacts) -> bool:
            names = f.models if name == "model" else f.tags
            return any(fnmatch.fnmatchcase(n.lower(), needle) for n in names)
        return whole
    return lambda f: needle in f.text_of(name).lower()


def _number_term(name: str, op: str, value: str, token: str) -> Callable[[RunFacts], bool]:
    try:
        limit = float(value)
    except ValueError:
        raise FilterError(f"filter term {printable(token)!r}: {printable(value)!r} is not a "
                          "number", f"write e.g. {name}>0.8 or {name}<=.75") from None
    compare = OPS[op]

    def test(f: RunFacts) -> bool:
        got = f.numbers.get(name)
        return got is not None and compare(got, limit)
    return test


def _field(name: str, token: str) -> str:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FIELDS:
        raise FilterError(f"filter term {printable(token)!r}: no field {printable(name)!r}",
                          "fields: " + ", ".join(sorted(FIELDS)) + " (or free text)")
    return key


def _term(token: str) -> Callable[[RunFacts], bool]:
    if token.startswith('"'):
        needle = token.strip('"').lower()
        return lambda f: needle in f.free_text()
    match = _COMPARISON.match(token)
    if match:
        name, op, value = match.groups()
        key = _field(name, token)
        if key in NUMBER_FIELDS:
            return _number_term(key, op, value.strip('"'), token)
        if op != "=":
            raise FilterError(f"filter term {printable(token)!r}: {key} is text, it cannot "
                              f"be compared with {op}",
                              f"write {key}:VALUE; numbers: " + ", ".join(NUMBER_FIELDS))
        return _text_term(key, value.strip('"'))
    name, colon, value = token.partition(":")
    if colon and re.fullmatch(r"[A-Za-z][\w-]*", name):
        key = _field(name, token)
        value = value.strip('"')
        if not value:
            raise FilterError(f"filter term {printable(token)!r} has no value",
                              f"write e.g. {key}:VALUE")
        if key in NUMBER_FIELDS:
            return _number_term(key, "=", value, token)
        return _text_term(key, value)
    needle = token.lower()
    return lambda f: needle in f.free_text()


def parse(text: str) -> Filter:
    """The :class:`Filter` ``text`` writes; an empty text keeps every run."""
    tokens = _TOKEN.findall(text or "")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def expr() -> Callable[[RunFacts], bool]:
        parts = [conj()]
        while (peek() or "").upper() == "OR":
            take()
            if peek() is None or peek() == ")":
                raise FilterError("filter ends with OR", "put a term after OR")
            parts.append(conj())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def conj() -> Callable[[RunFacts], bool]:
        parts = [unary()]
        while peek() is not None and peek() != ")" and peek().upper() != "OR":
            if peek().upper() == "AND":
                take()
                if peek() is None or peek() == ")":
                    raise FilterError("filter ends with AND", "put a term after AND")
            parts.append(unary())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def unary() -> Callable[[RunFacts], bool]:
        token = peek()
        if token is None:
            raise FilterError("filter ends too early", "put a term after NOT or (")
        if token.upper() == "NOT" or (token.startswith("-") and len(token) > 1
                                      and not _looks_numeric(token)):
            take()
            if token.upper() == "NOT":
                inner = unary()
            else:
                inner = _term(token[1:])
            return lambda f: not inner(f)
        if token == "(":
            take()
            inner = expr()
            if peek() != ")":
                raise FilterError("filter has a '(' without its ')'", "close it with )")
            take()
            return inner
        if token == ")":
            raise FilterError("filter has a ')' without its '('", "remove it, or open it with (")
        if token.upper() in ("AND", "OR"):
            raise FilterError(f"filter has {token.upper()} with nothing before it",
                              f"put a term before {token.upper()}")
        return _term(take())

    if not tokens:
        return Filter(lambda f: True, "")
    test = expr()
    if pos < len(tokens):
        raise FilterError("filter has a ')' without its '('", "remove it, or open it with (")
    return Filter(test, text)


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False
