"""One sender at a time per push target or webhook subscription: a lease on its row.

Deliveries of one record must leave in version order and a record must not be pushed twice at
once, so one worker at a time sends for a target (it sends many records per round, batched).
The lease is taken by one conditional ``UPDATE`` (of two racing workers only one matches "free
or expired") and expires by itself, so a worker killed mid-push blocks nobody for longer than
the lease (``MDM_PUSH_LEASE_SECONDS``, at least four request timeouts).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def lease_seconds(timeout: float = 30.0) -> float:
    return max(float(getattr(settings, "MDM_PUSH_LEASE_SECONDS", 300)), timeout * 4 + 10)


class Leased:
    """A lease held on one row of ``model`` (a :class:`~connectors.models.delivery.Lease` subclass)."""

    def __init__(self, model: type[models.Model], pk: int, seconds: float) -> None:
        self.model, self.pk, self.seconds = model, pk, seconds
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease if it is free or expired (wall-clock time, whatever clock the caller uses)."""
        now = timezone.now()
        free = Q(lease_token="") | Q(leased_until__isnull=True) | Q(leased_until__lt=now)
        until = now + timedelta(seconds=self.seconds)
        return self._row().filter(free).update(lease_token=self.token, leased_until=until) == 1

    def refresh(self) -> bool:
        """Extend the lease; False when it was lost (expired and taken by another worker)."""
        until = timezone.now() + timedelta(seconds=self.seconds)
        return self._row().filter(lease_token=self.token).update(leased_until=until) == 1

    def release(self) -> None:
        self._row().filter(lease_token=self.token).update(lease_token="", leased_until=None)

    def _row(self) -> models.QuerySet:
        return self.model._base_manager.filter(pk=self.pk)
