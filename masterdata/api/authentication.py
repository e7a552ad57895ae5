"""Token authentication for systems: ``Authorization: Token <key>`` or ``Bearer <key>``."""

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
