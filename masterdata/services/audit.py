"""Writing the audit log: one call, :func:`record`, for every security-relevant action.

Each event names the actor (kept as a label too, so it survives the user's deletion), the
object, its org unit, the client address and the correlation id of the request or task that
caused it, so an event can be followed into the logs. Within a request (see
:class:`masterdata.middleware.AuditContextMiddleware`) the actor and address default to the
request's, so services deep below a view need not be handed the request to audit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import models

from masterdata.models import AuditAction, AuditEvent
from masterdata.observability import context

__all__ = ["AuditAction", "client_ip", "current_request", "record", "request_context"]

_current_request: ContextVar[Any] = ContextVar("mdm_audit_request", default=None)


def current_request() -> Any:
    """The request being served (None outside a request, e.g. in a task or command)."""
    return _current_request.get()


@contextmanager
def request_context(request: Any) -> Iterator[None]:
    """Make ``request`` the default source of actor, address and correlation id of events."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def client_ip(request: Any) -> str | None:
    """The client's address, for the audit log, the login lockout, the anonymous rate limit and /metrics.

    ``REMOTE_ADDR`` by default. Behind ``MDM_TRUSTED_PROXIES`` proxies (the shipped HAProxy is
    one), ``REMOTE_ADDR`` is the nearest proxy's, the same for every client; then the address is
    the one the outermost trusted proxy saw: the N-th entry of ``X-Forwarded-For`` from the right.
    Each proxy appends the address it was called from, so entries further left are the client's
    own words and could be forged. Fewer entries than proxies: the leftmost, as DRF's
    ``NUM_PROXIES`` does. An entry that is not an IP address is not taken.
    """
    meta = getattr(request, "META", None) or {}
    remote = meta.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "MDM_TRUSTED_PROXIES", 0)
    if not proxies:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote
    candidate = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _actor_label(actor: Any, label: str) -> str:
    if label:
        return label[:150]
    if actor is not None and getattr(actor, "pk", None) is not None:
        return actor.get_username()[:150]
    return "system"


def record(
    action: AuditAction | str,
    *,
    actor: Any = None,
    actor_label: str = "",
    request: Any = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    org_unit_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; ``request`` supplies the actor (when not given), address and correlation id."""
    if request is None:
        request = _current_request.get()
    if actor is None and not actor_label and request is not None:
        user = getattr(request, "user", None)
        actor = user if getattr(user, "is_authenticated", False) else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    correlation = context.current() or getattr(request, "correlation_id", None) or ""
    return AuditEvent.objects.create(
        action=str(action),
        actor=actor if getattr(actor, "pk", None) is not None else None,
        actor_label=_actor_label(actor, actor_label),
        object_type=object_type,
        object_id="" if object_id in (None, "") else str(object_id)[:64],
        org_unit_id=org_unit_id,
        detail=detail or {},
        ip=client_ip(request),
        correlation_id=correlation[:64],
    )
