"""Every API error as JSON: ``{"detail": ..., "code": ..., "errors": {field: [messages]}}``."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from masterdata.services.golden import GoldenRecordError, OutOfScope, StaleVersion

logger = logging.getLogger(__name__)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it."
    default_code = "stale_version"


def _flatten(detail) -> tuple[str, dict | None]:
    """Split DRF's error detail into a summary and a field → messages map."""
    if isinstance(detail, dict):
        errors = {key: value if isinstance(value, list) else [value] for key, value in detail.items()}
        non_field = errors.pop("non_field_errors", None)
        if non_field:
            summary = str(non_field[0])
            if errors:
                errors["non_field_errors"] = non_field
        else:
            first = next(iter(errors.items()), None)
            summary = f"Invalid input: {first[0]}: {first[1][0]}" if first else "Invalid input."
        return summary, errors or None
    if isinstance(detail, list):
        return (str(detail[0]) if detail else "Invalid input."), {"non_field_errors": detail}
    return str(detail), None


def json_exception_handler(exc, context):
    if isinstance(exc, StaleVersion):
        exc = PreconditionFailed(exc.message)
    elif isinstance(exc, OutOfScope):
        exc = exceptions.PermissionDenied({exc.field or "non_field_errors": [exc.message]})
    elif isinstance(exc, GoldenRecordError):
        exc = exceptions.ValidationError({exc.field or "non_field_errors": [exc.message]})
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            {"detail": "Internal error; it has been logged.", "code": "server_error"},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    summary, errors = _flatten(detail)
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = codes if isinstance(codes, str) else ("invalid" if response.status_code == 400 else "error")
    body = {"detail": summary, "code": code}
    if errors:
        body["errors"] = errors
    if isinstance(exc, PreconditionFailed):
        view = context.get("view")
        current = getattr(view, "current_version", None)
        if current is not None:
            body["current_version"] = current
    response.data = body
    return response


def json_not_found(request, exception=None):
    """404 for unknown URLs: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal error; it has been logged.", "code": "server_error"}, status=500)
    from django.views.defaults import server_error

    return server_error(request)
