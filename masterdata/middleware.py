"""Middleware of the masterdata app."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from masterdata.services import audit


class AuditContextMiddleware:
    """Lets audit events written anywhere below a view name the request's user and address.

    The user is read when an event is written, not here: API tokens authenticate inside the
    view (DRF then sets the user on this same request object).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit.request_context(request):
            return self.get_response(request)
