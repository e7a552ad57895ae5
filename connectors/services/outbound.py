"""The reverse of a mapping: which golden fields a push target receives, and under which names.

A push map is a list of entries, each writing one target field:

* ``{"golden": "name", "target": "OrganizationBPName1", "transforms": [...]}`` — a golden field
  (``attributes.<key>`` for a kept attribute; a foreign key is sent as the related record's
  business code, as sources name it);
* ``{"target": "Language", "constant": "EN"}``.

The shorthand ``{"name": "OrganizationBPName1"}`` (golden field → target path) is accepted too.
Target paths are dotted (``name.givenName`` builds nested objects, a numeric segment a list
position: ``emails.0.value``); a key starting with ``urn:`` (a SCIM extension schema) is kept whole
up to the attribute after it (``urn:…:enterprise:2.0:User.employeeNumber``). Transforms are the
mapping transforms (:mod:`connectors.services.mapping`) plus ``format`` (``strftime`` of a date or
date-time) and ``float``. Only mapped fields are ever sent.

Values are compared and stored as JSON (decimals as text, dates as ISO 8601): the values a
target is known to hold live in that form on the source link (``SourceLink.source_values``), so
a push sends only what changed since and an echo can be recognised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from connectors.protocols.base import parse_timestamp
from connectors.services.mapping import (
    ATTRIBUTES_PREFIX,
    MappingError,
    _transform_errors,
    apply_transforms,
    is_valid_path,
)
from masterdata.models import GoldenRecord
from masterdata.registry import registry

ENTRY_KEYS = frozenset({"golden", "target", "constant", "transforms", "note"})
_URN_KEY = re.compile(r"^(urn:[^.]*(?:\.\d[^.:]*)*:[^.:]+)(?:\.(.+))?$")


def _format(value: Any, op: Mapping[str, Any]) -> str:
    moment = value if isinstance(value, date) else None
    if moment is None and isinstance(value, str):
        moment = parse_timestamp(value) if "T" in value else _iso_date(value)
    if moment is None:
        raise MappingError(f"format expects a date or date-time, got {value!r}")
    return moment.strftime(op.get("format", "%Y-%m-%d"))


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _float(value: Any, op: Mapping[str, Any]) -> float:
    try:
        return float(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        raise MappingError(f"not a number: {value!r}") from None


OUTBOUND_ONLY = {"format": _format, "float": _float}


def to_json(value: Any) -> Any:
    """A value as JSON stores it (``Decimal("1.50")`` → ``"1.50"``, dates as ISO text)."""
    if value is None or type(value) in (str, int, bool):
        return value  # already itself in JSON (the common case, spared a round trip)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def normalise_push_map(field_map: Any) -> Any:
    if isinstance(field_map, Mapping):
        return [{"golden": golden, "target": target} for golden, target in field_map.items()]
    return list(field_map) if isinstance(field_map, list | tuple) else field_map


def split_path(path: str) -> list[str]:
    """Segments of a target path; a ``urn:…`` key (which holds dots, ``2.0``) is one segment."""
    if path.startswith("urn:"):
        match = _URN_KEY.match(path)
        if match:
            head, rest = match.group(1), match.group(2)
            return [head, *(rest.split(".") if rest else [])]
    return path.split(".")


def validate_push_map(domain_name: str, field_map: Any) -> list[str]:
    """Every problem of a push map, each naming its entry; empty when it is sound."""
    if domain_name not in registry:
        return [f"unknown domain {domain_name!r}"]
    entries = normalise_push_map(field_map)
    if not isinstance(entries, list) or not entries:
        return ["the push map must be a non-empty list of entries (or an object of golden field → target path)"]
    known = set(registry.get(domain_name).field_names()) | {"status"}
    messages, targets = [], {}
    for index, entry in enumerate(entries, start=1):
        where = f"entry {index}"
        if not isinstance(entry, Mapping):
            messages.append(f"{where}: must be an object with a target and a golden field or constant")
            continue
        where = f"entry {index} ({entry.get('golden', 'constant')} → {entry.get('target', '?')})"
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            messages.append(f"{where}: unknown keys {', '.join(map(repr, unknown))}")
        target = entry.get("target")
        if not isinstance(target, str) or not target or not all(split_path(target)):
            messages.append(f"{where}: needs a target path")
        elif target in targets:
            messages.append(f"{where}: {target!r} is already written by entry {targets[target]}")
        else:
            targets[target] = index
        if ("golden" in entry) == ("constant" in entry):
            messages.append(f"{where}: needs exactly one of golden or constant")
        golden = entry.get("golden")
        if "golden" in entry:
            if not isinstance(golden, str) or not golden:
                messages.append(f"{where}: golden must name a field")
            elif golden.startswith(ATTRIBUTES_PREFIX):
                if not is_valid_path(golden.removeprefix(ATTRIBUTES_PREFIX)):
                    messages.append(f"{where}: bad attribute name {golden!r}")
            elif golden not in known:
                messages.append(f"{where}: unknown golden field {golden!r} of {domain_name}")
        messages.extend(f"{where}: {error}" for error in _outbound_transform_errors(entry.get("transforms", [])))
    return messages


def _outbound_transform_errors(transforms: Any) -> list[str]:
    if not isinstance(transforms, list):
        return _transform_errors(transforms)
    outbound = [op for op in transforms if isinstance(op, Mapping) and op.get("op") in OUTBOUND_ONLY]
    errors = _transform_errors([op for op in transforms if op not in outbound])
    for op in outbound:
        allowed = {"op", "format"} if op["op"] == "format" else {"op"}
        if set(op) - allowed:
            errors.append(f"transform {op['op']!r} takes no {', '.join(map(repr, sorted(set(op) - allowed)))}")
        if not isinstance(op.get("format", ""), str):
            errors.append("'format' of transform 'format' must be text")
    return errors


def set_path(body: dict[str, Any], segments: list[str], value: Any) -> None:
    """Write ``value`` at ``segments`` inside ``body``, creating objects and lists on the way."""
    node: Any = body
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        following_is_index = not last and segments[position + 1].isdigit()
        if isinstance(node, list):
            index = int(segment)
            while len(node) <= index:
                node.append({} if not following_is_index else [])
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if last:
            node[segment] = value
        else:
            node = node.setdefault(segment, [] if following_is_index else {})


def flatten(body: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaf paths of a body (lists by position): what two bodies are compared by."""
    if isinstance(body, dict) and body:
        flat: dict[tuple[str, ...], Any] = {}
        for key, value in body.items():
            flat.update(flatten(value, (*prefix, key)))
        return flat
    if isinstance(body, list) and body:
        flat = {}
        for index, value in enumerate(body):
            flat.update(flatten(value, (*prefix, str(index))))
        return flat
    return {prefix: body}


def changed_part(body: dict[str, Any], known: dict[str, Any] | None) -> dict[str, Any]:
    """The part of ``body`` that differs from what the target is known to hold (all when unknown)."""
    if known is None:
        return body
    old = flatten(known)
    changed: dict[str, Any] = {}
    for path, value in flatten(body).items():
        if path not in old or old[path] != value:
            set_path(changed, list(path), value)
    return changed


class PushMapper:
    """A compiled push map for one domain."""

    def __init__(self, domain_name: str, field_map: Any) -> None:
        messages = validate_push_map(domain_name, field_map)
        if messages:
            raise MappingError("; ".join(messages))
        self.domain = registry.get(domain_name)
        self.entries = [
            (entry.get("golden"), entry.get("constant"), split_path(entry["target"]), list(entry.get("transforms", [])))
            for entry in normalise_push_map(field_map)
        ]
        self.golden_fields = sorted({golden for golden, *_ in self.entries if golden})

    def columns(self) -> list[str]:
        """The columns a record is read by to render this map (``id``, ``version`` and the mapped fields)."""
        model = self.domain.model_class
        names = {"id", "version"}
        for name in self.golden_fields:
            names.add("attributes" if name.startswith(ATTRIBUTES_PREFIX) else model._meta.get_field(name).attname)
        return sorted(names)

    def read(self, model: type[models.Model], golden_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """``{golden id: row}`` of what the map needs, read as values: no model instance per record."""
        from connectors.services.push_ledger import among_ids

        rows = among_ids(model._base_manager.all(), "id", golden_ids).values(*self.columns())
        return {row["id"]: row for row in rows}

    def golden_values(self, records: Iterable[GoldenRecord]) -> dict[int, dict[str, Any]]:
        """``{golden id: {golden field: JSON value}}`` of the mapped fields; foreign keys as codes (bulk)."""
        columns = self.columns()
        return self.golden_values_of_rows({r.pk: {c: getattr(r, c) for c in columns} for r in records})

    def golden_values_of_rows(self, rows: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """:meth:`golden_values` of rows read by :meth:`read` (column name → value)."""
        model = self.domain.model_class
        codes: dict[str, dict[int, str]] = {}
        for name in self.golden_fields:
            field = None if name.startswith(ATTRIBUTES_PREFIX) else model._meta.get_field(name)
            if isinstance(field, models.ForeignKey):
                ids = {row[field.attname] for row in rows.values()} - {None}
                related = field.related_model._base_manager.filter(pk__in=ids).values_list("pk", "code")
                codes[name] = dict(related) if ids else {}
        values: dict[int, dict[str, Any]] = {}
        for pk, row in rows.items():
            out: dict[str, Any] = {}
            for name in self.golden_fields:
                if name.startswith(ATTRIBUTES_PREFIX):
                    key = name.removeprefix(ATTRIBUTES_PREFIX)
                    if key in (row["attributes"] or {}):
                        out[name] = to_json(row["attributes"][key])
                elif name in codes:
                    out[name] = codes[name].get(row[f"{name}_id"])
                else:
                    out[name] = to_json(row[name])
            values[pk] = out
        return values

    def body(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The target-shaped record of golden ``values``; a golden field absent from them is not sent."""
        body: dict[str, Any] = {}
        for golden, constant, segments, transforms in self.entries:
            if golden is None:
                value = constant
            elif golden in values:
                value = values[golden]
            else:
                continue
            try:
                value = _apply(value, transforms)
            except MappingError as exc:
                raise MappingError(f"{'.'.join(segments)}: {exc.message}", target=golden) from None
            set_path(body, segments, to_json(value))
        return body

    def golden_of(self, path: tuple[str, ...]) -> set[str]:
        """The golden fields written at or under a target path (a flattened body's leaf)."""
        found = set()
        for golden, _constant, segments, _transforms in self.entries:
            if golden and tuple(segments) == path[: len(segments)]:
                found.add(golden)
        return found


def _apply(value: Any, transforms: list[Mapping[str, Any]]) -> Any:
    for op in transforms:
        if op["op"] in OUTBOUND_ONLY:
            value = None if value is None else OUTBOUND_ONLY[op["op"]](value, op)
        else:
            value = apply_transforms(value, [op])
    return value
