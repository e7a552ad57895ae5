"""Celery tasks of the connectors app: thin wrappers that take ids and call the pipeline.

``pull`` is what beat schedules (one periodic task per mapping schedule, see
:mod:`connectors.services.schedules`) and what "pull now" enqueues. A source that is down for a
moment (:class:`~connectors.errors.TransientError`) is retried with exponential backoff and
jitter; every attempt leaves its own :class:`~connectors.models.SyncRun`. A pull that finds
another pull of the same source/domain running steps aside (the lock), it does not queue up.
Tasks are acknowledged late: a worker that dies mid-pull has its task redelivered, and the
pull resumes from the last committed page.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from connectors.errors import TransientError
from connectors.models import SyncTrigger
from connectors.services import locks, pipeline

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
