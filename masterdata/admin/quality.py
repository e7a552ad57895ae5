"""Admin of data-quality rules (integration settings) and the issues they found (read-only, scoped).

Rules follow plain model permissions, as source systems do. Issues are a steward's reading: who
sees one follows from its domain and the record's owning org unit, exactly as for conflicts
(:func:`masterdata.services.stewardship.restrict`); nobody edits them — an issue closes when the
record complies again (the next sync or ``manage.py check_quality``).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from masterdata.models import QualityIssue, QualityRule, QualityScore
from masterdata.registry import registry
from masterdata.services import access, stewardship

from .listing import FastActionCheckboxMixin
from .sources import golden_change_url, golden_code_annotation
from .worklist import record_link


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


class RuleFilter(admin.SimpleListFilter):
    """The rule broken ("every record without an e-mail address"): the dashboard's worst rules link here.

    Lists the rules of the domains the user sees, in one query, not every rule of the hub.
    """

    title = "rule"
    parameter_name = "rule__id__exact"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        rules = QualityRule.objects.filter(domain__in=stewardship.visible_domains(request.user))
        return [(str(rule.pk), str(rule)) for rule in rules]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(rule_id=int(value)) if value and value.isdigit() else queryset


class ScopedQualityAdmin(FastActionCheckboxMixin, admin.ModelAdmin):
    """Read-only quality lists (issues, scores): rows scoped like conflicts, each with its record's code."""

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request).annotate(_code=golden_code_annotation())
        return stewardship.restrict(request.user, queryset, "view")

    def has_module_permission(self, request) -> bool:
        return may_read_quality(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)  # rows are scoped by get_queryset

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QualityIssue)
class QualityIssueAdmin(ScopedQualityAdmin):
    list_display = (
        "record", "domain", "field", "value", "message", "severity", "owner_org", "detected_at", "resolved_at",
    )  # fmt: skip
    list_filter = (OpenFilter, "domain", "rule__severity", "rule__kind", RuleFilter)
    search_fields = ("field", "value", "message")
    list_select_related = ("rule", "owner_org")
    date_hierarchy = "detected_at"

    @admin.display(description="record", ordering="golden_id")
    def record(self, obj: QualityIssue) -> str:
        url = golden_change_url(obj.domain, obj.golden_id)
        label = obj._code or f"#{obj.golden_id}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    readonly_fields = ("rule_display", "record")
    #: On the issue page: the record (linked) instead of its bare id, the rule as text unless it may be opened.
    SHOWN_AS = {"golden_id": "record", "rule": "rule_display"}

    def get_fields(self, request, obj=None) -> list[str]:
        fields = [name for name in super().get_fields(request, obj) if name not in self.SHOWN_AS.values()]
        return [self.SHOWN_AS.get(name, name) for name in fields]

    @admin.display(description="rule")
    def rule_display(self, obj: QualityIssue) -> str:
        rule = obj.rule
        rule_admin = self.admin_site._registry.get(QualityRule)
        request = getattr(obj, "viewer_request", None)
        if rule_admin is not None and request is not None and rule_admin.has_view_permission(request, rule):
            url = reverse("admin:masterdata_qualityrule_change", args=[rule.pk])
            return format_html('<a href="{}">{}</a>', url, rule)
        return str(rule)

    def get_object(self, request, object_id, from_field=None):
        issue = super().get_object(request, object_id, from_field)
        if issue is not None:
            issue.viewer_request = request  # the rule's link depends on the viewer's rights
        return issue

    @admin.display(description="severity", ordering="rule__severity")
    def severity(self, obj: QualityIssue) -> str:
        return obj.rule.get_severity_display().split(" (")[0]


def may_read_quality(user) -> bool:
    """Issues and scores are read by staff who see some domain in some scope."""
    return bool(user.is_active and user.is_staff and stewardship.visible_domains(user)) and (
        access.has_any_grant(user, "view") or any_unowned_domain(user)
    )


def any_unowned_domain(user) -> bool:
    """A domain without owners (materials) is visible with its model permission alone."""
    return any(registry.get(name).org_field is None for name in stewardship.visible_domains(user))


@admin.register(QualityScore)
class QualityScoreAdmin(ScopedQualityAdmin):
    """Each record's score, worst first: the list behind the dashboard's "records scored" (read-only, scoped)."""

    list_display = ("record", "domain", "score", "open_issues", "owner_org", "checked_at")
    list_display_links = None
    list_filter = ("domain",)
    list_select_related = ("owner_org",)
    ordering = ("score", "id")
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Quality scores, worst first", **(extra_context or {})})

    @admin.display(description="record", ordering="golden_id")
    def record(self, obj: QualityScore) -> str:
        return record_link(obj.domain, obj.golden_id, obj._code)
