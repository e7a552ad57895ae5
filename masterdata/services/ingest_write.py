"""Writing an ingest batch in bulk: golden records with history, links, conflicts, suspects, events.

Everything is written with a handful of bulk statements inside a savepoint. Should the
database still refuse something validation could not foresee (a concurrent writer took a
code, a value breaks a constraint Python cannot evaluate), the savepoint is rolled back and
the batch is written again record by record, each in its own savepoint: the refused record
fails with stage ``write``, the others commit.

New records that refer to each other (a parent unit, a manager created in the same batch)
are created in *waves*: first those whose references exist, then those referring to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import DataError, IntegrityError, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from masterdata.models import ChangeKind, GoldenRecord, LinkStatus, SourceLink
from masterdata.services import access, bulk_sql, conflicts, matching, orgtree, outbox

if TYPE_CHECKING:
    from masterdata.services.ingest import Batch, Target

LINK_FIELDS = ["golden_id", "last_payload", "payload_hash", "last_seen_at", "status", "updated_at", "source_values"]
REFUSALS = (IntegrityError, DataError, orgtree.TreeCycleError)


def plan_waves(batch: Batch, targets: list[Target]) -> None:
    """Order new records so that each is created after the records it refers to.

    A reference to a record that failed, or a cycle of references among new records, fails
    the referring record (stage ``validate``).
    """
    key = batch.schema.fields[batch.domain.business_key].attname
    new_by_code = {getattr(t.record, key): t for t in targets if t.is_new and not t.failed}
    needs = {id(t): [new_by_code.get(code) for code in t.pending.values()] for t in targets}
    placed: dict[int, int] = {}  # id(target) → wave
    remaining = [t for t in targets if not t.failed]
    while remaining:
        ready = [t for t in remaining if all(n is not None and id(n) in placed for n in needs[id(t)])]
        for target in ready:
            target.wave = 1 + max((placed[id(n)] for n in needs[id(target)]), default=-1)
            placed[id(target)] = target.wave
        if not ready:
            for target in remaining:  # a cycle, or a reference to a record that failed
                references = zip(target.pending.items(), needs[id(target)], strict=True)
                attname, code = next(ref for ref, n in references if n is None or id(n) not in placed)
                message = f"The record with code {code!r} it refers to could not be created."
                target.fail("validate", {attname.removesuffix("_id"): [message]})
            return
        remaining = [t for t in remaining if id(t) not in placed]


def write(batch: Batch, targets: list[Target]) -> None:
    """Write ``targets`` in bulk; when the database refuses, record by record."""
    if not targets:
        return
    try:
        with transaction.atomic():
            batch.created_codes = _write(batch, targets)
        return
    except REFUSALS:
        _forget_ids(targets)
    for target in sorted(targets, key=lambda t: (not t.is_new, t.wave)):
        if any(code not in batch.created_codes for code in target.pending.values()):
            target.fail("write", {NON_FIELD_ERRORS: ["A record it refers to could not be written."]})
            continue
        try:
            with transaction.atomic():
                batch.created_codes = _write(batch, [target])
        except REFUSALS as exc:
            _forget_ids([target])
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            target.fail("write", {NON_FIELD_ERRORS: [f"The database refused the record: {first_line}"]})


def _forget_ids(targets: Iterable[Target]) -> None:
    """After a rollback, records that were being created have no id again."""
    for target in targets:
        if target.is_new:
            target.record.pk = None
            target.record._state.adding = True


def _write(batch: Batch, targets: list[Target]) -> dict[Any, int]:
    key = batch.schema.fields[batch.domain.business_key].attname
    codes = dict(batch.created_codes)
    events = []
    new = sorted((t for t in targets if t.is_new), key=lambda t: t.wave)
    for _wave, group in groupby(new, key=lambda t: t.wave):
        group = list(group)
        for target in group:
            _resolve_pending(target, codes)
        _create(batch, [t.record for t in group])
        for target in group:
            codes[getattr(target.record, key)] = target.record.pk
            fields = [f.name for f in target.record.tracked_fields()]
            events.append(_event(batch, target, ChangeKind.CREATED, fields))
    changed, names = [], set()
    for target in targets:
        if target.is_new or not (target.changed or target.pending):
            continue
        _resolve_pending(target, codes)
        record = target.record
        fields = record.changed_fields()
        if not fields:
            continue
        record.version = record._loaded_values["version"] + 1
        record.updated_at = batch.now
        changed.append(record)
        names.update(fields)
        events.append(_event(batch, target, ChangeKind.UPDATED, fields))
    _update(batch, changed, sorted(names | {"version", "updated_at"}))
    if batch.domain.org_field == "pk" and (new or any("parent" in e.changed_fields for e in events)):
        orgtree.rebuild_closure()  # org units keep their closure table (and refuse cycles)
    _write_links(batch, targets)
    written = {id(t.record) for t in targets}
    batch.conflicts.write(lambda record: id(record) in written)
    matching.write_suspects(
        matching.suspect(
            batch.domain,
            target.record.pk,
            candidate.golden_id,
            candidate.score,
            candidate.reasons,
            access.org_unit_of(batch.domain, target.record) or candidate.owner_org_id,
        )
        for target in new
        for candidate in target.suspects
    )
    outbox.write(events)
    return codes


def _create(batch: Batch, records: list[GoldenRecord]) -> None:
    """Insert new golden records and their first history rows."""
    if bulk_sql.fast():
        memo = bulk_sql.JsonMemo()
        bulk_sql.insert(batch.model, records, memo=memo)
        _history(batch, records, "+", memo)
    else:
        bulk_create_with_history(records, batch.model, batch_size=bulk_sql.BATCH, **_history_context(batch))


def _update(batch: Batch, records: list[GoldenRecord], fields: list[str]) -> None:
    """Write changed golden records and a history row for each."""
    if not records:
        return
    if bulk_sql.fast():
        memo = bulk_sql.JsonMemo()
        bulk_sql.update(batch.model, records, fields, memo=memo)
        _history(batch, records, "~", memo)
    else:
        bulk_update_with_history(records, batch.model, fields, batch_size=bulk_sql.BATCH, **_history_context(batch))


def _history_context(batch: Batch) -> dict[str, Any]:
    """Who, why and from which source: the same on every history row of the batch, as on single saves."""
    return {
        "default_user": batch.user if getattr(batch.user, "pk", None) is not None else None,
        "default_change_reason": batch.reason or None,
        "default_date": batch.now,
        "custom_historical_attrs": {"history_source_id": batch.source.pk},
    }


def _history(batch: Batch, records: list[GoldenRecord], history_type: str, memo: bulk_sql.JsonMemo) -> None:
    """The history rows simple-history's bulk helpers would write, copied straight from the records.

    Rows, not model instances: the values are the record's own (its JSON documents encoded once
    for both tables), followed by who, why, when and from which source.
    """
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    context = _history_context(batch)
    history_model = batch.model.history.model
    tracked = [f.attname for f in history_model.tracked_fields]
    user = context["default_user"]
    extra = {
        "history_date": context["default_date"],
        "history_user_id": user.pk if user is not None else None,
        "history_change_reason": context["default_change_reason"],
        "history_type": history_type,
        **context["custom_historical_attrs"],
    }
    opts = history_model._meta
    fields = [opts.get_field(name) for name in tracked]
    fields += [f for f in opts.concrete_fields if f.attname in extra]
    converters = bulk_sql.column_converters(fields, memo)
    constant = [extra[f.attname] for f in fields[len(tracked) :]]
    with bulk_sql.copy_into(history_model, fields) as copy:
        for record in records:
            values = record.__dict__
            row = [values[name] if name in values else getattr(record, name) for name in tracked]
            row += constant
            copy.write_row([convert(value) for convert, value in zip(converters, row, strict=True)])


def _resolve_pending(target: Target, codes: dict[Any, int]) -> None:
    for attname, code in target.pending.items():
        setattr(target.record, attname, codes[code])


def _event(batch: Batch, target: Target, kind: str, fields: list[str]):
    record = target.record
    return outbox.build(
        batch.domain.name,
        record.pk,
        record.version,
        kind,
        outbox.announced_fields(record, fields, kind),
        source=batch.source,
        user=batch.user,
        at=batch.now,
        owner_org_id=access.org_unit_of(batch.domain, record),
    )


def _write_links(batch: Batch, targets: list[Target]) -> None:
    new_links: list[bulk_sql.Row] = []
    changed_links: list[SourceLink] = []
    # Written once and dropped: on PostgreSQL new links are values, not model instances.
    new_link = bulk_sql.row_maker(SourceLink) if bulk_sql.fast() else SourceLink
    for target in targets:
        for item in target.items:
            key = item.record.source_key
            link = item.link or new_link(source_id=batch.source.pk, domain=batch.domain.name, source_key=key)
            link.golden_id = target.record.pk
            link.last_payload = item.record.payload
            link.payload_hash = item.digest
            link.last_seen_at = batch.now
            link.status = LinkStatus.ACTIVE
            link.updated_at = batch.now
            if link.source_values:  # the hub pushes to this source: it now holds what it reported
                link.source_values = {**link.source_values, **conflicts.to_json(item.record.values)}
            (changed_links if item.link else new_links).append(link)
    bulk_sql.insert(SourceLink, new_links, with_ids=False)
    bulk_sql.update(SourceLink, changed_links, LINK_FIELDS)
