"""Gives every request a correlation id and writes one access line per request.

The id comes from the caller's ``X-Request-ID`` (or ``X-Correlation-ID``) when it is a plain
token of at most 64 characters, else a new one; the response echoes it in ``X-Request-ID`` so a
caller can quote it when reporting a problem.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import context

log = logging.getLogger("masterdata.requests")
#: Probes and scrapes arrive every few seconds; their lines are logged at DEBUG only.
QUIET_PREFIXES = ("/health/", "/metrics")


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = next((request.META[name] for name in context.INBOUND_HEADERS if request.META.get(name)), None)
        with context.bound(offered) as correlation_id:
            request.correlation_id = correlation_id
            started = time.perf_counter()
            response = self.get_response(request)
            response[context.REQUEST_ID_HEADER] = correlation_id
            self.log_access(request, response, time.perf_counter() - started)
        return response

    @staticmethod
    def log_access(request: HttpRequest, response: HttpResponse, elapsed: float) -> None:
        """The path without its query string: filters may carry personal data."""
        level = logging.DEBUG if request.path.startswith(QUIET_PREFIXES) else logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
