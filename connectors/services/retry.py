"""When to try a failed delivery again, and when to give up.

Transient failures — timeouts, refused or dropped connections, 5xx, 408, 409 and 429 — are
retried with exponential backoff and jitter: the n-th retry waits ``base × 2^(n-1)`` seconds
(capped), times a random factor between 0.5 and 1.5, and never less than the ``Retry-After`` the
target asked for. With the defaults (8 attempts, base 30 s) the seven waits add up to about an
hour. Past the last attempt the delivery is parked as a dead letter (classified ``transient``).

Everything else is permanent and parked at once: other 4xx answers, records a bulk answer
refused with a code of the API's own, and records the push map cannot render are ``bad_data``
(the record must change); refused credentials, unsupported protocols and configuration mistakes
are ``configuration`` (the setup must change).

Settings: ``MDM_PUSH_MAX_ATTEMPTS`` (8), ``MDM_PUSH_BACKOFF_SECONDS`` (30),
``MDM_PUSH_BACKOFF_MAX_SECONDS`` (1800).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from connectors.errors import AuthError, ConfigurationError, ConnectorError, TransientError, UnsupportedOperation
from connectors.models import FailureClass
from connectors.protocols.base import RecordRefused
from connectors.services.mapping import MappingError

#: 4xx answers that say "not now" rather than "never".
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class Verdict:
    """How a failure is handled: its class, whether to retry, and the wait the target asked for."""

    classification: str
    retry: bool
    retry_after: float | None = None


def classify(error: Exception) -> Verdict:
    """Sort a failure of one push into transient (retry) or permanent (park now)."""
    if isinstance(error, MappingError | RecordRefused):
        return Verdict(FailureClass.BAD_DATA, retry=False)
    if isinstance(error, AuthError | ConfigurationError | UnsupportedOperation):
        return Verdict(FailureClass.CONFIGURATION, retry=False)
    if isinstance(error, TransientError):
        return Verdict(FailureClass.TRANSIENT, retry=True, retry_after=error.retry_after)
    if isinstance(error, ConnectorError):
        if error.status is None or error.status in RETRYABLE_STATUS or error.status >= 500:
            # No status: the answer could not be read (malformed JSON, no key) — whether the target
            # took the record is unknown, so try again (a create then looks before it writes).
            return Verdict(FailureClass.TRANSIENT, retry=True)
        return Verdict(FailureClass.BAD_DATA, retry=False)
    return Verdict(FailureClass.CONFIGURATION, retry=False)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 30.0
    max_seconds: float = 1800.0

    @classmethod
    def from_settings(cls, max_attempts: int | None = None) -> RetryPolicy:
        return cls(
            max_attempts=int(max_attempts or getattr(settings, "MDM_PUSH_MAX_ATTEMPTS", 8)),
            base_seconds=float(getattr(settings, "MDM_PUSH_BACKOFF_SECONDS", 30)),
            max_seconds=float(getattr(settings, "MDM_PUSH_BACKOFF_MAX_SECONDS", 1800)),
        )

    def delay(self, attempts: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        nominal = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        jittered = nominal * (0.5 + (rng or random).random())  # jitter spreads a herd, it is not cryptography
        return max(jittered, float(retry_after or 0))

    def next_attempt(self, attempts: int, now: datetime, retry_after: float | None = None) -> datetime | None:
        """When to try again after ``attempts`` failures; None when they are used up (park it)."""
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempts, retry_after))
