"""Readiness: can this installation do its work right now?

Each check answers ``ok`` or ``fail`` and nothing else — a probe is unauthenticated, so it must
not reveal hosts, versions or error texts; the reason of a failure goes to the log instead.
Checks are bounded by ``MDM_HEALTH_CHECK_TIMEOUT`` where the client allows it (the broker); the
database check by the connection's ``connect_timeout`` (``DATABASE_CONNECT_TIMEOUT``, 5 s, or
``?connect_timeout=`` in ``DATABASE_URL``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu import Connection as BrokerConnection

from masterdata.services import workers

log = logging.getLogger(__name__)

OK, FAIL = "ok", "fail"
#: The task beat schedules to prove it runs (``CELERY_BEAT_SCHEDULE``); its last run dates beat.
HEARTBEAT_TASK = "masterdata.tasks.heartbeat"


def check_database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def check_broker() -> bool:
    """Redis: a PING; the quick start's filesystem broker: its queue folder is writable; else a connect."""
    url = settings.CELERY_BROKER_URL
    timeout = settings.MDM_HEALTH_CHECK_TIMEOUT
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    if scheme == "filesystem":
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
    with BrokerConnection(url, connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=1, timeout=timeout)
    return True


def check_worker() -> bool:
    """A worker ran the heartbeat task recently (and reached the database doing so)."""
    age = workers.heartbeat_age()
    return age is not None and age <= settings.MDM_WORKER_HEARTBEAT_MAX_AGE


def check_beat(now: datetime | None = None) -> bool:
    """Beat scheduled the heartbeat recently (it records ``last_run_at`` after each task it sends)."""
    last = PeriodicTask.objects.filter(task=HEARTBEAT_TASK, enabled=True).aggregate(last=Max("last_run_at"))["last"]
    return last is not None and ((now or timezone.now()) - last).total_seconds() <= settings.MDM_BEAT_MAX_AGE


CHECKS: dict[str, Callable[[], bool]] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "beat": check_beat,
}


def readiness() -> dict[str, str]:
    """``{check: "ok" | "fail"}`` for every check; the database is checked first (the others may read it)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            passed = check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            passed = False
        results[name] = OK if passed else FAIL
    return results


def is_ready(results: dict[str, str]) -> bool:
    return all(value == OK for value in results.values())
