"""Issuing, checking and revoking API tokens (:class:`masterdata.models.ApiToken`).

A token is ``mdm_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored; :func:`issue` returns the clear token once and nothing can show it again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from masterdata.models import ApiToken, AuditAction
from masterdata.services import audit

PREFIX = "mdm_"
#: A longer value is no token of ours: refused before any query.
MAX_KEY_LENGTH = 100
#: ``last_used_at`` is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRejected(Exception):
    """The token is unknown, revoked or expired; ``reason`` is safe to show to the caller."""

    def __init__(self, reason: str, token: ApiToken | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token = token


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str
    """The clear token: show it once, it is not stored."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue(
    user: Any,
    name: str,
    *,
    read_only: bool = False,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    actor: Any = None,
    actor_label: str = "",
    request: Any = None,
) -> IssuedToken:
    """Create a token for ``user``; ``expires_in_days`` is counted from now."""
    if expires_in_days is not None:
        if expires_in_days < 1:
            raise ValueError("A token must be valid for at least one day.")
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name or "API token",
        user=user,
        key_hash=hash_key(key),
        prefix=key[: len(PREFIX) + 4],
        read_only=read_only,
        expires_at=expires_at,
    )
    audit.record(
        AuditAction.TOKEN_CREATED,
        actor=actor,
        actor_label=actor_label,
        request=request,
        obj=token,
        detail={
            "name": token.name,
            "user": user.get_username(),
            "read_only": read_only,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return IssuedToken(token=token, key=key)


def authenticate(key: str) -> ApiToken:
    """The active token for ``key`` (its user joined), or :class:`TokenRejected` saying why not."""
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise TokenRejected("Invalid token.")
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        raise TokenRejected("Invalid token.")
    if token.is_revoked:
        raise TokenRejected("Token revoked.", token)
    if token.is_expired:
        raise TokenRejected(f"Token expired at {token.expires_at.isoformat()}; ask for a new one.", token)
    if not token.user.is_active:
        raise TokenRejected("User inactive or deleted.", token)
    _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def revoke(token: ApiToken, *, actor: Any = None, actor_label: str = "", request: Any = None) -> bool:
    """Revoke ``token`` (kept, not deleted, so its audit trail stays readable); False if it was already."""
    if token.is_revoked:
        return False
    token.revoked_at = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.revoked_at)
    audit.record(
        AuditAction.TOKEN_REVOKED,
        actor=actor,
        actor_label=actor_label,
        request=request,
        obj=token,
        detail={"name": token.name, "user": token.user.get_username()},
    )
    return True
