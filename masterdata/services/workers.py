"""Worker liveness: the heartbeat a Celery worker records and readiness checks read.

A worker that answers the broker but cannot reach the database is of no use, so the
heartbeat is written only after a round trip to the database, and it names the database the
worker uses (a worker wired to another database than the web server is a classic
misconfiguration). It lives in the shared cache: Redis in production, files in the quick start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

HEARTBEAT_KEY = "workers:heartbeat"


def heartbeat_ttl() -> int:
    """Seconds a heartbeat stays readable: a few missed beats, then the worker counts as gone."""
    return 4 * getattr(settings, "MDM_HEARTBEAT_SECONDS", 30)


def record_heartbeat(worker: str) -> dict[str, Any]:
    """Check the database round trip, then store ``worker``'s heartbeat; returns what was stored."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = {"worker": worker, "at": timezone.now().isoformat(), "database": str(connection.settings_dict["NAME"])}
    cache.set(HEARTBEAT_KEY, beat, timeout=heartbeat_ttl())
    return beat


def last_heartbeat() -> dict[str, Any] | None:
    """The most recent heartbeat of any worker, or None when none beat within the TTL."""
    return cache.get(HEARTBEAT_KEY)


def clear_heartbeat() -> None:
    """Forget the last heartbeat (a worker must beat again to count as alive)."""
    cache.delete(HEARTBEAT_KEY)


def heartbeat_age(now: datetime | None = None) -> float | None:
    """Seconds since the last heartbeat (None: no live worker)."""
    beat = last_heartbeat()
    if beat is None:
        return None
    return ((now or timezone.now()) - datetime.fromisoformat(beat["at"])).total_seconds()
