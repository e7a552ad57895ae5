"""Admin of source systems (with their per-domain direction and trust) and source links."""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from masterdata.models import SourceDomain, SourceLink, SourceSystem


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


@admin.register(SourceLink)
class SourceLinkAdmin(admin.ModelAdmin):
    list_display = ("source_key", "source", "domain", "golden_id", "status", "last_seen_at", "last_pushed_version")
    list_filter = ("source", "domain", "status")
    list_select_related = ("source",)
    search_fields = ("source_key",)
    show_full_result_count = False
    readonly_fields = ("payload_display", "payload_hash", "created_at", "updated_at", "golden_record_display")
    exclude = ("last_payload",)

    @admin.display(description="last payload")
    def payload_display(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.last_payload, indent=2, ensure_ascii=False))

    @admin.display(description="golden record")
    def golden_record_display(self, obj) -> str:
        record = obj.golden_record
        if record is None:
            return "—"
        opts = record._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record)
