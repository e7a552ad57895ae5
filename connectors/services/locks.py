"""One pull at a time per source/domain.

Two pulls of the same source and domain must not overlap: both would read from the same
cursor, write the same records and race to store the cursor. Beat may fire while a long pull
still runs, a steward may press "pull now", a task may be redelivered (``acks_late``).

* With Redis (``REDIS_URL``, or a ``redis://`` broker) the lock is redis-py's :class:`~redis.lock.Lock`:
  an expiring key that only its holder may extend or release.
* Without Redis (the quick start's filesystem broker) it is a lease on the
  :class:`~connectors.models.SyncState` row: a token and an expiry set by one conditional
  ``UPDATE`` (only one of two racing writers matches the "free or expired" condition). A lease
  rather than ``SELECT … FOR UPDATE`` because a row lock lives only as long as a transaction,
  and a pull commits page by page; the row itself is created under ``select_for_update``.

Either way the lock expires (``MDM_SYNC_LOCK_SECONDS``, 15 minutes) so a killed worker cannot
block a source forever, and the pull renews it after every page.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.models import SyncState

DEFAULT_TTL_SECONDS = 900
REDIS_TIMEOUT_SECONDS = 5


class PullLocked(Exception):
    """Another pull of this source/domain holds the lock."""


class LockLost(Exception):
    """The lock expired and was taken by another pull while this one ran."""


def lock_ttl() -> int:
    return int(getattr(settings, "MDM_SYNC_LOCK_SECONDS", DEFAULT_TTL_SECONDS))


def redis_url() -> str | None:
    """The Redis the lock lives in: ``REDIS_URL``, else the broker when it is Redis; None without."""
    if getattr(settings, "REDIS_URL", ""):
        return settings.REDIS_URL
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    return broker if broker.startswith(("redis://", "rediss://")) else None


def lock_name(source_id: int, domain: str) -> str:
    return f"mdm:pull-lock:{source_id}:{domain}"


def ensure_state(source_id: int, domain: str) -> SyncState:
    """The state row of a source/domain, created once even when two pulls start together."""
    with transaction.atomic():
        state = SyncState.objects.select_for_update().filter(source_id=source_id, domain=domain).first()
        if state is not None:
            return state
        try:
            with transaction.atomic():
                return SyncState.objects.create(source_id=source_id, domain=domain)
        except IntegrityError:
            return SyncState.objects.select_for_update().get(source_id=source_id, domain=domain)


class RedisLease:
    def __init__(self, source_id: int, domain: str, url: str, ttl: int) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self.lock = self.client.lock(lock_name(source_id, domain), timeout=ttl, blocking=False, thread_local=False)

    def acquire(self) -> bool:
        return bool(self.lock.acquire(blocking=False))

    def refresh(self) -> None:
        try:
            self.lock.reacquire()
        except redis.exceptions.LockError as exc:
            raise LockLost("the pull lock expired and another pull may have started") from exc

    def release(self) -> None:
        try:
            with contextlib.suppress(redis.exceptions.LockError):  # expired meanwhile: nothing to release
                self.lock.release()
        finally:
            self.client.close()


class DatabaseLease:
    def __init__(self, source_id: int, domain: str, ttl: int) -> None:
        self.state = ensure_state(source_id, domain)
        self.ttl = timedelta(seconds=ttl)
        self.token = uuid.uuid4().hex

    def _rows(self):
        return SyncState.objects.filter(pk=self.state.pk)

    def acquire(self) -> bool:
        now = timezone.now()
        free = Q(lock_token="") | Q(locked_until__isnull=True) | Q(locked_until__lt=now)
        return self._rows().filter(free).update(lock_token=self.token, locked_until=now + self.ttl) == 1

    def refresh(self) -> None:
        if not self._rows().filter(lock_token=self.token).update(locked_until=timezone.now() + self.ttl):
            raise LockLost("the pull lease expired and another pull may have started")

    def release(self) -> None:
        self._rows().filter(lock_token=self.token).update(lock_token="", locked_until=None)


Lease = RedisLease | DatabaseLease


def backend() -> str:
    return "redis" if redis_url() else "database"


@contextmanager
def pull_lock(source_id: int, domain: str, *, ttl: int | None = None, using: str | None = None) -> Iterator[Lease]:
    """Hold the pull lock of a source/domain, or raise :class:`PullLocked` at once (never waits).

    ``using`` forces ``"redis"`` or ``"database"``; by default Redis when there is one.
    """
    ttl = ttl or lock_ttl()
    kind = using or backend()
    if kind == "redis":
        url = redis_url()
        if not url:
            raise ValueError("No Redis configured for the pull lock.")
        lease: Lease = RedisLease(source_id, domain, url, ttl)
    else:
        lease = DatabaseLease(source_id, domain, ttl)
    if not lease.acquire():
        if isinstance(lease, RedisLease):
            lease.client.close()
        raise PullLocked(f"A pull of source {source_id} · {domain} is already running.")
    try:
        yield lease
    finally:
        lease.release()
