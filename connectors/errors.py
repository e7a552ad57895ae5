"""What can go wrong when talking to a source system, sorted by what the caller should do.

* :class:`AuthError` — credentials refused (401/403): stop, tell a person; retrying will not help.
* :class:`TransientError` — timeouts, refused connections, 5xx, 429: retry later, after
  ``retry_after`` seconds when the server said so.
* :class:`PayloadError` — the source answered with something that is not the JSON (or file
  content) its protocol promises; ``raw`` keeps what it sent, for the failure queue.
* :class:`ConfigurationError` — the connection or the fetch spec cannot work as configured.
* :class:`PreconditionFailed` — a write against an ETag the target no longer has (412):
  someone changed the record there since; ``remote`` holds it as read again.
* :class:`ConnectorError` — anything else (a 400 or 404 from the source, for instance).
"""

from __future__ import annotations

RAW_EXCERPT = 300


class ConnectorError(Exception):
    """Base of every connector failure; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.url:
            parts.append(self.url)
        return " · ".join(parts)


class ConfigurationError(ConnectorError):
    """The connection or fetch spec is incomplete or contradictory."""


class UnsupportedOperation(ConnectorError):
    """The protocol cannot do this (pushing into a file drop, for instance)."""


class AuthError(ConnectorError):
    """The source refused the credentials (401) or the permission (403)."""


class TransientError(ConnectorError):
    """A failure that may pass: timeout, connection refused, 5xx, 429."""

    def __init__(
        self, message: str, *, status: int | None = None, url: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after


class PreconditionFailed(ConnectorError):
    """HTTP 412 on a conditional write: the target's record changed since the ETag we sent."""

    def __init__(
        self, message: str, *, url: str | None = None, remote: dict | None = None, etag: str | None = None
    ) -> None:
        super().__init__(message, status=412, url=url)
        self.remote = remote
        self.etag = etag


class PayloadError(ConnectorError):
    """The body is not what the protocol promises (malformed JSON, a missing record list…)."""

    def __init__(self, message: str, *, raw: str = "", status: int | None = None, url: str | None = None) -> None:
        super().__init__(message, status=status, url=url)
        self.raw = raw

    def __str__(self) -> str:
        excerpt = self.raw[:RAW_EXCERPT] + ("…" if len(self.raw) > RAW_EXCERPT else "")
        return f"{super().__str__()} · body: {excerpt!r}" if self.raw else super().__str__()
