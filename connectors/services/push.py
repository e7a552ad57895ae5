"""Push delivery: pending deliveries of a target become pushes of the records' current state.

One worker at a time sends for a target (a lease, :mod:`connectors.services.leases`). Each
round takes the records whose pending deliveries are all due (a record in backoff keeps its
new changes waiting with it), oldest first, and sends each record once, in its current state:
several pending versions coalesce into one push, and versions can never overtake each other.

What is sent: the fields of the push map (:mod:`connectors.services.outbound`), minus fields
held by an open two-way collision with this target; to a record the target already has, only
what differs from what it is known to hold (``SourceLink.source_values``). Nothing differs: the
deliveries are done without a request. A create stores the key the target answers on a new
source link, so every later push updates that record.

Failures follow :mod:`connectors.services.retry`: transient ones wait with backoff (all the
record's pending deliveries together), permanent ones and exhausted retries park the record's
deliveries as dead letters in the failure queue (``SyncFailure``, direction outbound), where a
retry — single or bulk — sends the then current state. A 412 (the target changed the record
since our ETag) reads the record again: fields both sides changed become a two-way collision
conflict and are held; the rest go out with the fresh ETag.

Every function takes ``now`` so that tests drive retries with a clock of their own.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from connectors.errors import PreconditionFailed
from connectors.models import (
    Delivery,
    DeliveryStatus,
    DeliveryTrigger,
    FailureClass,
    FailureDirection,
    FailureStage,
    FailureStatus,
    PushTarget,
    SyncFailure,
)
from connectors.protocols import Outgoing, PushSpec, Sent, get_connector
from connectors.protocols.base import dig
from connectors.services import leases, push_ledger
from connectors.services.failures import record_owner
from connectors.services.mapping import MappingError
from connectors.services.outbound import PushMapper, changed_part, flatten
from connectors.services.push_ledger import LinkRow, among_ids
from connectors.services.retry import RetryPolicy, Verdict, classify
from masterdata.models import Conflict, ConflictReason, ConflictStatus, SourceLink
from masterdata.observability.metrics import count_pushed
from masterdata.registry import registry
from masterdata.services import conflicts as conflict_service

logger = logging.getLogger(__name__)

MAX_ROUNDS = 50


@dataclass
class PushReport:
    """What one :func:`deliver_due` call did (counts of records, not of deliveries)."""

    pushed: int = 0
    unchanged: int = 0
    retrying: int = 0
    dead: int = 0
    waiting: int = 0
    busy: bool = False
    paused: bool = False
    collisions: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "collisions"} | {"collisions": len(self.collisions)}


def deliver_due(
    target: PushTarget | int, *, now: datetime | None = None, golden_ids: list[int] | None = None
) -> PushReport:
    """Send what is due for ``target`` (only ``golden_ids`` when given) until nothing is left."""
    target = target if isinstance(target, PushTarget) else PushTarget.objects.select_related("source").get(pk=target)
    report = PushReport()
    if target.paused or not target.source.is_active:
        report.paused = True
        return report
    connection = getattr(target.source, "connection", None)
    timeout = connection.timeout_seconds if connection is not None else 30.0
    lease = leases.Leased(PushTarget, target.pk, leases.lease_seconds(timeout))
    if not lease.acquire():
        report.busy = True
        return report
    try:
        with _Round.connector_for(target) as connector:
            for _ in range(MAX_ROUNDS):
                clock = now or timezone.now()
                due = _due(target, clock, golden_ids, target.batch_size)
                if not due:
                    break
                stop = _Round(target, connector, clock, report).run(due)
                if stop or not lease.refresh():
                    break
    finally:
        lease.release()
    report.waiting = _pending(target).values("golden_id").distinct().count()
    return report


def _pending(target: PushTarget):
    return Delivery.objects.filter(target=target, status=DeliveryStatus.PENDING)


def _due(target: PushTarget, now: datetime, golden_ids: list[int] | None, limit: int) -> list[int]:
    """Records whose every pending delivery is due, the longest waiting first."""
    pending = _pending(target)
    if golden_ids is not None:
        pending = pending.filter(golden_id__in=golden_ids)
    rows = (
        pending.values("golden_id")
        .annotate(due=Max("next_attempt_at"))
        .filter(due__lte=now)
        .order_by("due", "golden_id")[:limit]
    )
    return [row["golden_id"] for row in rows]


class _Round:
    """One batch of records sent to one target."""

    def __init__(self, target: PushTarget, connector: Any, now: datetime, report: PushReport) -> None:
        self.target, self.connector, self.now, self.report = target, connector, now, report
        self.domain = registry.get(target.domain)
        self.policy = RetryPolicy.from_settings(target.max_attempts)
        # Without a lookup field, a key the hub assigns itself (mapped into the key field) finds a lost create.
        self.spec = PushSpec(
            resource=target.resource,
            key_field=target.key_field,
            lookup_field=target.lookup_field or target.key_field,
            options=target.options or {},
            bulk=target.bulk or {},
        )

    @staticmethod
    def connector_for(target: PushTarget) -> Any:
        connection = getattr(target.source, "connection", None)
        if connection is None:
            return _NoConnector(target)
        return get_connector(connection)

    def run(self, golden_ids: list[int]) -> bool:
        """Send one round; True when the target failed transiently (stop for now)."""
        open_rows = (
            among_ids(Delivery.objects.filter(target=self.target), "golden_id", golden_ids)
            .exclude(status=DeliveryStatus.DELIVERED)
            .order_by("id")
            .values_list("id", "golden_id", "status", "attempts", "last_attempt_at")
        )
        self.open_ids: dict[int, list[int]] = defaultdict(list)
        self.attempts: dict[int, int] = defaultdict(int)
        self.tried: set[int] = set()
        for delivery_id, gid, status, attempts, last_attempt_at in open_rows:
            self.open_ids[gid].append(delivery_id)
            if status == DeliveryStatus.PENDING:
                self.attempts[gid] = max(self.attempts[gid], attempts)
                if attempts or last_attempt_at is not None:
                    self.tried.add(gid)
        self.done: list[tuple[int, LinkRow | None, Sent | None, dict[str, Any]]] = []
        self.accepted = 0
        self.links = push_ledger.read_links(self.target.source_id, self.target.domain, golden_ids)
        held = held_fields(self.target, golden_ids)
        try:
            self.mapper = PushMapper(self.target.domain, self.target.field_map)
        except MappingError as exc:
            for gid in golden_ids:
                self._failed(gid, exc, Verdict(FailureClass.CONFIGURATION, retry=False), None)
            return True
        rows = self.mapper.read(self.domain.model_class, golden_ids)
        values = self.mapper.golden_values_of_rows(rows)
        items: list[Outgoing] = []
        self.sent_values: dict[int, dict[str, Any]] = {}
        self.versions = {gid: row["version"] for gid, row in rows.items()}
        for gid in golden_ids:
            if gid not in rows:
                self._failed(gid, MappingError("the golden record no longer exists"), _BAD, None)
                continue
            item = self._outgoing(gid, values[gid], held.get(gid, set()))
            if item is not None:
                items.append(item)
        creates = [delivery_id for item in items if item.key is None for delivery_id in self.open_ids[item.ref]]
        if creates:  # stamped first: should this worker die mid-request, the next one looks before it creates
            among_ids(_pending(self.target), "id", creates).update(last_attempt_at=self.now)
        results = self.connector.send(self.spec, items) if items else []
        stop = False
        for item, sent in zip(items, results, strict=True):
            stop |= self._conclude(item, sent)
        self._flush()
        return stop

    # --- building what to send ------------------------------------------------------------------
    def _outgoing(self, gid: int, values: dict[str, Any], held: set[str]) -> Outgoing | None:
        values = {name: value for name, value in values.items() if name not in held}
        try:
            body = self.mapper.body(values)
        except MappingError as exc:
            self._failed(gid, exc, _BAD, None)
            return None
        link = self.links.get(gid)
        changes = None
        if link is not None and link.source_values:
            known = {k: v for k, v in link.source_values.items() if k not in held}
            try:
                changes = changed_part(body, self.mapper.body(known))
            except MappingError:
                changes = None  # what it holds cannot be rendered: send everything
            if not changes:
                self.report.unchanged += 1
                self._done(gid, link, None, values)
                return None
        self.sent_values[gid] = values
        return Outgoing(
            ref=gid,
            body=body,
            changes=changes,
            key=link.source_key if link is not None else None,
            etag=(link.source_etag or None) if link is not None else None,
            lookup_value=dig(body, self.spec.lookup_field),
            recover=gid in self.tried,
        )

    # --- outcomes ---------------------------------------------------------------------------------
    def _conclude(self, item: Outgoing, sent: Sent) -> bool:
        gid = item.ref
        if sent.ok:
            self.report.pushed += 1
            self.accepted += 1
            self._done(gid, self.links.get(gid), sent, self.sent_values[gid])
            return False
        if not sent.attempted:
            return True
        if isinstance(sent.error, PreconditionFailed):
            self._collide(item, sent)
            return False
        verdict = classify(sent.error)
        self._failed(gid, sent.error, verdict, item.body)
        return verdict.retry

    def _done(self, gid: int, link: LinkRow | None, sent: Sent | None, values: dict[str, Any]) -> None:
        """The target holds the record's current state (written for the whole round by :meth:`_flush`)."""
        self.done.append((gid, link, sent, values))

    def _flush(self) -> None:
        """Deliveries done, links and the failure queue updated — set-based, a few statements per round."""
        if not self.done:
            return
        delivered = [
            (delivery_id, self.versions[gid], sent.status if sent else None, sent is not None)
            for gid, _link, sent, _values in self.done
            for delivery_id in self.open_ids[gid]
        ]
        with transaction.atomic():
            push_ledger.mark_delivered(delivered, self.now)
            self._remember()
            open_failures = SyncFailure.objects.filter(
                direction=FailureDirection.OUTBOUND, push_target=self.target, status=FailureStatus.OPEN
            )
            among_ids(open_failures, "golden_id", [gid for gid, *_ in self.done]).update(
                status=FailureStatus.RESOLVED, closed_at=self.now, note="a later push delivered the record"
            )
        if self.accepted:
            count_pushed(self.target.source.code, self.target.domain, self.accepted)
        self.done, self.accepted = [], 0

    def _remember(self) -> None:
        """What the target now holds, on the links (created with the key a create answered).

        New links are written whole in one COPY; a key that already has a link (a pull linked it,
        or the target reused a key) is updated like every other link instead.
        """
        writer = push_ledger.LinkWriter(self.target.source_id, self.target.domain)
        created = {sent.key: gid for gid, link, sent, _ in self.done if link is None and sent is not None and sent.key}
        existing = push_ledger.links_by_key(self.target.source_id, self.target.domain, created) if created else {}
        fresh: list[push_ledger.LinkWrite] = []
        changed: list[push_ledger.LinkWrite] = []
        for gid, link, sent, values in self.done:
            version = self.versions[gid]
            if link is None and sent is not None and sent.key in created:
                link = existing.get(sent.key)
                if link is None:
                    fresh.append(push_ledger.LinkWrite(gid, values, sent.etag or "", version, source_key=sent.key))
                    continue
            if link is None:
                continue
            etag = (sent.etag if sent is not None else link.source_etag) or ""
            changed.append(push_ledger.LinkWrite(gid, {**(link.source_values or {}), **values}, etag, version, link.pk))
        now = timezone.now()
        writer.update(changed, now)
        writer.insert(fresh, now)

    def _failed(self, gid: int, error: Exception, verdict: Verdict, payload: Any) -> None:
        attempts = self.attempts[gid] + 1
        retry_at = self.policy.next_attempt(attempts, self.now, verdict.retry_after) if verdict.retry else None
        status_code = getattr(error, "status", None)
        fields = {
            "attempts": attempts,
            "last_attempt_at": self.now,
            "last_error": str(error)[:2000],
            "response_code": status_code,
            "classification": verdict.classification,
        }
        with transaction.atomic():
            deliveries = Delivery.objects.filter(id__in=self.open_ids[gid]).exclude(status=DeliveryStatus.DELIVERED)
            if retry_at is not None:
                self.report.retrying += 1
                deliveries.update(status=DeliveryStatus.PENDING, next_attempt_at=retry_at, **fields)
                return
            self.report.dead += 1
            deliveries.update(status=DeliveryStatus.DEAD, **fields)
            park(self.target, gid, error, verdict.classification, payload, self.links.get(gid), attempts, self.now)

    def _collide(self, item: Outgoing, sent: Sent) -> None:
        """412: the target changed the record since our ETag. It was read again (``sent.remote``).

        What it already holds as we would send it is done (our own earlier write whose answer was
        lost). A field it changed too — differing from what it held after our last push and from
        what we send — is a two-way collision: a conflict is raised and the field held. The rest
        goes out again at once, with the fresh ETag.
        """
        gid = item.ref
        link = self.links.get(gid)
        remote = flatten(sent.remote or {})
        known = flatten(self.mapper.body(link.source_values or {})) if link is not None else {}
        missing = object()
        outstanding = {p: v for p, v in flatten(item.patch).items() if remote.get(p, missing) != v}
        if not outstanding:
            self.report.pushed += 1
            self._done(gid, link, Sent(gid, key=item.key, etag=sent.etag, status=sent.status), self.sent_values[gid])
            return
        both = set()
        for path in outstanding:
            if path in remote and remote[path] != known.get(path):
                both |= self.mapper.golden_of(path)
        if both:
            record = self.domain.model_class._base_manager.get(pk=gid)
            for name in sorted(both):
                paths = [p for p in outstanding if p in remote and name in self.mapper.golden_of(p)]
                theirs = remote[paths[0]] if paths else None
                raise_collision(self.target, record, name, theirs, self.now)
                self.report.collisions.append((gid, name))
        if link is not None:
            SourceLink.objects.filter(pk=link.pk).update(source_etag=sent.etag or "")
        # Not a failed attempt: the next round sends the rest again, at once.
        Delivery.objects.filter(id__in=self.open_ids[gid], status=DeliveryStatus.PENDING).update(
            next_attempt_at=self.now, last_error=str(sent.error)[:2000], response_code=412
        )


_BAD = Verdict(FailureClass.BAD_DATA, retry=False)


class _NoConnector:
    """Stands in for the connector of a source without a connection: every item fails configuration."""

    def __init__(self, target: PushTarget) -> None:
        self.target = target

    def __enter__(self) -> _NoConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        from connectors.errors import ConfigurationError

        error = ConfigurationError(f"{self.target.source.code} has no connection.")
        return [Sent(item.ref, error=error) for item in items]


# --- collisions and held fields ---------------------------------------------------------------------
def held_fields(target: PushTarget, golden_ids: list[int]) -> dict[int, set[str]]:
    """Fields of two-way collisions with this target still open: they are not pushed meanwhile."""
    code = target.source.code
    held: dict[int, set[str]] = defaultdict(set)
    collisions = Conflict.objects.filter(
        domain=target.domain, status=ConflictStatus.OPEN, reason=ConflictReason.TWO_WAY_COLLISION
    )
    rows = among_ids(collisions, "golden_id", golden_ids).values_list("golden_id", "field", "candidates")
    for golden_id, name, candidates in rows:
        if any(candidate.get("source") == code for candidate in candidates or ()):
            held[golden_id].add(name)
    return held


def raise_collision(target: PushTarget, record: Any, name: str, theirs: Any, now: datetime) -> Conflict:
    return conflict_service.raise_two_way(record, name, target.source, theirs, now)


# --- dead letters ------------------------------------------------------------------------------------
def fingerprint(golden_id: int) -> str:
    return f"push:{golden_id}"


def park(
    target: PushTarget,
    gid: int,
    error: Exception,
    classification: str,
    payload: Any,
    link: LinkRow | None,
    attempts: int,
    now: datetime,
) -> SyncFailure:
    """Put a record's undeliverable push in the failure queue (one open row per target and record)."""
    failure = SyncFailure.objects.filter(
        source_id=target.source_id,
        domain=target.domain,
        fingerprint=fingerprint(gid),
        direction=FailureDirection.OUTBOUND,
        status=FailureStatus.OPEN,
    ).first() or SyncFailure(
        source_id=target.source_id,
        domain=target.domain,
        fingerprint=fingerprint(gid),
        direction=FailureDirection.OUTBOUND,
        first_failed_at=now,
        attempts=0,
    )
    failure.stage = FailureStage.PUSH
    failure.push_target = target
    failure.golden_id = gid
    failure.owner_org_id = record_owner(target.domain, gid)
    failure.source_key = link.source_key if link is not None else ""
    failure.classification = classification
    failure.payload = payload
    failure.error = str(error)[:10_000] or type(error).__name__
    failure.errors = {"__all__": [failure.error]}
    failure.attempts += attempts
    failure.last_failed_at = now
    failure.save()
    return failure


def retry_dead_letters(failure_ids: list[int], *, now: datetime | None = None, send: bool = True) -> dict[str, int]:
    """Retry parked pushes: their deliveries wait again, and (``send``) go out now in the current state."""
    now = now or timezone.now()
    failures = SyncFailure.objects.filter(
        pk__in=list(failure_ids),
        direction=FailureDirection.OUTBOUND,
        status=FailureStatus.OPEN,
        stage=FailureStage.PUSH,
    ).select_related("push_target__source")
    by_target: dict[int, tuple[PushTarget, list[int]]] = {}
    for failure in failures:
        target = failure.push_target
        if target is None or failure.golden_id is None:
            continue
        by_target.setdefault(target.pk, (target, []))[1].append(failure.golden_id)
    totals = {"retried": 0, "resolved": 0, "failed": 0, "waiting": 0}
    for target, golden_ids in by_target.values():
        requeue(target, golden_ids, now)
        totals["retried"] += len(golden_ids)
        if not send:
            totals["waiting"] += len(golden_ids)
            continue
        deliver_due(target, now=now, golden_ids=golden_ids)
        still_open = set(
            SyncFailure.objects.filter(
                direction=FailureDirection.OUTBOUND,
                push_target=target,
                golden_id__in=golden_ids,
                status=FailureStatus.OPEN,
            ).values_list("golden_id", flat=True)
        )
        waiting = set(_pending(target).filter(golden_id__in=golden_ids).values_list("golden_id", flat=True))
        totals["waiting"] += len(waiting)
        totals["failed"] += len(still_open - waiting)
        totals["resolved"] += len(set(golden_ids) - still_open)
    return totals


def requeue(target: PushTarget, golden_ids: list[int], now: datetime) -> None:
    """Dead deliveries of these records wait again from the first attempt (a resync when there are none)."""
    with transaction.atomic():
        revived = set(
            Delivery.objects.filter(target=target, golden_id__in=golden_ids, status=DeliveryStatus.DEAD).values_list(
                "golden_id", flat=True
            )
        )
        Delivery.objects.filter(target=target, golden_id__in=golden_ids, status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, classification=""
        )
        _pending(target).filter(golden_id__in=golden_ids).update(attempts=0, next_attempt_at=now)
        missing = [gid for gid in golden_ids if gid not in revived]
        resync(target, missing, now)


def resync(target: PushTarget, golden_ids: list[int], now: datetime) -> int:
    """Queue one push of the current state of records (a decision changed what the target should get)."""
    if not golden_ids:
        return 0
    model = registry.get(target.domain).model_class
    versions = dict(model._base_manager.filter(pk__in=golden_ids).values_list("pk", "version"))
    Delivery.objects.bulk_create(
        Delivery(
            target=target,
            domain=target.domain,
            golden_id=gid,
            version=version,
            trigger=DeliveryTrigger.RESYNC,
            next_attempt_at=now,
            created_at=now,
        )
        for gid, version in versions.items()
    )
    return len(versions)
