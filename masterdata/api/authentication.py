"""Token authentication for systems: ``Authorization: Token <key>`` or ``Bearer <key>``."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class BearerOrTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, also accepting the ``Bearer`` keyword most clients send."""

    keywords = ("Token", "Bearer")

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        for keyword in self.keywords:
            if header[: len(keyword) + 1].lower() == f"{keyword.lower()} ":
                self.keyword = keyword
                return super().authenticate(request)
        return None

    def authenticate_credentials(self, key):
        # A key the token table cannot hold (NUL, over-long) is no key; the database is not asked.
        if "\x00" in key or len(key) > 40:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


class BearerOrTokenScheme(OpenApiAuthenticationExtension):
    """Documents both keywords in the OpenAPI schema (drf-spectacular would name only ``Token``)."""

    target_class = BearerOrTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` or `Bearer <key>`; keys are issued per system in the admin.",
        }
