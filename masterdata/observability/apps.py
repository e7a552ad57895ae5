from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "masterdata.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from . import celery_hooks  # noqa: F401  (Celery signal wiring: correlation ids, worker metrics)
