"""What a steward's work lists show: conflicts, duplicate suspects and merges within their scope.

These governance rows carry a copy of the owning org unit (``owner_org``) so a list is scoped
with the same closure-table subquery as the golden records themselves, without a join to the
five (or more) domain tables. Rows of a domain the user has no model permission for are never
listed; rows of a domain without owners (materials) follow the model permission alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models
from django.db.models import Q, QuerySet

from masterdata.models import GoldenRecord
from masterdata.registry import registry
from masterdata.services import access, conflicts, history

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def visible_domains(user: AbstractBaseUser, action: access.Action = "view") -> list[str]:
    """Names of the domains whose records the user may handle at all (model permission)."""
    model_action = "view" if action == "view" else "change"
    return [d.name for d in registry if access.has_domain_permission(user, d, model_action)]


def restrict(user: AbstractBaseUser, queryset: QuerySet, action: access.Action = "view") -> QuerySet:
    """``queryset`` of rows with ``domain`` and ``owner_org`` narrowed to the user's scope (one subquery)."""
    if not getattr(user, "is_active", False):
        return queryset.none()
    domains = visible_domains(user, action)
    queryset = queryset.filter(domain__in=domains)
    if access.has_global_scope(user, action):
        return queryset
    unowned = [name for name in domains if registry.get(name).org_field is None]
    return queryset.filter(Q(owner_org__in=access.granted_unit_ids(user, action)) | Q(domain__in=unowned))


def restrict_links(user: AbstractBaseUser, queryset: QuerySet) -> QuerySet:
    """Source links (or rows with ``domain`` and ``golden_id``) of records the user may view.

    A link carries the source's whole record, so it is scoped like the golden record it points
    at: one subquery per domain the user may view, none for a domain seen group-wide.
    """
    if not getattr(user, "is_active", False):
        return queryset.none()
    condition = Q(pk__in=[])
    for name in visible_domains(user, "view"):
        domain = registry.get(name)
        if domain.org_field is None or access.has_global_scope(user, "view"):
            condition |= Q(domain=name)
            continue
        owned = access.restrict(user, domain, domain.model_class._base_manager.all(), "view").values("pk")
        condition |= Q(domain=name, golden_id__in=owned)
    return queryset.filter(condition)


def may_decide(user: AbstractBaseUser, record: GoldenRecord) -> bool:
    """Steward decisions (resolve, lock, merge) need the resolve scope and the right to change the record."""
    return access.can_act_on(user, record, "resolve") and access.can_act_on(user, record, "change")


def open_failures(record: GoldenRecord, links: list[Any]) -> list[Any]:
    """Open sync failures of a record: pushes that failed for it, pulls that failed on one of its source keys.

    The failure queue belongs to the connectors, which depend on masterdata, not the other way
    round: the model is looked up by name and an installation without connectors has none.
    """
    try:
        failure_model = apps.get_model("connectors", "SyncFailure")
    except LookupError:
        return []
    domain = registry.for_model(type(record))
    by_key = Q(golden_id=record.pk)
    for link in links:
        by_key |= Q(source_id=link.source_id, source_key=link.source_key)
    rows = failure_model.objects.filter(by_key, domain=domain.name, status="open").select_related("source")
    return list(rows.order_by("-last_failed_at")[:50])


def shown_value(record: GoldenRecord, field_name: str) -> Any:
    """A field's value as sources, conflicts and stewards name it: a foreign key by business code."""
    f = record._meta.get_field(field_name)
    if isinstance(f, models.ForeignKey):
        related = getattr(record, field_name)
        return getattr(related, "code", related.pk) if related is not None else None
    return conflicts.to_json(getattr(record, f.attname))


def field_history(record: GoldenRecord, field_name: str, limit: int = 100) -> list[dict[str, Any]]:
    """The versions (newest first, of the last ``limit``) that changed one field, with who, when and why."""
    rows = list(history.versions(record)[:limit])
    changes = []
    for row, changed in history.with_changes(rows):
        for change in changed:
            if change["field"] == field_name:
                changes.append({"row": row, "old": change["old"], "new": change["new"]})
    return changes
