"""Every API error as JSON: ``{"detail": ..., "code": ..., "errors": {field: [messages]}}``.

The service layer's refusals become HTTP statuses here, so views need not catch them: a stale
version is 412 (with ``current_version``), a change outside the user's org units 403, any
other rule of the data 400, a failed authentication from an address over its rate limit 429
(:func:`masterdata.api.throttling.throttle_failed_authentication`). Exceptions nobody foresaw
are left to Django, which logs them and answers with :func:`json_server_error`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from masterdata.api.throttling import throttle_failed_authentication
from masterdata.services.golden import GoldenRecordError, OutOfScope, StaleVersion

NON_FIELD = "non_field_errors"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it."
    default_code = "stale_version"


def _field_errors(field: str | None, message: str) -> dict[str, list[str]]:
    return {field or NON_FIELD: [message]}


def _django_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if not hasattr(exc, "error_dict"):
        return {NON_FIELD: exc.messages}
    return {(NON_FIELD if key == NON_FIELD_ERRORS else key): value for key, value in exc.message_dict.items()}


def as_api_exception(exc: Exception) -> tuple[Exception, dict[str, Any]]:
    """The DRF exception for a service or Django refusal, and extra members of the body."""
    if isinstance(exc, StaleVersion):
        return PreconditionFailed(exc.message), {"current_version": exc.current}
    if isinstance(exc, OutOfScope):
        return exceptions.PermissionDenied(_field_errors(exc.field, exc.message)), {}
    if isinstance(exc, GoldenRecordError):
        return exceptions.ValidationError(_field_errors(exc.field, exc.message)), {}
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_django_errors(exc)), {}
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args), {}
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args), {}
    return exc, {}


def _flatten(detail) -> tuple[str, dict | None]:
    """Split DRF's error detail into a one-line summary and a field → messages map."""
    if isinstance(detail, dict):
        errors = {key: value if isinstance(value, list) else [value] for key, value in detail.items()}
        non_field = errors.get(NON_FIELD)
        if non_field:
            return _message(non_field[0]), errors
        first = next(iter(errors.items()), None)
        summary = f"{first[0]}: {_message(first[1][0] if first[1] else '')}" if first else "Invalid input."
        return summary, errors or None
    if isinstance(detail, list):
        return (_message(detail[0]) if detail else "Invalid input."), {NON_FIELD: detail}
    return str(detail), None


def _message(item) -> str:
    """The first plain message of a possibly nested error item (nested serializers give dicts)."""
    while isinstance(item, dict | list) and item:
        item = next(iter(item.values())) if isinstance(item, dict) else item[0]
    return str(item)


def json_exception_handler(exc, context):
    exc, extra = as_api_exception(throttle_failed_authentication(exc, context))
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug, not a refusal: Django logs it and answers 500 (json_server_error)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    summary, errors = _flatten(detail)
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = codes if isinstance(codes, str) else ("invalid" if response.status_code == 400 else "error")
    if isinstance(exc, exceptions.PermissionDenied) and errors:
        code = "permission_denied"
    body: dict[str, Any] = {"detail": summary, "code": code}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response.data = body
    if "current_version" in extra:
        response["ETag"] = f'"{extra["current_version"]}"'
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
