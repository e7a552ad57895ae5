"""Creating and changing golden records: the single write path for API, admin and demo data.

Every change is stamped with who, why and from which source (history), records per-field
provenance, bumps the version, and is refused if the caller's version is stale. A change
that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from masterdata.models import GoldenRecord, GoldenStatus, SourceSystem
from masterdata.services import access, outbox
from masterdata.services.orgtree import TreeCycleError


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


class DuplicateKey(GoldenRecordError):
    """A concurrent writer stored the same unique key first (the database refused ours)."""


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
    """Validate and save ``record``; returns False (and writes nothing) when nothing changed.

    Database refusals that validation cannot foresee (a concurrent insert of the same code, a
    concurrent move closing a cycle in the org tree) become :class:`GoldenRecordError`s, so no
    caller ever sees a raw database error for a rule of the data.
    """
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
    kind = outbox.kind_of(record)
    try:
        with transaction.atomic():
            record.save()
            outbox.record_change(record, kind, all_changed, ctx)  # the outbox event, in the same transaction
    except IntegrityError as exc:
        raise _refusal(type(record), exc) from exc
    except TreeCycleError as exc:
        raise GoldenRecordError(str(exc), field="parent") from exc
    return True


def _refusal(model: type[GoldenRecord], exc: IntegrityError) -> GoldenRecordError:
    """Name the unique key a concurrent writer took first, as validation would have."""
    text = str(exc)
    table = model._meta.db_table
    for constraint in model._meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint) or not constraint.fields:
            continue
        columns = [model._meta.get_field(name).column for name in constraint.fields]
        if constraint.name in text or all(f"{table}.{column}" in text for column in columns):
            names = ", ".join(constraint.fields)
            return DuplicateKey(
                f"A {model._meta.verbose_name} with this {names} already exists.", field=constraint.fields[0]
            )
    return GoldenRecordError(f"The database refused the change: {text.splitlines()[0] if text else exc!r}")


def owning_unit(record: GoldenRecord) -> tuple[str | None, int | None]:
    """(field name, org unit id) that decides who may place the record where it is.

    An org unit is placed by its parent; other records by their owning org unit. Domains
    without an owner (materials) answer ``(None, None)``.
    """
    domain = access.registry.for_model(type(record))
    if domain.org_field is None:
        return None, None
    if domain.org_field == "pk":
        return "parent", record.parent_id
    return domain.org_field, access.org_unit_of(domain, record)


def check_scope(record: GoldenRecord, ctx: ChangeContext) -> None:
    """A user may only change records in their scope, and only create or move them into it.

    Creating checks the target org unit; changing checks the unit the record is in now (an
    org unit: itself) and, when the change moves it, the unit it moves to.
    """
    if ctx.user is None:
        return  # system changes (sync, commands) are scoped by configuration, not by user
    domain = access.registry.for_model(type(record))
    if domain.org_field is None:
        return
    field_name, target = owning_unit(record)
    if not record._state.adding:
        current = record.pk if domain.org_field == "pk" else _stored_unit(record, field_name)
        if not access.unit_in_scope(ctx.user, current, "change"):
            raise OutOfScope("You may not change records of this org unit.", field=field_name)
        if target == _stored_unit(record, field_name):
            return
    if not access.unit_in_scope(ctx.user, target, "change"):
        if target is None:
            raise OutOfScope(
                "Only users with group-wide access may leave this empty; choose an org unit you may change.",
                field=field_name,
            )
        raise OutOfScope("You may not place records under this org unit.", field=field_name)


def _stored_unit(record: GoldenRecord, field_name: str | None) -> int | None:
    loaded = getattr(record, "_loaded_values", None) or {}
    attname = f"{field_name}_id"
    return loaded.get(attname, getattr(record, attname))


def check_version(record: GoldenRecord, expected_version: int | None) -> None:
    """Refuse a change based on an older version than ``record`` has (optimistic concurrency)."""
    if expected_version is not None and record.version != expected_version:
        raise StaleVersion(expected_version, record.version)


def create(model: type[GoldenRecord], data: dict[str, Any], ctx: ChangeContext) -> GoldenRecord:
    if data.get("status") == GoldenStatus.MERGED:
        raise GoldenRecordError("Records are merged by the merge service, not created merged.", field="status")
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
        check_version(current, expected_version)
        if current.status == GoldenStatus.MERGED:
            raise GoldenRecordError("A merged record cannot be edited; edit its survivor.", field="status")
        for name, value in data.items():
            setattr(current, name, value)
        if current.status == GoldenStatus.MERGED and current.merged_into_id is None:
            raise GoldenRecordError("Records are merged by the merge service, not by setting the status.", "status")
        check_scope(current, ctx)
        save(current, ctx)
    return current


def deactivate(record: GoldenRecord, ctx: ChangeContext, expected_version: int | None = None) -> GoldenRecord:
    """Golden records are never deleted: they become inactive and keep their history and links."""
    return update(record, {"status": GoldenStatus.INACTIVE}, ctx, expected_version)


def reactivate(record: GoldenRecord, ctx: ChangeContext, expected_version: int | None = None) -> GoldenRecord:
    return update(record, {"status": GoldenStatus.ACTIVE}, ctx, expected_version)
