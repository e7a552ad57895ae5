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

Writing (``send``, RFC 7644 §3.3 and §3.5): ``POST /Users`` creates (the key is the ``id`` the
provider assigns), then updates are ``PATCH /Users/{id}`` with one ``replace`` operation per
changed attribute (a complex attribute or extension schema carries only its changed
sub-attributes; an emptied one is ``remove``d) or, with option ``update: put``, ``PUT`` of the
whole resource. ``schemas`` lists the core schema plus every extension URN in the body (option
``schemas`` overrides); ``meta.version`` / ``ETag`` goes back as ``If-Match``. A record an unanswered
create may have made is found with ``filter=<lookup field> eq "<value>"`` (``externalId``, say).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from connectors.errors import ConnectorError, PayloadError, PreconditionFailed
from connectors.protocols.base import (
    CheckResult,
    Cursor,
    CursorTracker,
    FetchSpec,
    HttpConnector,
    Outgoing,
    Page,
    PushSpec,
    Record,
    Sent,
    format_timestamp,
)

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


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

    # --- writing -----------------------------------------------------------------------------
    def send_one(self, spec: PushSpec, item: Outgoing) -> Sent:
        resource = self._resource(spec)  # type: ignore[arg-type]
        if item.key is None and item.recover and spec.lookup_field and item.lookup_value is not None:
            found = self._find(resource, spec.lookup_field, item.lookup_value)
            if found is not None:  # an earlier create did arrive: update what it made
                item = replace(item, key=str(found["id"]), etag=self._etag(found, None), changes=None)
        if item.key is None:
            response = self.http.request(
                "POST", resource, json_body=self._resource_body(spec, item.body), headers=self._headers(), retries=0
            )
            created = self._answer(response)
            key = created.get(spec.key_field or "id") or created.get("id")
            if key in (None, ""):
                raise PayloadError("the provider did not answer the id of the resource it created", raw=response.text)
            etag = self._etag(created, response)
            return Sent(item.ref, key=str(key), etag=etag, status=response.status_code, created=True)
        path = f"{resource}/{item.key}"
        headers = self._headers(item.etag)
        try:
            if str(self.option(spec, "update", "patch")).lower() == "put":
                body = {**self._resource_body(spec, item.body), "id": item.key}
                response = self.http.request("PUT", path, json_body=body, headers=headers, retries=0)
            else:
                operations = patch_operations(item.patch)
                body = {"schemas": [PATCH_OP], "Operations": operations}
                response = self.http.request("PATCH", path, json_body=body, headers=headers, retries=0)
        except ConnectorError as exc:
            if exc.status != 412:
                raise
            reread = self.http.request("GET", path, headers=self._headers())
            remote = self._answer(reread)
            message = "the resource changed at the provider since it was last written"
            raise PreconditionFailed(message, url=exc.url, remote=remote, etag=self._etag(remote, reread)) from exc
        answered = self._answer(response)
        return Sent(item.ref, key=item.key, etag=self._etag(answered, response), status=response.status_code)

    def _resource_body(self, spec: PushSpec, body: Record) -> Record:
        schemas = self.option(spec, "schemas") or [CORE_USER, *(k for k in body if k.startswith("urn:"))]
        return {"schemas": list(schemas), **body}

    @staticmethod
    def _headers(etag: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/scim+json"}
        if etag:
            headers["If-Match"] = etag
        return headers

    @staticmethod
    def _answer(response: Any) -> Record:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise PayloadError("the answer is not JSON", raw=response.text, url=response.url) from exc
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _etag(resource: Record, response: Any) -> str | None:
        header = response.headers.get("ETag") if response is not None else None
        return header or (resource.get("meta") or {}).get("version")

    def _find(self, resource: str, attribute: str, value: Any) -> Record | None:
        params = {"filter": f"{attribute} eq {scim_literal(value)}", "startIndex": 1, "count": 1}
        body, response = self.http.get_json(resource, params=params)
        records, _ = unpack_list_response(body, response.text, response.url)
        return records[0] if records else None


def patch_operations(changes: Record) -> list[dict[str, Any]]:
    """RFC 7644 §3.5.2 operations for changed attributes: ``replace`` each, ``remove`` the emptied."""
    operations: list[dict[str, Any]] = []
    for name, value in changes.items():
        if value is None or value == "" or value == []:
            operations.append({"op": "remove", "path": name})
        else:
            operations.append({"op": "replace", "path": name, "value": value})
    return operations
