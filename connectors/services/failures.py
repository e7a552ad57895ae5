"""The failure queue: records (and pages) the pipeline could not take, kept with their payload.

A bad record never stops a batch: it lands here and the rest go on. Each record has at most
one open failure; failing again adds an attempt to it, and the record's later success (in any
run, or a retry) resolves it. A steward may also discard a failure; who and why is kept.
All writes are bulk: one read and at most two writes per page, whatever the number of failures.

Each failure names the golden record it concerns when there is one (``golden_id``: the record a
push failed for, the record an inbound source key is linked to, or the one its business key
names exactly) and carries its owning org unit (``owner_org``, see :func:`owners`), so the queue
is scoped by one indexed column like conflicts (:func:`visible`, :func:`decidable`): a company's
steward sees the failures of the company's records, known to the hub or not yet. Payloads are
shown through :func:`masked`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Case, QuerySet, When
from django.utils import timezone

from connectors.models import (
    FailureClass,
    FailureDirection,
    FailureStage,
    FailureStatus,
    Mapping,
    SyncFailure,
    SyncRun,
)
from masterdata.models import AuditAction, GoldenStatus, OrgUnit, OrgUnitType, SourceLink, SourceSystem
from masterdata.registry import registry
from masterdata.services import access, audit, matching, sensitive, stewardship

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

PAGE_FINGERPRINT = "page"
MAX_RAW_BODY = 1_000_000
#: Longest business code looked up to find a failure's record or owner (longer ones name nothing).
FAILURE_CODE_LENGTH = 200


@dataclass
class FailedItem:
    """One failure to queue: ``source_key`` is empty for a page, or for a record without a key."""

    stage: str
    source_key: str
    error: str
    payload: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    raw_body: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    """The mapped values when mapping succeeded: they name the record's owner and business key."""

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
    concerns = owners(source, domain, latest)
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
        golden_id, failure.owner_org_id = concerns[fingerprint]
        failure.golden_id = golden_id if golden_id is not None else failure.golden_id
        (changed if failure.pk else created).append(failure)
    fields = [
        "stage", "source_key", "payload", "raw_body", "error", "errors", "attempts", "last_failed_at", "run",
        "classification", "golden_id", "owner_org",
    ]  # fmt: skip
    if changed:
        SyncFailure.objects.bulk_update(changed, fields)
    if created:
        SyncFailure.objects.bulk_create(created)
    return changed + created


# --- whose failure it is ---------------------------------------------------------------------------
def group_root_id() -> int | None:
    """The org tree's root (the group): the owner of failures nothing else names."""
    units = OrgUnit._base_manager.filter(parent__isnull=True).exclude(status=GoldenStatus.MERGED)
    return units.order_by(Case(When(unit_type=OrgUnitType.GROUP, then=0), default=1), "pk").values_list(
        "pk", flat=True
    ).first()


def record_owners(domain_name: str, golden_ids: Iterable[int]) -> dict[int, int | None]:
    """``{golden id: owning org unit}`` of existing records (one query; a domain without owners: None)."""
    ids = list(set(golden_ids))
    if not ids or domain_name not in registry:
        return {}
    domain = registry.get(domain_name)
    if domain.org_field is None:
        return dict.fromkeys(ids)
    column = "pk" if domain.org_field == "pk" else f"{domain.org_field}_id"
    return dict(domain.model_class._base_manager.filter(pk__in=ids).values_list("pk", column))


def record_owner(domain_name: str, golden_id: int) -> int | None:
    """The owner of a push dead letter: its golden record's org unit, else the group."""
    return record_owners(domain_name, [golden_id]).get(golden_id) or group_root_id()


def owners(source: SourceSystem, domain: str, items: dict[str, FailedItem]) -> dict[str, tuple[int | None, int | None]]:
    """``{fingerprint: (golden id, owner org unit)}`` of inbound failures, a few queries for the whole batch.

    The golden record is the one the source key is linked to, else the one the mapped business
    key names exactly. The owner is that record's org unit; for a record the hub does not know
    (or a group-wide domain) the org unit the mapped values name, when it exists; else the group.
    Source systems are group-wide settings with no owner of their own.
    """
    spec = registry.get(domain) if domain in registry else None
    if spec is not None:
        _map_what_names_the_owner(source, spec, items)
    keys = [item.source_key for item in items.values() if item.source_key]
    linked = dict(SourceLink.objects.filter(source=source, domain=domain, source_key__in=keys).values_list(
        "source_key", "golden_id"
    ))  # fmt: skip
    golden: dict[str, int] = {fp: linked[item.source_key] for fp, item in items.items() if item.source_key in linked}
    if spec is not None:
        offered = {fp: _business_key(spec, item) for fp, item in items.items() if fp not in golden}
        numbered = [(fp, value) for fp, value in offered.items() if value]
        exact = matching.exact_matches(spec, {n: {spec.business_key: v} for n, (_, v) in enumerate(numbered)})
        golden.update({numbered[n][0]: golden_id for n, (golden_id, _key) in exact.items()})
    owned = record_owners(domain, golden.values())
    named = _named_units(spec, items) if spec is not None and spec.org_field not in (None, "pk") else {}
    root = group_root_id()
    result = {}
    for fp, item in items.items():
        golden_id = golden.get(fp)
        owner = owned.get(golden_id) if golden_id is not None else None
        if owner is None and spec is not None and spec.org_field not in (None, "pk"):
            owner = named.get(_code(item.values.get(spec.org_field)))
        result[fp] = (golden_id, owner or root)
    return result


def _map_what_names_the_owner(source: SourceSystem, domain: Any, items: dict[str, FailedItem]) -> None:
    """A record that failed to map as a whole may still name its business key and owner: map just those."""
    unmapped = [item for item in items.values() if not item.values and isinstance(item.payload, dict)]
    unmapped = [item for item in unmapped if item.stage == FailureStage.MAP]
    if not unmapped:
        return
    from connectors.services.mapping import MappingConfigError  # the mapping module reads the queue's models

    mapping = Mapping.objects.filter(source=source, domain=domain.name).first()
    try:
        mapper = mapping.mapper() if mapping is not None else None
    except MappingConfigError:
        return
    if mapper is None:
        return
    targets = [domain.business_key] + ([domain.org_field] if domain.org_field not in (None, "pk") else [])
    for item in unmapped:
        item.values = mapper.map_some(item.payload, targets)


def _code(value: Any) -> str | None:
    """A mapped business code (text or number) as the hub stores it; anything else names nothing."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _business_key(domain: Any, item: FailedItem) -> str | None:
    code = _code(item.values.get(domain.business_key))
    return code if code is not None and len(code) <= FAILURE_CODE_LENGTH else None


def _named_units(domain: Any, items: dict[str, FailedItem]) -> dict[str, int]:
    """``{code: org unit id}`` of the org units the items' mapped owner field names."""
    codes = {_code(item.values.get(domain.org_field)) for item in items.values()} - {None}
    codes = {code for code in codes if len(code) <= FAILURE_CODE_LENGTH}
    if not codes:
        return {}
    units = OrgUnit._base_manager.filter(code__in=codes).exclude(status=GoldenStatus.MERGED)
    return dict(units.values_list("code", "pk"))


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


def _scoped(user: AbstractBaseUser, queryset: QuerySet[SyncFailure]) -> QuerySet[SyncFailure]:
    """Failures the user may resolve: their domain's change permission and ``owner_org`` within a resolve grant.

    One indexed filter over the closure table, as conflicts are scoped (no per-domain subquery).
    Materials belong to the whole group: a resolve grant anywhere plus the model's change
    permission reaches their failures. Webhook batches (no domain) stay with :func:`may_decide_all` users.
    """
    if not access.has_any_grant(user, "resolve"):
        return queryset.none()
    return stewardship.restrict(user, queryset, "resolve")


def visible(user: AbstractBaseUser, queryset: QuerySet[SyncFailure]) -> QuerySet[SyncFailure]:
    if not getattr(user, "is_active", False):
        return queryset.none()
    return queryset if may_see_all(user) else _scoped(user, queryset)


def decidable(user: AbstractBaseUser, queryset: QuerySet[SyncFailure]) -> QuerySet[SyncFailure]:
    """The part of ``queryset`` the user may retry, discard or edit."""
    if not getattr(user, "is_active", False):
        return queryset.none()
    return queryset if may_decide_all(user) else _scoped(user, queryset)


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
WITHHELD = "(withheld: it may hold sensitive values)"
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


def _record_of(failure: SyncFailure) -> Any:
    if failure.golden_id is None or failure.domain not in registry:
        return None
    return registry.get(failure.domain).model_class._base_manager.filter(pk=failure.golden_id).first()


def shown_payload(user: AbstractBaseUser, failure: SyncFailure, *, revealed: bool = False) -> Any:
    """The failure's payload as ``user`` reads it: sensitive values masked unless ``revealed`` (see :func:`reveal`).

    Masked twice over: the paths the mapping (or push map) reads sensitive fields from, then any
    value under a sensitive-sounding name or equal to the record's current sensitive values.
    Credentials are masked always.
    """
    if revealed and may_reveal_sensitive(user, failure):
        return masked(failure.payload)
    shown = masked(failure.payload, sensitive_paths(failure))
    domain = registry.get(failure.domain) if failure.domain in registry else None
    if domain is None or not domain.sensitive_fields:
        return shown
    record = _record_of(failure)
    known = list(sensitive.current_values(record).values()) if record is not None else []
    return sensitive.masked_payload(shown, domain, known)


def shown_raw_body(user: AbstractBaseUser, failure: SyncFailure, *, revealed: bool = False) -> str:
    """A page body that was not JSON: free text, so withheld for a domain with sensitive fields until revealed."""
    domain = registry.get(failure.domain) if failure.domain in registry else None
    if domain is not None and domain.sensitive_fields and not (revealed and may_reveal_sensitive(user, failure)):
        return WITHHELD if failure.raw_body else ""
    return failure.raw_body


def reveal(user: AbstractBaseUser, failure: SyncFailure, *, screen: str, request: Any = None) -> bool:
    """Clear sensitive values of a failure's payload for a user who may read them: one audit event each time.

    The event names the failure's golden record when the hub has one (else the failure itself),
    the domain's sensitive fields and the screen. False (and nothing audited) for anyone else.
    """
    if not may_reveal_sensitive(user, failure):
        return False
    domain = registry.get(failure.domain) if failure.domain in registry else None
    fields = list(domain.sensitive_fields) if domain is not None else []
    record = _record_of(failure)
    via, extra = f"admin {screen}", {"failure": failure.pk}
    if domain is not None and record is not None:
        sensitive.audit_reveal(domain, [record], fields, via=via, user=user, request=request, extra=extra)
    else:
        audit.record(
            AuditAction.SENSITIVE_REVEALED,
            actor=user,
            request=request,
            object_type=SyncFailure._meta.label_lower,
            object_id=failure.pk,
            detail={"domain": failure.domain, "fields": fields, "via": via, "count": 0, "ids": [], **extra},
        )
    return True
