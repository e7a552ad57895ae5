"""Retention of the delivery ledger, and (only when switched on) of the change events behind it.

Every golden change leaves one :class:`~connectors.models.Delivery` per push target and every
webhook batch a :class:`~connectors.models.WebhookDelivery`; without a purge these tables grow for
ever. :func:`purge` deletes, in batches of its own transactions, the rows whose work is over and
whose last activity (delivered, last attempt, else created) is older than
``MDM_DELIVERY_RETENTION_DAYS``:

* delivered rows;
* dead letters a steward has closed (the failure was resolved or discarded).

Never deleted, whatever their age: pending rows (still to be sent), dead letters whose failure
is open (a retry sends them again), any row of a target and record that has an open failure, and
the newest batch of each webhook subscription (a dead batch retried later must find a newer one,
or the subscription would read again from where that batch ended).

Change events are the change feed itself: consumers of ``/api/v1/changes/`` resume from positions
the hub cannot see. They are therefore kept unless ``MDM_CHANGE_EVENT_RETENTION_DAYS`` is set
(default 0: kept for ever). When it is, an event older than that is deleted only once the push
dispatcher and every active webhook subscription have read past it and no delivery kept above
still refers to it; a feed consumer that reads less often than that misses what was purged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import and_

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from connectors.models import (
    Delivery,
    DeliveryStatus,
    FailureDirection,
    FailureStatus,
    FeedCursor,
    SyncFailure,
    WebhookDelivery,
    WebhookSubscription,
)
from connectors.services.dispatch import DISPATCH_CURSOR
from masterdata.models import ChangeEvent
from masterdata.services import changefeed

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000


@dataclass
class PurgeReport:
    """Rows deleted (or, in a dry run, that would be) per table, and the cut-offs used."""

    deliveries: int
    webhook_deliveries: int
    events: int
    cutoff: datetime
    events_cutoff: datetime | None
    dry_run: bool

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [
            f"{verb} {self.deliveries} push deliveries and {self.webhook_deliveries} webhook batches "
            f"finished before {self.cutoff:%Y-%m-%d %H:%M} UTC"
        ]
        if self.events_cutoff is None:
            lines.append("change events are kept (MDM_CHANGE_EVENT_RETENTION_DAYS is 0)")
        else:
            lines.append(f"{verb} {self.events} change events older than {self.events_cutoff:%Y-%m-%d %H:%M} UTC")
        return lines


def retention_days() -> int:
    return int(getattr(settings, "MDM_DELIVERY_RETENTION_DAYS", 30))


def event_retention_days() -> int:
    return int(getattr(settings, "MDM_CHANGE_EVENT_RETENTION_DAYS", 0))


def purge(
    older_than_days: int | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> PurgeReport:
    """Delete finished deliveries older than ``older_than_days`` (default: the setting), then old events."""
    now = now or timezone.now()
    days = retention_days() if older_than_days is None else older_than_days
    if days < 0:
        raise ValueError("the retention must be zero or more days")
    cutoff = now - timedelta(days=days)
    event_days = event_retention_days()
    events_cutoff = now - timedelta(days=event_days) if event_days > 0 else None
    deliveries = purgeable_deliveries(cutoff)
    batches = purgeable_webhook_deliveries(cutoff)
    if dry_run:
        events = purgeable_events(events_cutoff).count() if events_cutoff is not None else 0
        return PurgeReport(deliveries.count(), batches.count(), events, cutoff, events_cutoff, True)
    report = PurgeReport(
        deliveries=_delete_in_batches(deliveries, batch_size),
        webhook_deliveries=_delete_in_batches(batches, batch_size),
        events=0,
        cutoff=cutoff,
        events_cutoff=events_cutoff,
        dry_run=False,
    )
    if events_cutoff is not None:  # after the deliveries: an event some kept delivery refers to stays
        report.events = _delete_in_batches(purgeable_events(events_cutoff), batch_size)
    for line in report.lines():
        logger.info("retention: %s", line)
    return report


# --- what may go --------------------------------------------------------------------------------------
def purgeable_deliveries(cutoff: datetime) -> QuerySet[Delivery]:
    """Delivered or closed dead push deliveries last touched before ``cutoff``."""
    open_failure = SyncFailure.objects.filter(
        direction=FailureDirection.OUTBOUND,
        status=FailureStatus.OPEN,
        push_target=OuterRef("target_id"),
        golden_id=OuterRef("golden_id"),
    )
    return (
        Delivery.objects.filter(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.DEAD])
        .annotate(last_activity=Coalesce("delivered_at", "last_attempt_at", "created_at"))
        .filter(last_activity__lt=cutoff)
        .exclude(Exists(open_failure))
    )


def purgeable_webhook_deliveries(cutoff: datetime) -> QuerySet[WebhookDelivery]:
    """Delivered or closed dead webhook batches before ``cutoff``, never a subscription's newest."""
    open_failure = SyncFailure.objects.filter(
        status=FailureStatus.OPEN,
        subscription=OuterRef("subscription_id"),
        fingerprint=Concat(Value("webhook:"), OuterRef("batch_id")),
    )
    newer = WebhookDelivery.objects.filter(subscription=OuterRef("subscription_id"), id__gt=OuterRef("id"))
    return (
        WebhookDelivery.objects.filter(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.DEAD])
        .annotate(last_activity=Coalesce("delivered_at", "next_attempt_at", "created_at"))
        .filter(last_activity__lt=cutoff)
        .filter(Exists(newer))
        .exclude(Exists(open_failure))
    )


def purgeable_events(cutoff: datetime) -> QuerySet[ChangeEvent]:
    """Events before ``cutoff`` that every reader the hub knows has read, and no delivery refers to."""
    read = read_by_every_reader()
    referenced = Delivery.objects.filter(event=OuterRef("pk"))
    return ChangeEvent.objects.filter(read, occurred_at__lt=cutoff).exclude(Exists(referenced))


def read_by_every_reader() -> Q:
    """Events the push dispatcher and every active webhook subscription have been served.

    A position with a first snapshot has served every event visible in that snapshot (rows from
    before ``txid`` was recorded count as served); an id position every event up to its id. A
    reader that has read nothing yet — or no dispatcher at all — holds every event back.
    """
    dispatcher = FeedCursor.objects.filter(name=DISPATCH_CURSOR).values_list("position", flat=True).first()
    if dispatcher is None:
        return Q(pk__in=[])
    positions = [dispatcher, *WebhookSubscription.objects.filter(is_active=True).values_list("position", flat=True)]
    return reduce(and_, (_served(position) for position in positions))


def _served(token: str) -> Q:
    try:
        position = changefeed.parse_position(token)
    except changefeed.InvalidPosition:
        return Q(pk__in=[])
    if position.by_id:
        return Q(id__lte=position.after_id)
    if position.seen is None:
        return Q(pk__in=[])
    return position.seen.visible() | Q(txid__isnull=True)


def _delete_in_batches(queryset: QuerySet, batch_size: int) -> int:
    """Delete by primary key, ``batch_size`` rows per statement (each its own short transaction).

    Old rows have low ids: each batch walks the primary key on from where the last one stopped.
    """
    model = queryset.model
    deleted, after = 0, 0
    while True:
        ids = list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        _total, per_model = model._base_manager.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        after = ids[-1]
        if len(ids) < batch_size:
            return deleted
