"""Admin of source systems (with their per-domain direction and trust) and source links.

These are integration settings, not golden records: they follow plain model permissions,
which stewards do not hold by default.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Case, CharField, OuterRef, Subquery, Value, When
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from masterdata.models import SourceDomain, SourceLink, SourceSystem
from masterdata.registry import registry


class SourceDomainInline(admin.TabularInline):
    model = SourceDomain
    extra = 0
    fields = ("domain", "direction", "trust_rank", "field_trust")


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "is_active", "domains_display", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    inlines = [SourceDomainInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("domains")

    @admin.display(description="domains")
    def domains_display(self, obj) -> str:
        return ", ".join(f"{d.domain} ({d.direction}, trust {d.trust_rank})" for d in obj.domains.all()) or "—"


def golden_code_annotation() -> Case:
    """The linked golden record's code, one correlated subquery per domain: no query per row."""
    whens = [
        When(
            domain=domain.name,
            then=Subquery(domain.model_class._default_manager.filter(pk=OuterRef("golden_id")).values("code")[:1]),
        )
        for domain in registry
    ]
    return Case(*whens, default=Value(None), output_field=CharField())


def golden_change_url(domain_name: str, golden_id: int) -> str | None:
    try:
        opts = registry.get(domain_name).model_class._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[golden_id])
    except (LookupError, NoReverseMatch):
        return None


class SourceLinkForm(forms.ModelForm):
    class Meta:
        model = SourceLink
        fields = ("source", "domain", "source_key", "golden_id", "status", "last_seen_at", "last_pushed_version")

    def clean(self) -> dict[str, Any]:
        """A link must point at an existing golden record of its domain."""
        cleaned = super().clean()
        domain_name, golden_id = cleaned.get("domain"), cleaned.get("golden_id")
        if domain_name and golden_id is not None and domain_name in registry:
            model = registry.get(domain_name).model_class
            if not model._default_manager.filter(pk=golden_id).exists():
                self.add_error("golden_id", f"There is no {domain_name} with id {golden_id}.")
        return cleaned


@admin.register(SourceLink)
class SourceLinkAdmin(admin.ModelAdmin):
    form = SourceLinkForm
    list_display = (
        "source_key",
        "source",
        "domain",
        "golden_record_column",
        "status",
        "last_seen_at",
        "last_pushed_version",
    )
    list_filter = ("source", "domain", "status")
    list_select_related = ("source",)
    search_fields = ("source_key",)
    show_full_result_count = False
    readonly_fields = ("golden_record_display", "payload_display", "payload_hash", "created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(golden_code=golden_code_annotation())

    @admin.display(description="golden record", ordering="golden_code")
    def golden_record_column(self, obj) -> str:
        label = f"{obj.domain} {obj.golden_code or f'#{obj.golden_id} (missing)'}"
        url = golden_change_url(obj.domain, obj.golden_id) if obj.golden_code else None
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="last payload")
    def payload_display(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.last_payload, indent=2, ensure_ascii=False, default=str))

    @admin.display(description="golden record")
    def golden_record_display(self, obj) -> str:
        if obj.pk is None or obj.domain not in registry:
            return "—"
        record = obj.golden_record
        if record is None:
            return f"{obj.domain} #{obj.golden_id} (missing)"
        url = golden_change_url(obj.domain, record.pk)
        return format_html('<a href="{}">{}</a>', url, record) if url else str(record)
