"""Open incidents as messages on the admin's front page, for staff who may see them."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from connectors.services import alerts

SHOWN = 5


class OpenIncidentsMiddleware:
    """Adds one warning per open incident (at most five) when staff open the admin index.

    Goes after the authentication and message middlewares.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path == reverse("admin:index") and may_see(request):
            announce(request)
        return self.get_response(request)


def may_see(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_active and user.is_staff and user.has_perm("connectors.view_incident"))


def announce(request: HttpRequest) -> None:
    incidents, total = alerts.open_incidents(SHOWN)
    for incident in incidents:
        url = reverse("admin:connectors_incident_change", args=[incident.pk])
        opened = incident.opened_at.strftime("%Y-%m-%d %H:%M")
        text = format_html('Open incident: <a href="{}">{}</a> (since {})', url, incident.title, opened)
        messages.warning(request, text)
    if total > len(incidents):
        url = reverse("admin:connectors_incident_changelist") + "?state=open"
        messages.warning(request, format_html('<a href="{}">{} more open incidents</a>', url, total - len(incidents)))
