"""SCIM 2.0 (RFC 7643/7644): users of an identity provider or HR system, with the enterprise extension.

Reads ``GET /Users`` in pages by ``startIndex`` (1-based) and ``count`` (RFC 7644 §3.4.2.4),
advancing by the number of resources actually returned (servers may return fewer than asked)
until ``totalResults`` is reached or a page is empty. Incremental reads filter
``meta.lastModified ge "<ISO 8601>"`` (a JSON string literal, RFC 7644 §3.4.2.2), combined with
``spec.filter`` by ``and``.

Options: ``sort_by`` (``sortBy``, e.g. ``meta.lastModified``; when it is the cursor field the
cursor advances after every page, otherwise at the end of the run, as many servers cannot sort).
The enterprise extension's attributes are reached by their full URN in dotted paths, e.g.
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.errors import PayloadError
from connectors.protocols.base import (
    CheckResult,
    Cursor,
    CursorTracker,
    FetchSpec,
    HttpConnector,
    Page,
    Record,
    format_timestamp,
)

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def scim_literal(value: Any) -> str:
    """A SCIM filter literal: JSON syntax (strings double-quoted with JSON escapes)."""
    if isinstance(value, datetime):
        return json.dumps(format_timestamp(value.replace(microsecond=0)))
    return json.dumps(value)


def unpack_list_response(body: Any, raw: str, url: str) -> tuple[list[Record], int | None]:
    """Resources and totalResults of a ListResponse (Resources may be absent when there are none)."""
    if not isinstance(body, dict) or ("totalResults" not in body and "Resources" not in body):
        raise PayloadError("response is not a SCIM ListResponse", raw=raw, url=url)
    resources = body.get("Resources", [])
    if not isinstance(resources, list) or not all(isinstance(item, dict) for item in resources):
        raise PayloadError("SCIM Resources is not a list of objects", raw=raw, url=url)
    total = body.get("totalResults")
    return resources, total if isinstance(total, int) and not isinstance(total, bool) else None


class ScimConnector(HttpConnector):
    protocol = "scim"
    accept = "application/scim+json, application/json"

    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        tracker = CursorTracker(spec, cursor)
        sort_by = self.option(spec, "sort_by")
        ordered = bool(spec.cursor_field) and sort_by == spec.cursor_field
        size = self.page_size(spec)
        params = self._params(spec, tracker, sort_by)
        start, number = 1, 0
        while True:
            body, response = self.http.get_json(
                self._resource(spec), params={**params, "startIndex": start, "count": size}
            )
            records, total = unpack_list_response(body, response.text, response.url)
            number += 1
            start += len(records)
            last = not records or (total is not None and start > total)
            kept, skipped = tracker.filter_page(records)
            yield Page(kept, tracker.page_cursor(ordered=ordered, last=last), number, total, skipped, last)
            if last:
                return

    @staticmethod
    def _resource(spec: FetchSpec | None) -> str:
        return (spec.resource if spec and spec.resource else "/Users").lstrip("/")

    def _params(self, spec: FetchSpec, tracker: CursorTracker, sort_by: str | None) -> dict[str, Any]:
        params: dict[str, Any] = dict(spec.params)
        filters = []
        since = tracker.since()
        if since is not None:
            filters.append(f"{spec.cursor_field} ge {scim_literal(since)}")
        if spec.filter:
            filters.append(f"({spec.filter})" if filters else spec.filter)
        if filters:
            params["filter"] = " and ".join(filters)
        if sort_by:
            params.update(sortBy=sort_by, sortOrder="ascending")
        if spec.select:
            params["attributes"] = ",".join(spec.select)
        return params

    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        def probe() -> tuple[str, int | None]:
            if spec is None:
                body, response = self.http.get_json("ServiceProviderConfig")
                if not isinstance(body, dict):
                    raise PayloadError("ServiceProviderConfig is not an object", raw=response.text, url=response.url)
                filtering = (body.get("filter") or {}).get("supported")
                return f"SCIM service provider (filter supported: {filtering})", response.status_code
            body, response = self.http.get_json(self._resource(spec), params={"startIndex": 1, "count": 1})
            _, total = unpack_list_response(body, response.text, response.url)
            return f"{self._resource(spec)} holds {total} resource(s)", response.status_code

        return self.run_check(probe)
