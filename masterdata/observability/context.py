"""The correlation id of the work at hand: an inbound request, a Celery task or a sync run.

It lives in a :class:`~contextvars.ContextVar`, so threads (the threaded Celery pool, the
development server) and asyncio tasks each see their own. Logs read it, Celery carries it in a
message header to the task, and the connectors' HTTP client sends it to the systems it calls.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

#: Header names (HTTP) that may carry an id from the caller; the response echoes the first.
REQUEST_ID_HEADER = "X-Request-ID"
INBOUND_HEADERS = ("HTTP_X_REQUEST_ID", "HTTP_X_CORRELATION_ID")
#: The Celery message header that carries the id from the publisher to the task.
TASK_HEADER = "mdm_request_id"
MAX_LENGTH = 64
#: A caller's id is accepted only if it is short and plain: it ends up in logs and headers.
VALID_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_LENGTH - 1}}}")

_current: ContextVar[str | None] = ContextVar("mdm_correlation_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def accept(candidate: str | None) -> str | None:
    """``candidate`` if it is a valid id, else None (the caller then generates one)."""
    if candidate and VALID_ID.fullmatch(candidate.strip()):
        return candidate.strip()
    return None


def current() -> str | None:
    return _current.get()


def enter(correlation_id: str | None) -> tuple[str, Token]:
    """Make ``correlation_id`` current (a new id when None or invalid); the token undoes it."""
    value = accept(correlation_id) or new_id()
    return value, _current.set(value)


def leave(token: Token) -> None:
    _current.reset(token)


@contextmanager
def bound(correlation_id: str | None) -> Iterator[str]:
    """Run a block under ``correlation_id`` (a new one when None or invalid); restores the previous id."""
    value, token = enter(correlation_id)
    try:
        yield value
    finally:
        leave(token)
