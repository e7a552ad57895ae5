"""Project wiring: settings, URLs and the Celery app (no business logic lives here)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
