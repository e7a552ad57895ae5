"""Outbox dispatch: every change event becomes one delivery per push target of its domain.

A target takes part when its source system is active and its ``SourceDomain`` direction for the
domain is ``push`` or ``both``. A change that came from system S is not handed back to S (echo
suppression). Dispatching is idempotent — one delivery per (event, target), enforced by a unique
constraint — so it may run twice for one event without harm:

* right after the commit of a change (``transaction.on_commit``: :func:`enqueue_after_commit`),
  for a fast push;
* by the periodic sweeper, which reads the change feed from its stored position
  (:mod:`masterdata.services.changefeed`: no event is skipped, even one committed out of id
  order), so a lost message or a dead worker only delays a delivery.

Manual controls live here too: pause and resume a target, replay a domain to one target.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.models import Delivery, DeliveryStatus, DeliveryTrigger, FeedCursor, PushTarget
from connectors.services import push_ledger
from masterdata.models import ChangeEvent, GoldenStatus, SourceDomain, SyncDirection
from masterdata.registry import registry
from masterdata.services import changefeed

logger = logging.getLogger(__name__)

DISPATCH_CURSOR = "dispatch"
FEED_PAGE = 1000
CHUNK = 1000


def active_targets(domains: Iterable[str] | None = None) -> dict[str, list[PushTarget]]:
    """Push targets per domain whose source is active and set to receive the domain."""
    pushing = SourceDomain.objects.filter(direction__in=[SyncDirection.PUSH, SyncDirection.BOTH])
    wanted = set(pushing.values_list("source_id", "domain"))
    targets = PushTarget.objects.filter(source__is_active=True).select_related("source")
    if domains is not None:
        targets = targets.filter(domain__in=list(domains))
    grouped: dict[str, list[PushTarget]] = defaultdict(list)
    for target in targets:
        if (target.source_id, target.domain) in wanted:
            grouped[target.domain].append(target)
    return grouped


def dispatch(events: Iterable[ChangeEvent], *, now: datetime | None = None) -> set[int]:
    """Create the deliveries of ``events`` (those that exist are left alone); ids of targets given work."""
    events = list(events)
    if not events:
        return set()
    now = now or timezone.now()
    by_domain = active_targets({event.domain for event in events})
    rows = [
        (target.pk, event.pk, event.domain, event.golden_id, event.version)
        for event in events
        for target in by_domain.get(event.domain, ())
        if event.origin_source_id != target.source_id  # a change from S is not pushed back to S
    ]
    push_ledger.insert_deliveries(rows, now)
    return {row[0] for row in rows}


def dispatch_event(event_id: int) -> set[int]:
    event = ChangeEvent.objects.filter(pk=event_id).first()
    return dispatch([event]) if event is not None else set()


@dataclass
class SweepResult:
    events: int = 0
    targets: set[int] | None = None
    busy: bool = False


def dispatch_pending(*, max_events: int = 50_000) -> SweepResult:
    """Dispatch every event after the dispatcher's feed position, then store the new position.

    The position and the deliveries commit together; a second dispatcher running at the same
    time finds the position row locked and steps aside.
    """
    result = SweepResult(targets=set())
    FeedCursor.objects.get_or_create(name=DISPATCH_CURSOR)
    while result.events < max_events:
        with transaction.atomic():
            cursor = FeedCursor.objects.select_for_update(skip_locked=True).filter(name=DISPATCH_CURSOR).first()
            if cursor is None:
                result.busy = True
                return result
            page = changefeed.read(cursor.position, limit=FEED_PAGE)
            result.targets |= dispatch(page.events)
            result.events += len(page.events)
            if page.position != cursor.position:
                cursor.position = page.position
                cursor.save(update_fields=["position", "updated_at"])
        if not page.has_more:
            break
    return result


def due_targets(now: datetime | None = None) -> list[int]:
    """Targets with deliveries due now (for the sweeper to hand to workers)."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, target__paused=False)
        .values_list("target_id", flat=True)
        .distinct()
        .order_by("target_id")
    )


# --- after the commit of a change ----------------------------------------------------------------
def enqueue_after_commit(event_ids: list[int]) -> None:
    """Schedule dispatch once the current transaction commits; a broker outage only delays it."""
    transaction.on_commit(lambda: _enqueue(event_ids), robust=True)


def _enqueue(event_ids: list[int]) -> None:
    from connectors import tasks

    options = {"queue": settings.MDM_PUSH_QUEUE} if getattr(settings, "MDM_PUSH_QUEUE", "") else {}
    try:
        if len(event_ids) == 1:
            tasks.dispatch_event.apply_async((event_ids[0],), **options)
        else:
            tasks.sweep_outbox.apply_async(**options)
    except Exception:  # the sweeper dispatches it on its next run
        logger.warning("could not enqueue the dispatch of %s event(s); the sweeper will", len(event_ids), exc_info=True)


def enqueue_targets(target_ids: list[int]) -> None:
    """Ask workers to push what is due for these targets (the sweeper does it anyway, later)."""
    from connectors import tasks

    options = {"queue": settings.MDM_PUSH_QUEUE} if getattr(settings, "MDM_PUSH_QUEUE", "") else {}
    for target_id in target_ids:
        try:
            tasks.deliver_target.apply_async((target_id,), **options)
        except Exception:
            logger.warning("could not enqueue the delivery of target %s; the sweeper will", target_id, exc_info=True)


# --- manual controls -------------------------------------------------------------------------------
def pause(target: PushTarget, reason: str = "") -> PushTarget:
    """Stop sending to a target; changes keep queueing as pending deliveries."""
    target.paused, target.paused_at, target.paused_reason = True, timezone.now(), reason[:300]
    target.save(update_fields=["paused", "paused_at", "paused_reason", "updated_at"])
    return target


def resume(target: PushTarget) -> PushTarget:
    """Send again: what queued while paused goes out, coalesced per record."""
    target.paused, target.paused_at, target.paused_reason = False, None, ""
    target.save(update_fields=["paused", "paused_at", "paused_reason", "updated_at"])
    transaction.on_commit(lambda: enqueue_targets([target.pk]), robust=True)
    return target


def replay(target: PushTarget, since: datetime | None = None, *, now: datetime | None = None) -> int:
    """Queue the records of the target's domain for one push each, in bulk; returns how many.

    ``since``: records changed by an event at or after that time (changes that came from the
    target itself excepted); None: every record of the domain that is not merged away (the
    initial push of a new target). Each record is sent in its current state; what the target is
    known to hold already is not sent again.
    """
    now = now or timezone.now()
    model = registry.get(target.domain).model_class
    if since is None:
        ids = model._base_manager.exclude(status=GoldenStatus.MERGED).values_list("pk", flat=True).order_by("pk")
    else:
        events = ChangeEvent.objects.filter(domain=target.domain, occurred_at__gte=since)
        events = events.filter(Q(origin_source__isnull=True) | ~Q(origin_source=target.source_id))
        ids = events.values_list("golden_id", flat=True).distinct().order_by("golden_id")
    queued = 0
    batch: list[int] = []
    for golden_id in ids.iterator(chunk_size=CHUNK):
        batch.append(golden_id)
        if len(batch) == CHUNK:
            queued += _queue(target, model, batch, now)
            batch = []
    queued += _queue(target, model, batch, now)
    transaction.on_commit(lambda: enqueue_targets([target.pk]), robust=True)
    return queued


def _queue(target: PushTarget, model, golden_ids: list[int], now: datetime) -> int:
    if not golden_ids:
        return 0
    versions = dict(model._base_manager.filter(pk__in=golden_ids).values_list("pk", "version"))
    rows = [
        Delivery(
            target=target,
            domain=target.domain,
            golden_id=golden_id,
            version=version,
            trigger=DeliveryTrigger.REPLAY,
            next_attempt_at=now,
            created_at=now,
        )
        for golden_id, version in versions.items()
    ]
    Delivery.objects.bulk_create(rows, batch_size=CHUNK)
    return len(rows)
