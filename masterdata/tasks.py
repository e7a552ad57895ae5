"""Celery tasks of the masterdata app: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from masterdata.services import quality, workers


@shared_task(bind=True, ignore_result=True)
def heartbeat(self) -> dict[str, Any]:
    """Scheduled by beat (settings ``CELERY_BEAT_SCHEDULE``): proves a worker is consuming and reaches the DB."""
    return workers.record_heartbeat(self.request.hostname or "unknown")


@shared_task(bind=True, acks_late=True)
def check_quality(self, domain: str | None = None) -> dict[str, dict[str, int]]:
    """Apply the data-quality rules to existing records (one domain, or all): on demand or from a schedule."""
    return quality.check_existing(domain)
