"""Admin of connections: secrets are write-only.

The secret inputs never show the stored value (not even masked characters that reveal its
length); an empty input keeps the current secret, and "clear" removes it. Whether a secret is
stored, or which environment variable it refers to, is shown read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages

from connectors.crypto import Secret
from connectors.errors import ConfigurationError
from connectors.models import Connection
from connectors.protocols import get_connector

SECRET_FIELDS = ("secret", "client_secret")
KEEP_HELP = "Leave empty to keep the stored value. Write ${ENV:NAME} to read it from the environment."


def secret_status(secret: Secret) -> str:
    if not secret:
        return "not set"
    if secret.is_undecryptable:
        return "stored, but no configured key decrypts it — enter it again"
    if secret.is_reference:
        return f"read from the environment variable {secret.reference_name}"
    return "stored (encrypted)"


class ConnectionForm(forms.ModelForm):
    secret = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False), help_text=KEEP_HELP
    )
    client_secret = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False), help_text=KEEP_HELP
    )
    clear_secret = forms.BooleanField(required=False, help_text="Remove the stored secret.")
    clear_client_secret = forms.BooleanField(required=False, help_text="Remove the stored client secret.")

    class Meta:
        model = Connection
        fields = (
            "source", "protocol", "base_url", "auth_type", "username", "secret", "api_key_header", "token_url",
            "client_id", "client_secret", "scope", "timeout_seconds", "page_size", "rate_limit_per_second",
            "verify_tls", "options",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial[name] = ""  # never sent to the browser

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if cleaned.get(f"clear_{name}"):
                cleaned[name] = ""
            elif not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name) if self.instance.pk else ""
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("source", "protocol", "base_url", "auth_type", "secret_display", "updated_at")
    list_filter = ("protocol", "auth_type")
    list_select_related = ("source",)
    search_fields = ("source__code", "source__name", "base_url")
    readonly_fields = ("secret_display", "client_secret_display", "created_at", "updated_at")
    actions = ["check_connections"]
    fieldsets = (
        (None, {"fields": ("source", "protocol", "base_url")}),
        (
            "Authentication",
            {
                "fields": (
                    "auth_type",
                    "username",
                    "secret_display",
                    "secret",
                    "clear_secret",
                    "api_key_header",
                    "token_url",
                    "client_id",
                    "client_secret_display",
                    "client_secret",
                    "clear_client_secret",
                    "scope",
                )
            },
        ),
        ("Limits", {"fields": ("timeout_seconds", "page_size", "rate_limit_per_second", "verify_tls", "options")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="secret")
    def secret_display(self, obj: Connection) -> str:
        return secret_status(obj.secret) if obj.pk else "—"

    @admin.display(description="client secret (current)")
    def client_secret_display(self, obj: Connection) -> str:
        return secret_status(obj.client_secret) if obj.pk else "—"

    @admin.action(description="Check the selected connections")
    def check_connections(self, request, queryset) -> None:
        """Reach the source; with a mapping, read one record where the mapping reads them."""
        for connection in queryset.select_related("source"):
            mapping = connection.source.mappings.filter(is_active=True).order_by("domain").first()
            try:
                spec = mapping.spec() if mapping is not None else None
            except ConfigurationError:
                spec = None
            with get_connector(connection) as connector:
                result = connector.check(spec)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{connection}: {result.message} ({result.elapsed_ms} ms)", level)
