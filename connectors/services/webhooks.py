"""Webhook subscriptions: signed batches of change events POSTed to a consumer's URL.

A subscription reads the change feed from its position (:mod:`masterdata.services.changefeed`),
restricted to its domains and to the records its owner may view, and sends the events as one
JSON batch::

    {"batch_id": "…", "subscription": "erp-sync", "events": [{"id": …, "domain": "customer",
     "golden_id": …, "version": …, "kind": "updated", "changed_fields": […], …}], "next": "<position>"}

with ``X-MDM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>``
and ``X-MDM-Batch: <batch id>`` (the same id on every attempt: a receiver that sees it twice
has already taken it). Receivers check the signature with :func:`verify` (or the same three
lines of their own) and refuse a time stamp older than a few minutes.

One batch is in flight per subscription; its position moves on only when the batch is answered
with a 2xx. Failures follow :mod:`connectors.services.retry` — the batch is kept verbatim and
sent again with backoff; a permanent failure or the last attempt parks it in the failure queue
(stage ``webhook``) and the subscription goes on with the next events. A retry from the queue
sends the parked batch again.

Calls go through the hub's instrumented transport (:class:`~masterdata.observability.http.ObservedAdapter`):
each carries the correlation id in ``X-Request-ID`` — the id of the task at hand, or one of its
own for a delivery run outside any — and is timed in ``mdm_external_call_seconds`` under
``source="webhook:<name>", protocol="webhook"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from connectors.errors import AuthError, ConnectorError, TransientError
from connectors.http import USER_AGENT, error_detail, parse_retry_after
from connectors.models import (
    DeliveryStatus,
    FailureDirection,
    FailureStage,
    FailureStatus,
    SyncFailure,
    WebhookDelivery,
    WebhookSubscription,
)
from connectors.services import leases
from connectors.services.retry import RetryPolicy, classify
from masterdata.models import ChangeEvent
from masterdata.observability import context
from masterdata.observability.http import ObservedAdapter
from masterdata.observability.metrics import webhook_system
from masterdata.services import changefeed

SIGNATURE_HEADER = "X-MDM-Signature"
BATCH_HEADER = "X-MDM-Batch"
MAX_ROUNDS = 20


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance: float = 300, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def event_data(event: ChangeEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "domain": event.domain,
        "golden_id": event.golden_id,
        "version": event.version,
        "kind": event.kind,
        "changed_fields": event.changed_fields,
        "origin_source": event.origin_source.code if event.origin_source_id else None,
        "occurred_at": event.occurred_at,
    }


@dataclass
class WebhookReport:
    sent: int = 0
    events: int = 0
    retrying: int = 0
    dead: int = 0
    busy: bool = False


def deliver(subscription: WebhookSubscription | int, *, now: datetime | None = None) -> WebhookReport:
    """Send the subscription's due batches, and new ones while events wait, until one fails."""
    if not isinstance(subscription, WebhookSubscription):
        subscription = WebhookSubscription.objects.select_related("owner").get(pk=subscription)
    report = WebhookReport()
    if not subscription.is_active or subscription.paused:
        return report
    lease = leases.Leased(WebhookSubscription, subscription.pk, leases.lease_seconds(subscription.timeout_seconds))
    if not lease.acquire():
        report.busy = True
        return report
    try:
        with context.bound(context.current()), _session(subscription) as session:
            for _ in range(MAX_ROUNDS):
                clock = now or timezone.now()
                batch = _open_batch(subscription) or _next_batch(subscription, clock)
                if batch is None or batch.next_attempt_at > clock:
                    break
                if not _send(session, subscription, batch, clock, report) or not lease.refresh():
                    break
    finally:
        lease.release()
    return report


def _session(subscription: WebhookSubscription) -> requests.Session:
    """A session whose calls carry the correlation id and are timed, like the connectors' own."""
    session = requests.Session()
    adapter = ObservedAdapter(source=webhook_system(subscription.name), protocol="webhook")
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _open_batch(subscription: WebhookSubscription) -> WebhookDelivery | None:
    return subscription.deliveries.filter(status=DeliveryStatus.PENDING).order_by("id").first()


def _next_batch(subscription: WebhookSubscription, now: datetime) -> WebhookDelivery | None:
    events = ChangeEvent.objects.filter(changefeed.scope(subscription.owner, subscription.domains or None))
    page = changefeed.read(subscription.position, limit=subscription.batch_size, events=events)
    if not page.events:
        if page.position != subscription.position:
            subscription.position = page.position
            subscription.save(update_fields=["position", "updated_at"])
        return None
    batch_id = uuid.uuid4().hex
    body = {
        "batch_id": batch_id,
        "subscription": subscription.name,
        "events": [event_data(event) for event in page.events],
        "next": page.position,
    }
    return WebhookDelivery.objects.create(
        subscription=subscription,
        batch_id=batch_id,
        body=json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")),
        event_count=len(page.events),
        first_event_id=page.events[0].id,
        last_event_id=page.events[-1].id,
        position_after=page.position,
        next_attempt_at=now,
        created_at=now,
    )


def _send(
    session: requests.Session, subscription: WebhookSubscription, batch: WebhookDelivery, now: datetime, report
) -> bool:
    """POST one batch; True when it was taken."""
    body = batch.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(subscription.secret.reveal(), body, int(time.time())),
        BATCH_HEADER: batch.batch_id,
    }
    try:
        response = session.post(subscription.url, data=body, headers=headers, timeout=subscription.timeout_seconds)
        error = _error_of(response)
    except requests.Timeout:
        error, response = TransientError(f"timed out after {subscription.timeout_seconds:g}s"), None
    except requests.RequestException as exc:
        error, response = TransientError(f"connection failed: {type(exc).__name__}"), None
    batch.attempts += 1
    batch.response_code = response.status_code if response is not None else None
    if error is None:
        with transaction.atomic():
            batch.status, batch.delivered_at, batch.last_error = DeliveryStatus.DELIVERED, now, ""
            batch.save()
            _move_on(subscription, batch)
            SyncFailure.objects.filter(subscription=subscription, fingerprint=_fingerprint(batch)).filter(
                status=FailureStatus.OPEN
            ).update(status=FailureStatus.RESOLVED, closed_at=now, note="the batch was delivered")
        report.sent += 1
        report.events += batch.event_count
        return True
    verdict = classify(error)
    policy = RetryPolicy.from_settings(subscription.max_attempts)
    retry_at = policy.next_attempt(batch.attempts, now, verdict.retry_after) if verdict.retry else None
    batch.last_error, batch.classification = str(error)[:2000], verdict.classification
    with transaction.atomic():
        if retry_at is not None:
            batch.next_attempt_at = retry_at
            batch.save()
            report.retrying += 1
            return False
        batch.status = DeliveryStatus.DEAD
        batch.save()
        _park(subscription, batch, now)
        _move_on(subscription, batch)
    report.dead += 1
    return False


def _error_of(response: requests.Response) -> ConnectorError | None:
    status = response.status_code
    if status < 300:
        return None
    message = error_detail(response)
    if status in (401, 403):
        return AuthError(message, status=status, url=response.url)
    if status == 429 or status >= 500:
        return TransientError(
            message, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    return ConnectorError(message, status=status, url=response.url)


def _move_on(subscription: WebhookSubscription, batch: WebhookDelivery) -> None:
    """The subscription reads on after this batch (unless a later batch already took it further)."""
    newer = subscription.deliveries.filter(id__gt=batch.id).exists()
    if not newer:
        subscription.position = batch.position_after
        subscription.save(update_fields=["position", "updated_at"])


def _fingerprint(batch: WebhookDelivery) -> str:
    return f"webhook:{batch.batch_id}"


def _park(subscription: WebhookSubscription, batch: WebhookDelivery, now: datetime) -> None:
    failure = SyncFailure.objects.filter(
        subscription=subscription, fingerprint=_fingerprint(batch), status=FailureStatus.OPEN
    ).first() or SyncFailure(
        subscription=subscription,
        domain="",
        fingerprint=_fingerprint(batch),
        direction=FailureDirection.OUTBOUND,
        stage=FailureStage.WEBHOOK,
        first_failed_at=now,
        attempts=0,
    )
    failure.source_key = batch.batch_id
    failure.classification = batch.classification
    failure.payload = batch.payload
    failure.error = batch.last_error or "the batch was not taken"
    failure.errors = {"__all__": [failure.error]}
    failure.attempts += batch.attempts
    failure.last_failed_at = now
    failure.save()


def retry_dead_batches(failure_ids: list[int], *, now: datetime | None = None) -> dict[str, int]:
    """Send parked batches again (each as it was: same id, same events)."""
    now = now or timezone.now()
    failures = SyncFailure.objects.filter(
        pk__in=list(failure_ids), stage=FailureStage.WEBHOOK, status=FailureStatus.OPEN
    ).select_related("subscription")
    totals = {"retried": 0, "resolved": 0}
    subscriptions = {}
    for failure in failures:
        batch_id = failure.fingerprint.removeprefix("webhook:")
        updated = WebhookDelivery.objects.filter(batch_id=batch_id, status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now
        )
        totals["retried"] += updated
        subscriptions[failure.subscription_id] = failure.subscription
    for subscription in subscriptions.values():
        deliver(subscription, now=now)
    totals["resolved"] = SyncFailure.objects.filter(pk__in=list(failure_ids), status=FailureStatus.RESOLVED).count()
    return totals


def due_subscriptions() -> list[int]:
    return list(
        WebhookSubscription.objects.filter(is_active=True, paused=False).values_list("pk", flat=True).order_by("pk")
    )
