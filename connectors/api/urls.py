"""``/api/v1/ingest/<source>/<domain>/``."""

from django.urls import path

from connectors.api.views import IngestView

urlpatterns = [
    path("<slug:source>/<str:domain>/", IngestView.as_view(), name="ingest"),
]
