"""Operations: correlation ids, structured logs, Prometheus metrics, health and readiness.

A Django app of its own (label ``observability``) so that its ``ready()`` can wire the Celery
signals in every process that loads the settings — web server, worker and beat alike.
"""
