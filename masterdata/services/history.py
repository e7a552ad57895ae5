"""Reading golden-record history: field-level changes per version and state as of a time.

Versions are ordered by ``history_id``: rows of one record are written under its row lock,
so their ids grow with the versions even when two changes share a timestamp.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

from masterdata.models import GoldenRecord

#: Columns that change with every version (or never) and say nothing about the record itself.
NOT_A_CHANGE = frozenset({"id", "version", "updated_at", "created_at", "provenance"})


def versions(record: GoldenRecord) -> QuerySet:
    """History rows of a record, newest first, with user and source joined."""
    return record.history.select_related("history_user", "history_source").order_by("-history_id")


def _compared_fields(model: type[GoldenRecord]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in NOT_A_CHANGE]


def changes_between(new, old) -> list[dict[str, Any]]:
    """``[{field, old, new}]`` between two history rows (``old`` None: the creation).

    Foreign keys are compared by id and reported under the field's name (``owner_org``).
    """
    changes = []
    for f in _compared_fields(new.instance_type):
        new_value = getattr(new, f.attname)
        old_value = getattr(old, f.attname) if old is not None else None
        if old is None and new_value in (None, "", [], {}):
            continue  # a creation lists what was set, not every empty field
        if old is None or new_value != old_value:
            changes.append({"field": f.name, "old": old_value, "new": new_value})
    return changes


def with_changes(rows: list) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Pair each history row of one record with its changes against the preceding version.

    ``rows`` is a newest-first page; one extra query fetches the version just before the page
    and one query per referenced model turns foreign-key ids into business keys.
    """
    if not rows:
        return []
    last = rows[-1]
    before = type(last).objects.filter(id=last.id, history_id__lt=last.history_id).order_by("-history_id").first()
    olders = [*rows[1:], before]
    pairs = [(row, changes_between(row, older)) for row, older in zip(rows, olders, strict=True)]
    _foreign_keys_by_code(last.instance_type, [change for _, changes in pairs for change in changes])
    return pairs


def _foreign_keys_by_code(model: type[GoldenRecord], changes: list[dict[str, Any]]) -> None:
    """Replace foreign-key ids in ``changes`` by the related records' codes, in place."""
    relations = {
        f.name: f.related_model
        for f in _compared_fields(model)
        if isinstance(f, models.ForeignKey) and any(r.name == "code" for r in f.related_model._meta.concrete_fields)
    }
    wanted: dict[type, set[int]] = defaultdict(set)
    for change in changes:
        related = relations.get(change["field"])
        if related is not None:
            wanted[related] |= {v for v in (change["old"], change["new"]) if v is not None}
    codes = {
        related: dict(related._base_manager.filter(pk__in=ids).values_list("pk", "code"))
        for related, ids in wanted.items()
    }
    for change in changes:
        related = relations.get(change["field"])
        if related is not None:
            found = codes.get(related, {})
            change["old"] = found.get(change["old"], change["old"])
            change["new"] = found.get(change["new"], change["new"])


def as_of(record_or_model, when: datetime, pk: int | None = None) -> GoldenRecord | None:
    """The record as it stood at ``when`` (None if it did not exist yet).

    A version counts from its ``updated_at``, the time clients see on the record, not from the
    history row's own timestamp taken a moment later: asking for the state at a version's
    ``updated_at`` returns that version.
    """
    if isinstance(record_or_model, GoldenRecord):
        model, pk = type(record_or_model), record_or_model.pk
    else:
        model = record_or_model
    in_force = (Q(updated_at__lte=when) & ~Q(history_type="-")) | Q(history_type="-", history_date__lte=when)
    row = model.history.filter(in_force, id=pk).order_by("-history_id").first()
    if row is None or row.history_type == "-":
        return None
    return row.instance
