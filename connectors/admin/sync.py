"""Admin of sync runs (read-only: they are a record) and sync states; the failure queue is in ``failures``."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from connectors.models import SyncRun, SyncState


def pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at", "source", "domain", "trigger", "full", "status", "pages", "fetched", "created", "updated",
        "unchanged", "conflicts", "duplicates", "failed", "duration",
    )  # fmt: skip
    list_filter = ("status", "trigger", "full", "domain", "source")
    list_select_related = ("source",)
    date_hierarchy = "started_at"
    show_full_result_count = False

    @admin.display(description="duration")
    def duration(self, obj: SyncRun) -> str:
        if obj.finished_at is None:
            return "running" if obj.status == "running" else "—"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f} s"


@admin.register(SyncState)
class SyncStateAdmin(admin.ModelAdmin):
    """The cursor may be edited (emptied to read everything again on the next pull)."""

    list_display = ("source", "domain", "cursor", "last_success_at", "last_full_at", "locked_until")
    list_filter = ("domain", "source")
    list_select_related = ("source",)
    fields = ("source", "domain", "cursor", "last_success_at", "last_full_at", "locked_until", "updated_at")
    readonly_fields = ("source", "domain", "last_success_at", "last_full_at", "locked_until", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False
