"""Signal receivers of the connectors app: each calls a service, nothing more.

* Change events written by masterdata's outbox are dispatched once their transaction commits.
* A two-way collision that a steward closes releases the held field: the record is queued for
  one push of its current state to the systems of the collision (a decision that kept the
  golden value changes no version, so no event would carry it there otherwise).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from masterdata.models import Conflict, ConflictReason, ConflictStatus
from masterdata.signals import outbox_written


@receiver(outbox_written, dispatch_uid="connectors.dispatch_after_commit")
def _dispatch_after_commit(sender: Any, event_ids: list[int] | None = None, **kwargs: Any) -> None:
    from connectors.services import dispatch

    dispatch.enqueue_after_commit(list(event_ids or []))


@receiver(post_save, sender=Conflict, dispatch_uid="connectors.resync_after_collision")
def _resync_after_collision(sender: Any, instance: Conflict, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.reason != ConflictReason.TWO_WAY_COLLISION or instance.status == ConflictStatus.OPEN:
        return
    from connectors.models import PushTarget
    from connectors.services import dispatch, push

    codes = {candidate.get("source") for candidate in instance.candidates or ()}
    targets = list(PushTarget.objects.filter(domain=instance.domain, source__code__in=codes - {None}))
    if not targets:
        return
    for target in targets:
        push.resync(target, [instance.golden_id], timezone.now())
    transaction.on_commit(lambda: dispatch.enqueue_targets([t.pk for t in targets]), robust=True)
