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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
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
    events: list[Any] = []
    event = _event_maker(batch)
    new = sorted((t for t in targets if t.is_new), key=lambda t: t.wave)
    tracked = [f.name for f in new[0].record.tracked_fields()] if new else []  # the same for every record
    waves = [list(group) for _wave, group in groupby(new, key=lambda t: t.wave)]
    links: list[LinkRows] = []
    event_rows = outbox.prepared()
    for number, group in enumerate(waves):
        for target in group:
            _resolve_pending(target, codes)

        def meanwhile(group: list[Target] = group, last: bool = number == len(waves) - 1) -> None:
            # Python work the database is not needed for, done while it stores the wave's records:
            # their ids and values are set; the links and events of the batch once every new record has its id.
            events.extend(event(target, ChangeKind.CREATED, tracked) for target in group)
            if last:
                links.append(_link_rows(batch, targets))
                event_rows.add(events)

        _create(batch, [t.record for t in group], meanwhile)
        for target in group:
            codes[getattr(target.record, key)] = target.record.pk
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
        events.append(event(target, ChangeKind.UPDATED, fields))

    def while_updating() -> None:  # Python work the database is not needed for, done while it stores the changes
        if not links:
            links.append(_link_rows(batch, targets))
        event_rows.add(events[len(event_rows.objs) :])

    _update(batch, changed, sorted(names | {"version", "updated_at"}), while_updating)
    if batch.domain.org_field == "pk" and (new or any("parent" in e.changed_fields for e in events)):
        orgtree.rebuild_closure()  # org units keep their closure table (and refuse cycles)
    _write_links(links[0])
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
    outbox.write_prepared(event_rows)
    return codes


def _create(batch: Batch, records: list[GoldenRecord], meanwhile: Callable[[], None]) -> None:
    """Insert new golden records and their first history rows (``meanwhile``: see :func:`bulk_sql.insert`)."""
    if bulk_sql.fast():
        memo = bulk_sql.JsonMemo()
        history = HistoryRows(batch, "+", memo)
        bulk_sql.insert(batch.model, records, memo=memo, meanwhile=lambda: (history.add(records), meanwhile()))
        history.copy()
    else:
        bulk_create_with_history(records, batch.model, batch_size=bulk_sql.BATCH, **_history_context(batch))
        meanwhile()


def _update(batch: Batch, records: list[GoldenRecord], fields: list[str], meanwhile: Callable[[], None]) -> None:
    """Write changed golden records and a history row for each (``meanwhile``: see :func:`bulk_sql.update`)."""
    if records and bulk_sql.fast():
        memo = bulk_sql.JsonMemo()
        history = HistoryRows(batch, "~", memo)
        bulk_sql.update(batch.model, records, fields, memo=memo, meanwhile=lambda: (history.add(records), meanwhile()))
        history.copy()
        return
    if records:
        bulk_update_with_history(records, batch.model, fields, batch_size=bulk_sql.BATCH, **_history_context(batch))
    meanwhile()


def _history_context(batch: Batch) -> dict[str, Any]:
    """Who, why and from which source: the same on every history row of the batch, as on single saves."""
    return {
        "default_user": batch.user if getattr(batch.user, "pk", None) is not None else None,
        "default_change_reason": batch.reason or None,
        "default_date": batch.now,
        "custom_historical_attrs": {"history_source_id": batch.source.pk},
    }


class HistoryRows:
    """The history rows simple-history's bulk helpers would write, copied straight from the records.

    Rows, not model instances: the values are the record's own (its JSON documents encoded once
    for both tables), followed by who, why, when and from which source.
    """

    def __init__(self, batch: Batch, history_type: str, memo: bulk_sql.JsonMemo) -> None:
        self.enabled = getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
        self.rows: list[list[Any]] = []
        if not self.enabled:
            return
        context = _history_context(batch)
        self.model = history_model(batch.model)
        opts = self.model._meta
        user = context["default_user"]
        extra = {
            "history_date": context["default_date"],
            "history_user_id": user.pk if user is not None else None,
            "history_change_reason": context["default_change_reason"],
            "history_type": history_type,
            **context["custom_historical_attrs"],
        }
        tracked = [opts.get_field(f.attname) for f in self.model.tracked_fields]
        self.plan = bulk_sql.RowPlan(tracked, memo, pre_save=False)
        fields = [f for f in opts.concrete_fields if f.attname in extra]
        converters = bulk_sql.column_converters(fields)
        self.constant = [convert(extra[f.attname]) for f, convert in zip(fields, converters, strict=True)]
        self.fields = [*self.plan.fields, *fields]

    def add(self, records: list[GoldenRecord]) -> None:
        """The rows of ``records`` as they are now (after their insert or update set every value)."""
        if self.enabled:
            row, constant = self.plan.row, self.constant
            self.rows += [[*row(record), *constant] for record in records]

    def copy(self) -> None:
        """Write the rows."""
        if self.enabled and self.rows:
            with bulk_sql.copy_into(self.model, self.fields) as copy:
                write_row = copy.write_row
                for row in self.rows:
                    write_row(row)


@cache
def history_model(model: type[GoldenRecord]) -> type[Any]:
    """The historical model of ``model``: ``model.history`` builds a new manager class on every access."""
    return model.history.model


def _resolve_pending(target: Target, codes: dict[Any, int]) -> None:
    for attname, code in target.pending.items():
        setattr(target.record, attname, codes[code])


def _event_maker(batch: Batch) -> Callable[[Target, str, list[str]], Any]:
    """How the batch's outbox events are built: plain rows for COPY on PostgreSQL, model instances elsewhere."""
    domain = batch.domain
    if bulk_sql.fast():
        row = outbox.RowBuilder(domain.name, source=batch.source, user=batch.user, at=batch.now)

        def event_row(target: Target, kind: str, fields: list[str]) -> bulk_sql.Row:
            record = target.record
            announced = outbox.announced_fields(record, fields, kind)
            return row(record.pk, record.version, kind, announced, access.org_unit_of(domain, record))

        return event_row

    def event(target: Target, kind: str, fields: list[str]) -> Any:
        record = target.record
        return outbox.build(
            domain.name,
            record.pk,
            record.version,
            kind,
            outbox.announced_fields(record, fields, kind),
            source=batch.source,
            user=batch.user,
            at=batch.now,
            owner_org_id=access.org_unit_of(domain, record),
        )

    return event


@dataclass
class LinkRows:
    """The batch's source links: new ones as rows made ahead of their insert, known ones as changed instances."""

    new: bulk_sql.Prepared
    changed: list[SourceLink] = field(default_factory=list)


def _link_rows(batch: Batch, targets: list[Target]) -> LinkRows:
    new: list[bulk_sql.Row | SourceLink] = []
    links = LinkRows(bulk_sql.Prepared(SourceLink))
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
            (links.changed if item.link else new).append(link)
    links.new.add(new)
    return links


def _write_links(links: LinkRows) -> None:
    links.new.write()
    bulk_sql.update(SourceLink, links.changed, LINK_FIELDS)
