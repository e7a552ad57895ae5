"""What the steward work lists (conflicts, duplicate suspects, merges) share.

Stewards hold model permissions on the golden-record domains and org-unit grants, not
permissions on these governance tables: who sees a row follows from its domain and its owning
org unit (:mod:`masterdata.services.stewardship`), and who acts on it from the resolve grant.
A row outside the steward's scope does not exist for them — its URL redirects like a deleted one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Case, CharField, OuterRef, QuerySet, Subquery, Value, When
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from masterdata.models import GoldenRecord, OrgUnit
from masterdata.registry import Domain, registry
from masterdata.services import access, stewardship
from masterdata.services.orgtree import subtree_ids

from .filters import MAX_FILTER_UNITS
from .listing import FastActionCheckboxMixin

HIDDEN_VALUE = "•••"


def golden_annotation(id_column: str, field_name: str = "code") -> Case:
    """``field_name`` of the golden record named by ``domain`` + ``id_column``: one subquery per domain."""
    whens = [
        When(
            domain=domain.name,
            then=Subquery(
                domain.model_class._base_manager.filter(pk=OuterRef(id_column)).values(field_name)[:1],
                output_field=CharField(),
            ),
        )
        for domain in registry
        if any(f.name == field_name for f in domain.model_class._meta.concrete_fields)
    ]
    return Case(*whens, default=Value(None), output_field=CharField())


def record_url(domain_name: str, golden_id: int, view: str = "record") -> str | None:
    """The record page (or another admin view) of a golden record."""
    try:
        opts = registry.get(domain_name).model_class._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[golden_id])
    except (LookupError, NoReverseMatch):
        return None


def record_link(domain_name: str, golden_id: int, label: str | None) -> str:
    url = record_url(domain_name, golden_id)
    text = label or f"#{golden_id} (missing)"
    return format_html('<a href="{}">{}</a>', url, text) if url and label else text


def age(since) -> str:
    return timesince(since, timezone.now(), depth=1) if since else "—"


def shown(value: Any) -> str:
    """A value as a steward reads it: empty values as a dash."""
    if value in (None, "", [], {}):
        return "—"
    return str(value)


def may_see_sensitive(request, record: GoldenRecord) -> bool:
    return access.can_act_on(request.user, record, "view_sensitive")


def scoped_record(request, domain: Domain, golden_id: int, action: access.Action = "view") -> GoldenRecord | None:
    """The golden record if the user may ``action`` it, else None (out of scope looks like missing)."""
    queryset = access.restrict(request.user, domain, domain.model_class._base_manager.all(), action)
    if not access.has_domain_permission(request.user, domain, "view"):
        return None
    return queryset.filter(pk=golden_id).first()


class StatusFilter(admin.SimpleListFilter):
    """Status, showing the open rows unless the steward asks for others: a work list lists open work."""

    title = "status"
    parameter_name = "status"
    default = "open"
    statuses: list[tuple[str, str]] = []

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [*self.statuses, ("all", "All")]

    def choices(self, changelist):
        counts = self.get_facet_queryset(changelist) if changelist.add_facets else None
        current = self.value() or self.default
        for index, (lookup, title) in enumerate(self.lookup_choices):
            if counts is not None:
                title = f"{title} ({counts.get(f'{index}__c', '-')})"
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value() or self.default
        if value == "all":
            return queryset
        return queryset.filter(status=value) if value in dict(self.statuses) else queryset.none()


class OwnerOrgFilter(admin.SimpleListFilter):
    """Owning org unit and everything below it, offering only the units the steward may see."""

    title = "owner org unit (and below)"
    parameter_name = "owner_org"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        units = access.restrict(request.user, registry.for_model(OrgUnit), OrgUnit.objects.all(), "view")
        return [(str(u.pk), str(u)) for u in units.only("id", "code", "name").order_by("code")[:MAX_FILTER_UNITS]]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(owner_org__in=subtree_ids(int(value)))


class AgeFilter(admin.SimpleListFilter):
    """How long a row has waited: stewards work the oldest first."""

    title = "age"
    parameter_name = "age"
    field_name = "opened_at"
    BUCKETS = {
        "1d": ("under a day", 0, 1),
        "1w": ("1–7 days", 1, 7),
        "1m": ("1–4 weeks", 7, 28),
        "old": ("older", 28, None),
    }

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in self.BUCKETS.items()]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        _, newest, oldest = bucket
        now = timezone.now()
        queryset = queryset.filter(**{f"{self.field_name}__lte": now - timedelta(days=newest)})
        if oldest is not None:
            queryset = queryset.filter(**{f"{self.field_name}__gt": now - timedelta(days=oldest)})
        return queryset


class WorklistAdmin(FastActionCheckboxMixin, admin.ModelAdmin):
    """Scoped, never added or deleted by hand, never edited through a model form."""

    list_per_page = 50
    show_full_result_count = False
    list_select_related = ("owner_org",)
    #: The heading of the list page ("Select conflict to view" says nothing to a steward).
    list_title = ""

    def changelist_view(self, request, extra_context=None):
        context = {"title": self.list_title, **(extra_context or {})} if self.list_title else extra_context
        return super().changelist_view(request, context)

    def get_queryset(self, request):
        return stewardship.restrict(request.user, super().get_queryset(request), "view")

    def has_module_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return self._may(request, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)  # rows are scoped by get_queryset

    def has_resolve_permission(self, request, obj=None) -> bool:
        """Steward decisions need the resolve grant somewhere; each row is checked again by the service."""
        return self._may(request, "resolve")

    def _may(self, request, action: access.Action) -> bool:
        """Some domain to work on and some scope to work in (a grant, or a domain without owners).

        Memoised per request: the admin asks many times while rendering one page.
        """
        memo = request.__dict__.setdefault("_worklist_may", {})
        if action not in memo:
            user = request.user
            domains = stewardship.visible_domains(user, action)
            unowned = any(registry.get(name).org_field is None for name in domains)
            memo[action] = bool(domains) and (unowned or access.has_any_grant(user, action))
        return memo[action]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def scoped_object_or_redirect(self, request, object_id):
        """(row, None) for a row in the steward's scope, else (None, the admin's "does not exist" redirect)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return obj, None

    def changelist_url(self, request) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def back_to_list(self, request) -> HttpResponseRedirect:
        """Back to the list the steward came from, filters kept."""
        filters = request.POST.get("_changelist_filters") or request.GET.get("_changelist_filters") or ""
        url = self.changelist_url(request)
        return HttpResponseRedirect(f"{url}?{filters}" if filters else url)

    def page_context(self, request, title: str, obj=None, **extra: Any) -> dict[str, Any]:
        """Context of the work lists' own pages: the admin's frame, breadcrumbs and filters to go back to."""
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "original": obj,
            "changelist_url": self.changelist_url(request),
            "changelist_filters": request.GET.get("_changelist_filters", ""),
            **extra,
        }
