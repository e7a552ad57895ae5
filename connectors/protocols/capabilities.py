"""What a target said it can do (``$batch``, SCIM bulk), remembered per connection in the worker process.

A connector lives for one push round; what it learnt — from ``$metadata``, from
``/ServiceProviderConfig``, or from an endpoint that answered 404/405/501 — should not be asked
again every round, yet a target may change: an answer is kept for :data:`REMEMBER_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

REMEMBER_SECONDS = 3600.0
_MISSING = object()
_remembered: dict[tuple[Any, ...], tuple[Any, float]] = {}
_lock = threading.Lock()


def connection_key(connection: Any, what: str) -> tuple[Any, ...]:
    """The key of one capability of one connection (its id and URL: a changed URL is a new target)."""
    return (what, connection.pk, connection.base_url)


def remembered(key: tuple[Any, ...], default: Any = None) -> Any:
    """What was learnt under ``key`` (``default``: nothing yet, or too long ago)."""
    with _lock:
        known = _remembered.get(key, _MISSING)
    if known is _MISSING or time.monotonic() - known[1] > REMEMBER_SECONDS:
        return default
    return known[0]


def remember(key: tuple[Any, ...], value: Any) -> None:
    with _lock:
        _remembered[key] = (value, time.monotonic())


def forget_all() -> None:
    """Drop everything learnt (tests start afresh; an operator changed a target)."""
    with _lock:
        _remembered.clear()
