"""The permissions screen: grant a user or group view/change/resolve on an org unit, from one page.

It replaces the change lists of guardian's two typed grant tables (``Org unit user
permissions`` and ``Org unit group permissions`` in the menu; both open the same screen,
on their own kind of principal): a grant form on top — user or group, org unit and actions,
each chosen with a search box, never a select of every user or unit — and below it every
grant, users' and groups' together, searchable and a page at a time (no total count: with
100,000 grants a page reads only as far as it shows). Saving sets exactly the
chosen actions (unchecking revokes) through :mod:`masterdata.services.grants`, which audits it
with its reason. Only those who may manage access (:func:`.access.can_manage_access`) see it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from masterdata.models import OrgUnit, OrgUnitGroupPermission, OrgUnitUserPermission
from masterdata.services import access, grants

from .access import SCOPE_LABELS, can_manage_access

PAGE_SIZE = 50


class GrantForm(forms.Form):
    """Who, where, what and why; the actions chosen replace what the principal held on the unit."""

    user = forms.ModelChoiceField(queryset=get_user_model()._default_manager.all(), required=False)
    group = forms.ModelChoiceField(queryset=Group.objects.all(), required=False)
    unit = forms.ModelChoiceField(
        queryset=OrgUnit.objects.all(),
        label="Org unit",
        help_text="The grant reaches this unit, every unit below it and every record they own.",
    )
    actions = forms.MultipleChoiceField(
        choices=[(action, SCOPE_LABELS[action]) for action in access.ACTIONS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave every box empty to take all access to this unit away.",
    )
    reason = forms.CharField(max_length=500, label="Why", widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = {
            "user": OrgUnitUserPermission._meta.get_field("user"),
            "group": OrgUnitGroupPermission._meta.get_field("group"),
            "unit": OrgUnitUserPermission._meta.get_field("content_object"),
        }
        for name, model_field in fields.items():
            form_field = self.fields[name]
            form_field.widget = AutocompleteSelect(model_field, admin_site)
            form_field.widget.choices = form_field.choices  # as ModelChoiceField does for its own widget

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool(cleaned.get("group")):
            raise forms.ValidationError("Choose a user or a group (one of them).")
        return cleaned


class AccessScreenAdmin(admin.ModelAdmin):
    """Both grant tables open this screen; ``kind`` is the principal their own list starts with."""

    kind: str = grants.USER

    # --- who sees it ---------------------------------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_access(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_access(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # granted through the screen's form, never a raw row

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- the screen ----------------------------------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        if not can_manage_access(request.user):
            raise PermissionDenied("You may not manage access to org units.")
        if request.method == "POST":
            form = GrantForm(request.POST, admin_site=self.admin_site)
            if form.is_valid():
                return self._save(request, form)
        else:
            form = GrantForm(initial=self._initial(request), admin_site=self.admin_site)
        return self._render(request, form)

    def _initial(self, request: HttpRequest) -> dict[str, Any]:
        """``?user=<id>&unit=<id>`` (or ``group=``) opens the form on that grant, its actions ticked."""
        initial: dict[str, Any] = {}
        unit_id, user_id, group_id = (request.GET.get(name, "") for name in ("unit", "user", "group"))
        unit = OrgUnit.objects.filter(pk=unit_id).first() if unit_id.isdigit() else None
        principal = None
        if user_id.isdigit():
            principal = get_user_model()._default_manager.filter(pk=user_id).first()
            initial["user"] = principal
        elif group_id.isdigit():
            principal = Group.objects.filter(pk=group_id).first()
            initial["group"] = principal
        if unit is not None:
            initial["unit"] = unit
            if principal is not None:
                initial["actions"] = grants.current_actions(principal, unit)
        return initial

    def _save(self, request: HttpRequest, form: GrantForm) -> HttpResponseRedirect:
        data = form.cleaned_data
        principal = data["user"] or data["group"]
        try:
            granted, revoked = grants.set_scope(request.user, principal, data["unit"], data["actions"], data["reason"])
        except grants.GrantError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if granted or revoked:
                parts = [f"granted {', '.join(granted)}"] if granted else []
                parts += [f"revoked {', '.join(revoked)}"] if revoked else []
                self.message_user(request, f"{principal} on {data['unit']}: {'; '.join(parts)}.")
            else:
                self.message_user(request, f"{principal} already held exactly that on {data['unit']}.", messages.INFO)
        return HttpResponseRedirect(request.get_full_path())

    def _render(self, request: HttpRequest, form: GrantForm) -> TemplateResponse:
        search = request.GET.get("q", "").strip()
        kind = request.GET.get("kind", self.kind)
        kind = kind if kind in (grants.USER, grants.GROUP, "all") else self.kind
        number = int(request.GET["p"]) if request.GET.get("p", "").isdigit() else 1
        rows, has_next = grants.page_of(search, None if kind == "all" else kind, number, PAGE_SIZE)
        base = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

        def link(**params: Any) -> str:
            kept = {"q": search, "kind": kind} | params
            return f"{base}?{urlencode({k: v for k, v in kept.items() if v not in ('', None)})}"

        context = {
            **self.admin_site.each_context(request),
            "title": "Access to org units",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "rows": [(row, link(**{row.kind: row.principal_id, "unit": row.unit_id})) for row in rows],
            "page_number": number,
            "search": search,
            "kind": kind,
            "tabs": [
                (value, label, link(kind=value, p=None))
                for value, label in (("all", "All"), (grants.USER, "Users"), (grants.GROUP, "Groups"))
            ],
            "previous_url": link(p=number - 1) if number > 1 else None,
            "next_url": link(p=number + 1) if has_next else None,
            "labels": SCOPE_LABELS,
            "recent": LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(OrgUnit), change_message__startswith="Scope of "
            )
            .select_related("user")
            .order_by("-action_time")[:10],
        }
        return TemplateResponse(request, "admin/masterdata/access_screen.html", context)


@admin.register(OrgUnitUserPermission)
class UserGrantAdmin(AccessScreenAdmin):
    kind = grants.USER


@admin.register(OrgUnitGroupPermission)
class GroupGrantAdmin(AccessScreenAdmin):
    kind = grants.GROUP
