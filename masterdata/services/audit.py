"""Writing the audit log: one call, :func:`record`, for every security-relevant action.

Each event names the actor (kept as a label too, so it survives the user's deletion), the
object, its org unit, the client address and the correlation id of the request or task that
caused it, so an event can be followed into the logs. Within a request (see
:class:`masterdata.middleware.AuditContextMiddleware`) the actor and address default to the
request's, so services deep below a view need not be handed the request to audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

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
    """The address the request came from (``REMOTE_ADDR``: a proxy must pass the client's address there)."""
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR") or None


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
