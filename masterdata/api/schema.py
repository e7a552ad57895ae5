"""The OpenAPI schema documents the errors every operation may answer, not only its successes.

drf-spectacular describes what a view returns when all goes well. A client (and the fuzzing in
``tests/test_api_fuzzing.py``) also needs the refusals: 400 (a value, filter, cursor or header
that is not valid), 401, 403, 404, 412 (a stale ``If-Match``), 415 and 429 (throttling, failed
authentications included), all with the JSON error body of :mod:`masterdata.api.exceptions`.
This post-processing hook adds them to every operation that does not document that status itself.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "ApiError"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error: a one-line summary, a machine-readable code and, per field, the messages.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {}},
            "description": "Field (or `non_field_errors`) → messages.",
        },
        "current_version": {"type": "integer", "description": "412 only: the record's version now (its ETag)."},
    },
    "required": ["detail", "code"],
}
ALWAYS = {
    "400": "The request is not valid: a field, filter, ordering, cursor or header value it cannot take.",
    "401": "No valid token or session.",
    "403": "No permission for this operation or outside your org units.",
    "404": "No such record within your scope (or a page cursor that is not one).",
    "429": (
        "Too many requests from this token, or failed authentications from this address; "
        "retry after the `Retry-After` seconds."
    ),
}
WITH_BODY = {"415": "The body is not JSON."}
WITH_IF_MATCH = {"412": "The record changed since the version in `If-Match`; the body names `current_version`."}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry: add the error responses and their body schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(ALWAYS)
            if "requestBody" in operation:
                statuses |= WITH_BODY
            if any(p.get("in") == "header" and p.get("name") == "If-Match" for p in operation.get("parameters", [])):
                statuses |= WITH_IF_MATCH
            for status, description in statuses.items():
                operation["responses"].setdefault(status, {"description": description, "content": body})
    return result
