"""The audit log of security-relevant actions: append-only, by the model and by the database.

Why append-only in two places: the model refuses updates and deletes so no code path of the hub
can rewrite history by accident; on PostgreSQL a trigger refuses them too (migration
``0006_security``), so neither a shell, a raw query nor a compromised admin can either.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    LOGIN_SUCCEEDED = "login.succeeded", "Login"
    LOGIN_FAILED = "login.failed", "Failed login"
    LOGIN_LOCKED_OUT = "login.locked_out", "Login locked out"
    ACCESS_GRANTED = "access.granted", "Scope granted"
    ACCESS_REVOKED = "access.revoked", "Scope revoked"
    OBJECT_PERMISSION_GRANTED = "object_permission.granted", "Object permission granted"
    OBJECT_PERMISSION_REVOKED = "object_permission.revoked", "Object permission revoked"
    PERMISSION_GRANTED = "permission.granted", "Model permission granted"
    PERMISSION_REVOKED = "permission.revoked", "Model permission revoked"
    GROUP_MEMBER_ADDED = "group.member_added", "Added to group"
    GROUP_MEMBER_REMOVED = "group.member_removed", "Removed from group"
    USER_FLAGS_CHANGED = "user.flags_changed", "Staff, superuser or active status changed"
    SENSITIVE_REVEALED = "sensitive.revealed", "Sensitive values revealed"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    TOKEN_REJECTED = "token.rejected", "API token rejected"
    CONFIG_IMPORTED = "config.imported", "Integration config imported"
    KEYS_ROTATED = "keys.rotated", "Encryption keys rotated"


class AppendOnlyError(Exception):
    """An attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """Who did what to which object, when, from where, within which request."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # deleting a user must not touch (update) the events it caused
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True, default="", help_text="User name, or the system part.")
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    org_unit_id = models.BigIntegerField(null=True, blank=True, help_text="The org unit the object belongs to.")
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)  # no add, change or delete permission exists to be granted
        indexes = [
            models.Index(fields=["action", "at"], name="auditevent_action_at_idx"),
            models.Index(fields=["object_type", "object_id"], name="auditevent_object_idx"),
            models.Index(fields=["actor", "at"], name="auditevent_actor_at_idx"),
        ]

    def __str__(self) -> str:
        target = f" {self.object_type}#{self.object_id}" if self.object_type else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}{target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted.")
