"""Field mappings: how one source's records become golden values, declared as data.

A field map is a list of entries, each producing one golden field (or one key of the record's
free ``attributes`` with the target ``attributes.<name>``):

* ``{"source": "credit_score", "target": "credit_rating", "transforms": [...]}`` — a dotted path
  into the source record (SCIM extension URNs are matched whole, see
  :func:`connectors.protocols.base.dig`);
* ``{"target": "currency", "constant": "CNY"}``;
* ``{"target": "address", "concat": ["street", "city"], "separator": ", "}``.

Transforms run in order: ``trim``, ``upper``, ``lower``, ``case`` (``to``: upper/lower/title),
``string``, ``replace`` (``old``, ``new``), ``number`` (``decimal``/``thousands`` separators),
``integer``, ``boolean``, ``date`` / ``datetime`` (``format`` for ``strptime``, ISO 8601 and
OData ``/Date(ms)/`` otherwise), ``lookup`` (``table``; ``default`` for values not in it, else an
error) and ``default`` (``value`` when there is none). A missing value (``None``) passes every
transform but ``default`` untouched. A path the record does not have leaves the golden field
alone (the source said nothing about it); an explicit null clears it.

The shorthand ``{"id": "code", "name": "name"}`` (source path → golden field) is accepted too.
Why data and not code: mappings are edited in the admin and exported as YAML, and a mistake in
one must be reported with the entry it is in, at save time, not at 3 a.m. in a sync run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.db import models

from connectors.protocols.base import dig, parse_timestamp
from masterdata.registry import registry

ATTRIBUTES_PREFIX = "attributes."
ENTRY_KEYS = frozenset({"source", "target", "constant", "concat", "separator", "transforms", "note"})
PATH_RE = re.compile(r"^[^\s.](?:[^.]*[^\s.])?(?:\.[^\s.](?:[^.]*[^\s.])?)*$")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "", "off"})
#: Top-level keys of protocol bookkeeping, never kept as attributes.
NOISE_PREFIXES = ("@", "__")
_MS_DATE = re.compile(r"^/Date\(-?\d+(?:[+-]\d{1,4})?\)/$")


class MappingError(Exception):
    """One record could not be mapped; ``target`` names the golden field it was for."""

    def __init__(self, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target

    def as_errors(self) -> dict[str, list[str]]:
        return {self.target or "record": [self.message]}


class MappingConfigError(ValueError):
    """A field map that cannot work; ``messages`` name every faulty entry."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class MappedRecord:
    source_key: str
    values: dict[str, Any]
    attributes: dict[str, Any]


# --- transforms -------------------------------------------------------------------------------
def _text(value: Any, op: Mapping[str, Any]) -> str:
    if isinstance(value, dict | list):
        raise MappingError(f"{op['op']} expects text, got {type(value).__name__}")
    return value if isinstance(value, str) else str(value)


def _case(value: Any, op: Mapping[str, Any]) -> str:
    text = _text(value, op)
    return {"upper": text.upper, "lower": text.lower, "title": text.title}[op.get("to", "upper")]()


def _number(value: Any, op: Mapping[str, Any]) -> Decimal:
    if isinstance(value, bool | dict | list):
        raise MappingError(f"not a number: {value!r}")
    text = str(value).strip()
    if op.get("thousands"):
        text = text.replace(op["thousands"], "")
    if op.get("decimal"):
        text = text.replace(op["decimal"], ".")
    text = text.replace(" ", "").replace("\u00a0", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MappingError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise MappingError(f"not a finite number: {value!r}")
    return number


def _integer(value: Any, op: Mapping[str, Any]) -> int:
    number = _number(value, op)
    if number != number.to_integral_value():
        raise MappingError(f"not a whole number: {value!r}")
    return int(number)


def _boolean(value: Any, op: Mapping[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise MappingError(f"not a yes/no value: {value!r}")


def _moment(value: Any, op: Mapping[str, Any]) -> datetime:
    if isinstance(value, datetime | date):
        return parse_timestamp(value)
    text = _text(value, op).strip()
    if op.get("format"):
        try:
            parsed = datetime.strptime(text, op["format"])
        except ValueError:
            raise MappingError(f"{value!r} does not match the {op['op']} format {op['format']!r}") from None
        return parse_timestamp(parsed)
    moment = parse_timestamp(text)
    if moment is None:
        raise MappingError(f"not an ISO 8601 {op['op']}: {value!r}")
    return moment


def _date(value: Any, op: Mapping[str, Any]) -> date:
    """A calendar date as the source wrote it (a timestamp's date in its own zone, not UTC's)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and not _MS_DATE.match(value.strip()):
        text = value.strip()
        try:
            return datetime.strptime(text, op["format"]).date() if op.get("format") else date_of_iso(text)
        except ValueError:
            how = f"the date format {op['format']!r}" if op.get("format") else "ISO 8601"
            raise MappingError(f"{value!r} is not a date in {how}") from None
    return _moment(value, op).date()


def date_of_iso(text: str) -> date:
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text).date()


def _lookup(value: Any, op: Mapping[str, Any]) -> Any:
    table = op["table"]
    key = value if isinstance(value, str) else str(value)
    if key in table:
        return table[key]
    if "default" in op:
        return op["default"]
    raise MappingError(f"{value!r} is not in the lookup table")


TRANSFORMS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "trim": lambda value, op: _text(value, op).strip(),
    "upper": lambda value, op: _text(value, op).upper(),
    "lower": lambda value, op: _text(value, op).lower(),
    "case": _case,
    "string": _text,
    "replace": lambda value, op: _text(value, op).replace(op["old"], op.get("new", "")),
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "date": _date,
    "datetime": _moment,
    "lookup": _lookup,
}
#: Parameters each transform needs (name → accepted types) and may take.
REQUIRED_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "replace": {"old": str},
    "lookup": {"table": dict},
    "default": {"value": object},
}
OPTIONAL_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "case": {"to": str},
    "replace": {"new": str},
    "number": {"decimal": str, "thousands": str},
    "integer": {"decimal": str, "thousands": str},
    "date": {"format": str},
    "datetime": {"format": str},
    "lookup": {"default": object},
}
TRANSFORM_OPS = (*TRANSFORMS, "default")


def apply_transforms(value: Any, transforms: list[Mapping[str, Any]]) -> Any:
    for op in transforms:
        if op["op"] == "default":
            if value is None or value == "":
                value = op["value"]
        elif value is not None:
            value = TRANSFORMS[op["op"]](value, op)
    return value


# --- validation -------------------------------------------------------------------------------
def normalise_field_map(field_map: Any) -> list[Any]:
    """The list form of a field map (the ``{source: target}`` shorthand becomes entries)."""
    if isinstance(field_map, Mapping):
        return [{"source": source, "target": target} for source, target in field_map.items()]
    return list(field_map) if isinstance(field_map, list | tuple) else field_map


def is_valid_path(path: Any) -> bool:
    """A dotted path: no blank, leading, trailing or doubled dots, no surrounding spaces."""
    return isinstance(path, str) and bool(PATH_RE.match(path))


def describe(index: int, entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return f"entry {index}"
    origin = entry.get("source") or ("constant" if "constant" in entry else None)
    if origin is None and isinstance(entry.get("concat"), list):
        origin = " + ".join(str(p) for p in entry["concat"])
    return f"entry {index} ({origin or '?'} → {entry.get('target', '?')})"


def _transform_errors(transforms: Any) -> list[str]:
    if not isinstance(transforms, list):
        return ["transforms must be a list"]
    errors = []
    for position, op in enumerate(transforms, start=1):
        if not isinstance(op, Mapping) or not isinstance(op.get("op"), str):
            errors.append(f"transform {position} must be an object with an 'op'")
            continue
        name = op["op"]
        if name not in TRANSFORM_OPS:
            errors.append(f"unknown transform {name!r} (known: {', '.join(TRANSFORM_OPS)})")
            continue
        required, optional = REQUIRED_PARAMS.get(name, {}), OPTIONAL_PARAMS.get(name, {})
        for param, kind in required.items():
            if param not in op:
                errors.append(f"transform {name!r} needs {param!r}")
            elif not isinstance(op[param], kind):
                errors.append(f"{param!r} of transform {name!r} must be a {getattr(kind, '__name__', kind)}")
        for param, kind in optional.items():
            if param in op and not isinstance(op[param], kind):
                errors.append(f"{param!r} of transform {name!r} must be a {getattr(kind, '__name__', kind)}")
        unknown = sorted(set(op) - {"op"} - set(required) - set(optional))
        if unknown:
            errors.append(f"transform {name!r} takes no {', '.join(map(repr, unknown))}")
        if name == "case" and op.get("to", "upper") not in ("upper", "lower", "title"):
            errors.append("case 'to' must be upper, lower or title")
    return errors


def _entry_errors(entry: Any, known_fields: set[str], domain_name: str) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["must be an object with a target and a source, constant or concat"]
    errors = []
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        errors.append(f"unknown keys {', '.join(map(repr, unknown))}")
    target = entry.get("target")
    if not isinstance(target, str) or not target:
        errors.append("needs a target golden field")
    elif target.startswith(ATTRIBUTES_PREFIX):
        if not is_valid_path(target.removeprefix(ATTRIBUTES_PREFIX)):
            errors.append(f"bad attribute name in {target!r}")
    elif target not in known_fields:
        errors.append(f"unknown golden field {target!r} of {domain_name}")
    origins = [key for key in ("source", "constant", "concat") if key in entry]
    if len(origins) != 1:
        errors.append("needs exactly one of source, constant or concat")
    if "source" in entry and not is_valid_path(entry["source"]):
        errors.append(f"bad source path {entry['source']!r}")
    if "concat" in entry:
        paths = entry["concat"]
        if not isinstance(paths, list) or not paths:
            errors.append("concat must be a non-empty list of source paths")
        else:
            errors.extend(f"bad source path {path!r} in concat" for path in paths if not is_valid_path(path))
        if not isinstance(entry.get("separator", " "), str):
            errors.append("separator must be text")
    elif "separator" in entry:
        errors.append("separator only goes with concat")
    errors.extend(_transform_errors(entry.get("transforms", [])))
    return errors


def validate_field_map(domain_name: str, field_map: Any) -> list[str]:
    """Every problem of a field map, each message naming its entry; empty when it is sound."""
    if domain_name not in registry:
        return [f"unknown domain {domain_name!r}"]
    domain = registry.get(domain_name)
    entries = normalise_field_map(field_map)
    if not isinstance(entries, list):
        return ["the field map must be a list of entries (or an object of source path → golden field)"]
    known = set(domain.field_names())
    messages, targets = [], {}
    for index, entry in enumerate(entries, start=1):
        messages.extend(f"{describe(index, entry)}: {error}" for error in _entry_errors(entry, known, domain_name))
        target = entry.get("target") if isinstance(entry, Mapping) else None
        if isinstance(target, str) and target:
            if target in targets:
                messages.append(f"{describe(index, entry)}: {target!r} is already mapped by entry {targets[target]}")
            targets.setdefault(target, index)
    if domain.business_key not in targets:
        messages.append(f"the business key {domain.business_key!r} of {domain_name} is not mapped")
    return messages


# --- the mapper -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rule:
    target: str
    kind: str  # source | constant | concat
    source: Any
    separator: str
    transforms: tuple[Mapping[str, Any], ...]
    blank_for_none: bool


def _json_safe(value: Any) -> Any:
    """Attributes are stored as JSON: dates become ISO text, decimals plain text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class Mapper:
    """A compiled field map: maps one raw record at a time, or raises :class:`MappingError`."""

    def __init__(self, domain_name: str, field_map: Any, *, key_path: str, keep_unmapped: bool = False) -> None:
        messages = validate_field_map(domain_name, field_map)
        if not is_valid_path(key_path):
            messages.append(f"bad source key path {key_path!r}")
        if messages:
            raise MappingConfigError(messages)
        model = registry.get(domain_name).model_class
        self.key_path = key_path
        self.keep_unmapped = keep_unmapped
        self.rules = [self._rule(model, entry) for entry in normalise_field_map(field_map)]
        used = {self.key_path}
        for rule in self.rules:
            used.update([rule.source] if rule.kind == "source" else rule.source if rule.kind == "concat" else [])
        self.used_paths = frozenset(used)

    @staticmethod
    def _rule(model: type[models.Model], entry: Mapping[str, Any]) -> _Rule:
        kind = next(key for key in ("source", "constant", "concat") if key in entry)
        target = entry["target"]
        blank = False
        if not target.startswith(ATTRIBUTES_PREFIX):
            field = model._meta.get_field(target)
            blank = not field.null and field.empty_strings_allowed and not field.is_relation
        return _Rule(target, kind, entry[kind], entry.get("separator", " "), tuple(entry.get("transforms", ())), blank)

    def map(self, record: Mapping[str, Any]) -> MappedRecord:
        key = dig(record, self.key_path)
        if key is None or key == "" or isinstance(key, dict | list):
            raise MappingError(f"the record has no source key at {self.key_path!r}", target=None)
        values: dict[str, Any] = {}
        attributes: dict[str, Any] = self._unmapped(record) if self.keep_unmapped else {}
        for rule in self.rules:
            found, value = self._value(rule, record)
            if not found:
                continue
            try:
                value = apply_transforms(value, list(rule.transforms))
            except MappingError as exc:
                raise MappingError(f"{rule.target}: {exc.message}", target=rule.target) from None
            if value is None and rule.blank_for_none:
                value = ""
            if rule.target.startswith(ATTRIBUTES_PREFIX):
                attributes[rule.target.removeprefix(ATTRIBUTES_PREFIX)] = _json_safe(value)
            else:
                values[rule.target] = value
        return MappedRecord(str(key), values, attributes)

    def map_some(self, record: Mapping[str, Any], targets: Iterable[str]) -> dict[str, Any]:
        """The ``targets`` that map cleanly from a record that may not map as a whole (whose is a refused record?)."""
        wanted, values = set(targets), {}
        for rule in self.rules:
            if rule.target not in wanted:
                continue
            found, value = self._value(rule, record)
            if not found:
                continue
            try:
                values[rule.target] = apply_transforms(value, list(rule.transforms))
            except MappingError:
                continue
        return values

    def _value(self, rule: _Rule, record: Mapping[str, Any]) -> tuple[bool, Any]:
        """(whether the source said anything, the raw value)."""
        missing = object()
        if rule.kind == "constant":
            return True, rule.source
        if rule.kind == "source":
            value = dig(record, rule.source, missing)
            if value is missing:
                has_default = any(op["op"] == "default" for op in rule.transforms)
                return has_default, None
            return True, value
        parts = [dig(record, path, missing) for path in rule.source]
        if all(part is missing for part in parts):
            return False, None
        texts = [str(part).strip() for part in parts if part is not missing and part is not None]
        joined = rule.separator.join(text for text in texts if text)
        return True, joined or None

    def _unmapped(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Top-level fields no entry reads (protocol bookkeeping such as ``@odata.etag`` aside)."""
        kept = {}
        for name, value in record.items():
            if name.startswith(NOISE_PREFIXES):
                continue
            if any(path == name or path.startswith(name + ".") for path in self.used_paths):
                continue
            kept[name] = _json_safe(value)
        return kept


def compiled(domain_name: str, field_map: Any, *, key_path: str, keep_unmapped: bool = False) -> Mapper:
    """The :class:`Mapper` of a field map, compiled once per process for each distinct map.

    Why: every ingest request and every pulled page compiled (validated) its mapping again, and a
    real-time post of one record paid for that twice. The map's JSON text is the cache key, so an
    edited mapping compiles anew and nothing needs invalidating; the mapper is built from a copy
    parsed from that text, never from the caller's (mutable) documents. A map JSON cannot represent
    exactly is compiled each time, as before.
    """
    try:
        text = json.dumps(field_map, ensure_ascii=False)
    except (TypeError, ValueError):
        return Mapper(domain_name, field_map, key_path=key_path, keep_unmapped=keep_unmapped)
    if json.loads(text) != field_map:
        return Mapper(domain_name, field_map, key_path=key_path, keep_unmapped=keep_unmapped)
    model = registry.get(domain_name).model_class if domain_name in registry else None
    return _compiled(domain_name, model, text, key_path, bool(keep_unmapped))


@lru_cache(maxsize=256)
def _compiled(domain_name: str, model: Any, text: str, key_path: str, keep_unmapped: bool) -> Mapper:
    """``model``: part of the key only (a registry swapped in tests compiles anew)."""
    return Mapper(domain_name, json.loads(text), key_path=key_path, keep_unmapped=keep_unmapped)
