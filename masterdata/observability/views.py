"""Operations endpoints: readiness and the Prometheus scrape. Neither needs a user account."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from masterdata.services import audit, health

from . import metrics


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ready"}``, or 503 with each check's ``ok``/``fail`` — and nothing more."""
    results = health.readiness()
    if health.is_ready(results):
        return JsonResponse({"status": "ready"})
    return JsonResponse({"status": "not_ready", "checks": results}, status=503)


@never_cache
@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    """The scrape, for a bearer of ``MDM_METRICS_TOKEN`` or a client in ``MDM_METRICS_ALLOWED_NETWORKS``."""
    refusal = metrics.scrape_refusal(request.headers.get("Authorization", ""), audit.client_ip(request) or "")
    if refusal is not None:
        response = JsonResponse({"detail": "Not allowed."}, status=refusal)
        if refusal == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
