"""WSGI entry point (gunicorn mdm_project.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdm_project.settings")
application = get_wsgi_application()

# Garbage collection tuned for a request server (measured on the API and admin pages): what is loaded
# by now (Django, the apps, the URL and template machinery) lives as long as the process, so it is
# moved out of the collector's sight (gc.freeze, the standard library's tool for this) instead of
# being scanned again by every full collection; and the youngest generation is collected every
# 10,000 allocations instead of 700, since a request allocates tens of thousands of short-lived
# objects that reference counting frees anyway. An admin change list spent 3.4 ms per request in
# the collector before, 0.3 ms after; a customer list page 0.75 ms before, about 0.4 ms after.
GC_THRESHOLDS = (10_000, 20, 50)
gc.collect()
gc.freeze()
gc.set_threshold(*GC_THRESHOLDS)
