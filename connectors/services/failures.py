"""The failure queue: records (and pages) the pipeline could not take, kept with their payload.

A bad record never stops a batch: it lands here and the rest go on. Each record has at most
one open failure; failing again adds an attempt to it, and the record's later success (in any
run, or a retry) resolves it. A steward may also discard a failure; who and why is kept.
All writes are bulk: one read and at most two writes per page, whatever the number of failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from connectors.models import FailureStage, FailureStatus, SyncFailure, SyncRun
from masterdata.models import SourceLink, SourceSystem

PAGE_FINGERPRINT = "page"
MAX_RAW_BODY = 1_000_000


@dataclass
class FailedItem:
    """One failure to queue: ``source_key`` is empty for a page, or for a record without a key."""

    stage: str
    source_key: str
    error: str
    payload: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    raw_body: str = ""

    @property
    def fingerprint(self) -> str:
        if self.source_key:
            return self.source_key
        if self.stage == FailureStage.FETCH:
            return PAGE_FINGERPRINT
        return "payload:" + SourceLink.hash_payload(self.payload)


def summarise(errors: dict[str, list[str]] | None) -> str:
    """One line out of ``{field: [messages]}``: what a steward reads first."""
    if not errors:
        return "rejected without a reason"
    return "; ".join(f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in errors.items())


def record_failures(
    source: SourceSystem, domain: str, items: Iterable[FailedItem], run: SyncRun | None = None
) -> list[SyncFailure]:
    """Queue ``items``; an item whose record already has an open failure updates it (attempts + 1)."""
    latest: dict[str, FailedItem] = {}
    for item in items:
        latest[item.fingerprint] = item  # the same record twice in a batch counts once
    if not latest:
        return []
    now = timezone.now()
    existing = {
        failure.fingerprint: failure
        for failure in SyncFailure.objects.filter(
            source=source, domain=domain, status=FailureStatus.OPEN, fingerprint__in=list(latest)
        )
    }
    changed, created = [], []
    for fingerprint, item in latest.items():
        failure = existing.get(fingerprint) or SyncFailure(
            source=source, domain=domain, fingerprint=fingerprint, first_failed_at=now, attempts=0
        )
        failure.stage = item.stage
        failure.source_key = item.source_key[:200]
        failure.payload = item.payload
        failure.raw_body = item.raw_body[:MAX_RAW_BODY]
        failure.error = item.error
        failure.errors = item.errors or {}
        failure.attempts += 1
        failure.last_failed_at = now
        failure.run = run if run is not None and run.pk else failure.run
        (changed if failure.pk else created).append(failure)
    fields = ["stage", "source_key", "payload", "raw_body", "error", "errors", "attempts", "last_failed_at", "run"]
    if changed:
        SyncFailure.objects.bulk_update(changed, fields)
    if created:
        SyncFailure.objects.bulk_create(created)
    return changed + created


def resolve_succeeded(
    source: SourceSystem, domain: str, source_keys: Iterable[str], *, note: str = "the record went through later"
) -> int:
    """Close the open failures of records that have now gone through."""
    keys = list(dict.fromkeys(source_keys))
    if not keys:
        return 0
    return _close(
        SyncFailure.objects.filter(source=source, domain=domain, status=FailureStatus.OPEN, fingerprint__in=keys),
        FailureStatus.RESOLVED,
        note,
    )


def resolve_page_failure(source: SourceSystem, domain: str) -> int:
    """A complete read closes the open fetch failure: the pages it could not read were read now."""
    return _close(
        SyncFailure.objects.filter(
            source=source, domain=domain, status=FailureStatus.OPEN, fingerprint=PAGE_FINGERPRINT
        ),
        FailureStatus.RESOLVED,
        "a later run read every page",
    )


def discard(failure_ids: Iterable[int], *, user: Any = None, note: str = "") -> int:
    """A steward gives up on failures (the source will be corrected, the record is obsolete…)."""
    return _close(
        SyncFailure.objects.filter(pk__in=list(failure_ids), status=FailureStatus.OPEN),
        FailureStatus.DISCARDED,
        note or "discarded",
        user=user,
    )


def _close(queryset, status: str, note: str, *, user: Any = None) -> int:
    return queryset.update(status=status, closed_at=timezone.now(), closed_by=user, note=note)
