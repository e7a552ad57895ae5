"""Admin of sync runs (read-only: they are a record) and sync states; the failure queue is in ``failures``.

A steward who works failed syncs may open the runs that produced failures in their queue (a run
belongs to a source system, not a company: its status and counts are shown, read-only, without
the run's cursors and error text, which are the integration team's).
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils.html import format_html

from connectors.models import SyncFailure, SyncRun, SyncState
from connectors.services import failures


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
    #: What a steward who sees the run through a failure does not read: the integration team's details.
    INTEGRATION_FIELDS = ("cursor_before", "cursor_after", "error", "task_id")

    @staticmethod
    def sees_every_run(request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and any(user.has_perm(f"connectors.{p}_syncrun") for p in ("view", "change"))

    def get_queryset(self, request: HttpRequest):
        runs = super().get_queryset(request)
        if self.sees_every_run(request):
            return runs
        produced = failures.visible(request.user, SyncFailure.objects.filter(run=OuterRef("pk")))
        return runs.filter(Exists(produced))

    def has_view_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        """Everyone with the model permission; a steward for the runs behind failures in their queue."""
        if self.sees_every_run(request):
            return True
        if not failures.may_use_queue(request.user):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def get_fields(self, request: HttpRequest, obj: SyncRun | None = None):
        fields = super().get_fields(request, obj)
        if self.sees_every_run(request):
            return fields
        return [name for name in fields if name not in self.INTEGRATION_FIELDS]

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
