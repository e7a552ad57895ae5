"""Refuses malformed API requests before they reach a view, with a JSON 400; keeps a read lane to reads.

Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when ``request.body`` is read, and DRF's
parsers stream the body instead, so the size limit is checked here, on the declared length.
NUL characters cannot be stored by PostgreSQL; in a query string they would otherwise reach
the database as a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve


def api_error(status: int, code: str, detail: str, errors: dict | None = None) -> JsonResponse:
    body = {"detail": detail, "code": code}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=status)


class ApiRequestGuardMiddleware:
    """Size and NUL checks on every ``/api/`` request, before authentication or parsing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            refusal = self.refuse(request)
            if refusal is not None:
                return refusal
            self.add_missing_slash(request)
        return self.get_response(request)

    @staticmethod
    def add_missing_slash(request: HttpRequest) -> None:
        """Serve ``/api/v1/customers`` as ``/api/v1/customers/`` instead of redirecting.

        Django's APPEND_SLASH answers with a redirect, which most HTTP clients follow with a GET:
        an integrator's POST would silently become a list request.
        """
        if request.path_info.endswith("/"):
            return
        candidate = f"{request.path_info}/"
        try:
            resolve(candidate, getattr(request, "urlconf", None))
        except Resolver404:
            return
        request.path_info = candidate
        request.path = f"{request.path}/"

    @staticmethod
    def refuse(request: HttpRequest) -> JsonResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            return api_error(400, "invalid_content_length", "The Content-Length header is not a number of bytes.")
        if limit is not None and length > limit:
            return api_error(
                400,
                "request_too_large",
                f"The request body is {length} bytes; the limit is {limit} bytes. Send smaller batches.",
            )
        if "\x00" in request.META.get("QUERY_STRING", "") or "%00" in request.META.get("QUERY_STRING", ""):
            return api_error(400, "invalid_query", "Query parameters must not contain NUL characters.")
        return None


#: What a read-lane server answers: the API's reads and the probes an operator points at every server.
READ_LANE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_LANE_PREFIXES = ("/api/", "/health/", "/metrics")


class ReadLaneMiddleware:
    """On a server started with ``MDM_SERVER_LANE=read``, answer API reads only; anything else gets a 421.

    A deployment may run a second, small pool of web workers for the business systems' reads and
    give the main pool (admin pages, ingest posts) and the Celery worker a lower CPU priority, so
    that reads keep their latency when the hub is busy (README, "Read lane"; ``deploy/haproxy.cfg``
    routes by method and path). This refusal makes a routing mistake loud instead of letting the
    read lane take writes or admin sessions. Not installed at all on a server without a lane.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if settings.MDM_SERVER_LANE != "read":
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in READ_LANE_METHODS and request.path.startswith(READ_LANE_PREFIXES):
            return self.get_response(request)
        return api_error(
            421,
            "misdirected_request",
            "This server is the hub's read lane: it answers GET, HEAD and OPTIONS requests under /api/ only. "
            "Send writes and admin pages to the main server.",
        )
