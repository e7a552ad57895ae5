"""The admin of golden records: one generic class, specialised per domain from the registry.

Everything a steward sees is narrowed to their org-unit scope, every write goes through
:mod:`masterdata.services.golden` (version, provenance, history with user and reason), and
nothing is ever deleted: records are deactivated or merged.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from guardian.admin import GuardedModelAdminMixin
from guardian.shortcuts import get_perms_for_model
from simple_history.admin import SimpleHistoryAdmin

from masterdata.models import GoldenStatus, OrgUnit
from masterdata.models.base import loading_for_display
from masterdata.registry import Domain, registry
from masterdata.services import access, golden, history

from .access import GroupScopeGrantForm, UserScopeGrantForm, can_manage_access
from .filters import RecentValuesFieldListFilter, ScopedOrgUnitFilter
from .listing import DisplayChangeList, FastActionCheckboxMixin
from .record_page import RecordPageMixin
from .sensitive import SensitiveAdminMixin, SensitiveFormMixin, reveal_on_screen

#: Bookkeeping shown read-only: the hub maintains these itself.
RECORD_FIELDS = ("status", "merged_into", "version", "created_at", "updated_at")
#: Steward tools, folded away because most edits do not need them.
STEWARD_FIELDS = ("locked_fields", "attributes")
#: Form-only fields of :class:`GoldenRecordForm`.
CHANGE_FIELDS = ("change_reason", "seen_version")
HIDDEN_VALUE = "•••"


def _domain_of(model) -> Domain | None:
    try:
        return registry.for_model(model)
    except LookupError:
        return None


class GoldenRecordForm(SensitiveFormMixin, forms.ModelForm):
    """The change form, plus the reason kept in history and the version the steward saw."""

    change_reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Why you change this record (kept in its history).",
    )
    seen_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_version: int | None = None
        if self.instance.pk is None:
            return
        # The instance may be an old version (history "revert" page): compare with the stored one.
        stored = type(self.instance)._default_manager.filter(pk=self.instance.pk)
        self.current_version = stored.values_list("version", flat=True).first()
        self.fields["seen_version"].initial = self.current_version
        self._keep_current_choices()

    def _keep_current_choices(self) -> None:
        """A reference the steward may not choose anew (a parent above their scope) stays valid."""
        for fk in self._meta.model._meta.concrete_fields:
            current = getattr(self.instance, fk.attname, None) if fk.many_to_one else None
            if current is not None and fk.name in self.fields:
                form_field = self.fields[fk.name]
                form_field.queryset = form_field.queryset | fk.related_model._default_manager.filter(pk=current)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        seen = cleaned.get("seen_version")
        if seen is not None and self.current_version is not None and seen != self.current_version:
            raise ValidationError(
                "Someone changed this record since you opened it (now version %(current)s, you saw "
                "%(seen)s). Reload the page and apply your change again.",
                code="stale",
                params={"current": self.current_version, "seen": seen},
            )
        return cleaned


def _lists_every_value(field: models.Field) -> bool:
    """Django would offer this field's filter values with a ``SELECT DISTINCT`` (its "all values" filter)."""
    return not field.choices and not isinstance(field, (models.BooleanField, models.DateField))


class GoldenRecordAdmin(FastActionCheckboxMixin, SensitiveAdminMixin, RecordPageMixin, SimpleHistoryAdmin):
    """Scoped by org unit, never deletes, writes through the golden-record service."""

    domain: Domain
    form = GoldenRecordForm
    list_per_page = 50
    show_full_result_count = False
    history_list_per_page = 50
    change_list_template = "admin/golden/change_list.html"
    object_history_list_template = "admin/golden/object_history_list.html"
    object_history_form_template = "admin/golden/object_history_form.html"
    actions = ["deactivate_selected", "reactivate_selected"]

    # --- layout -------------------------------------------------------------------------------
    def get_list_display(self, request):
        return self.domain.list_display

    def _foreign_keys(self) -> dict[str, models.ForeignKey]:
        model = self.domain.model_class
        return {f.name: f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)}

    def get_list_select_related(self, request):
        foreign_keys = self._foreign_keys()
        return [name for name in self.domain.list_display if name in foreign_keys]

    def get_search_fields(self, request):
        return self.domain.search_fields

    def get_changelist(self, request, **kwargs):
        return DisplayChangeList

    def get_list_filter(self, request):
        foreign_keys = self._foreign_keys()
        model = self.domain.model_class
        filters: list[Any] = []
        for name in self.domain.list_filter:
            if name in foreign_keys:
                filters.append((name, admin.RelatedOnlyFieldListFilter))
            elif _lists_every_value(model._meta.get_field(name)) and name not in self.domain.sensitive_fields:
                filters.append((name, RecentValuesFieldListFilter))  # (a sensitive value never goes to the cache)
            else:
                filters.append(name)  # choices, yes/no, dates: Django's filters need no query for their options
        if self.domain.org_field is not None:
            filters.append(ScopedOrgUnitFilter)
        return filters

    def get_autocomplete_fields(self, request):
        """References to other golden records: a search box, not a select of every record."""
        return [
            name
            for name, fk in self._foreign_keys().items()
            if fk.editable and name not in RECORD_FIELDS and _domain_of(fk.related_model) is not None
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*RECORD_FIELDS, "provenance_display", *(self.sensitive_readonly_fields() if obj else ()))

    def get_exclude(self, request, obj=None):
        """Sensitive fields stay in the form only where it masks them: an editable form of a user who may reveal them.

        A read-only form (view-only scope, a merged record) would render the field's clear value:
        there the masked "sensitive values" row, with its audited reveal link, stands in for them.
        """
        if obj is None or not self.domain.sensitive_fields:
            return None
        if not self.may_see_sensitive(request, obj) or not self.has_change_permission(request, obj):
            return list(self.domain.sensitive_fields)
        return None

    def get_fieldsets(self, request, obj=None):
        fields = self.get_fields(request, obj)
        grouped = {*RECORD_FIELDS, *STEWARD_FIELDS, *CHANGE_FIELDS, "provenance_display"}
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": [name for name in fields if name not in grouped]})
        ]
        if obj is not None:
            fieldsets.append(("Record", {"fields": list(RECORD_FIELDS)}))
        fieldsets.append(
            ("Stewardship", {"fields": [n for n in STEWARD_FIELDS if n in fields], "classes": ["collapse"]})
        )
        if obj is not None:
            fieldsets.append(("Provenance", {"fields": ["provenance_display"], "classes": ["collapse"]}))
        if obj is None or self.has_change_permission(request, obj):
            fieldsets.append(("Your change", {"fields": list(CHANGE_FIELDS)}))
        return fieldsets

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

    def changelist_view(self, request, extra_context=None):
        """Showing a page of records loads them for display only (no change-tracking copies).

        Actions are posted to the same view and may save what they load: they keep tracking.
        """
        if request.method == "GET":
            with loading_for_display():
                return super().changelist_view(request, extra_context)
        return super().changelist_view(request, extra_context)

    # --- scope and permissions ----------------------------------------------------------------
    def get_queryset(self, request):
        return access.restrict(request.user, self.domain, super().get_queryset(request), "view")

    def visible_org_units(self, request):
        """Org units the user may see: the choices of the org-unit list filter."""
        return access.restrict(request.user, registry.for_model(OrgUnit), OrgUnit.objects.all(), "view")

    def may_see_sensitive(self, request, obj) -> bool:
        return access.can_act_on(request.user, obj, "view_sensitive")

    def _may(self, request, action: str) -> bool:
        """Model permission for this kind of record and some org-unit scope to use it in.

        A steward with ``change_customer`` but only a view grant is offered no edits or actions;
        one without any grant does not see the domain at all. Memoised per request because the
        admin asks many times while rendering one page.
        """
        memo = request.__dict__.setdefault("_golden_admin_may", {})
        key = (self.domain.name, action)
        if key not in memo:
            allowed = access.has_domain_permission(request.user, self.domain, action)
            if allowed and self.domain.org_field is not None:
                allowed = access.has_any_grant(request.user, "view" if action == "view" else "change")
            memo[key] = allowed
        return memo[key]

    def has_module_permission(self, request) -> bool:
        return self._may(request, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        if not self._may(request, "view"):
            return False
        return obj is None or access.can_act_on(request.user, obj, "view")

    def has_change_permission(self, request, obj=None) -> bool:
        if not self._may(request, "change"):
            return False
        if obj is None:
            return True
        # A merged record lives on in its survivor; the service refuses edits, so the form is read-only.
        return obj.status != GoldenStatus.MERGED and access.can_act_on(request.user, obj, "change")

    def has_add_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # golden records are deactivated or merged, never deleted

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Offer only records the user may reference: units they may change, records they may see."""
        related = db_field.related_model
        domain = _domain_of(related)
        if domain is not None:
            action = "change" if related is OrgUnit else "view"
            kwargs["queryset"] = access.restrict(request.user, domain, related._default_manager.all(), action)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- history ------------------------------------------------------------------------------
    def _visible_record_or_404(self, request, object_id):
        """History of a record the user cannot see does not exist for them (as its change page)."""
        record = self.get_object(request, unquote(object_id))
        if record is None:
            raise Http404(f"No {self.domain.verbose_name} with id {object_id!r}.")
        return record

    def history_view(self, request, object_id, extra_context=None):
        record = self._visible_record_or_404(request, object_id)
        allowed = bool(self.domain.sensitive_fields) and self.may_see_sensitive(request, record)
        revealed = reveal_on_screen(request, self.domain, record, allowed=allowed, screen="history")
        request._mdm_history_revealed = revealed  # read by set_history_delta_changes below
        context = {**(extra_context or {}), "may_reveal": allowed and not revealed, "revealed": revealed}
        return super().history_view(request, object_id, context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        record = self._visible_record_or_404(request, object_id)
        if request.method == "POST" and not self.has_change_permission(request, record):
            raise PermissionDenied
        try:
            return super().history_form_view(request, object_id, version_id, extra_context)
        except (golden.GoldenRecordError, ValidationError) as exc:
            return self._refused(request, exc)

    def revert_disabled(self, request, obj=None) -> bool:
        return super().revert_disabled(request, obj) or not self.has_change_permission(request, obj)

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        rows = super().get_history_queryset(request, history_manager, pk_name, object_id)
        return rows.select_related("history_source").order_by("-history_id")  # the order history.py relies on

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True) -> None:
        """Each version's field changes against the one before, as the history service computes them."""
        rows = list(historical_records)
        if not rows:
            return
        # Sensitive values stay masked until the user presses Reveal (history_view audits it).
        revealed = getattr(request, "_mdm_history_revealed", False)
        hidden: set[str] = set() if revealed else set(self.domain.sensitive_fields)
        for row, changes in history.with_changes(rows):
            row.history_delta_changes = [
                {**change, "old": HIDDEN_VALUE, "new": HIDDEN_VALUE} if change["field"] in hidden else change
                for change in changes
            ]

    # --- writes -------------------------------------------------------------------------------
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (golden.GoldenRecordError, ValidationError) as exc:
            return self._refused(request, exc)

    def _refused(self, request, exc: Exception) -> HttpResponseRedirect:
        """The service refused a change the form accepted (a race, or a rule the form cannot see)."""
        message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [str(exc)]))
        self.message_user(request, f"Nothing was saved: {message}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        default_reason = "Edited in the admin" if change else "Created in the admin"
        ctx = golden.ChangeContext(
            user=request.user, reason=form.cleaned_data.get("change_reason") or default_reason, rule="steward"
        )
        if not change:
            golden.check_scope(obj, ctx)
            golden.save(obj, ctx)
            return
        model_fields = {f.name for f in obj._meta.concrete_fields}
        data = {name: value for name, value in form.cleaned_data.items() if name in model_fields}
        updated = golden.update(obj, data, ctx, expected_version=form.cleaned_data.get("seen_version"))
        for name in ("version", "updated_at", "provenance"):
            setattr(obj, name, getattr(updated, name))

    def _change_status(self, request, queryset, service, target: str, verb: str) -> None:
        in_scope = access.restrict(request.user, self.domain, queryset, "change")
        to_change = list(in_scope.exclude(status__in=[target, GoldenStatus.MERGED]))
        ctx = golden.ChangeContext(user=request.user, reason=f"{verb} in the admin", rule="steward")
        done = 0
        for record in to_change:
            try:
                service(record, ctx)
                done += 1
            except (golden.GoldenRecordError, ValidationError) as exc:
                self.message_user(request, f"{record}: {getattr(exc, 'message', exc)}", messages.ERROR)
        skipped = queryset.count() - len(to_change)
        note = f"; {skipped} skipped (already {target}, merged, or outside your scope)" if skipped else ""
        self.message_user(request, f"{verb} {done} record(s){note}.", messages.SUCCESS)

    @admin.action(description="Deactivate selected records", permissions=["change"])
    def deactivate_selected(self, request, queryset) -> None:
        self._change_status(request, queryset, golden.deactivate, GoldenStatus.INACTIVE, "Deactivated")

    @admin.action(description="Reactivate selected records", permissions=["change"])
    def reactivate_selected(self, request, queryset) -> None:
        self._change_status(request, queryset, golden.reactivate, GoldenStatus.ACTIVE, "Reactivated")


class OrgUnitAdmin(GuardedModelAdminMixin, GoldenRecordAdmin):
    """Org units, with guardian's object-permission pages to grant access to a subtree.

    Only users allowed to manage access (superusers, or the global ``grant_orgunit``
    permission) open the permission pages; a steward who may change an org unit may not hand
    that right on. Access managers see the whole tree (read-only unless granted more) so they
    can find the unit to grant.
    """

    change_form_template = "admin/masterdata/orgunit/change_form.html"

    def get_queryset(self, request):
        if can_manage_access(request.user):
            return super(GoldenRecordAdmin, self).get_queryset(request)
        return super().get_queryset(request)

    def visible_org_units(self, request):
        if can_manage_access(request.user):
            return OrgUnit.objects.all()
        return super().visible_org_units(request)

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) or can_manage_access(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or can_manage_access(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        # guardian's permission views ask for the model-level change permission; managing access is that right.
        if obj is None and getattr(request, "managing_org_access", False):
            return True
        return super().has_change_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"can_manage_access": can_manage_access(request.user), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    # --- guardian's object-permission pages -------------------------------------------------
    def _enter_access_management(self, request) -> None:
        if not can_manage_access(request.user):
            raise PermissionDenied("You may not manage access to org units.")
        request.managing_org_access = True

    def obj_perms_manage_view(self, request, object_pk):
        self._enter_access_management(request)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._enter_access_management(request)
        response = super().obj_perms_manage_user_view(request, object_pk, user_id)
        if request.method == "POST" and response.status_code == 302:
            self._log_scope(request, object_pk, get_user_model()._default_manager.get(pk=user_id))
        return response

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._enter_access_management(request)
        response = super().obj_perms_manage_group_view(request, object_pk, group_id)
        if request.method == "POST" and response.status_code == 302:
            self._log_scope(request, object_pk, Group.objects.get(pk=group_id))
        return response

    def _log_scope(self, request, object_pk, principal) -> None:
        """Grants are governance decisions: the admin log keeps who set whose scope, and when."""
        unit = OrgUnit.objects.get(pk=object_pk)
        actions = [action for action, granted in access.grants_of(principal) if granted.pk == unit.pk]
        kind = "group" if isinstance(principal, Group) else "user"
        self.log_change(request, unit, f"Scope of {kind} {principal} set to: {', '.join(actions) or 'none'}.")

    def get_obj_perms_base_context(self, request, obj):
        context = super().get_obj_perms_base_context(request, obj)
        scope = set(access.SCOPE_CODENAMES.values())
        context["model_perms"] = [perm for perm in get_perms_for_model(obj) if perm.codename in scope]
        return context

    def get_obj_perms_manage_user_form(self, request):
        return UserScopeGrantForm

    def get_obj_perms_manage_group_form(self, request):
        return GroupScopeGrantForm
