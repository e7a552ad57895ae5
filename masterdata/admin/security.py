"""Admin of the audit log (read-only for everyone) and of API tokens (issued once, revoked, never shown)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.utils.html import format_html

from masterdata.models import ApiToken, AuditEvent
from masterdata.services import tokens


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Searchable and filterable, but nobody — superusers included — may add, change or delete an event."""

    list_display = ("at", "action", "actor_label", "object_type", "object_id", "org_unit_id", "ip", "correlation_id")
    list_filter = ("action", ("at", admin.DateFieldListFilter), "object_type")
    search_fields = ("=actor_label", "=object_id", "=correlation_id", "=ip")
    date_hierarchy = "at"
    list_per_page = 100
    show_full_result_count = False
    fields = ("at", "action", "actor", "actor_label", "object_type", "object_id", "org_unit_id", "detail_display",
              "ip", "correlation_id")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="detail")
    def detail_display(self, obj: AuditEvent) -> str:
        return pretty_json(obj.detail)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or user.has_perm("masterdata.view_auditevent"))


class ApiTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Days from now; empty = never expires."
    )

    class Meta:
        model = ApiToken
        fields = ("name", "user", "read_only")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """A token is shown once, on the page that follows its creation; afterwards only its prefix."""

    form = ApiTokenForm
    list_display = ("name", "user", "prefix", "read_only", "state", "expires_at", "last_used_at", "created_at")
    list_filter = ("read_only", "revoked_at", "expires_at")
    search_fields = ("name", "=prefix", "user__username")
    list_select_related = ("user",)
    actions = ["revoke_selected"]
    readonly_fields = ("prefix", "user", "read_only", "expires_at", "created_at", "last_used_at", "revoked_at")
    created_template = "admin/masterdata/apitoken/created.html"

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        colour = {"active": "green", "expired": "grey", "revoked": "red"}[obj.state]
        return format_html('<span style="color:{}">{}</span>', colour, obj.state)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "user", "read_only", "expires_in_days")
        return ("name", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Only superusers issue tokens for others: a token acts with all of its user's rights."""
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model()._default_manager.filter(pk=request.user.pk)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, never deleted: the audit log refers to it

    def save_model(self, request, obj, form, change) -> None:
        if change:
            ApiToken.objects.filter(pk=obj.pk).update(name=obj.name)
            return
        issued = tokens.issue(
            form.cleaned_data["user"],
            form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            expires_in_days=form.cleaned_data.get("expires_in_days"),
            request=request,
        )
        obj.pk = issued.token.pk  # the admin's own log entry names the new token
        request._issued_token = issued

    def response_add(self, request, obj, post_url_continue=None):
        """The one page that ever shows the token (never a message: those may sit in a cookie)."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token created",
            "token": request._issued_token.token,
            "key": request._issued_token.key,
        }
        response = TemplateResponse(request, self.created_template, context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset) -> None:
        revoked = sum(tokens.revoke(token, request=request) for token in queryset.select_related("user"))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
