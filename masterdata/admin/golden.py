"""The admin of golden records: one generic class, specialised per domain from the registry."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils.html import format_html, format_html_join
from guardian.admin import GuardedModelAdminMixin
from simple_history.admin import SimpleHistoryAdmin

from masterdata.models import GoldenStatus, OrgUnit
from masterdata.registry import Domain
from masterdata.services import access, golden, history


class GoldenRecordForm(forms.ModelForm):
    change_reason = forms.CharField(
        required=False, max_length=500, help_text="Why you change this record (kept in its history)."
    )


class ScopedOrgUnitFilter(admin.SimpleListFilter):
    """Filter by owning org unit, offering only the org units the steward may see."""

    title = "org unit"
    parameter_name = "org_unit"

    def lookups(self, request, model_admin):
        units = access.restrict(request.user, model_admin.domain_for_org_units(), OrgUnit.objects.all(), "view")
        return [(unit.pk, str(unit)) for unit in units.only("id", "code", "name").order_by("code")[:500]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(**{f"{self.model_admin_org_field}_id": int(value)})

    def __init__(self, request, params, model, model_admin):
        self.model_admin_org_field = model_admin.domain.org_field
        super().__init__(request, params, model, model_admin)


class GoldenRecordAdmin(SimpleHistoryAdmin):
    """Scoped by org unit, never deletes, writes through the golden-record service."""

    domain: Domain
    form = GoldenRecordForm
    list_per_page = 50
    show_full_result_count = False
    exclude = ("provenance",)
    history_list_display = ["changes_display", "history_source"]
    actions = ["deactivate_selected", "reactivate_selected"]

    # --- layout -------------------------------------------------------------------------------
    def get_list_display(self, request):
        return self.domain.list_display

    def get_list_select_related(self, request):
        model = self.domain.model_class
        return [name for name in self.domain.list_display if isinstance(model._meta.get_field(name), models.ForeignKey)]

    def get_search_fields(self, request):
        return self.domain.search_fields

    def get_list_filter(self, request):
        filters = list(self.domain.list_filter)
        if self.domain.org_field not in (None, "pk"):
            filters.append(ScopedOrgUnitFilter)
        return filters

    def get_readonly_fields(self, request, obj=None):
        return ("status", "merged_into", "version", "created_at", "updated_at", "provenance_display")

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "change_reason"]
        return [*fields, "change_reason"]

    def domain_for_org_units(self) -> Domain:
        from masterdata.registry import registry

        return registry.for_model(OrgUnit)

    @admin.display(description="provenance")
    def provenance_display(self, obj) -> str:
        rows = sorted((obj.provenance or {}).items())
        if not rows:
            return "—"
        return format_html(
            "<table><tr><th>field</th><th>source</th><th>user</th><th>rule</th><th>at</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (name, p.get("source") or "—", p.get("user") or "—", p.get("rule") or "—", p.get("at") or "—")
                    for name, p in rows
                ),
            ),
        )

    @admin.display(description="changes")
    def changes_display(self, row) -> str:
        older = row.prev_record
        changes = history.changes_between(row, older)
        if not changes:
            return "—"
        return format_html_join(
            "", "<div><b>{}</b>: {} → {}</div>", ((c["field"], c["old"], c["new"]) for c in changes)
        )

    # --- permissions --------------------------------------------------------------------------
    def get_queryset(self, request):
        return access.restrict(request.user, self.domain, super().get_queryset(request), "view")

    def has_module_permission(self, request) -> bool:
        return access.has_domain_permission(request.user, self.domain, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        if not access.has_domain_permission(request.user, self.domain, "view"):
            return False
        return obj is None or access.can_act_on(request.user, obj, "view")

    def has_change_permission(self, request, obj=None) -> bool:
        if not access.has_domain_permission(request.user, self.domain, "change"):
            return False
        return obj is None or access.can_act_on(request.user, obj, "change")

    def has_add_permission(self, request) -> bool:
        return access.has_domain_permission(request.user, self.domain, "add")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # golden records are deactivated or merged, never deleted

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is OrgUnit and not access.has_global_scope(request.user, "change"):
            kwargs["queryset"] = OrgUnit.objects.filter(pk__in=access.granted_unit_ids(request.user, "change"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- writes -------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        reason = form.cleaned_data.get("change_reason") or ("Edited in the admin" if change else "Created in the admin")
        ctx = golden.ChangeContext(user=request.user, reason=reason, rule="steward")
        try:
            golden.check_scope(obj, ctx)
            golden.save(obj, ctx)
        except golden.OutOfScope as exc:
            raise PermissionDenied(exc.message) from exc

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        done = 0
        for record in queryset:
            if record.status == status or record.status == GoldenStatus.MERGED:
                continue
            if not access.can_act_on(request.user, record, "change"):
                continue
            try:
                golden.update(
                    record, {"status": status}, golden.ChangeContext(user=request.user, reason=f"{verb} in the admin")
                )
                done += 1
            except (golden.GoldenRecordError, ValidationError) as exc:
                self.message_user(request, f"{record}: {exc}", messages.ERROR)
        self.message_user(request, f"{verb} {done} record(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected records", permissions=["change"])
    def deactivate_selected(self, request, queryset):
        self._set_status(request, queryset, GoldenStatus.INACTIVE, "Deactivated")

    @admin.action(description="Reactivate selected records", permissions=["change"])
    def reactivate_selected(self, request, queryset):
        self._set_status(request, queryset, GoldenStatus.ACTIVE, "Reactivated")


class OrgUnitAdmin(GuardedModelAdminMixin, GoldenRecordAdmin):
    """Org units, with guardian's object-permission pages to grant access to a subtree.

    Only users allowed to manage access (superusers, or the global ``grant_orgunit``
    permission) may open the permission pages; a steward who may change an org unit may not
    hand that right on.
    """

    @staticmethod
    def can_manage_access(request) -> bool:
        return request.user.is_superuser or request.user.has_perm("masterdata.grant_orgunit")

    def _guard(self, request) -> None:
        if not self.can_manage_access(request):
            raise PermissionDenied("You may not manage access to org units.")

    def obj_perms_manage_view(self, request, object_pk):
        self._guard(request)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._guard(request)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._guard(request)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)
