"""How the hub reaches one source system: protocol, address, credentials and limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from connectors.crypto import EncryptedTextField
from masterdata.models import SourceSystem


class Protocol(models.TextChoices):
    ODATA_V4 = "odata_v4", "OData v4"
    ODATA_V2 = "odata_v2", "OData v2 (SAP Gateway)"
    REST = "rest", "REST/JSON"
    SCIM = "scim", "SCIM 2.0"
    FILE = "file", "Files (CSV, JSON, NDJSON)"


HTTP_PROTOCOLS = frozenset({Protocol.ODATA_V4, Protocol.ODATA_V2, Protocol.REST, Protocol.SCIM})


class AuthType(models.TextChoices):
    NONE = "none", "None"
    BASIC = "basic", "Basic (user + password)"
    BEARER = "bearer", "Bearer token"
    API_KEY = "api_key", "API key header"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials", "OAuth2 client credentials"


class Connection(models.Model):
    """The settings a connector needs to talk to its source system.

    ``secret`` is the password (basic), the token (bearer) or the key (API key); it and
    ``client_secret`` are encrypted at rest or given as an ``${ENV:NAME}`` reference.
    ``options`` carries protocol extras (extra headers or query parameters such as
    ``sap-client``, paging mode, literal style, retries); ``connectors/README.md`` lists them.
    For the file protocol ``base_url`` is the drop directory.
    """

    source = models.OneToOneField(SourceSystem, on_delete=models.CASCADE, related_name="connection")
    protocol = models.CharField(max_length=20, choices=Protocol.choices)
    base_url = models.CharField(max_length=500, help_text="Service root / API base URL; for files the drop directory.")
    auth_type = models.CharField(max_length=30, choices=AuthType.choices, default=AuthType.NONE)
    username = models.CharField(max_length=200, blank=True, default="")
    secret = EncryptedTextField(help_text="Password, token or API key; or ${ENV:NAME}.")
    token_url = models.CharField(max_length=500, blank=True, default="", help_text="OAuth2 token endpoint.")
    client_id = models.CharField(max_length=200, blank=True, default="")
    client_secret = EncryptedTextField(help_text="OAuth2 client secret; or ${ENV:NAME}.")
    scope = models.CharField(max_length=500, blank=True, default="")
    api_key_header = models.CharField(max_length=100, blank=True, default="X-API-Key")
    timeout_seconds = models.FloatField(default=30.0, validators=[MinValueValidator(0.1)])
    page_size = models.PositiveIntegerField(default=500, validators=[MinValueValidator(1)])
    rate_limit_per_second = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.01)], help_text="Requests per second; empty = no limit."
    )
    verify_tls = models.BooleanField(default=True)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source__code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(protocol__in=[p.value for p in Protocol]), name="connection_protocol_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(auth_type__in=[a.value for a in AuthType]), name="connection_auth_type_valid"
            ),
            models.CheckConstraint(condition=models.Q(page_size__gte=1), name="connection_page_size_positive"),
            models.CheckConstraint(condition=models.Q(timeout_seconds__gt=0), name="connection_timeout_positive"),
        ]

    def __str__(self) -> str:
        source = self.source.code if self.source_id else "?"
        return f"{source} ({self.get_protocol_display()})"

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS

    def option(self, name: str, default: Any = None) -> Any:
        return (self.options or {}).get(name, default)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def need(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if not isinstance(self.options, dict):
            need("options", "Must be an object.")
        if self.is_http:
            parts = urlsplit(self.base_url or "")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                need("base_url", "An http(s) URL is required for this protocol.")
        elif self.protocol == Protocol.FILE:
            if not self.base_url:
                need("base_url", "The drop directory is required for files.")
            if self.auth_type != AuthType.NONE:
                need("auth_type", "Files take no authentication.")
        if self.auth_type == AuthType.BASIC and not self.username:
            need("username", "Basic authentication needs a user name.")
        if self.auth_type in (AuthType.BASIC, AuthType.BEARER, AuthType.API_KEY) and not self.secret:
            need("secret", "This authentication needs a secret.")
        if self.auth_type == AuthType.API_KEY and not self.api_key_header:
            need("api_key_header", "Name the header that carries the API key.")
        if self.auth_type == AuthType.OAUTH2_CLIENT_CREDENTIALS:
            if urlsplit(self.token_url or "").scheme not in ("http", "https"):
                need("token_url", "OAuth2 needs the token endpoint URL.")
            if not self.client_id:
                need("client_id", "OAuth2 needs a client id.")
            if not self.client_secret:
                need("client_secret", "OAuth2 needs a client secret.")
        if errors:
            raise ValidationError(errors)

    def reveal_secret(self) -> str:
        return self.secret.reveal()

    def reveal_client_secret(self) -> str:
        return self.client_secret.reveal()
