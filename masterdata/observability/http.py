"""A requests transport adapter that stamps the correlation id and times every call.

Mounted by the connectors' HTTP client, it sees every request its session sends — pages,
writes and OAuth token requests alike — including those that fail before any response.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from django.core.exceptions import ObjectDoesNotExist
from requests.adapters import HTTPAdapter

from . import context, metrics


class ObservedAdapter(HTTPAdapter):
    """``source`` and ``protocol`` label the latency histogram; the operation is the HTTP method."""

    def __init__(self, *, source: str, protocol: str, **kwargs: Any) -> None:
        self.source, self.protocol = source, protocol
        super().__init__(**kwargs)

    @classmethod
    def for_connection(cls, connection: Any, **kwargs: Any) -> ObservedAdapter:
        """Labelled with the connection's source system code (``unknown`` for an unsaved, sourceless one)."""
        try:
            source = connection.source.code or "unknown"
        except ObjectDoesNotExist:
            source = "unknown"
        return cls(source=source, protocol=connection.protocol, **kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        correlation_id = context.current()
        if correlation_id and context.REQUEST_ID_HEADER not in request.headers:
            request.headers[context.REQUEST_ID_HEADER] = correlation_id
        histogram = metrics.external_call_seconds.labels(
            source=self.source, protocol=self.protocol, operation=(request.method or "GET").upper()
        )
        started = time.perf_counter()
        try:
            return super().send(request, *args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)
