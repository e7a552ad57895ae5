"""The outbox: a ChangeEvent row for every new version of a golden record.

Events are written in the same transaction as the change itself, so a change is never lost
between the database and the push that announces it, and never announced without having
happened. Single saves (API, admin, conflict resolution) and bulk ingest write the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from django.utils import timezone

from masterdata.models import ChangeEvent, ChangeKind, GoldenRecord, GoldenStatus, SourceSystem
from masterdata.registry import registry
from masterdata.services import access, bulk_sql
from masterdata.signals import outbox_written

#: Columns that change with every version or only steer the hub; an event does not list them.
NOT_ANNOUNCED = frozenset({"id", "version", "created_at", "updated_at", "provenance"})


def kind_of(record: GoldenRecord) -> str:
    """The kind of change about to be saved; call before ``save()`` (it reads the loaded status)."""
    if record._state.adding:
        return ChangeKind.CREATED
    loaded = getattr(record, "_loaded_values", None) or {}
    before, after = loaded.get("status", record.status), record.status
    if before != after:
        if after == GoldenStatus.MERGED:
            return ChangeKind.MERGED
        if after == GoldenStatus.INACTIVE:
            return ChangeKind.DEACTIVATED
        if before == GoldenStatus.INACTIVE:
            return ChangeKind.REACTIVATED
    return ChangeKind.UPDATED


def announced_fields(record: GoldenRecord, changed: Iterable[str], kind: str) -> list[str]:
    """Fields an event names: the changed ones; for a creation, those that were given a value."""
    names = [name for name in changed if name not in NOT_ANNOUNCED]
    if kind == ChangeKind.CREATED:
        attnames, values = _attnames(type(record)), record.__dict__
        names = [
            name
            for name in names
            if _has_value(values[attnames[name]] if attnames[name] in values else getattr(record, attnames[name]))
        ]
    return names


@cache
def _attnames(model: type[GoldenRecord]) -> dict[str, str]:
    """Field name → attribute name of a model's fields (a bulk write asks for every field of every record)."""
    return {f.name: f.attname for f in model._meta.get_fields() if hasattr(f, "attname")}


def build(
    domain: str,
    golden_id: int,
    version: int,
    kind: str,
    changed_fields: list[str],
    *,
    source: SourceSystem | None = None,
    user: Any = None,
    at: datetime | None = None,
    owner_org_id: int | None = None,
) -> ChangeEvent:
    """An unsaved event (bulk writers collect them and call :func:`write`).

    ``owner_org_id``: the record's owning org unit (:func:`masterdata.services.access.org_unit_of`),
    which scopes who may read the event in the change feed.
    """
    return ChangeEvent(
        domain=domain,
        golden_id=golden_id,
        version=version,
        kind=kind,
        changed_fields=sorted(changed_fields),
        origin_source=source,
        user=user if getattr(user, "pk", None) is not None else None,
        occurred_at=at or timezone.now(),
        owner_org_id=owner_org_id,
    )


class RowBuilder:
    """Events of a bulk write as plain rows (:class:`bulk_sql.Row`): the same columns as :func:`build`.

    A batch builds one event per written record and drops it once inserted: building a model
    instance for each cost more than its row's insert. The columns the database fills itself
    (``txid``) are left to it, as :func:`bulk_sql.insert` does for instances.
    """

    def __init__(self, domain: str, *, source: SourceSystem | None, user: Any, at: datetime) -> None:
        self.fixed = {
            "domain": domain,
            "origin_source_id": source.pk if source is not None else None,
            "user_id": user.pk if getattr(user, "pk", None) is not None else None,
            "occurred_at": at,
            "txid": ChangeEvent._meta.get_field("txid").get_default(),
        }

    def __call__(
        self, golden_id: int, version: int, kind: str, changed_fields: list[str], owner_org_id: int | None
    ) -> bulk_sql.Row:
        return bulk_sql.Row(
            {
                **self.fixed,
                "golden_id": golden_id,
                "version": version,
                "kind": kind,
                "changed_fields": sorted(changed_fields),
                "owner_org_id": owner_org_id,
            }
        )


def write(events: list[ChangeEvent] | list[bulk_sql.Row]) -> None:
    """Insert events in bulk (a batch writes one per changed record) and announce them."""
    if not events:
        return
    bulk_sql.insert(ChangeEvent, events, with_ids=False)
    outbox_written.send(sender=ChangeEvent, event_ids=[])


def prepared() -> bulk_sql.Prepared:
    """Events whose rows a bulk writer makes ahead (:class:`bulk_sql.Prepared`), then :func:`write_prepared`."""
    return bulk_sql.Prepared(ChangeEvent)


def write_prepared(events: bulk_sql.Prepared) -> None:
    """:func:`write` of events whose rows were made ahead."""
    if not events.objs:
        return
    events.write()
    outbox_written.send(sender=ChangeEvent, event_ids=[])


def record_change(record: GoldenRecord, kind: str, changed: Iterable[str], ctx: Any) -> ChangeEvent:
    """Write the event of a saved change (``ctx``: the ``golden.ChangeContext`` of the save)."""
    domain = registry.for_model(type(record))
    event = build(
        domain.name,
        record.pk,
        record.version,
        kind,
        announced_fields(record, changed, kind),
        source=ctx.source,
        user=ctx.user,
        at=ctx.at,
        owner_org_id=access.org_unit_of(domain, record),
    )
    event.save()
    outbox_written.send(sender=ChangeEvent, event_ids=[event.pk])
    return event


def _has_value(value: Any) -> bool:
    return value not in (None, "", [], {})
