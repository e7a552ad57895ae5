"""Writing to OData services (v4 and v2): single requests, or many in ``$batch`` requests.

``POST <set>`` creates (v4 asks ``Prefer: return=representation``; the key is read from the
answered entity, else from ``OData-EntityId``/``Location``), ``PATCH <set>(<key>)`` updates with
only the changed properties and ``If-Match`` when the service gave an ETag (``@odata.etag``,
``__metadata.etag`` or the ``ETag`` header); a 412 reads the record again.

Writes go in ``$batch`` requests (:mod:`connectors.protocols.odata_batch`: JSON for v4,
multipart/mixed for v2) unless the service says it takes none; creates that must first look for
a record an unanswered create made go one by one, and so does a write refused with 412.
Without ``$batch`` the writes go as single requests, several at a time.

Options: ``update_method`` (``PATCH``; ``MERGE`` is tunnelled as ``POST`` + ``X-HTTP-Method``
when sent alone; ``PUT`` sends every property), ``key_type`` (``string`` quoted, ``number``,
``guid``), ``etag`` (false: never send ``If-Match``), ``csrf`` (fetch SAP's ``x-csrf-token``
before writing; v2 default true, v4 false), ``batch`` (``true`` always, ``false`` never, unset:
as ``$metadata`` says), ``batch_size`` (writes per ``$batch`` request, default 100),
``concurrency`` (single requests in flight at once, default 8).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    PayloadError,
    PreconditionFailed,
)
from connectors.http import encode_query, parse_retry_after
from connectors.protocols.base import (
    HttpConnector,
    Outgoing,
    PushSpec,
    Record,
    Sent,
    dig,
    error_for_status,
    format_timestamp,
    parse_timestamp,
)
from connectors.protocols.capabilities import connection_key, remember, remembered
from connectors.protocols.chunked import refuse_unsupported, send_in_chunks
from connectors.protocols.odata_batch import (
    BatchAnswer,
    BatchRequest,
    batch_supported_in_metadata,
    json_batch,
    multipart_batch,
    parse_json_batch,
    parse_multipart_batch,
)

LITERAL_STYLES = ("iso", "datetimeoffset", "datetime", "string", "number")
_MS_DATE_RE = re.compile(r"^/Date\(-?\d+(?:[+-]\d{1,4})?\)/$")
ENTITY_KEY_RE = re.compile(r"\((?:[^=()]*=)?'?([^'()]*)'?\)/?$")


def odata_string(value: str) -> str:
    """An OData string literal: single quotes, an inner quote doubled (``O'Neil`` → ``'O''Neil'``)."""
    return "'" + value.replace("'", "''") + "'"


def odata_literal(value: Any, style: str) -> str:
    """A filter literal for a cursor value in the service's style."""
    if style not in LITERAL_STYLES:
        raise ConfigurationError(f"cursor_literal must be one of {', '.join(LITERAL_STYLES)}.")
    if isinstance(value, datetime):
        # Whole seconds, rounded down: the server returns a superset, the tracker drops the extra.
        iso = format_timestamp(value.replace(microsecond=0))
        if style == "iso":
            return iso
        if style == "datetimeoffset":
            return f"datetimeoffset'{iso}'"
        if style == "datetime":
            return f"datetime'{iso.removesuffix('Z')}'"
        return odata_string(iso)
    if style == "number" or isinstance(value, int | float):
        return str(value)
    return odata_string(str(value))


def normalize_v2(value: Any) -> Any:
    """Plain JSON out of the v2 verbose format: ISO dates, no deferred stubs, unwrapped result lists."""
    if isinstance(value, str):
        if _MS_DATE_RE.match(value):
            moment = parse_timestamp(value)
            return format_timestamp(moment) if moment else value
        return value
    if isinstance(value, list):
        return [normalize_v2(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"results"} and isinstance(value["results"], list):
            return normalize_v2(value["results"])
        return {
            name: normalize_v2(item)
            for name, item in value.items()
            if not (isinstance(item, dict) and set(item) == {"__deferred"})
        }
    return value


class ODataWriter(HttpConnector):
    """The writing half of the OData connectors; the versions differ in envelope and batch format."""

    version: ClassVar[int]
    version_headers: ClassVar[dict[str, str]]
    default_csrf: ClassVar[bool] = False
    default_batch_size: ClassVar[int] = 100
    _csrf_token: str | None = None

    @abstractmethod
    def _unpack(self, body: Any, raw: str, url: str) -> tuple[list[Record], str | None, int | None]:
        """(records, next link, total count) of one response body: each version has its envelope."""

    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """Writes in ``$batch`` requests of ``batch_size`` when the service takes them, else one by one."""
        size = self._batch_size(spec)
        if size <= 1 or len(items) <= 1 or not self._batch_supported(spec):
            return super().send(spec, items)
        one_by_one = super().send
        results: dict[int, Sent] = {}
        single = [item for item in items if item.key is None and item.recover]
        for item, sent in zip(single, one_by_one(spec, single), strict=True):
            results[id(item)] = sent
        batched = [item for item in items if id(item) not in results]

        def write(chunk: list[Outgoing]) -> list[Sent]:
            answers = self._batch(spec, chunk)
            return [self._batch_result(spec, item, answer) for item, answer in zip(chunk, answers, strict=True)]

        return send_in_chunks(
            items,
            [batched[start : start + size] for start in range(0, len(batched), size)],
            results,
            write,
            lambda rest: one_by_one(spec, rest),
            lambda: remember(self._batch_key(), False),
        )

    def send_one(self, spec: PushSpec, item: Outgoing) -> Sent:
        if item.key is None and item.recover and spec.lookup_field and item.lookup_value is not None:
            found = self._find(spec, spec.lookup_field, item.lookup_value)
            if found is not None:  # an earlier create did arrive: update what it made
                key = dig(found, spec.key_field)
                item = replace(item, key=str(key), etag=self._entity_etag(found), changes=None)
        if item.key is None:
            return self._create(spec, item)
        return self._update(spec, item)

    def _create(self, spec: PushSpec, item: Outgoing) -> Sent:
        headers = {"Prefer": "return=representation"} if self.version == 4 else {}
        response = self._write("POST", spec.resource, spec, item.body, headers)
        entity = self._answered_entity(response, spec)
        key = dig(entity, spec.key_field) if entity else None
        if key is None:
            location = response.headers.get("OData-EntityId") or response.headers.get("Location") or ""
            match = ENTITY_KEY_RE.search(location)
            key = match.group(1) if match else None
        if key in (None, ""):
            raise PayloadError("the service did not say the key of the record it created", raw=response.text)
        etag = response.headers.get("ETag") or self._entity_etag(entity)
        return Sent(item.ref, key=str(key), etag=etag, status=response.status_code, created=True)

    def _update(self, spec: PushSpec, item: Outgoing) -> Sent:
        path = self.entity_path(spec, item.key)
        method = str(self.option(spec, "update_method", "PATCH")).upper()
        headers: dict[str, str] = {}
        if item.etag and self.option(spec, "etag", True):
            headers["If-Match"] = item.etag
        if method == "MERGE":
            method, headers["X-HTTP-Method"] = "POST", "MERGE"
        body = item.body if method == "PUT" else item.patch
        try:
            response = self._write(method, path, spec, body, headers)
        except ConnectorError as exc:
            if exc.status != 412:
                raise
            remote = self._read(spec, item.key)
            message = "the record changed in the target since it was last written"
            raise PreconditionFailed(message, url=exc.url, remote=remote, etag=self._entity_etag(remote)) from exc
        entity = self._answered_entity(response, spec)
        etag = response.headers.get("ETag") or self._entity_etag(entity)
        return Sent(item.ref, key=item.key, etag=etag, status=response.status_code)

    def entity_path(self, spec: PushSpec, key: Any) -> str:
        kind = self.option(spec, "key_type", "string")
        if kind == "number":
            literal = str(key)
        elif kind == "guid":
            literal = str(key) if self.version == 4 else f"guid'{key}'"
        else:
            literal = odata_string(str(key))
        return f"{spec.resource}({literal})"

    def _find(self, spec: PushSpec, field_name: str, value: Any) -> Record | None:
        literal = odata_literal(value, "number" if isinstance(value, int | float) else "string")
        query = encode_query([("$filter", f"{field_name} eq {literal}"), ("$top", "1")])
        body, response = self.http.get_json(spec.resource, params=query, headers=self.version_headers)
        records, _, _ = self._unpack(body, response.text, response.url)
        return self._normal(spec, records[0]) if records else None

    def _read(self, spec: PushSpec, key: Any) -> Record:
        body, response = self.http.get_json(self.entity_path(spec, key), headers=self.version_headers)
        entity = body.get("d", body) if isinstance(body, dict) and self.version == 2 else body
        if not isinstance(entity, dict):
            raise PayloadError("the entity is not an object", raw=response.text, url=response.url)
        entity = self._normal(spec, entity)
        if response.headers.get("ETag") and not self._entity_etag(entity):
            entity["@odata.etag"] = response.headers["ETag"]
        return entity

    def _write(
        self, method: str, path: str, spec: PushSpec, body: Any, extra: dict[str, str], *, data: bytes | None = None
    ) -> Any:
        """One write, with SAP's CSRF token fetched first when needed (and once more if it expired)."""
        csrf = bool(self.option(spec, "csrf", self.default_csrf))
        for renewed in (False, True):
            headers = {**self.version_headers, "Content-Type": "application/json", **extra}
            if csrf:
                if self._csrf_token is None or renewed:
                    self._csrf_token = self.http.fetch_csrf_token("")
                headers["x-csrf-token"] = self._csrf_token
            try:
                return self.http.request(method, path, headers=headers, json_body=body, data=data, retries=0)
            except AuthError as exc:
                if not csrf or renewed or exc.status != 403:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _answered_entity(self, response: Any, spec: PushSpec) -> Record:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise PayloadError("the answer is not JSON", raw=response.text, url=response.url) from exc
        entity = body.get("d", body) if isinstance(body, dict) and self.version == 2 else body
        return self._normal(spec, entity) if isinstance(entity, dict) else {}

    def _normal(self, spec: PushSpec, record: Record) -> Record:
        return normalize_v2(record) if self.version == 2 and self.option(spec, "normalize", True) else record

    @staticmethod
    def _entity_etag(entity: Record | None) -> str | None:
        if not entity:
            return None
        metadata = entity.get("__metadata")
        return entity.get("@odata.etag") or (metadata.get("etag") if isinstance(metadata, dict) else None)

    def _batch_size(self, spec: PushSpec) -> int:
        if self.option(spec, "batch", None) is False:
            return 0
        return int(self.option(spec, "batch_size", self.default_batch_size) or 0)

    def _batch_key(self) -> tuple[Any, ...]:
        return connection_key(self.connection, "odata-batch")

    def _batch_supported(self, spec: PushSpec) -> bool:
        if self.option(spec, "batch", None) is True:
            return True
        key = self._batch_key()
        known = remembered(key)
        if known is None:
            try:
                response = self.http.request(
                    "GET", "$metadata", headers={**self.version_headers, "Accept": "application/xml"}
                )
            except ConnectorError:
                return True  # unknown: the vocabulary's default; a refused $batch is noticed below
            known = batch_supported_in_metadata(response.text)
            remember(key, known)
        return known

    def _batch(self, spec: PushSpec, chunk: list[Outgoing]) -> list[BatchAnswer]:
        requests = [self._batch_request(spec, item) for item in chunk]
        try:
            if self.version == 4:
                response = self._write("POST", "$batch", spec, json_batch(requests), {"Accept": "application/json"})
                try:
                    answers = parse_json_batch(response.json(), len(chunk))
                except ValueError as exc:
                    raise PayloadError("the $batch answer is not JSON", raw=response.text, url=response.url) from exc
            else:
                body, content_type = multipart_batch(requests)
                extra = {"Content-Type": content_type, "Accept": "multipart/mixed"}
                response = self._write("POST", "$batch", spec, None, extra, data=body)
                answers = parse_multipart_batch(response.headers.get("Content-Type", ""), response.content, len(chunk))
        except ConnectorError as exc:
            refuse_unsupported(exc)
            raise
        if isinstance(answers, str):
            raise PayloadError(answers, raw=response.text[:2000], url=response.url)
        return answers

    def _batch_request(self, spec: PushSpec, item: Outgoing) -> BatchRequest:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if item.key is None:
            if self.version == 4:
                headers["Prefer"] = "return=representation"
            return BatchRequest("POST", spec.resource, headers, item.body)
        method = str(self.option(spec, "update_method", "PATCH")).upper()
        if method == "MERGE" and self.version == 4:
            method = "PATCH"  # MERGE is OData v2's PATCH
        if item.etag and self.option(spec, "etag", True):
            headers["If-Match"] = item.etag
        body = item.body if method == "PUT" else item.patch
        return BatchRequest(method, self.entity_path(spec, item.key), headers, body)

    def _batch_result(self, spec: PushSpec, item: Outgoing, answer: BatchAnswer) -> Sent:
        status = answer.status
        body = answer.body if isinstance(answer.body, dict) else {}
        if status == 412:
            return super().send(spec, [item])[0]  # reads the record again, one by one
        if status >= 400 or status == 0:
            message = _error_message(body) or f"HTTP {status} in $batch"
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            return Sent(item.ref, status=status, error=error_for_status(status, message, retry_after=retry_after))
        entity = body.get("d", body) if self.version == 2 else body
        entity = self._normal(spec, entity) if isinstance(entity, dict) else {}
        etag = answer.headers.get("etag") or self._entity_etag(entity)
        if item.key is not None:
            return Sent(item.ref, key=item.key, etag=etag, status=status)
        key = dig(entity, spec.key_field) if entity else None
        if key in (None, ""):
            location = answer.headers.get("odata-entityid") or answer.headers.get("location") or ""
            match = ENTITY_KEY_RE.search(location)
            key = match.group(1) if match else None
        if key in (None, ""):
            return Sent(item.ref, status=status, error=PayloadError("the service did not say the key it created"))
        return Sent(item.ref, key=str(key), etag=etag, status=status, created=True)


def _error_message(body: Mapping[str, Any]) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return ""
    message = error.get("message")
    return str(message.get("value") if isinstance(message, Mapping) else message or "")
