"""Token authentication for systems: ``Authorization: Token <key>`` or ``Bearer <key>``.

Keys are :class:`masterdata.models.ApiToken`\\ s (stored hashed, see :mod:`masterdata.services.tokens`).
A read-only token is refused (403) on any method but GET, HEAD and OPTIONS here, in
authentication, so no view can forget it; an expired or revoked token is a 401 that says so.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS

from masterdata.models import AuditAction
from masterdata.services import audit, tokens


class BearerOrTokenAuthentication(BaseAuthentication):
    """Hashed, expiring, optionally read-only API tokens under the ``Token`` or ``Bearer`` keyword."""

    keywords = ("Token", "Bearer")

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword = next((k for k in self.keywords if header[: len(k) + 1].lower() == f"{k.lower()} "), None)
        if keyword is None:
            if header.strip().lower() in {k.lower() for k in self.keywords}:
                raise exceptions.AuthenticationFailed("Invalid token header. No credentials provided.")
            return None
        parts = header.split()
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header. Give exactly one token after the keyword.")
        try:
            token = tokens.authenticate(parts[1])
        except tokens.TokenRejected as exc:
            if exc.token is not None:  # a real token used after its end: worth an operator's attention
                audit.record(
                    AuditAction.TOKEN_REJECTED,
                    request=request,
                    actor=exc.token.user,
                    obj=exc.token,
                    detail={"reason": exc.reason, "name": exc.token.name},
                )
            raise exceptions.AuthenticationFailed(exc.reason) from None
        if token.read_only and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied("This token is read-only: it may not change anything.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"


class BearerOrTokenScheme(OpenApiAuthenticationExtension):
    """Documents both keywords in the OpenAPI schema (drf-spectacular would name only ``Token``)."""

    target_class = BearerOrTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>` or `Bearer <key>`; keys are issued per system in the admin or with "
                "`manage.py create_api_token` (read-only and expiring tokens are possible)."
            ),
        }
