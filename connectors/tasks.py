"""Celery tasks of the connectors app: thin wrappers that take ids and call the pipeline.

``pull`` is what beat schedules (one periodic task per mapping schedule, see
:mod:`connectors.services.schedules`) and what "pull now" enqueues. A source that is down for a
moment (:class:`~connectors.errors.TransientError`) is retried with exponential backoff and
jitter; every attempt leaves its own :class:`~connectors.models.SyncRun`. A pull that finds
another pull of the same source/domain running steps aside (the lock), it does not queue up.
Tasks are acknowledged late: a worker that dies mid-pull has its task redelivered, and the
pull resumes from the last committed page.

Push: ``dispatch_event`` runs after the commit of a change (and pushes it at once);
``sweep_outbox`` (beat) dispatches what that path missed and hands due targets (``deliver_target``)
and webhook subscriptions (``deliver_webhook``) to workers; ``deliver`` pushes one record;
``purge_deliveries`` (beat, daily) trims the delivery ledger (:mod:`connectors.services.retention`).
Follow-up tasks go to the queue their parent came from.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from connectors.errors import TransientError
from connectors.models import SyncTrigger
from connectors.services import alerts, dispatch, ingest, locks, pipeline, push, retention, webhooks

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(TransientError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
)
def pull(self, source_id: int, domain: str, full: bool = False, trigger: str = SyncTrigger.SCHEDULE) -> dict[str, Any]:
    """Pull one source/domain (``full``: a reconcile run that also flags vanished records)."""
    try:
        result = pipeline.pull(source_id, domain, full=full, trigger=trigger, task_id=self.request.id or "")
    except locks.PullLocked as exc:
        logger.info("pull of source %s · %s skipped: %s", source_id, domain, exc)
        return {"skipped": str(exc)}
    run = result.run
    return {"run": run.pk, "status": run.status, **run.counts()}


@shared_task(bind=True, acks_late=True)
def retry_failures(self, failure_ids: list[int]) -> dict[str, int]:
    """Put queued failures through map ▸ ingest again (a steward's "retry")."""
    return pipeline.retry_failures(failure_ids)


@shared_task
def purge_idempotency_keys() -> int:
    """Forget ingest Idempotency-Keys older than ``MDM_INGEST_KEY_DAYS`` (beat runs it daily)."""
    return ingest.purge_expired_keys()


# --- push delivery and webhooks --------------------------------------------------------------------
def _same_queue(task: Any) -> dict[str, str]:
    """Follow-up work goes to the queue this task came from (a worker serves the queues it was given)."""
    queue = (task.request.delivery_info or {}).get("routing_key")
    return {"queue": queue} if queue else {}


@shared_task(bind=True, acks_late=True)
def dispatch_event(self, event_id: int) -> dict[str, Any]:
    """Hand one change event to its push targets, then push it (the fast path after a commit)."""
    targets = dispatch.dispatch_event(event_id)
    reports = {target_id: push.deliver_due(target_id).as_dict() for target_id in sorted(targets)}
    for target_id, report in reports.items():
        if report["busy"]:
            deliver_target.apply_async((target_id,), countdown=2, **_same_queue(self))
    return {"targets": reports}


@shared_task(bind=True, acks_late=True, max_retries=3)
def deliver(self, target_id: int, domain: str, golden_id: int) -> dict[str, Any]:
    """Push one record's pending deliveries to one target (coalesced into one push of its current state)."""
    report = push.deliver_due(target_id, golden_ids=[golden_id]).as_dict()
    if report["busy"]:
        raise self.retry(countdown=5)
    return report


@shared_task(bind=True, acks_late=True)
def deliver_target(self, target_id: int) -> dict[str, Any]:
    """Push everything due for one target."""
    return push.deliver_due(target_id).as_dict()


@shared_task(bind=True, acks_late=True)
def deliver_webhook(self, subscription_id: int) -> dict[str, Any]:
    return webhooks.deliver(subscription_id).__dict__


@shared_task(bind=True, acks_late=True)
def sweep_outbox(self) -> dict[str, Any]:
    """Beat: dispatch events the fast path missed, then hand due targets and webhooks to workers."""
    result = dispatch.dispatch_pending()
    due = dispatch.due_targets()
    for target_id in due:
        deliver_target.apply_async((target_id,), **_same_queue(self))
    for subscription_id in webhooks.due_subscriptions():
        deliver_webhook.apply_async((subscription_id,), **_same_queue(self))
    return {"dispatched": result.events, "busy": result.busy, "targets": due}


@shared_task(bind=True, acks_late=True)
def retry_dead_letters(self, failure_ids: list[int]) -> dict[str, int]:
    """Send parked pushes again, in the records' current state (a steward's bulk "retry")."""
    return push.retry_dead_letters(failure_ids)


@shared_task(bind=True, acks_late=True)
def purge_deliveries(self) -> dict[str, int]:
    """Beat: delete finished deliveries older than ``MDM_DELIVERY_RETENTION_DAYS`` (events only if set)."""
    report = retention.purge()
    return {"deliveries": report.deliveries, "webhook_deliveries": report.webhook_deliveries, "events": report.events}


@shared_task(bind=True, acks_late=True)
def check_alerts(self) -> dict[str, Any]:
    """Beat: open, close and e-mail incidents (failing sources, full failure queues, dead letters)."""
    opened = alerts.check_all()
    return {"opened": [incident.pk for incident in opened]}
