"""Log records carry the correlation id; production writes them as one JSON object per line.

Every record is redacted before it is written (:mod:`masterdata.observability.redaction`).

``LOGGING`` in the settings is built by :func:`logging_config`; it must not import Django
models (it is read while the settings load).
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from . import context

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
#: Fields of every JSON line; extra fields given to a log call are added after them.
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")


class RequestIdFilter(logging.Filter):
    """Stamps ``request_id`` on every record passing the handler ("-" outside any request or task).

    Django logs 4xx/5xx responses after the middleware has returned; those records carry the
    request, which carries its id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = context.current() or getattr(request, "correlation_id", None) or "-"
        return True


def json_formatter() -> JsonFormatter:
    """The JSON formatter (python-json-logger): ISO timestamps, stable field names, extras kept."""
    return JsonFormatter(
        list(JSON_FIELDS),
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: one console handler, JSON or plain, with the correlation id and redaction filters."""
    if log_format not in ("json", "plain"):
        raise ValueError(f"MDM_LOG_FORMAT must be 'json' or 'plain', not {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "masterdata.observability.logs.RequestIdFilter"},
            "redact": {"()": "masterdata.observability.redaction.RedactingFilter"},
        },
        "formatters": {
            "plain": {"format": PLAIN_FORMAT},
            "json": {"()": "masterdata.observability.logs.json_formatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id", "redact"],  # no secret or sensitive value reaches the output
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
