"""Merging duplicate golden records, and undoing a merge.

A merge makes one record (the survivor) stand for both: it takes the values the steward
chose field by field, the loser's source links, the records that refer to the loser (its
"children": employees it manages, customers of a merged org unit…) and the loser's open
conflicts. The loser stays, frozen, as ``merged`` with ``merged_into`` pointing at the
survivor, so its history remains readable and sources that still name it find the survivor.

Every golden change goes through :mod:`masterdata.services.golden` (a history row and an
outbox event each), all in one transaction. A :class:`MergeRecord` keeps what is needed to
undo it; :func:`unmerge` restores the state before as new versions (history is append-only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from masterdata.fields import SensitiveField
from masterdata.models import (
    Conflict,
    ConflictStatus,
    DuplicateSuspect,
    GoldenRecord,
    GoldenStatus,
    MergeRecord,
    MergeStatus,
    SourceLink,
    SuspectStatus,
)
from masterdata.registry import Domain, registry
from masterdata.services import access, golden, orgtree
from masterdata.services.conflicts import to_json
from masterdata.services.stewardship import may_decide, shown_value

SURVIVOR = "survivor"
LOSER = "loser"
#: Columns a snapshot leaves out: the hub maintains them and a restore must not write them back.
NOT_RESTORED = frozenset({"id", "version", "created_at", "updated_at", "provenance"})


class MergeError(golden.GoldenRecordError):
    """A merge or unmerge the hub refuses (nothing was written)."""


def mergeable_fields(domain: Domain) -> list[str]:
    """Fields a steward chooses between: every golden field but the business key, which the survivor keeps."""
    return [name for name in domain.field_names() if name != domain.business_key]


def merge(
    domain: Domain,
    survivor: GoldenRecord,
    loser: GoldenRecord,
    field_choices: dict[str, str],
    user: Any,
    reason: str,
    *,
    suspect: DuplicateSuspect | None = None,
) -> MergeRecord:
    """Merge ``loser`` into ``survivor``; ``field_choices`` maps fields to ``"survivor"`` or ``"loser"``.

    Fields not named keep the survivor's value. Raises :class:`MergeError` (or a
    :class:`golden.GoldenRecordError` from the write path) and writes nothing when refused.
    """
    reason = _required(reason)
    model = domain.model_class
    with transaction.atomic():
        survivor, loser = _lock(model, survivor.pk, loser.pk)
        _check_mergeable(domain, survivor, loser, field_choices, user)
        suspect = _pair_of(domain, survivor, loser, suspect)
        snapshot = MergeRecord(
            domain=domain.name,
            survivor_id=survivor.pk,
            loser_id=loser.pk,
            suspect=suspect,
            suspect_status_before=suspect.status if suspect else "",
            field_choices=dict(field_choices),
            survivor_before=snapshot_of(survivor),
            loser_before=snapshot_of(loser),
            reason=reason,
            merged_by=_user_or_none(user),
        )
        note = f"Merged {loser.code} into {survivor.code}: {reason}"
        ctx = golden.ChangeContext(user=user, reason=note, rule="merge")
        survivor = _take_chosen_values(domain, survivor, loser, field_choices, ctx, snapshot)
        snapshot.moved_children = _repoint_children(model, loser.pk, survivor.pk, ctx)
        snapshot.moved_links = _move_links(domain, loser.pk, survivor.pk)
        snapshot.moved_conflicts, snapshot.closed_conflicts = _move_conflicts(domain, loser, survivor, user)
        snapshot.moved_suspects = _move_suspects(domain, loser.pk, survivor.pk, suspect)
        if domain.org_field == "pk":
            snapshot.moved_owned_rows = _move_owned_rows(loser.pk, survivor.pk)
        golden.update(loser, {"status": GoldenStatus.MERGED, "merged_into_id": survivor.pk}, ctx)
        if suspect is not None:
            _decide_suspect(suspect, SuspectStatus.MERGED, user)
        snapshot.owner_org_id = access.org_unit_of(domain, survivor)
        snapshot.save()
    return snapshot


def unmerge(merge_record: MergeRecord, user: Any, reason: str) -> MergeRecord:
    """Undo a merge with new versions: the loser, its links, children, conflicts and pair come back.

    Survivor fields the merge wrote are restored unless they changed since (a source or a
    steward wrote a newer value): those are kept and listed in ``kept_on_unmerge``.
    """
    reason = _required(reason)
    with transaction.atomic():
        record = MergeRecord.objects.select_for_update().get(pk=merge_record.pk)
        if record.status != MergeStatus.MERGED:
            raise MergeError("This merge was already undone.", field="status")
        domain = registry.get(record.domain)
        model = domain.model_class
        survivor, loser = _lock(model, record.survivor_id, record.loser_id)
        if loser.status != GoldenStatus.MERGED or loser.merged_into_id != survivor.pk:
            raise MergeError(f"{loser.code} is no longer merged into {survivor.code}.", field="status")
        if survivor.status == GoldenStatus.MERGED:
            raise MergeError(
                f"{survivor.code} has since been merged into another record; undo that merge first.", field="status"
            )
        for each in (survivor, loser):
            _require_scope(user, each)
        note = f"Unmerged {loser.code} from {survivor.code}: {reason}"
        ctx = golden.ChangeContext(user=user, reason=note, rule="unmerge")
        _restore(loser, record.loser_before, ctx)
        record.kept_on_unmerge = _restore_survivor(survivor, record, ctx)
        _restore_links(record, survivor.pk, loser.pk)
        _restore_children(record, survivor.pk, loser.pk, ctx)
        _restore_conflicts(record, domain, loser)
        _restore_suspects(record)
        _restore_owned_rows(record, survivor.pk, loser.pk)
        record.status = MergeStatus.UNMERGED
        record.unmerged_by = _user_or_none(user)
        record.unmerged_at = timezone.now()
        record.unmerge_reason = reason
        record.save()
    return record


# --- checks -------------------------------------------------------------------------------------
def _required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise MergeError("Give a reason: it is kept in the history of every record the merge changes.", "reason")
    return reason


def _lock(model: type[GoldenRecord], survivor_id: int, loser_id: int) -> tuple[GoldenRecord, GoldenRecord]:
    """Both rows under a lock, taken in id order so two concurrent merges cannot deadlock."""
    if survivor_id == loser_id:
        raise MergeError("A record cannot be merged into itself.")
    rows = {r.pk: r for r in model._base_manager.select_for_update().filter(pk__in=[survivor_id, loser_id])}
    if len(rows) != 2:
        raise MergeError("One of the records no longer exists.")
    return rows[survivor_id], rows[loser_id]


def _check_mergeable(
    domain: Domain, survivor: GoldenRecord, loser: GoldenRecord, field_choices: dict[str, str], user: Any
) -> None:
    for record in (survivor, loser):
        if record.status == GoldenStatus.MERGED:
            raise MergeError(f"{record.code} is already merged into another record.", field="status")
        _require_scope(user, record)
    allowed = set(mergeable_fields(domain))
    for name, side in field_choices.items():
        if name not in allowed:
            raise MergeError(f"{name!r} cannot be chosen in a merge of {domain.name} records.", field=name)
        if side not in (SURVIVOR, LOSER):
            raise MergeError(f"Choose 'survivor' or 'loser' for {name}, not {side!r}.", field=name)
    if domain.org_field == "pk" and (
        orgtree.is_descendant(survivor.pk, of=loser.pk) or orgtree.is_descendant(loser.pk, of=survivor.pk)
    ):
        raise MergeError("An org unit cannot be merged with a unit above or below it in the tree.")


def _require_scope(user: Any, record: GoldenRecord) -> None:
    if user is not None and not may_decide(user, record):
        raise golden.OutOfScope("You may not merge records of this org unit.")


# --- the merge, step by step --------------------------------------------------------------------
def snapshot_of(record: GoldenRecord) -> dict[str, Any]:
    """The record's values by column (foreign keys as ids), as a snapshot keeps them."""
    return {
        f.attname: _stored(f, getattr(record, f.attname))
        for f in record._meta.concrete_fields
        if f.name not in NOT_RESTORED
    }


def _stored(f: models.Field, value: Any) -> Any:
    """JSON; a sensitive field in its encrypted column form, so a snapshot never holds it in clear."""
    return f.get_prep_value(value) if isinstance(f, SensitiveField) else to_json(value)


def snapshot_value(f: models.Field, stored: Any) -> Any:
    """The field value a snapshot entry stands for (dates, decimals and sensitive values restored)."""
    return stored if stored is None else f.to_python(stored)


def _take_chosen_values(
    domain: Domain,
    survivor: GoldenRecord,
    loser: GoldenRecord,
    field_choices: dict[str, str],
    ctx: golden.ChangeContext,
    snapshot: MergeRecord,
) -> GoldenRecord:
    model = domain.model_class
    data: dict[str, Any] = {}
    for name, side in field_choices.items():
        if side == LOSER:
            f = model._meta.get_field(name)
            data[f.attname] = getattr(loser, f.attname)
    for f in model._meta.concrete_fields:
        # A reference between the two would become a reference to itself (an employee managing themselves).
        self_reference = isinstance(f, models.ForeignKey) and f.related_model is model and f.name != "merged_into"
        if self_reference and data.get(f.attname, getattr(survivor, f.attname)) in (survivor.pk, loser.pk):
            data[f.attname] = None
    changed = {a: v for a, v in data.items() if to_json(v) != to_json(getattr(survivor, a))}
    if not changed:
        return survivor
    updated = golden.update(survivor, changed, ctx)
    fields = {f.attname: f for f in model._meta.concrete_fields}
    snapshot.survivor_after = {attname: _stored(fields[attname], getattr(updated, attname)) for attname in changed}
    return updated


def child_relations(model: type[GoldenRecord]) -> Iterator[models.ForeignKey]:
    """Foreign keys of golden records (any domain) that point at ``model`` — hidden ones included.

    ``merged_into`` is not a reference to move: a record merged into the loser stays merged
    into it (the chain leads to the survivor). History tables are not golden records.
    """
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.one_to_many):
            continue
        if issubclass(rel.related_model, GoldenRecord) and rel.field.name != "merged_into":
            yield rel.field


def _repoint_children(model: type[GoldenRecord], loser_id: int, survivor_id: int, ctx: golden.ChangeContext) -> list:
    """Records referring to the loser refer to the survivor, each as a new version of its own.

    These are consequences of the merge, not edits of the children's content, so they are not
    limited to the steward's scope (an employee of company B managed by a merged manager of A).
    """
    moved = []
    for fk in child_relations(model):
        rows = fk.model._base_manager.select_for_update().filter(**{fk.attname: loser_id})
        rows = rows.exclude(status=GoldenStatus.MERGED)
        if fk.model is model:
            rows = rows.exclude(pk__in=[loser_id, survivor_id])
        ids = []
        for child in rows.order_by("pk"):
            setattr(child, fk.attname, survivor_id)
            golden.save(child, ctx)
            ids.append(child.pk)
        if ids:
            moved.append({"model": fk.model._meta.label, "field": fk.name, "ids": ids})
    return moved


def _move_links(domain: Domain, loser_id: int, survivor_id: int) -> list[dict[str, Any]]:
    """The loser's source links point at the survivor; they are pushed afresh (no pushed version)."""
    links = SourceLink.objects.select_for_update().filter(domain=domain.name, golden_id=loser_id)
    moved = [{"id": pk, "last_pushed_version": pushed} for pk, pushed in links.values_list("pk", "last_pushed_version")]
    links.update(golden_id=survivor_id, last_pushed_version=None, updated_at=timezone.now())
    return moved


def _move_conflicts(
    domain: Domain, loser: GoldenRecord, survivor: GoldenRecord, user: Any
) -> tuple[list[dict[str, Any]], list[int]]:
    """Open conflicts of the loser move to the survivor; those on a field the survivor already disputes close."""
    rows = list(Conflict.objects.select_for_update().filter(domain=domain.name, golden_id=loser.pk, status="open"))
    disputed = _disputed_fields(domain, survivor.pk)
    owner = access.org_unit_of(domain, survivor)
    moved, closed = [], []
    now = timezone.now()
    for conflict in rows:
        if conflict.field in disputed:
            conflict.status = ConflictStatus.DISMISSED
            conflict.resolved_at = now
            conflict.resolved_by = _user_or_none(user)
            conflict.resolution_value = conflict.golden_value
            conflict.resolution_note = f"Closed: {loser.code} was merged into {survivor.code}."
            closed.append(conflict.pk)
        else:
            moved.append({"id": conflict.pk, "golden_value": conflict.golden_value, "owner_org": conflict.owner_org_id})
            conflict.golden_id = survivor.pk
            conflict.owner_org_id = owner
            conflict.golden_value = shown_value(survivor, conflict.field)
        conflict.save()
    return moved, closed


def _disputed_fields(domain: Domain, golden_id: int) -> set[str]:
    rows = Conflict.objects.filter(domain=domain.name, golden_id=golden_id, status="open")
    return set(rows.values_list("field", flat=True))


def _pair_of(
    domain: Domain, survivor: GoldenRecord, loser: GoldenRecord, suspect: DuplicateSuspect | None
) -> DuplicateSuspect | None:
    low, high = sorted((survivor.pk, loser.pk))
    if suspect is not None and (suspect.domain, suspect.golden_id_a, suspect.golden_id_b) != (domain.name, low, high):
        raise MergeError("The suspect pair names other records than the ones merged.")
    pairs = DuplicateSuspect.objects.select_for_update().filter(domain=domain.name, golden_id_a=low, golden_id_b=high)
    return pairs.first()


def _move_suspects(
    domain: Domain, loser_id: int, survivor_id: int, pair: DuplicateSuspect | None
) -> list[dict[str, int]]:
    """Open suspicions about the loser become suspicions about the survivor, where that pair is new."""
    rows = DuplicateSuspect.objects.select_for_update().filter(
        Q(golden_id_a=loser_id) | Q(golden_id_b=loser_id), domain=domain.name, status=SuspectStatus.OPEN
    )
    if pair is not None:
        rows = rows.exclude(pk=pair.pk)
    known = set(
        DuplicateSuspect.objects.filter(
            Q(golden_id_a=survivor_id) | Q(golden_id_b=survivor_id), domain=domain.name
        ).values_list("golden_id_a", "golden_id_b")
    )
    moved = []
    for row in rows:
        other = row.golden_id_b if row.golden_id_a == loser_id else row.golden_id_a
        low, high = sorted((other, survivor_id))
        if other == survivor_id or (low, high) in known:
            continue
        moved.append({"id": row.pk, "a": row.golden_id_a, "b": row.golden_id_b})
        row.golden_id_a, row.golden_id_b = low, high
        row.save(update_fields=["golden_id_a", "golden_id_b"])
        known.add((low, high))
    return moved


def _move_owned_rows(loser_id: int, survivor_id: int) -> list[dict[str, Any]]:
    """Open conflicts and suspects owned by a merged org unit belong to the survivor, as its records do."""
    moved = []
    for model in (Conflict, DuplicateSuspect):
        rows = model.objects.filter(owner_org_id=loser_id, status="open")
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            model.objects.filter(pk__in=ids).update(owner_org_id=survivor_id)
            moved.append({"model": model._meta.label, "ids": ids})
    return moved


def _decide_suspect(suspect: DuplicateSuspect, status: str, user: Any) -> None:
    suspect.status = status
    suspect.decided_at = timezone.now() if status != SuspectStatus.OPEN else None
    suspect.decided_by = _user_or_none(user) if status != SuspectStatus.OPEN else None
    suspect.save(update_fields=["status", "decided_at", "decided_by"])


def _user_or_none(user: Any) -> Any:
    return user if getattr(user, "pk", None) is not None else None


# --- the unmerge --------------------------------------------------------------------------------
def _values_from(record: GoldenRecord, stored: dict[str, Any]) -> dict[str, Any]:
    """Snapshot values (JSON) turned back into field values, by column name."""
    fields = {f.attname: f for f in record._meta.concrete_fields}
    return {
        attname: snapshot_value(fields[attname], value)
        for attname, value in stored.items()
        if attname in fields and fields[attname].name not in NOT_RESTORED
    }


def _restore(record: GoldenRecord, stored: dict[str, Any], ctx: golden.ChangeContext) -> None:
    """Write the snapshot back as a new version (a merged record is restored here, not via ``update``)."""
    for attname, value in _values_from(record, stored).items():
        setattr(record, attname, value)
    golden.save(record, ctx)


def _restore_survivor(survivor: GoldenRecord, record: MergeRecord, ctx: golden.ChangeContext) -> list[str]:
    before = _values_from(survivor, {a: record.survivor_before.get(a) for a in record.survivor_after})
    fields = {f.attname: f for f in survivor._meta.concrete_fields}
    data, kept = {}, []
    for attname, written in record.survivor_after.items():
        if to_json(getattr(survivor, attname)) == to_json(snapshot_value(fields[attname], written)):
            data[attname] = before[attname]
        else:
            kept.append(fields[attname].name)
    if data:
        golden.update(survivor, data, ctx)
    return kept


def _restore_links(record: MergeRecord, survivor_id: int, loser_id: int) -> None:
    versions = {row["id"]: row["last_pushed_version"] for row in record.moved_links}
    links = list(SourceLink.objects.select_for_update().filter(pk__in=versions, golden_id=survivor_id))
    now = timezone.now()
    for link in links:
        link.golden_id, link.last_pushed_version, link.updated_at = loser_id, versions[link.pk], now
    SourceLink.objects.bulk_update(links, ["golden_id", "last_pushed_version", "updated_at"])


def _restore_children(record: MergeRecord, survivor_id: int, loser_id: int, ctx: golden.ChangeContext) -> None:
    """Children that still refer to the survivor refer to the loser again; later moves are left alone."""
    for moved in record.moved_children:
        model = apps.get_model(moved["model"])
        attname = model._meta.get_field(moved["field"]).attname
        rows = model._base_manager.select_for_update().filter(pk__in=moved["ids"], **{attname: survivor_id})
        for child in rows.exclude(status=GoldenStatus.MERGED).order_by("pk"):
            setattr(child, attname, loser_id)
            golden.save(child, ctx)


def _restore_conflicts(record: MergeRecord, domain: Domain, loser: GoldenRecord) -> None:
    """Moved conflicts still open go back to the loser; those the merge closed open again."""
    moved = {row["id"]: row for row in record.moved_conflicts}
    still_moved = Conflict.objects.filter(pk__in=moved, status="open", golden_id=record.survivor_id)
    for conflict in still_moved.select_for_update():
        before = moved[conflict.pk]
        conflict.golden_id, conflict.owner_org_id = loser.pk, before["owner_org"]
        conflict.golden_value = before["golden_value"]
        conflict.save()
    disputed = _disputed_fields(domain, loser.pk)
    for conflict in Conflict.objects.select_for_update().filter(pk__in=record.closed_conflicts, status="dismissed"):
        if conflict.field in disputed:
            continue
        conflict.status, conflict.resolved_at, conflict.resolved_by = ConflictStatus.OPEN, None, None
        conflict.resolution_value, conflict.resolution_note = None, ""
        conflict.save()


def _restore_suspects(record: MergeRecord) -> None:
    if record.suspect_id is not None:
        pair = DuplicateSuspect.objects.select_for_update().filter(pk=record.suspect_id).first()
        if pair is not None and pair.status == SuspectStatus.MERGED:
            _decide_suspect(pair, record.suspect_status_before or SuspectStatus.OPEN, None)
    moved = {row["id"]: row for row in record.moved_suspects}
    for pair in DuplicateSuspect.objects.select_for_update().filter(pk__in=moved, status=SuspectStatus.OPEN):
        before = moved[pair.pk]
        taken = DuplicateSuspect.objects.filter(domain=pair.domain, golden_id_a=before["a"], golden_id_b=before["b"])
        if not taken.exists():
            pair.golden_id_a, pair.golden_id_b = before["a"], before["b"]
            pair.save(update_fields=["golden_id_a", "golden_id_b"])


def _restore_owned_rows(record: MergeRecord, survivor_id: int, loser_id: int) -> None:
    for moved in record.moved_owned_rows:
        model = apps.get_model(moved["model"])
        model.objects.filter(pk__in=moved["ids"], owner_org_id=survivor_id).update(owner_org_id=loser_id)
