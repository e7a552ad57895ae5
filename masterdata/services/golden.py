"""Creating and changing golden records: the single write path for API, admin and demo data.

Every change is stamped with who, why and from which source (history), records per-field
provenance, bumps the version, and is refused if the caller's version is stale. A change
that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from masterdata.models import GoldenRecord, GoldenStatus, SourceSystem
from masterdata.services import access


class GoldenRecordError(Exception):
    """A change the hub refuses; ``field`` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class StaleVersion(GoldenRecordError):
    """The caller edited an older version than the current one (HTTP 412)."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"Version {expected} is stale: the record is at version {current}.")
        self.expected = expected
        self.current = current


class OutOfScope(GoldenRecordError):
    """The user may not place or change a record under this org unit."""


@dataclass
class ChangeContext:
    """Who changes a golden record, from which source, and why (all recorded in history)."""

    user: Any = None
    source: SourceSystem | None = None
    reason: str = ""
    rule: str = "manual"
    at: Any = field(default_factory=timezone.now)

    def provenance_entry(self) -> dict[str, Any]:
        return {
            "source": self.source.code if self.source else None,
            "user": getattr(self.user, "username", None),
            "at": self.at.isoformat(),
            "rule": self.rule,
        }


def save(record: GoldenRecord, ctx: ChangeContext) -> bool:
    """Validate and save ``record``; returns False (and writes nothing) when nothing changed."""
    all_changed = record.changed_fields()
    if not record._state.adding and not all_changed:
        return False
    changed = [f for f in all_changed if f not in GoldenRecord.BOOKKEEPING_FIELDS]
    provenance = dict(record.provenance or {})
    entry = ctx.provenance_entry()
    for name in changed:
        provenance[name] = entry
    record.provenance = provenance
    record.full_clean()
    record._history_user = ctx.user
    record._change_reason = ctx.reason or None
    record._history_source = ctx.source
    record.save()
    return True


def check_scope(record: GoldenRecord, ctx: ChangeContext) -> None:
    """A user may only create or move records into org units they may change."""
    if ctx.user is None:
        return  # system changes (sync, commands) are scoped by configuration, not by user
    domain = access.registry.for_model(type(record))
    if domain.org_field is None:
        return
    unit_id = record.parent_id if domain.org_field == "pk" else access.org_unit_of(domain, record)
    if domain.org_field == "pk" and unit_id is None and not record._state.adding:
        unit_id = record.pk
    if not access.unit_in_scope(ctx.user, unit_id, "change"):
        target = "parent" if domain.org_field == "pk" else domain.org_field
        raise OutOfScope("You may not place records under this org unit.", field=target)


def create(model: type[GoldenRecord], data: dict[str, Any], ctx: ChangeContext) -> GoldenRecord:
    record = model(**data)
    check_scope(record, ctx)
    with transaction.atomic():
        save(record, ctx)
    return record


def update(
    record: GoldenRecord, data: dict[str, Any], ctx: ChangeContext, expected_version: int | None = None
) -> GoldenRecord:
    """Apply ``data`` to the current state of ``record`` under a row lock.

    ``expected_version`` (from ``If-Match``) must equal the stored version or nothing is written.
    """
    model = type(record)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=record.pk)
        if expected_version is not None and current.version != expected_version:
            raise StaleVersion(expected_version, current.version)
        if current.status == GoldenStatus.MERGED and data.get("status", GoldenStatus.MERGED) != GoldenStatus.MERGED:
            raise GoldenRecordError("A merged record cannot be edited; edit its survivor.", field="status")
        for name, value in data.items():
            setattr(current, name, value)
        if "status" in data and data["status"] == GoldenStatus.MERGED and current.merged_into_id is None:
            raise GoldenRecordError("Records are merged by the merge service, not by setting the status.", "status")
        check_scope(current, ctx)
        save(current, ctx)
    return current


def deactivate(record: GoldenRecord, ctx: ChangeContext, expected_version: int | None = None) -> GoldenRecord:
    """Golden records are never deleted: they become inactive and keep their history and links."""
    return update(record, {"status": GoldenStatus.INACTIVE}, ctx, expected_version)


def reactivate(record: GoldenRecord, ctx: ChangeContext, expected_version: int | None = None) -> GoldenRecord:
    return update(record, {"status": GoldenStatus.ACTIVE}, ctx, expected_version)
