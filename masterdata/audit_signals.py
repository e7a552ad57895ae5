"""Signal wiring of the audit log: logins, failed logins and lockouts (Django auth and django-axes).

Only the user name is kept of a failed login: Django replaces the password in the signal's
credentials, and nothing else the client sent is stored.
"""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from masterdata.models import AuditAction
from masterdata.services import audit

USERNAME_LENGTH = 150


@receiver(user_logged_in, dispatch_uid="masterdata.audit.login")
def audit_login(sender, request, user, **kwargs) -> None:
    audit.record(AuditAction.LOGIN_SUCCEEDED, actor=user, request=request, obj=user)


@receiver(user_login_failed, dispatch_uid="masterdata.audit.login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username", ""))[:USERNAME_LENGTH]
    audit.record(
        AuditAction.LOGIN_FAILED,
        actor_label=username or "?",
        request=request,
        detail={"username": username},
    )


@receiver(user_locked_out, dispatch_uid="masterdata.audit.locked_out")
def audit_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    username = str(username or "")[:USERNAME_LENGTH]
    audit.record(
        AuditAction.LOGIN_LOCKED_OUT,
        actor_label=username or "?",
        request=request,
        detail={"username": username, "ip_address": ip_address},
    )
