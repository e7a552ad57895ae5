"""Admin of mappings: the fetch spec and field map as JSON, validated on save; pull now; who may post.

"Object permissions" on a mapping (django-guardian's pages) grants a user or group the right
to post that source/domain's records to the ingest endpoint, and nothing else.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm, GuardedModelAdminMixin
from guardian.shortcuts import get_perms_for_model

from connectors import tasks
from connectors.models import Mapping, SyncRun, SyncTrigger


class PrettyJSONWidget(forms.Textarea):
    """JSON indented for reading and editing (the default widget writes it on one line)."""

    def format_value(self, value):
        try:
            return json.dumps(json.loads(value), indent=2, ensure_ascii=False) if value else value
        except (TypeError, ValueError):
            return value


class MappingForm(forms.ModelForm):
    class Meta:
        model = Mapping
        fields = (
            "source", "domain", "is_active", "fetch_spec", "source_key", "field_map", "keep_unmapped",
            "auto_link_score", "schedule", "reconcile_schedule",
        )  # fmt: skip
        widgets = {
            "fetch_spec": PrettyJSONWidget(attrs={"rows": 12, "cols": 90, "style": "font-family: monospace"}),
            "field_map": PrettyJSONWidget(attrs={"rows": 24, "cols": 90, "style": "font-family: monospace"}),
        }


INGEST_CODENAME = "ingest_mapping"


class IngestGrantFormMixin:
    """guardian's forms would offer every permission of the model; a mapping grants only the ingest one."""

    def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
        return [(INGEST_CODENAME, "Post records for this source and domain (ingest endpoint)")]

    def get_obj_perms_field_label(self) -> str:
        return "Ingest"


class UserIngestGrantForm(IngestGrantFormMixin, AdminUserObjectPermissionsForm):
    """Grants or revokes a user's ingest permission on one mapping."""


class GroupIngestGrantForm(IngestGrantFormMixin, AdminGroupObjectPermissionsForm):
    """Grants or revokes a group's ingest permission on one mapping."""


def periodic_task_link(task) -> str:
    if task is None:
        return "—"
    try:
        url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    except NoReverseMatch:
        return str(task)
    return format_html('<a href="{}">{}</a>', url, task.name)


@admin.register(Mapping)
class MappingAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
    form = MappingForm
    list_display = ("__str__", "is_active", "schedule", "reconcile_schedule", "last_run_status", "updated_at")
    list_filter = ("domain", "is_active", "source")
    list_select_related = ("source",)
    search_fields = ("source__code", "source__name", "domain")
    readonly_fields = ("pull_task_link", "reconcile_task_link", "created_at", "updated_at")
    actions = ["pull_now", "reconcile_now"]
    fieldsets = (
        (None, {"fields": ("source", "domain", "is_active")}),
        ("Where the records are", {"fields": ("fetch_spec", "source_key")}),
        ("Fields", {"fields": ("field_map", "keep_unmapped", "auto_link_score")}),
        ("Schedules", {"fields": ("schedule", "pull_task_link", "reconcile_schedule", "reconcile_task_link")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        latest = SyncRun.objects.filter(source=OuterRef("source"), domain=OuterRef("domain")).order_by("-started_at")
        return (
            super()
            .get_queryset(request)
            .select_related("source", "pull_task", "reconcile_task")  # list_select_related is ignored once this is set
            .annotate(last_status=Subquery(latest.values("status")[:1]))
        )

    @admin.display(description="last run", ordering="last_status")
    def last_run_status(self, obj: Mapping) -> str:
        return obj.last_status or "never"

    @admin.display(description="pull task")
    def pull_task_link(self, obj: Mapping) -> str:
        return periodic_task_link(obj.pull_task)

    @admin.display(description="reconcile task")
    def reconcile_task_link(self, obj: Mapping) -> str:
        return periodic_task_link(obj.reconcile_task)

    def _enqueue(self, request, queryset, *, full: bool) -> None:
        for mapping in queryset.select_related("source"):
            tasks.pull.delay(mapping.source_id, mapping.domain, full=full, trigger=SyncTrigger.MANUAL)
        kind = "Full reconcile runs" if full else "Pulls"
        self.message_user(request, f"{kind} queued for {queryset.count()} mappings.", messages.SUCCESS)

    # --- who may post this source/domain's records (guardian's object-permission pages) ---------------
    def get_obj_perms_base_context(self, request, obj):
        context = super().get_obj_perms_base_context(request, obj)
        context["model_perms"] = [perm for perm in get_perms_for_model(obj) if perm.codename == INGEST_CODENAME]
        return context

    def get_obj_perms_manage_user_form(self, request):
        return UserIngestGrantForm

    def get_obj_perms_manage_group_form(self, request):
        return GroupIngestGrantForm

    @admin.action(description="Pull the selected mappings now")
    def pull_now(self, request, queryset) -> None:
        self._enqueue(request, queryset, full=False)

    @admin.action(description="Run a full reconcile of the selected mappings now")
    def reconcile_now(self, request, queryset) -> None:
        self._enqueue(request, queryset, full=True)
