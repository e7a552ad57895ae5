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

Bulk (RFC 7644 §3.7): when ``GET /ServiceProviderConfig`` says ``bulk.supported``, the writes of a
round go as ``POST /Bulk`` requests of at most ``maxOperations`` operations and ``maxPayloadSize``
bytes (and ``bulk_size``, default 100): ``POST`` with a ``bulkId`` for creates, ``PATCH`` (or
``PUT``) with ``version`` for updates, ``failOnErrors`` (option ``fail_on_errors``, default: every
operation is tried). Each operation's ``status`` decides its record alone — the id of a created
resource is read from its ``location`` — by the same rules as a single answer; an operation the
provider did not reach waits for the next round. Option ``bulk``: ``true``/``false`` overrides
the provider's configuration; without bulk, writes go as single requests, several at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from connectors.errors import ConnectorError, PayloadError, PreconditionFailed, TransientError
from connectors.http import parse_retry_after
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
    error_for_status,
    format_timestamp,
)
from connectors.protocols.capabilities import connection_key, remember, remembered
from connectors.protocols.chunked import refuse_unsupported, send_in_chunks

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_DEFAULT_SIZE = 100


@dataclass(frozen=True)
class BulkLimits:
    """What ``/ServiceProviderConfig`` allows per ``/Bulk`` request."""

    max_operations: int
    max_payload_size: int


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
    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """Writes in ``/Bulk`` requests when the provider takes them, else one by one (several at a time)."""
        limits = self._bulk_limits(spec) if len(items) > 1 else None
        if limits is None:
            return super().send(spec, items)
        results: dict[int, Sent] = {}
        single = [item for item in items if item.key is None and item.recover]
        operations = {id(item): self._operation(spec, item, number) for number, item in enumerate(items)}
        too_big = [item for item in items if _size(operations[id(item)]) > limits.max_payload_size]
        alone = single + [item for item in too_big if item not in single]
        one_by_one = super().send
        for item, sent in zip(alone, one_by_one(spec, alone), strict=True):
            results[id(item)] = sent
        chunks = _chunks([item for item in items if id(item) not in results], operations, limits)

        def write(chunk: list[Outgoing]) -> list[Sent]:
            answered = self._bulk(spec, [operations[id(item)] for item in chunk])
            return [self._bulk_result(spec, item, answered.get(operations[id(item)]["bulkId"])) for item in chunk]

        return send_in_chunks(
            items,
            chunks,
            results,
            write,
            lambda rest: one_by_one(spec, rest),
            lambda: remember(connection_key(self.connection, "scim-bulk"), False),
        )

    def _bulk_limits(self, spec: PushSpec) -> BulkLimits | None:
        """The provider's bulk limits, None when it takes no bulk (``bulk`` option, else its configuration)."""
        choice = self.option(spec, "bulk", None)
        if choice is False:
            return None
        key = connection_key(self.connection, "scim-bulk")
        config = remembered(key)
        if config is None:
            try:
                body, _ = self.http.get_json("ServiceProviderConfig")
            except ConnectorError:
                body = None  # unknown this time: single requests, and ask again next round
            config = body.get("bulk") if isinstance(body, Mapping) else None
            config = dict(config) if isinstance(config, Mapping) else {}
            if body is not None:
                remember(key, config)
        if config is False or (not config.get("supported") and choice is not True):
            return None
        size = int(self.option(spec, "bulk_size", BULK_DEFAULT_SIZE))
        operations = _positive(config.get("maxOperations")) or size
        payload = _positive(config.get("maxPayloadSize")) or 1_048_576
        return BulkLimits(min(size, operations), payload)

    def _operation(self, spec: PushSpec, item: Outgoing, number: int) -> dict[str, Any]:
        resource = "/" + self._resource(spec)  # type: ignore[arg-type]
        operation: dict[str, Any] = {"bulkId": f"r{number}"}
        if item.key is None:
            return {**operation, "method": "POST", "path": resource, "data": self._resource_body(spec, item.body)}
        operation["path"] = f"{resource}/{item.key}"
        if item.etag:
            operation["version"] = item.etag
        if str(self.option(spec, "update", "patch")).lower() == "put":
            return {**operation, "method": "PUT", "data": {**self._resource_body(spec, item.body), "id": item.key}}
        return {**operation, "method": "PATCH",
                "data": {"schemas": [PATCH_OP], "Operations": patch_operations(item.patch)}}  # fmt: skip

    def _bulk(self, spec: PushSpec, operations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """One ``POST /Bulk``; the answered operations by bulkId."""
        request: dict[str, Any] = {"schemas": [BULK_REQUEST], "Operations": operations}
        request["failOnErrors"] = int(self.option(spec, "fail_on_errors", 0) or len(operations))
        try:
            response = self.http.request("POST", "Bulk", json_body=request, headers=self._headers(), retries=0)
        except ConnectorError as exc:
            refuse_unsupported(exc)
            raise
        answered = self._answer(response).get("Operations")
        if not isinstance(answered, list):
            raise PayloadError("the BulkResponse holds no Operations", raw=response.text[:2000], url=response.url)
        by_id = {str(op.get("bulkId")): op for op in answered if isinstance(op, Mapping) and op.get("bulkId")}
        for operation, answer in zip(operations, answered, strict=False):  # answers without a bulkId: by order
            if isinstance(answer, Mapping) and not answer.get("bulkId"):
                by_id.setdefault(operation["bulkId"], dict(answer))
        return by_id

    def _bulk_result(self, spec: PushSpec, item: Outgoing, answer: dict[str, Any] | None) -> Sent:
        if answer is None:  # failOnErrors reached before it: not tried
            error = TransientError("the provider stopped the bulk request before this operation")
            return Sent(item.ref, error=error, attempted=False)
        status = _status(answer.get("status"))
        if status == 412:
            return super().send(spec, [item])[0]  # reads the resource again, one by one
        if status >= 400 or status == 0:
            response = answer.get("response") if isinstance(answer.get("response"), Mapping) else {}
            detail = str(response.get("detail") or f"HTTP {status} in a bulk operation")
            scim_type = response.get("scimType")
            message = f"{scim_type}: {detail}" if scim_type else detail
            retry_after = parse_retry_after(str(answer.get("retryAfter") or "") or None)
            return Sent(item.ref, status=status, error=error_for_status(status, message, retry_after=retry_after))
        etag = answer.get("version") or None
        if item.key is not None:
            return Sent(item.ref, key=item.key, etag=etag, status=status)
        key = str(answer.get("location") or "").rstrip("/").rsplit("/", 1)[-1]
        if not key:
            return Sent(item.ref, status=status, error=PayloadError("the provider did not answer the new location"))
        return Sent(item.ref, key=key, etag=etag, status=status, created=True)

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


def _size(operation: dict[str, Any]) -> int:
    return len(json.dumps(operation, ensure_ascii=False).encode("utf-8"))


def _chunks(items: list[Outgoing], operations: dict[int, dict[str, Any]], limits: BulkLimits) -> list[list[Outgoing]]:
    """Groups within the provider's limits (a little room is kept for the request's envelope)."""
    chunks: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 200
    for item in items:
        weight = _size(operations[id(item)]) + 2
        if current and (len(current) >= limits.max_operations or size + weight > limits.max_payload_size):
            chunks.append(current)
            current, size = [], 200
        current.append(item)
        size += weight
    if current:
        chunks.append(current)
    return chunks


def _positive(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _status(value: Any) -> int:
    """A bulk operation's status: ``"201"``, 201, or the older ``{"code": "201"}``."""
    if isinstance(value, Mapping):
        value = value.get("code")
    try:
        return int(str(value).strip()[:3])
    except ValueError:
        return 0
