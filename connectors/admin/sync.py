"""Admin of sync runs (read-only: they are a record), sync states and the failure queue."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from connectors.models import FailureStatus, SyncFailure, SyncRun, SyncState
from connectors.services import failures, pipeline


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


@admin.register(SyncFailure)
class SyncFailureAdmin(ReadOnlyAdmin):
    list_display = ("last_failed_at", "source", "domain", "stage", "source_key", "error", "attempts", "status")
    list_filter = ("status", "stage", "domain", "source")
    list_select_related = ("source",)
    search_fields = ("source_key", "error")
    show_full_result_count = False
    actions = ["retry", "discard"]
    fields = (
        "source", "domain", "stage", "source_key", "status", "error", "errors_display", "payload_display",
        "raw_body", "attempts", "first_failed_at", "last_failed_at", "run", "closed_at", "closed_by", "note",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="errors")
    def errors_display(self, obj: SyncFailure) -> str:
        return pretty(obj.errors)

    @admin.display(description="payload")
    def payload_display(self, obj: SyncFailure) -> str:
        return pretty(obj.payload)

    def has_decide_permission(self, request) -> bool:
        """Retrying and discarding are decisions on the queue: they need its change permission."""
        return request.user.has_perm("connectors.change_syncfailure")

    @admin.action(description="Retry the selected failures", permissions=["decide"])
    def retry(self, request, queryset) -> None:
        totals = pipeline.retry_failures(queryset.filter(status=FailureStatus.OPEN).values_list("pk", flat=True))
        self.message_user(
            request,
            f"Retried {totals['retried']}: {totals['resolved']} went through, {totals['failed']} failed again"
            + (f", {totals['locked']} skipped while a pull runs" if totals["locked"] else "")
            + ".",
            messages.SUCCESS if not totals["failed"] else messages.WARNING,
        )

    @admin.action(description="Discard the selected failures", permissions=["decide"])
    def discard(self, request, queryset) -> None:
        count = failures.discard(
            queryset.values_list("pk", flat=True), user=request.user, note=f"discarded by {request.user}"
        )
        self.message_user(request, f"Discarded {count} failures.", messages.SUCCESS)
