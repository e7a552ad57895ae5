"""A small, strict OData ``$filter``/``$orderby`` evaluator for the fakes.

Comparison operators ``eq ne gt ge lt le`` joined by ``and``/``or``/``not`` with parentheses,
on properties compared with literals. Literal syntax follows the version, as real services do:
v4 takes bare ``2024-01-01T00:00:00Z`` and rejects ``datetime'…'``; v2 takes
``datetime'2024-01-01T00:00:00'`` (Edm.DateTime) and ``datetimeoffset'…Z'`` (Edm.DateTimeOffset)
and rejects bare datetimes; a literal of the wrong kind for a typed property is rejected too
(SAP answers 400 for that). Strings are single-quoted with ``''`` for a quote.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.connectors.fakes.server import BadRequest

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:
    (?P<typed>(?:datetimeoffset|datetime|guid)'[^']*')
    |(?P<string>'(?:[^']|'')*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<paren>[()])
    |(?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
    )""",
    re.VERBOSE,
)
OPERATORS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _parse_datetime(text: str, *, assume_utc: bool) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"Invalid datetime literal {text!r}") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise BadRequest(f"datetimeoffset literal needs a zone: {text!r}")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class FilterParser:
    def __init__(self, text: str, version: int, types: dict[str, str]) -> None:
        self.version, self.types = version, types
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN_RE.match(text, position)
            if not match or match.end() == position:
                raise BadRequest(f"Invalid $filter near {text[position : position + 20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.index != len(self.tokens):
            raise BadRequest(f"Unexpected {self.tokens[self.index][1]!r} in $filter")
        return predicate

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise BadRequest("Unexpected end of $filter")
        self.index += 1
        return token

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == ("word", "or"):
            self._take()
            right, first = self._and(), left
            left = lambda r, a=first, b=right: a(r) or b(r)  # noqa: E731
        return left

    def _and(self) -> Predicate:
        left = self._unary()
        while self._peek() == ("word", "and"):
            self._take()
            right, first = self._unary(), left
            left = lambda r, a=first, b=right: a(r) and b(r)  # noqa: E731
        return left

    def _unary(self) -> Predicate:
        token = self._peek()
        if token == ("word", "not"):
            self._take()
            inner = self._unary()
            return lambda r: not inner(r)
        if token == ("paren", "("):
            self._take()
            inner = self._or()
            if self._take() != ("paren", ")"):
                raise BadRequest("Missing ) in $filter")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        kind, name = self._take()
        if kind != "word":
            raise BadRequest(f"Expected a property, got {name!r}")
        kind, operator = self._take()
        if operator not in OPERATORS:
            raise BadRequest(f"Unknown operator {operator!r}")
        value = self._literal(name, *self._take())
        compare = OPERATORS[operator]

        def predicate(record: dict[str, Any]) -> bool:
            actual = record.get(name)
            if actual is None or value is None:
                return compare(actual, value) if operator in ("eq", "ne") else False
            try:
                return bool(compare(actual, value))
            except TypeError:  # a record holding a wrong type never matches, as in a typed store
                return False

        return predicate

    def _literal(self, name: str, kind: str, text: str) -> Any:
        declared = self.types.get(name)
        if kind == "string":
            if declared in ("datetime", "datetimeoffset"):
                raise BadRequest(f"{name} is a date/time; a string literal is incompatible")
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if kind == "datetime":
            if self.version == 2:
                raise BadRequest(f"OData v2 needs datetime'…' or datetimeoffset'…', not {text!r}")
            return _parse_datetime(text, assume_utc=False)
        if kind == "typed":
            prefix, _, rest = text.partition("'")
            if self.version == 4:
                raise BadRequest(f"{prefix}'…' literals do not exist in OData v4")
            if declared and declared != prefix:
                raise BadRequest(
                    f"{name} is Edm.{'DateTimeOffset' if declared == 'datetimeoffset' else 'DateTime'};"
                    f" a {prefix} literal is incompatible"
                )
            return _parse_datetime(rest[:-1], assume_utc=prefix == "datetime")
        raise BadRequest(f"Invalid literal {text!r}")


def parse_filter(text: str | None, version: int, types: dict[str, str]) -> Predicate | None:
    return FilterParser(text, version, types).parse() if text else None


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (2, value)
    return (3, str(value))


def sort_records(records: list[dict[str, Any]], orderby: str | None, known: set[str]) -> list[dict[str, Any]]:
    """Stable multi-key sort for ``A asc,B desc`` (rightmost key first)."""
    if not orderby:
        return records
    result = list(records)
    for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if name not in known or direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid $orderby {part!r}")
        result.sort(key=lambda r, n=name: _sort_value(r.get(n)), reverse=direction == "desc")
    return result
