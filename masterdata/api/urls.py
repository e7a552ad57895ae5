"""``/api/v1/`` routes, one set per domain of the registry."""

from rest_framework.routers import DefaultRouter

from masterdata.api.views import build_viewset
from masterdata.registry import registry


def build_router() -> DefaultRouter:
    router = DefaultRouter()
    for domain in registry:
        router.register(domain.api_path, build_viewset(domain), basename=domain.name)
    return router


urlpatterns = build_router().urls
