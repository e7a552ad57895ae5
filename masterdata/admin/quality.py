"""Admin of data-quality rules (integration settings) and the issues they found (read-only, scoped).

Rules follow plain model permissions, as source systems do. Issues are a steward's reading: who
sees one follows from its domain and the record's owning org unit, exactly as for conflicts
(:func:`masterdata.services.stewardship.restrict`); nobody edits them — an issue closes when the
record complies again (the next sync or ``manage.py check_quality``).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.utils.html import format_html

from masterdata.models import QualityIssue, QualityRule
from masterdata.registry import registry
from masterdata.services import access, stewardship

from .sources import golden_change_url, golden_code_annotation


@admin.register(QualityRule)
class QualityRuleAdmin(admin.ModelAdmin):
    list_display = ("domain", "field", "kind", "severity", "weight", "active", "open_issues", "description")
    list_filter = ("domain", "kind", "severity", "active")
    search_fields = ("field", "description")
    fields = ("domain", "field", "kind", "params", "severity", "weight", "active", "description")

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(_open=Count("issues", filter=Q(issues__resolved_at__isnull=True)))

    @admin.display(description="open issues", ordering="_open")
    def open_issues(self, obj: QualityRule) -> int:
        return obj._open


class OpenFilter(admin.SimpleListFilter):
    """Open issues unless the steward asks for others: the list is a work list."""

    title = "status"
    parameter_name = "state"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Open",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(resolved_at__isnull=self.value() != "resolved")


@admin.register(QualityIssue)
class QualityIssueAdmin(admin.ModelAdmin):
    list_display = (
        "record", "domain", "field", "value", "message", "severity", "owner_org", "detected_at", "resolved_at",
    )  # fmt: skip
    list_filter = (OpenFilter, "domain", "rule__severity", "rule__kind")
    search_fields = ("field", "value", "message")
    list_select_related = ("rule", "owner_org")
    date_hierarchy = "detected_at"

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request).annotate(_code=golden_code_annotation())
        return stewardship.restrict(request.user, queryset, "view")

    def has_module_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and stewardship.visible_domains(user)) and (
            access.has_any_grant(user, "view") or any_unowned_domain(user)
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)  # rows are scoped by get_queryset

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="record", ordering="golden_id")
    def record(self, obj: QualityIssue) -> str:
        url = golden_change_url(obj.domain, obj.golden_id)
        label = obj._code or f"#{obj.golden_id}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="severity", ordering="rule__severity")
    def severity(self, obj: QualityIssue) -> str:
        return obj.rule.get_severity_display().split(" (")[0]


def any_unowned_domain(user) -> bool:
    """A domain without owners (materials) is visible with its model permission alone."""
    return any(registry.get(name).org_field is None for name in stewardship.visible_domains(user))
