"""Reading golden-record history: field-level changes per version and state as of a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from masterdata.models import GoldenRecord

#: Columns that change with every version and say nothing about the record itself.
NOT_A_CHANGE = frozenset({"version", "updated_at", "created_at", "provenance"})


def versions(record: GoldenRecord) -> QuerySet:
    """History rows of a record, newest first, with user and source joined."""
    return record.history.select_related("history_user", "history_source").order_by("-history_date", "-history_id")


def _compared_fields(model: type[GoldenRecord]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.name not in NOT_A_CHANGE]


def changes_between(new, old) -> list[dict[str, Any]]:
    """``[{field, old, new}]`` between two history rows (``old`` None: the creation)."""
    model = new.instance_type
    changes = []
    for attname in _compared_fields(model):
        new_value = getattr(new, attname)
        old_value = getattr(old, attname) if old is not None else None
        if old is None or new_value != old_value:
            if old is None and new_value in (None, "", [], {}):
                continue
            name = attname[:-3] if attname.endswith("_id") and attname != "id" else attname
            changes.append({"field": name, "old": old_value, "new": new_value})
    return changes


def with_changes(rows: list) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Pair each history row of one record with its changes against the preceding version.

    ``rows`` is a newest-first page; one extra query fetches the version just before the page.
    """
    if not rows:
        return []
    last = rows[-1]
    before = (
        type(last)
        .objects.filter(id=last.id, history_date__lte=last.history_date)
        .exclude(history_id=last.history_id)
        .order_by("-history_date", "-history_id")
        .first()
    )
    olders = [*rows[1:], before]
    return [(row, changes_between(row, older)) for row, older in zip(rows, olders, strict=True)]


def as_of(record_or_model, when: datetime, pk: int | None = None) -> GoldenRecord | None:
    """The record as it stood at ``when`` (None if it did not exist yet)."""
    if isinstance(record_or_model, GoldenRecord):
        model, pk = type(record_or_model), record_or_model.pk
    else:
        model = record_or_model
    row = model.history.filter(id=pk, history_date__lte=when).order_by("-history_date", "-history_id").first()
    if row is None or row.history_type == "-":
        return None
    return row.instance
