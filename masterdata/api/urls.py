"""``/api/v1/`` routes: one set per domain of the registry, and the change feed."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from masterdata.api.changes import ChangeFeedView
from masterdata.api.views import build_viewset
from masterdata.registry import registry


def build_router() -> DefaultRouter:
    router = DefaultRouter()
    for domain in registry:
        router.register(domain.api_path, build_viewset(domain), basename=domain.name)
    return router


urlpatterns = [
    re_path(r"^changes/?$", ChangeFeedView.as_view(), name="changes"),
    *build_router().urls,
]
