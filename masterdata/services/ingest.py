"""Batch ingest: mapped source records become golden records — find link ▸ match ▸ survivorship ▸ conflicts ▸ write.

The connectors fetch, map and hand over a batch; :func:`ingest_batch` does the rest in one
transaction, in a fixed number of queries whatever the batch size (DESIGN §7):

1. **Skip unchanged**: a record whose payload hash equals its link's is done — no write,
   no history, no event.
2. **Validate** each record on its own (types, lengths, choices, foreign-key codes resolved in
   bulk, check constraints in Python): a bad record fails alone, with its stage and errors.
3. **Find the golden record**: by link; else by identity keys (exact); else by fuzzy score —
   at least ``auto_link_score`` links, at least ``MDM_DUPLICATE_SUSPECT_SCORE`` creates a new
   record *and* a duplicate suspect for a steward, below that a new record.
4. **Survivorship** per field (:mod:`.survivorship`); steward-locked fields are never touched;
   disagreement of equal standing raises a conflict (:mod:`.conflicts`) and keeps the value.
   The domain's data-quality rules (:mod:`.quality`) then judge the resulting record: a blocking
   rule fails it (stage ``validate``), a warning becomes an issue written with the batch.
5. **Write** in bulk (:mod:`.ingest_write`): records with history (who, why, source), links,
   conflicts, duplicate suspects and outbox events. A record the database still refuses fails
   alone; the rest of the batch commits.

Re-running a batch changes nothing, and nothing is ever deleted because a source no longer
sends it. Within one batch, when a source key appears more than once the **last** occurrence
wins; the earlier ones are reported ``unchanged`` and carry the winner's golden id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from masterdata.models import ConflictReason, GoldenRecord, GoldenStatus, LinkStatus, SourceLink, SourceSystem
from masterdata.registry import Domain
from masterdata.services import bulk_sql, ingest_write, matching, quality
from masterdata.services import conflicts as conflict_service
from masterdata.services.ingest_records import (
    CONFLICTED,
    CREATED,
    FAILED,
    OUTCOMES,
    SKIPPED,
    SUSPECTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    IncomingRecord,
    RecordOutcome,
    Rules,
)
from masterdata.services.ingest_schema import Errors, Pending, RecordSchema, code_text
from masterdata.services.survivorship import CONFLICT, TAKE, comparable, is_empty

#: Duplicate suspects recorded for one new record at most (the best scores).
MAX_SUSPECTS = 5
SOURCE_KEY_LENGTH = SourceLink._meta.get_field("source_key").max_length


def ingest_batch(
    source: SourceSystem,
    domain: Domain,
    records: Sequence[IncomingRecord],
    *,
    dry_run: bool = False,
    auto_link_score: float | None = None,
    reason: str = "",
    user: Any = None,
    rules: Rules | None = None,
) -> BatchResult:
    """Turn one batch of mapped source records into golden records, in one transaction.

    ``dry_run`` computes the very same outcomes (changes, conflicts, suspects) inside a
    transaction that is rolled back: nothing is written, and records it would create have no
    golden id. The caller advances its cursor once this returns (the batch has committed).
    ``rules``: those to apply (see :class:`Rules`); the domain's current ones when None.
    """
    batch = Batch(source, domain, user=user, reason=reason, auto_link_score=auto_link_score, rules=rules)
    with bulk_sql.without_cyclic_gc():
        with transaction.atomic():
            batch.run(records)
            if dry_run:
                transaction.set_rollback(True)
        result = batch.result(dry_run=dry_run)
        for item in batch.items:
            item.target = None  # no record ↔ target cycles: reference counting frees the batch at once
    return result


@dataclass(eq=False)
class Item:
    """One incoming record on its way through the batch."""

    position: int
    record: IncomingRecord
    outcome: RecordOutcome
    observed_at: datetime
    digest: str = ""
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Rule → the provenance entry of the fields this record supplies by it (one document, shared)."""
    link: SourceLink | None = None
    values: dict[str, Any] = field(default_factory=dict)
    target: Target | None = None

    def fail(self, stage: str, errors: Errors) -> None:
        self.outcome.outcome, self.outcome.stage, self.outcome.errors = FAILED, stage, errors
        self.outcome.changed_fields, self.outcome.conflicts = [], []

    @property
    def failed(self) -> bool:
        return self.outcome.outcome == FAILED


@dataclass(eq=False)
class Target:
    """A golden record (existing or to be created) and the batch's records that feed it."""

    record: GoldenRecord
    is_new: bool
    items: list[Item] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    """Foreign-key attname → code of a record this batch creates."""
    changed: list[str] = field(default_factory=list)
    suspects: list[matching.Candidate] = field(default_factory=list)
    wave: int = 0
    failed: bool = False

    def fail(self, stage: str, errors: Errors) -> None:
        self.failed = True
        for item in self.items:
            item.fail(stage, errors)


class Batch:
    """The state of one :func:`ingest_batch` call."""

    def __init__(
        self,
        source: SourceSystem,
        domain: Domain,
        *,
        user: Any,
        reason: str,
        auto_link_score: float | None,
        rules: Rules | None = None,
    ) -> None:
        self.source = source
        self.domain = domain
        self.model = domain.model_class
        self.user = user
        self.user_name = getattr(user, "username", None)
        self.reason = reason
        self.now = timezone.now()
        self.auto_link_score = matching.auto_link_score() if auto_link_score is None else auto_link_score
        self.suspect_score = min(matching.suspect_score(), self.auto_link_score)
        self.schema = RecordSchema(domain)
        self.given_rules = rules
        self.items: list[Item] = []
        self.outcomes: list[RecordOutcome] = []
        self.targets: list[Target] = []
        self.created_ids: set[int] = set()
        self.superseded: list[tuple[Item, Item]] = []
        self.created_codes: dict[Any, int] = {}
        """Business keys of the records this batch created → their ids (for references among them)."""
        self._fk_codes: dict[str, dict[int, str]] = {}
        """Foreign-key field → {related id: its code}, for two-way comparisons (see :meth:`_code_of`)."""

    # --- the pipeline ----------------------------------------------------------------------------
    def run(self, records: Sequence[IncomingRecord]) -> None:
        live = self._deduplicate(records)
        live = self._skip_unchanged(live)
        live = self._validate(live)
        if live:
            self._process(live)
        for earlier, winner in self.superseded:
            earlier.outcome.golden_id = winner.outcome.golden_id

    def _process(self, live: list[Item]) -> None:
        self.targets = self._find_targets(live)
        rules = self.given_rules or Rules.load(self.domain)
        self.rules = rules.survivorship
        self.quality = quality.IngestGate(self.domain, rules.quality)
        self.conflicts = conflict_service.ConflictBook(self.domain, [t.record.pk for t in self.targets if not t.is_new])
        for target in self.targets:
            for item in target.items:
                self._survive(target, item)
        self.conflicts.translate_foreign_keys(self.schema.foreign_keys)
        self._check(self.targets)
        ingest_write.write(self, [t for t in self.targets if not t.failed])
        self.quality.record(self.targets)  # warnings: issues and scores, in the batch's transaction
        for target in self.targets:
            if not target.failed:
                self._conclude(target)

    def result(self, *, dry_run: bool) -> BatchResult:
        if dry_run:
            for outcome in self.outcomes:
                if outcome.golden_id in self.created_ids:
                    outcome.golden_id = None
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.outcome] += 1
        return BatchResult(self.outcomes, counts)

    # --- 1. one record per source key, skip unchanged payloads -----------------------------------
    def _deduplicate(self, records: Sequence[IncomingRecord]) -> list[Item]:
        last: dict[str, Item] = {}
        for position, record in enumerate(records):
            item = Item(position, record, RecordOutcome(record.source_key, UNCHANGED), self._observed_at(record))
            self.items.append(item)
            self.outcomes.append(item.outcome)
            last[record.source_key] = item
        winners = set(last.values())
        self.superseded = [(item, last[item.record.source_key]) for item in self.items if item not in winners]
        return list(last.values())

    def _observed_at(self, record: IncomingRecord) -> datetime:
        at = record.observed_at
        if at is None:
            return self.now
        return timezone.make_aware(at) if timezone.is_naive(at) else at

    def _skip_unchanged(self, items: list[Item]) -> list[Item]:
        keyed, valid = [], []
        for item in items:
            key = item.record.source_key
            if isinstance(key, str) and key and len(key) <= SOURCE_KEY_LENGTH:
                keyed.append(item)
            else:
                item.fail("validate", {"source_key": [f"Give a source key of 1 to {SOURCE_KEY_LENGTH} characters."]})

        def hash_payloads() -> None:  # while the database looks the links up
            for item in keyed:
                try:
                    item.digest = SourceLink.hash_payload(item.record.payload)
                    valid.append(item)
                except (TypeError, ValueError) as exc:
                    item.fail("validate", {"payload": [f"The payload cannot be stored as JSON: {exc}"]})

        # Plain rows, not the stored payloads (they are replaced) nor model instances (most are skipped).
        links = SourceLink.objects.filter(source=self.source, domain=self.domain.name).order_by()  # no join, no sort
        links = bulk_sql.among(links, "source_key", [i.record.source_key for i in keyed])
        columns = ("source_key", "id", "golden_id", "status", "payload_hash", "source_values")
        rows = bulk_sql.raw_rows(links, columns, meanwhile=hash_payloads) if keyed else []
        by_key = {row[0]: row[1:] for row in rows}
        live = []
        for item in valid:
            key = item.record.source_key
            if key not in by_key:
                live.append(item)
                continue
            pk, golden_id, status, digest, known = by_key[key]
            if status == LinkStatus.ACTIVE and digest == item.digest:
                item.outcome.outcome, item.outcome.golden_id = SKIPPED, golden_id
                continue
            known = bulk_sql.document(SourceLink, "source_values", known)
            item.link = SourceLink(
                pk=pk, source=self.source, domain=self.domain.name, source_key=key, golden_id=golden_id, status=status,
                source_values=known or {},
            )  # fmt: skip
            item.link._state.adding = False
            live.append(item)
        return live

    # --- 2. validate -------------------------------------------------------------------------------
    def _validate(self, items: list[Item]) -> list[Item]:
        cleaned, checked = [], []
        for item in items:
            values, errors = self.schema.clean(item.record.values)
            if not isinstance(item.record.attributes, dict):
                errors["attributes"] = ["Attributes must be an object."]
            if errors:
                item.fail("validate", errors)
            else:
                cleaned.append(values)
                checked.append(item)
        key = self.domain.business_key
        batch_codes = {str(values[key]) for values in cleaned if values.get(key)}
        live = []
        for item, (values, errors) in zip(checked, self.schema.resolve_foreign_keys(cleaned, batch_codes), strict=True):
            if errors:
                item.fail("validate", errors)
            else:
                item.values = values
                live.append(item)
        return live

    # --- 3. find each record's golden record -----------------------------------------------------
    def _find_targets(self, items: list[Item]) -> list[Target]:
        wanted: dict[Item, int] = {item: item.link.golden_id for item in items if item.link is not None}
        unlinked = [item for item in items if item.link is None]
        exact = matching.exact_matches(self.domain, {n: i.values for n, i in enumerate(unlinked)})
        for number, (golden_id, _key) in exact.items():
            wanted[unlinked[number]] = golden_id
        leaders, followers = self._group_new([i for n, i in enumerate(unlinked) if n not in exact])
        fuzzy = self._fuzzy(leaders)
        for leader, candidates in fuzzy.items():
            if candidates and candidates[0].score >= self.auto_link_score:
                for item in (leader, *followers.get(leader, ())):
                    wanted[item] = candidates[0].golden_id
        records = self._load(set(wanted.values()))
        targets: dict[int, Target] = {}
        orphans = []
        for item, golden_id in wanted.items():
            record = records.get(golden_id)
            if record is None:
                orphans.append(item)  # its link names a record that is gone (a broken merge chain): a new one
                continue
            target = targets.get(record.pk)
            if target is None:
                target = targets[record.pk] = Target(record, is_new=False)
            target.items.append(item)
            item.target = target
        new_targets = []
        for leader in leaders:
            if leader in wanted:
                continue
            target = Target(self.schema.blank(), is_new=True, suspects=fuzzy.get(leader, [])[:MAX_SUSPECTS])
            for item in (leader, *followers.get(leader, ())):
                target.items.append(item)
                item.target = target
            new_targets.append(target)
        for item in orphans:
            target = Target(self.schema.blank(), is_new=True, items=[item])
            item.target = target
            new_targets.append(target)
        ordered = sorted(targets.values(), key=lambda t: t.record.pk)
        for target in ordered:
            target.items.sort(key=lambda i: i.position)  # a source's later record wins over its earlier one
        return [*new_targets, *ordered]

    def _group_new(self, items: list[Item]) -> tuple[list[Item], dict[Item, list[Item]]]:
        """Records of this batch sharing an identity key become one new golden record."""
        leader_of: dict[Item, Item] = {}
        seen: dict[tuple[str, Any], Item] = {}
        hidden = matching.sensitive_keys(self.domain)
        for item in items:
            for key in self.domain.match_keys:
                value = matching.identity_value(key, item.values.get(key), hidden)  # as exact matching compares it
                if value is None:
                    continue
                first = seen.setdefault((key, value), item)
                if first is not item and item not in leader_of:
                    leader_of[item] = leader_of.get(first, first)
        leaders = [item for item in items if item not in leader_of]
        followers: dict[Item, list[Item]] = {}
        for item, leader in leader_of.items():
            followers.setdefault(leader, []).append(item)
        return leaders, followers

    def _fuzzy(self, leaders: list[Item]) -> dict[Item, list[matching.Candidate]]:
        if not leaders:
            return {}
        offered = {n: item.values for n, item in enumerate(leaders)}
        found = matching.fuzzy_candidates(self.domain, self.source, offered, self.suspect_score)
        return {leaders[n]: candidates for n, candidates in found.items()}

    def _load(self, ids: set[int]) -> dict[int, GoldenRecord]:
        """The golden records of the batch, locked; a merged record stands for its survivor."""
        records: dict[int, GoldenRecord] = {}
        standing: dict[int, int] = {pk: pk for pk in ids}
        pending = set(ids)
        for _hop in range(10):
            if not pending:
                break
            rows = self.model._base_manager.select_for_update().filter(pk__in=pending).order_by("pk")
            loaded = {r.pk: r for r in rows}
            records.update(loaded)
            survivors = {pk: r.merged_into_id for pk, r in loaded.items() if r.status == GoldenStatus.MERGED}
            for original, current in standing.items():
                if current in survivors and survivors[current] is not None:
                    standing[original] = survivors[current]
            pending = {pk for pk in survivors.values() if pk is not None and pk not in records}
        return {
            pk: records[current]
            for pk, current in standing.items()
            if current in records and records[current].status != GoldenStatus.MERGED
        }

    # --- 4. survivorship ----------------------------------------------------------------------------
    def _survive(self, target: Target, item: Item) -> None:
        record = target.record
        locked = set(record.locked_fields or ())
        source = self.source.code
        fields, foreign_keys, pending = self.schema.fields, self.schema.foreign_keys, target.pending
        known = record.pk is not None  # a new record has no open conflicts nor steward decisions yet
        stored = record.__dict__
        # Read once: taking a value replaces the document but keeps every other field's entry as it was.
        provenance = record.provenance or {}
        for name, offered in item.values.items():
            if name in locked:
                continue
            f = fields[name]
            attname = f.attname
            if attname in pending:
                current = Pending(pending[attname])
            else:
                current = stored[attname] if attname in stored else getattr(record, attname)
            shown = item.record.values[name] if name in foreign_keys else offered
            open_conflict = self.conflicts.open_for(record.pk, name) if known else None
            if comparable(f, current) == comparable(f, offered):
                if open_conflict is not None:
                    self.conflicts.refresh(open_conflict, self._candidate(item, name, shown), record)
                continue
            if item.link is not None and self._echo_or_collision(target, item, f, current, offered, shown):
                continue
            if known and self.conflicts.decided_against(record.pk, name, source, shown):
                continue
            incumbent = provenance.get(name)
            decision = self.rules.decide(
                name,
                source_code=source,
                observed_at=item.observed_at,
                incumbent=incumbent,
                current_empty=is_empty(current),
                offered_empty=is_empty(offered),
            )
            if decision.action == TAKE:
                self._take(target, item, f, offered, decision.rule)
                if open_conflict is not None:
                    self.conflicts.refresh(open_conflict, self._candidate(item, name, shown), record)
            elif decision.action == CONFLICT:
                owner = incumbent.get("source") if incumbent else None
                value = current.code if isinstance(current, Pending) else conflict_service.to_json(current)
                held = conflict_service.candidate(
                    owner, value, incumbent.get("at") if incumbent else None, self.rules.trust(owner, name)
                )
                self.conflicts.offer(record, name, decision.reason, held, self._candidate(item, name, shown))
                item.outcome.conflicts.append(name)
        self._merge_attributes(target, item, locked)

    def _echo_or_collision(self, target: Target, item: Item, f: Any, current: Any, offered: Any, shown: Any) -> bool:
        """Two-way sync with a source the hub pushes to: True when the offered value is settled here.

        The link knows what the source holds since the hub's last push (``source_values``). A
        value equal to it is no change of the source's own — the echo of our push, or an old value
        it still reports — and is ignored. A value that differs from it while the hub's value
        differs from it too is a two-way collision: neither side wins, a conflict keeps both and
        the push of the field to the source waits for the steward. A foreign key takes part the
        same way, compared as the source sees it: by the related record's code.
        """
        known_values = item.link.source_values if item.link is not None else None
        if not known_values or f.name not in known_values:
            return False
        known = known_values[f.name]
        if f.name in self.schema.foreign_keys:
            if code_text(shown) == code_text(known):
                return True
            ours = None if isinstance(current, Pending) else self._code_of(f, current)
            if isinstance(current, Pending) or ours == code_text(known):
                return False  # only the source changed it
        else:
            if comparable(f, offered) == comparable(f, known):
                return True
            if isinstance(current, Pending) or comparable(f, current) == comparable(f, known):
                return False  # only the source changed it: survivorship decides as for any change
            ours = conflict_service.to_json(current)
        record = target.record
        incumbent = (record.provenance or {}).get(f.name) or {}
        owner = incumbent.get("source")
        held = conflict_service.candidate(owner, ours, incumbent.get("at"), self.rules.trust(owner, f.name))
        reason = ConflictReason.TWO_WAY_COLLISION
        self.conflicts.offer(record, f.name, reason, held, self._candidate(item, f.name, shown))
        item.outcome.conflicts.append(f.name)
        return True

    def _code_of(self, f: Any, pk: int | None) -> str | None:
        """The code of the record a foreign key points to: one query per field for the whole batch."""
        if pk is None:
            return None
        codes = self._fk_codes.get(f.name)
        if codes is None or pk not in codes:
            ids = {getattr(t.record, f.attname) for t in self.targets} | {pk}
            ids |= {i.values.get(f.name) for t in self.targets for i in t.items}
            ids = {value for value in ids if isinstance(value, int)}
            codes = dict(f.related_model._base_manager.filter(pk__in=ids).values_list("pk", "code"))
            self._fk_codes[f.name] = codes
        return codes.get(pk)

    def _candidate(self, item: Item, name: str, shown: Any) -> dict[str, Any]:
        """The value ``item`` offers for field ``name``, as a conflict candidate."""
        source = self.source.code
        value = conflict_service.to_json(shown)
        return conflict_service.candidate(source, value, item.observed_at, self.rules.trust(source, name))

    def _take(self, target: Target, item: Item, f: Any, value: Any, rule: str) -> None:
        record = target.record
        if isinstance(value, Pending):
            target.pending[f.attname] = value.code
            setattr(record, f.attname, None)
        else:
            target.pending.pop(f.attname, None)
            setattr(record, f.attname, value)
        self._provenance(target, item, f.name, rule)

    def _merge_attributes(self, target: Target, item: Item, locked: set[str]) -> None:
        """Unmapped fields are kept key by key; a source's newer value for a key replaces the old."""
        offered = item.record.attributes
        if not offered or "attributes" in locked:
            return
        record = target.record
        merged = {**(record.attributes or {}), **conflict_service.to_json(offered)}
        if merged != (record.attributes or {}):
            record.attributes = merged
            self._provenance(target, item, "attributes", "merge")

    def _provenance(self, target: Target, item: Item, name: str, rule: str) -> None:
        record = target.record
        if not target.changed:
            record.provenance = dict(record.provenance or {})  # replaced whole, never edited in place
        entry = item.entries.get(rule)
        if entry is None:  # provenance documents are replaced whole, never edited: entries may be shared
            entry = {
                "source": self.source.code,
                "user": self.user_name,
                "at": item.observed_at.isoformat(),
                "rule": rule,
            }
            item.entries[rule] = entry
        record.provenance[name] = entry
        if name not in target.changed:
            target.changed.append(name)
        if name not in item.outcome.changed_fields:
            item.outcome.changed_fields.append(name)

    # --- checks before writing ----------------------------------------------------------------
    def _check(self, targets: list[Target]) -> None:
        key = self.domain.business_key
        for target in targets:
            record = target.record
            if target.is_new and not getattr(record, key):
                setattr(record, key, target.items[0].record.source_key)  # a source without codes: its key
                self._provenance(target, target.items[0], key, "source_key")
            if target.is_new or target.changed:
                checked = {name for item in target.items for name in item.values}
                errors = self.schema.check(record, new=target.is_new, checked=checked)
                if errors:
                    target.fail("validate", errors)
        self._check_unique([t for t in targets if not t.failed and (t.is_new or t.changed)])
        self.quality.check([t for t in targets if not t.failed and (t.is_new or t.changed)])  # blocking rules
        ingest_write.plan_waves(self, [t for t in targets if not t.failed])

    def _check_unique(self, targets: list[Target]) -> None:
        """Unique fields (the business key) must stay unique: one query per unique field."""
        for name in self.schema.unique_fields:
            attname = self.schema.fields[name].attname
            claims: dict[Any, list[Target]] = {}
            for target in targets:
                if target.is_new or name in target.changed:
                    value = getattr(target.record, attname)
                    if value not in (None, ""):
                        claims.setdefault(value, []).append(target)
            if not claims:
                continue
            taken = dict(bulk_sql.among(self.model._base_manager.all(), attname, claims).values_list(attname, "pk"))
            label = self.model._meta.verbose_name
            for value, claimants in claims.items():
                for position, target in enumerate(claimants):
                    if target.failed:
                        continue
                    owner = taken.get(value)
                    if (owner is not None and owner != target.record.pk) or position > 0:
                        target.fail("validate", {name: [f"A {label} with this {name} already exists."]})

    # --- outcomes ---------------------------------------------------------------------------------
    def _conclude(self, target: Target) -> None:
        for position, item in enumerate(target.items):
            outcome = item.outcome
            outcome.golden_id = target.record.pk
            if target.is_new and position == 0:
                outcome.outcome = SUSPECTED if target.suspects else CREATED
            elif outcome.conflicts:
                outcome.outcome = CONFLICTED
            elif outcome.changed_fields:
                outcome.outcome = UPDATED
            else:
                outcome.outcome = UNCHANGED
        if target.is_new:
            self.created_ids.add(target.record.pk)
