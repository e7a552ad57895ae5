"""API tokens for systems: stored as a hash, scoped read-only or read-write, expiring, revocable.

Why a hash: a token is a password. The database holds the SHA-256 of it (a token carries 256
random bits, so no salt or slow hash is needed), the clear token is shown once when it is issued,
and a leaked dump lets nobody call the API. ``prefix`` (the first characters) lets an operator
tell tokens apart in lists and logs without seeing them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    name = models.CharField(max_length=120, help_text="What uses it, e.g. 'SAP S/4 outbound'.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    read_only = models.BooleanField(default=False, help_text="Only GET, HEAD and OPTIONS requests are allowed.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty = never expires.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def state(self) -> str:
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"
