"""Field-level conflicts and steward locks.

During ingest a :class:`ConflictBook` (loaded once per batch) raises conflicts and keeps the
candidates of open ones current, all written in bulk with the batch. A steward then resolves
a conflict (the chosen value is written through :mod:`masterdata.services.golden`, with
history and an outbox event) or dismisses it (the golden value stays). Either way the
decision is remembered: a source that offers again the very value a steward decided against
does not reopen the conflict.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from masterdata.models import Conflict, ConflictReason, ConflictStatus, GoldenRecord
from masterdata.registry import Domain, registry
from masterdata.services import access, golden

DECIDED = (ConflictStatus.RESOLVED, ConflictStatus.DISMISSED)


def to_json(value: Any) -> Any:
    """A value as a JSON column stores it (``Decimal("1.50")`` → ``"1.50"``, dates as ISO text)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def candidate(source: str | None, value: Any, observed_at: Any, trust: int) -> dict[str, Any]:
    """One offered value of a conflict: who offered it, when, and with which trust rank."""
    at = observed_at.isoformat() if hasattr(observed_at, "isoformat") else observed_at
    return {"source": source, "value": value, "observed_at": at, "trust": trust}


@dataclass
class _Raised:
    """A conflict raised in this batch for a golden record that may not have an id yet."""

    record: GoldenRecord
    conflict: Conflict


class ConflictBook:
    """Open conflicts and past decisions on the fields of one batch's golden records."""

    def __init__(self, domain: Domain, golden_ids: list[int]) -> None:
        self.domain = domain
        self.open: dict[tuple[int, str], Conflict] = {}
        self.decided: dict[tuple[int, str], dict[str | None, Any]] = {}
        self.raised: list[_Raised] = []
        self.changed: dict[int, Conflict] = {}
        self._records: dict[int, GoldenRecord] = {}
        if golden_ids:
            self._load(golden_ids)

    def _load(self, golden_ids: list[int]) -> None:
        rows = Conflict.objects.filter(domain=self.domain.name, golden_id__in=golden_ids)
        latest: dict[tuple[int, str], Conflict] = {}
        for row in rows.order_by("opened_at", "id"):
            key = (row.golden_id, row.field)
            if row.status == ConflictStatus.OPEN:
                self.open[key] = row
            else:
                latest[key] = row  # ordered oldest first: the last one seen is the latest decision
        self.decided = {key: {c["source"]: c["value"] for c in row.candidates} for key, row in latest.items()}

    def decided_against(self, golden_id: int | None, field_name: str, source: str, value: Any) -> bool:
        """True when a steward already decided this field with ``value`` from ``source`` on the table."""
        if golden_id is None:
            return False
        offered = self.decided.get((golden_id, field_name))
        return offered is not None and source in offered and offered[source] == to_json(value)

    def open_for(self, golden_id: int | None, field_name: str) -> Conflict | None:
        return self.open.get((golden_id, field_name)) if golden_id is not None else None

    def offer(
        self,
        record: GoldenRecord,
        field_name: str,
        reason: str,
        incumbent: dict[str, Any],
        challenger: dict[str, Any],
    ) -> None:
        """Raise a conflict, or put ``challenger`` among the candidates of the open one."""
        existing = self.open_for(record.pk, field_name)
        if existing is None:
            conflict = Conflict(
                domain=self.domain.name,
                golden_id=record.pk,
                field=field_name,
                reason=reason,
                golden_value=incumbent["value"],
                candidates=[incumbent, challenger],
                owner_org_id=access.org_unit_of(self.domain, record),
            )
            self.raised.append(_Raised(record, conflict))
            if record.pk is not None:
                self.open[(record.pk, field_name)] = conflict
            return
        self.refresh(existing, challenger, record)

    def refresh(self, conflict: Conflict, offered: dict[str, Any], record: GoldenRecord) -> None:
        """Replace the source's candidate of an open conflict when its value changed."""
        others = [c for c in conflict.candidates if c["source"] != offered["source"]]
        mine = next((c for c in conflict.candidates if c["source"] == offered["source"]), None)
        if mine is not None and to_json(mine["value"]) == to_json(offered["value"]):
            return
        conflict.candidates = [*others, offered]
        if conflict.pk is not None:
            self.changed[conflict.pk] = conflict
            self._records[conflict.pk] = record

    def translate_foreign_keys(self, fields: dict[str, models.ForeignKey]) -> None:
        """Show foreign-key candidates by business code, as sources and stewards name them."""
        conflicts = [r.conflict for r in self.raised] + list(self.changed.values())
        wanted: dict[str, set[int]] = defaultdict(set)
        for conflict in conflicts:
            if conflict.field in fields:
                wanted[conflict.field] |= {c["value"] for c in conflict.candidates if isinstance(c["value"], int)}
        codes = {
            name: dict(fields[name].related_model._base_manager.filter(pk__in=ids).values_list("pk", "code"))
            for name, ids in wanted.items()
            if ids
        }
        for conflict in conflicts:
            found = codes.get(conflict.field)
            if not found:
                continue
            for c in conflict.candidates:
                c["value"] = found.get(c["value"], c["value"])
            conflict.golden_value = found.get(conflict.golden_value, conflict.golden_value)

    def write(self, written: Callable[[GoldenRecord], bool]) -> None:
        """Write the raised and changed conflicts of the golden records for which ``written`` is true."""
        new = []
        for raised in self.raised:
            if raised.record.pk is None or not written(raised.record):
                continue
            raised.conflict.pk = None  # inserted afresh should an earlier attempt have been rolled back
            raised.conflict.golden_id = raised.record.pk
            raised.conflict.owner_org_id = access.org_unit_of(self.domain, raised.record)
            new.append(raised.conflict)
        Conflict.objects.bulk_create(new, batch_size=500)
        changed = [c for c in self.changed.values() if written(self._records[c.pk])]
        if changed:
            now = timezone.now()
            for conflict in changed:
                conflict.updated_at = now
            Conflict.objects.bulk_update(changed, ["candidates", "updated_at"], batch_size=500)


def raise_two_way(record: GoldenRecord, field_name: str, source: Any, offered: Any, observed_at: Any) -> Conflict:
    """The hub changed a field since it last pushed it to ``source``, and the source changed it too.

    Neither side wins silently: the golden value stays, both values become candidates of an open
    conflict (reason ``two_way_collision``), and pushes of the field to the source wait until a
    steward decides. An open conflict on the field takes the source's value among its candidates.
    """
    domain = registry.for_model(type(record))
    field = domain.model_class._meta.get_field(field_name)
    current = getattr(record, field.attname)
    if isinstance(field, models.ForeignKey) and current is not None:
        current = field.related_model._base_manager.filter(pk=current).values_list("code", flat=True).first()
    incumbent = (record.provenance or {}).get(field_name) or {}
    theirs = candidate(source.code, to_json(offered), observed_at, 0)
    with transaction.atomic():
        conflict = (
            Conflict.objects.select_for_update()
            .filter(domain=domain.name, golden_id=record.pk, field=field_name, status=ConflictStatus.OPEN)
            .first()
        )
        if conflict is not None:
            others = [c for c in conflict.candidates if c["source"] != source.code]
            conflict.candidates = [*others, theirs]
            conflict.save(update_fields=["candidates", "updated_at"])
            return conflict
        return Conflict.objects.create(
            domain=domain.name,
            golden_id=record.pk,
            field=field_name,
            reason=ConflictReason.TWO_WAY_COLLISION,
            golden_value=to_json(current),
            candidates=[candidate(incumbent.get("source"), to_json(current), incumbent.get("at"), 0), theirs],
            owner_org_id=access.org_unit_of(domain, record),
        )


# --- steward decisions --------------------------------------------------------------------------
def resolve(conflict: Conflict, value: Any, user: Any, note: str = "", *, lock: bool = False) -> GoldenRecord:
    """Write the chosen ``value`` to the golden record (history, event) and close the conflict.

    ``value`` is given as a source would give it (a foreign key by business code). With
    ``lock`` the field is also locked against every source until a steward unlocks it.
    """
    with transaction.atomic():
        conflict = _open_conflict(conflict)
        domain = registry.get(conflict.domain)
        record = domain.model_class.objects.get(pk=conflict.golden_id)
        _require_resolve_scope(user, record)
        data = {conflict.field: _model_value(domain, conflict.field, value)}
        if lock and conflict.field not in record.locked_fields:
            data["locked_fields"] = sorted({*record.locked_fields, conflict.field})
        reason = note or f"Conflict on {conflict.field} resolved"
        record = golden.update(record, data, golden.ChangeContext(user=user, reason=reason, rule="steward"))
        _close(conflict, ConflictStatus.RESOLVED, user, note, resolution_value=to_json(value))
    return record


def dismiss(conflict: Conflict, user: Any, note: str = "") -> Conflict:
    """Close the conflict keeping the golden value as it is."""
    with transaction.atomic():
        conflict = _open_conflict(conflict)
        record = registry.get(conflict.domain).model_class.objects.get(pk=conflict.golden_id)
        _require_resolve_scope(user, record)
        _close(conflict, ConflictStatus.DISMISSED, user, note, resolution_value=conflict.golden_value)
    return conflict


def _open_conflict(conflict: Conflict) -> Conflict:
    current = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if current.status != ConflictStatus.OPEN:
        raise golden.GoldenRecordError(f"This conflict is already {current.status}.", field="status")
    return current


def _close(conflict: Conflict, status: str, user: Any, note: str, resolution_value: Any) -> None:
    conflict.status = status
    conflict.resolved_at = timezone.now()
    conflict.resolved_by = user if getattr(user, "pk", None) is not None else None
    conflict.resolution_value = resolution_value
    conflict.resolution_note = note
    conflict.save()


def _require_resolve_scope(user: Any, record: GoldenRecord) -> None:
    if user is not None and not access.can_act_on(user, record, "resolve"):
        raise golden.OutOfScope("You may not resolve conflicts of records in this org unit.")


def _model_value(domain: Domain, field_name: str, value: Any) -> Any:
    field = domain.model_class._meta.get_field(field_name)
    if not isinstance(field, models.ForeignKey) or value in (None, "") or isinstance(value, models.Model):
        return None if value == "" and isinstance(field, models.ForeignKey) else value
    related = field.related_model._base_manager.filter(code=value).first()
    if related is None:
        raise golden.GoldenRecordError(f"There is no {field.related_model._meta.verbose_name} {value!r}.", field_name)
    return related


# --- steward locks ----------------------------------------------------------------------------
def lock_field(record: GoldenRecord, field_name: str, user: Any, reason: str = "") -> GoldenRecord:
    """Protect a field from every source: survivorship never overwrites a locked field."""
    _require_lockable(record, field_name)
    locked = sorted({*record.locked_fields, field_name})
    ctx = golden.ChangeContext(user=user, reason=reason or f"Locked {field_name}", rule="steward")
    return golden.update(record, {"locked_fields": locked}, ctx)


def unlock_field(record: GoldenRecord, field_name: str, user: Any, reason: str = "") -> GoldenRecord:
    """Release a lock: the next source change of the field follows the survivorship rules again."""
    _require_lockable(record, field_name)
    locked = [name for name in record.locked_fields if name != field_name]
    ctx = golden.ChangeContext(user=user, reason=reason or f"Unlocked {field_name}", rule="steward")
    return golden.update(record, {"locked_fields": locked}, ctx)


def _require_lockable(record: GoldenRecord, field_name: str) -> None:
    domain = registry.for_model(type(record))
    if field_name not in domain.field_names():
        raise golden.GoldenRecordError(f"{field_name!r} is not a field of {domain.name}.", field="locked_fields")
