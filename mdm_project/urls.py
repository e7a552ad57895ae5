"""URL wiring: admin, API, schema and docs, health and readiness, metrics."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from masterdata.observability import views as operations

admin.site.site_header = "MDM Hub — steward workspace"
admin.site.site_title = "MDM Hub"
admin.site.index_title = "Master data"


@require_GET
def health(request):
    """Liveness: the process answers. Deliberately unauthenticated and revealing nothing."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("health/", health, name="health"),
    path("health/ready/", operations.ready, name="health-ready"),
    path("metrics", operations.prometheus, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/ingest/", include("connectors.api.urls")),
    path("api/v1/", include("masterdata.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "masterdata.api.exceptions.json_not_found"
handler500 = "masterdata.api.exceptions.json_server_error"
