"""The Celery application.

The broker comes from settings: Redis in production, kombu's filesystem transport for the
quick start (a real worker and beat, no server needed).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdm_project.settings")

app = Celery("mdm_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
