"""Admin of incidents: what the admins were alerted about, read-only (the checks open and close them)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet

from connectors.models import Incident


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "state"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() in ("open", "closed"):
            return queryset.filter(closed_at__isnull=self.value() == "open")
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "value", "opened_at", "notified_at", "closed_at")
    list_filter = (OpenFilter, "kind")
    search_fields = ("title", "key")
    readonly_fields = ("kind", "key", "title", "detail", "value", "opened_at", "notified_at", "last_checked_at",
                       "closed_at")  # fmt: skip
    date_hierarchy = "opened_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
