"""The failure queue: records (and pages) the pipeline could not take, kept with their payload.

A bad record never stops a batch: it lands here and the rest go on. Each record has at most
one open failure; failing again adds an attempt to it, and the record's later success (in any
run, or a retry) resolves it. A steward may also discard a failure; who and why is kept.
All writes are bulk: one read and at most two writes per page, whatever the number of failures.

Each failure names the golden record it concerns when there is one (``golden_id``: the record a
push failed for, or the record an inbound source key is linked to), so the queue is scoped by
org unit like the records themselves (:func:`visible`, :func:`decidable`); a failure of a record
the hub does not know yet belongs to the whole group. Payloads are shown through :func:`masked`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from connectors.models import FailureClass, FailureDirection, FailureStage, FailureStatus, SyncFailure, SyncRun
from masterdata.models import SourceLink, SourceSystem
from masterdata.registry import registry
from masterdata.services import access

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

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
    keys = [item.source_key for item in latest.values() if item.source_key]
    links = SourceLink.objects.filter(source=source, domain=domain, source_key__in=keys)
    linked = dict(links.values_list("source_key", "golden_id"))
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
        # Whatever the stage, an inbound record the hub refused must change before it can go through.
        failure.classification = FailureClass.BAD_DATA
        failure.golden_id = linked.get(item.source_key, failure.golden_id)
        (changed if failure.pk else created).append(failure)
    fields = [
        "stage", "source_key", "payload", "raw_body", "error", "errors", "attempts", "last_failed_at", "run",
        "classification", "golden_id",
    ]  # fmt: skip
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


# --- who sees which failures ----------------------------------------------------------------------
def may_decide_all(user: AbstractBaseUser) -> bool:
    """Integration admins (the queue's change permission) and holders of a group-wide resolve grant."""
    if not getattr(user, "is_active", False):
        return False
    return user.has_perm("connectors.change_syncfailure") or access.has_global_scope(user, "resolve")


def may_see_all(user: AbstractBaseUser) -> bool:
    return may_decide_all(user) or bool(
        getattr(user, "is_active", False) and user.has_perm("connectors.view_syncfailure")
    )


def may_use_queue(user: AbstractBaseUser) -> bool:
    """The queue is in the user's menu: they see all of it, or hold a resolve grant somewhere."""
    return may_see_all(user) or access.has_any_grant(user, "resolve")


def _scope(user: AbstractBaseUser) -> Q:
    """Failures of records the user may resolve: one subquery per domain over the org-unit closure.

    Materials belong to the whole group: a resolve grant anywhere plus the model's change
    permission reaches their failures. Failures of records the hub does not know yet (and
    webhook batches) belong to the whole group and stay with :func:`may_decide_all` users.
    """
    condition = Q(pk__in=[])
    if not access.has_any_grant(user, "resolve"):
        return condition
    for domain in registry:
        if not access.has_domain_permission(user, domain, "change"):
            continue
        if domain.org_field is None:
            condition |= Q(domain=domain.name)
            continue
        owned = access.restrict(user, domain, domain.model_class._base_manager.all(), "resolve").values("pk")
        condition |= Q(domain=domain.name, golden_id__in=owned)
    return condition


def visible(user: AbstractBaseUser, queryset: QuerySet[SyncFailure]) -> QuerySet[SyncFailure]:
    if not getattr(user, "is_active", False):
        return queryset.none()
    return queryset if may_see_all(user) else queryset.filter(_scope(user))


def decidable(user: AbstractBaseUser, queryset: QuerySet[SyncFailure]) -> QuerySet[SyncFailure]:
    """The part of ``queryset`` the user may retry, discard or edit."""
    if not getattr(user, "is_active", False):
        return queryset.none()
    return queryset if may_decide_all(user) else queryset.filter(_scope(user))


def may_decide(user: AbstractBaseUser, failure: SyncFailure) -> bool:
    return decidable(user, SyncFailure.objects.filter(pk=failure.pk)).exists()


def may_reveal_sensitive(user: AbstractBaseUser, failure: SyncFailure) -> bool:
    """Sensitive values show to whoever may reveal them on the failure's record (or group-wide)."""
    if access.has_global_scope(user, "view_sensitive"):
        return True
    if not failure.domain or failure.domain not in registry or failure.golden_id is None:
        return False
    domain = registry.get(failure.domain)
    record = domain.model_class._base_manager.filter(pk=failure.golden_id).first()
    return record is not None and access.can_act_on(user, record, "view_sensitive")


# --- what a steward may read of a payload --------------------------------------------------------
MASK = "•••"
#: Keys that name credentials wherever they appear in a payload.
SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|credential|private[_-]?key", re.I)


def sensitive_paths(failure: SyncFailure) -> set[str]:
    """Payload paths that carry a sensitive golden field (by the mapping or push map that made it)."""
    if failure.domain not in registry:
        return set()
    sensitive = set(registry.get(failure.domain).sensitive_fields)
    if not sensitive:
        return set()
    paths = set(sensitive)
    if failure.direction == FailureDirection.OUTBOUND and failure.push_target_id:
        from connectors.services.outbound import normalise_push_map

        for entry in normalise_push_map(failure.push_target.field_map) or ():
            if isinstance(entry, dict) and entry.get("golden") in sensitive and entry.get("target"):
                paths.add(entry["target"])
        return paths
    from connectors.models import Mapping
    from connectors.services.mapping import normalise_field_map

    mapping = Mapping.objects.filter(source_id=failure.source_id, domain=failure.domain).first()
    for entry in normalise_field_map(mapping.field_map if mapping else []) or ():
        if isinstance(entry, dict) and entry.get("target") in sensitive:
            paths.update([entry["source"]] if "source" in entry else entry.get("concat") or [])
    return paths


def masked(payload: Any, hidden_paths: Iterable[str] = (), prefix: str = "") -> Any:
    """A copy of ``payload`` with credentials and the ``hidden_paths`` (dotted) replaced by ``•••``."""
    hidden = set(hidden_paths)
    if isinstance(payload, dict):
        result = {}
        for key, value in payload.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            secret = path in hidden or bool(SECRET_KEY.search(str(key)))
            result[key] = MASK if secret and value not in (None, "") else masked(value, hidden, path)
        return result
    if isinstance(payload, list):
        return [masked(item, hidden, prefix) for item in payload]
    return payload


def shown_payload(user: AbstractBaseUser, failure: SyncFailure) -> Any:
    """The failure's payload as ``user`` may read it."""
    hidden = set() if may_reveal_sensitive(user, failure) else sensitive_paths(failure)
    return masked(failure.payload, hidden)
