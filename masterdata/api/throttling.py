"""API rate limits per token and per address, counted in constant time per request.

DRF's ``SimpleRateThrottle`` keeps the timestamp of every request of the last period in one cache
entry and loads, trims and stores the whole list on each request: at the default 10,000/hour an
integration's every call moves a list of up to 10,000 floats (about 90 KB) to and from Redis and
pickles it twice, and two concurrent requests overwrite each other's count. These throttles keep
DRF's classes, scopes, rates and ``Retry-After`` behaviour but count with a **sliding-window
counter**: one integer per fixed window (an atomic cache increment), the estimate being the current
window's count plus the previous window's weighted by how much of it still overlaps the sliding
period. Written here because DRF ships only the list-based counting and a counting library such as
django-ratelimit works as view decorators, not as DRF throttles; this is DRF's throttle with the
storage swapped, so the throttle settings, scopes and ``Retry-After`` stay DRF's.

The ``user`` rate is counted per API token (two tokens of one system are two budgets; a browser
session counts per user), the ``anon`` rate per client address for every request whose
authentication failed or was missing (:func:`throttle_failed_authentication`), which DRF would
answer with a 401 before it ever reaches its throttles.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import exceptions, throttling

from masterdata.models import ApiToken
from masterdata.services import audit


class SlidingWindowCounterMixin:
    """``allow_request``/``wait`` of a ``SimpleRateThrottle`` over two counters instead of a list."""

    cache: Any
    timer: Any
    num_requests: int | None
    duration: int | None
    rate: str | None

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        self.now = self.timer()
        window, self.into = divmod(self.now, self.duration)
        self.current_key, previous_key = f"{self.key}:{int(window)}", f"{self.key}:{int(window) - 1}"
        counts = self.cache.get_many([previous_key, self.current_key])
        self.previous, self.current = counts.get(previous_key, 0), counts.get(self.current_key, 0)
        self.overlap = 1 - self.into / self.duration  # share of the previous window still inside the period
        if self.previous * self.overlap + self.current >= self.num_requests:
            return False
        self._count()
        return True

    def _count(self) -> None:
        """One more request in the current window; the counter lives two windows (it is the next one's previous)."""
        try:
            self.cache.incr(self.current_key)
        except ValueError:  # the window's first request (or its counter expired a moment ago)
            if not self.cache.add(self.current_key, 1, 2 * self.duration):
                self.cache.incr(self.current_key)  # a concurrent request created it first

    def wait(self) -> float | None:
        """Seconds until a request would be allowed again (the ``Retry-After`` header)."""
        if self.current >= self.num_requests or not self.previous:
            return self.duration - self.into  # only the next window's start frees room
        # The previous window's weight falls linearly: allowed once previous * overlap < num_requests - current.
        overlap_needed = (self.num_requests - self.current) / self.previous
        return max(1.0, math.ceil((self.overlap - overlap_needed) * self.duration))


class UserRateThrottle(SlidingWindowCounterMixin, throttling.UserRateThrottle):
    """Per API token, else per user (a browser session): the ``user`` rate (``MDM_API_RATE_USER``)."""

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        """The token's primary key (never its secret); requests without a user are the anon throttle's."""
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonRateThrottle(SlidingWindowCounterMixin, throttling.AnonRateThrottle):
    """Per client address without valid credentials: the ``anon`` rate (``MDM_API_RATE_ANON``)."""

    def get_ident(self, request: Any) -> str:
        """The client's address as the login lockout and the audit log take it (:func:`audit.client_ip`).

        One setting, ``MDM_TRUSTED_PROXIES``, says which proxies to believe, for all of them. DRF's
        own ``get_ident`` without ``NUM_PROXIES`` would take the client's own ``X-Forwarded-For``
        header, and a token guesser would get a fresh budget with every forged value.
        """
        return audit.client_ip(request) or ""


def throttle_failed_authentication(exc: Exception, context: dict[str, Any]) -> Exception:
    """A wrong, expired or missing token counts against the address's ``anon`` rate; beyond it, 429.

    DRF authenticates and checks permissions before it throttles, so such a request would get its
    401 at once, uncounted, and guessing tokens would be unthrottled. Counting here, when the
    refusal is answered, covers every API view (the exception handler is DRF's setting) and costs
    an authenticated request nothing.
    """
    if not isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return exc
    view, request = context.get("view"), context.get("request")
    if view is None or request is None:
        return exc
    try:
        view.check_throttles(request)  # the anon throttle counts; the user throttle has no user to count
    except exceptions.Throttled as throttled:
        return throttled
    return exc
