"""OData v4 (SAP S/4HANA, Dynamics 365) and OData v2 (SAP Gateway ``/sap/opu/odata/sap/…``).

Both read an entity set in ``$orderby <cursor>,<key>`` order, so the cursor can advance after
every page, filtered incrementally by ``<cursor> ge <literal>``.

Paging (``spec.pagination`` or the ``paging`` option):

* ``server`` (v4 default): ask for ``Prefer: odata.maxpagesize=<page size>`` and follow
  ``@odata.nextLink`` (absolute or relative to the context URL) until there is none.
* ``client`` (v2 default, SAP Gateway serves everything at once unless asked): windows of
  ``$top=<page size>&$skip=<n>``; a ``__next``/``nextLink`` inside a window is followed.

Options: ``cursor_literal`` — ``iso`` (v4: ``2024-01-01T00:00:00Z``), ``datetimeoffset`` (v2
default: ``datetimeoffset'2024-01-01T00:00:00Z'``), ``datetime`` (v2 Edm.DateTime:
``datetime'2024-01-01T00:00:00'``), ``string`` or ``number``; ``cursor_time_field`` — SAP's
``LastChangeTime`` (Edm.Time) that completes a date-only ``LastChangeDate`` cursor;
``orderby`` — an explicit ``$orderby``, or ``false`` when the service cannot sort (the cursor
then advances only at the end of a run); ``count`` — ask for the total (default true);
``normalize`` (v2, default true) — ``/Date(ms)/`` values become ISO 8601 UTC, ``__deferred``
navigation stubs are dropped and expanded ``{"results": […]}`` lists unwrapped.

Writing (``send``): ``POST <set>`` creates (v4 asks ``Prefer: return=representation``; the key is
read from the answered entity, else from ``OData-EntityId``/``Location``), ``PATCH <set>(<key>)``
updates with only the changed properties and ``If-Match`` when the service gave an ETag
(``@odata.etag``, ``__metadata.etag`` or the ``ETag`` header); a 412 reads the record again.
Options: ``update_method`` (``PATCH``; ``MERGE`` is tunnelled as ``POST`` + ``X-HTTP-Method``;
``PUT`` sends every property), ``key_type`` (``string`` quoted, ``number``, ``guid``), ``etag``
(false: never send ``If-Match``), ``csrf`` (fetch SAP's ``x-csrf-token`` before writing; v2 default
true, v4 false), ``batch_size`` (v4: up to that many writes per JSON ``$batch`` request).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urljoin

from connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    PayloadError,
    PreconditionFailed,
    TransientError,
)
from connectors.http import encode_query, parse_retry_after
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
    dig,
    format_timestamp,
    parse_timestamp,
)

LITERAL_STYLES = ("iso", "datetimeoffset", "datetime", "string", "number")
_EDM_TIME_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
_MS_DATE_RE = re.compile(r"^/Date\(-?\d+(?:[+-]\d{1,4})?\)/$")
_ENTITY_KEY_RE = re.compile(r"\((?:[^=()]*=)?'?([^'()]*)'?\)/?$")


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


def parse_edm_time(value: Any) -> timedelta | None:
    """OData v2 Edm.Time (``PT14H30M05S``) as a duration since midnight."""
    match = _EDM_TIME_RE.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0))


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


class ODataConnector(HttpConnector):
    """Shared reading of an entity set; the versions differ in envelope, count and literals."""

    version: ClassVar[int]
    default_paging: ClassVar[str]
    default_literal: ClassVar[str]
    version_headers: ClassVar[dict[str, str]]
    count_option: ClassVar[tuple[str, str]]

    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        tracker = CursorTracker(spec, cursor, value_of=self._cursor_value_reader(spec))
        paging = spec.pagination or self.option(spec, "paging", self.default_paging)
        if paging not in ("server", "client"):
            raise ConfigurationError("OData paging must be 'server' or 'client'.")
        size = self.page_size(spec)
        ordered = bool(spec.cursor_field) and self.option(spec, "orderby", True) is not False
        headers = dict(self.version_headers)
        if paging == "server":
            headers["Prefer"] = f"odata.maxpagesize={size}"
        skip, number, total = 0, 0, None
        url: str = spec.resource
        query: str | None = self._query(spec, tracker, paging, size, skip, with_count=True)
        in_window = 0
        while True:
            body, response = self.http.get_json(url, params=query, headers=headers)
            records, next_link, count = self._unpack(body, response.text, response.url)
            number += 1
            total = count if total is None else total
            in_window += len(records)
            last = False
            if next_link:
                url, query = self._resolve_next(next_link, body, response.url), None
            elif paging == "client" and records and in_window == size:  # more than asked: $top was ignored
                skip += in_window
                url, query, in_window = spec.resource, self._query(spec, tracker, paging, size, skip), 0
            else:
                last = True
            if self.version == 2 and self.option(spec, "normalize", True):
                records = [normalize_v2(record) for record in records]
            kept, skipped = tracker.filter_page(records)
            yield Page(kept, tracker.page_cursor(ordered=ordered, last=last), number, total, skipped, last)
            if last:
                return

    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        def probe() -> tuple[str, int | None]:
            if spec is None:
                body, response = self.http.get_json("", headers=self.version_headers)
                sets = self._entity_sets(body)
                return f"service document lists {len(sets)} entity sets", response.status_code
            query = encode_query([("$top", "1"), *self._static_options(spec)])
            body, response = self.http.get_json(spec.resource, params=query, headers=self.version_headers)
            records, _, _ = self._unpack(body, response.text, response.url)
            return f"{spec.resource} answered with {len(records)} record(s)", response.status_code

        return self.run_check(probe)

    # --- query building --------------------------------------------------------------------

    def _query(
        self, spec: FetchSpec, tracker: CursorTracker, paging: str, size: int, skip: int, *, with_count: bool = False
    ) -> str:
        pairs: list[tuple[str, str]] = []
        filters = []
        since = tracker.since()
        if since is not None:
            if isinstance(since, datetime) and self.option(spec, "cursor_time_field"):
                since = since.replace(hour=0, minute=0, second=0, microsecond=0)  # a date-only column
            style = self.option(spec, "cursor_literal", self.default_literal)
            if spec.cursor_type == "number":
                style = "number"
            elif spec.cursor_type == "string":
                style = "string"
            filters.append(f"{spec.cursor_field} ge {odata_literal(since, style)}")
        if spec.filter:
            filters.append(f"({spec.filter})" if filters else spec.filter)
        if filters:
            pairs.append(("$filter", " and ".join(filters)))
        orderby = self._orderby(spec)
        if orderby:
            pairs.append(("$orderby", orderby))
        if paging == "client":
            pairs.append(("$top", str(size)))
            if skip:
                pairs.append(("$skip", str(skip)))
        if with_count and self.option(spec, "count", True):
            pairs.append(self.count_option)
        pairs.extend(self._static_options(spec))
        return encode_query(pairs)

    def _static_options(self, spec: FetchSpec) -> list[tuple[str, str]]:
        pairs = []
        if spec.select:
            needed = [spec.key_field, spec.cursor_field, self.option(spec, "cursor_time_field")]
            selected = list(spec.select) + [f for f in needed if f and f not in spec.select and "." not in f]
            pairs.append(("$select", ",".join(selected)))
        if spec.expand:
            pairs.append(("$expand", ",".join(spec.expand)))
        pairs.extend((str(name), str(value)) for name, value in spec.params.items())
        return pairs

    def _orderby(self, spec: FetchSpec) -> str | None:
        explicit = self.option(spec, "orderby", True)
        if explicit is False or not spec.cursor_field:
            return None
        if isinstance(explicit, str):
            return explicit
        columns = [spec.cursor_field, self.option(spec, "cursor_time_field"), spec.key_field]
        return ",".join(f"{column} asc" for column in columns if column)

    def _cursor_value_reader(self, spec: FetchSpec) -> Any:
        time_field = self.option(spec, "cursor_time_field")
        if not time_field:
            return None

        def date_and_time(record: Record) -> datetime | None:
            day = parse_timestamp(dig(record, spec.cursor_field))
            clock = parse_edm_time(dig(record, time_field))
            if day is None:
                return None
            return day + clock if clock is not None else day

        return date_and_time

    # --- writing -----------------------------------------------------------------------------
    default_csrf: ClassVar[bool] = False
    _csrf_token: str | None = None

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
            match = _ENTITY_KEY_RE.search(location)
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

    def _write(self, method: str, path: str, spec: PushSpec, body: Any, extra: dict[str, str]) -> Any:
        """One write, with SAP's CSRF token fetched first when needed (and once more if it expired)."""
        csrf = bool(self.option(spec, "csrf", self.default_csrf))
        for renewed in (False, True):
            headers = {**self.version_headers, "Content-Type": "application/json", **extra}
            if csrf:
                if self._csrf_token is None or renewed:
                    self._csrf_token = self.http.fetch_csrf_token("")
                headers["x-csrf-token"] = self._csrf_token
            try:
                return self.http.request(method, path, headers=headers, json_body=body, retries=0)
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

    # --- responses ---------------------------------------------------------------------------

    def _resolve_next(self, link: str, body: Any, request_url: str) -> str:
        return urljoin(request_url, link)

    @abstractmethod
    def _unpack(self, body: Any, raw: str, url: str) -> tuple[list[Record], str | None, int | None]:
        """(records, next link, total count) of one response body: each version has its envelope."""

    @abstractmethod
    def _entity_sets(self, body: Any) -> list[Any]:
        """The entity sets listed by the service document."""


def _records(value: Any, raw: str, url: str, where: str) -> list[Record]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadError(f"response has no record list at {where}", raw=raw, url=url)
    return value


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class ODataV4Connector(ODataConnector):
    protocol = "odata_v4"
    version = 4
    default_paging = "server"
    default_literal = "iso"
    version_headers = {"OData-MaxVersion": "4.0", "OData-Version": "4.0"}
    count_option = ("$count", "true")

    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """With option ``batch_size`` (> 1), up to that many writes per JSON ``$batch`` request (OData 4.01).

        Creates that must first look for a record an unanswered create made, and updates the
        service refuses with 412, are handled one by one.
        """
        size = int(self.option(spec, "batch_size", 0) or 0)
        if size <= 1:
            return super().send(spec, items)
        results: dict[int, Sent] = {}
        single = [item for item in items if item.key is None and item.recover]
        for item, sent in zip(single, super().send(spec, single), strict=True):
            results[id(item)] = sent
        batched = [item for item in items if id(item) not in results]
        down: ConnectorError | None = None
        for start in range(0, len(batched), size):
            chunk = batched[start : start + size]
            if down is not None:
                results.update({id(item): Sent(item.ref, error=down, attempted=False) for item in chunk})
                continue
            try:
                answers = self._batch(spec, chunk)
            except ConnectorError as exc:
                results.update({id(item): Sent(item.ref, error=exc, status=exc.status) for item in chunk})
                down = exc if isinstance(exc, TransientError) else None
                continue
            for item, answer in zip(chunk, answers, strict=True):
                results[id(item)] = self._batch_result(spec, item, answer)
        return [results[id(item)] for item in items]

    def _batch(self, spec: PushSpec, chunk: list[Outgoing]) -> list[dict[str, Any]]:
        requests = []
        for number, item in enumerate(chunk):
            if item.key is None:
                headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
                request = {"method": "POST", "url": spec.resource, "body": item.body, "headers": headers}
            else:
                headers = {"Content-Type": "application/json"}
                if item.etag and self.option(spec, "etag", True):
                    headers["If-Match"] = item.etag
                request = {"method": "PATCH", "url": self.entity_path(spec, item.key), "body": item.patch,
                           "headers": headers}  # fmt: skip
            requests.append({"id": str(number), **request})
        response = self._write("POST", "$batch", spec, {"requests": requests}, {"Accept": "application/json"})
        try:
            answered = {str(r.get("id")): r for r in response.json().get("responses", [])}
        except (ValueError, AttributeError) as exc:
            raise PayloadError("the $batch answer is not JSON", raw=response.text, url=response.url) from exc
        missing = [str(n) for n in range(len(chunk)) if str(n) not in answered]
        if missing:
            raise PayloadError(f"the $batch answer lacks request(s) {', '.join(missing)}", raw=response.text)
        return [answered[str(n)] for n in range(len(chunk))]

    def _batch_result(self, spec: PushSpec, item: Outgoing, answer: dict[str, Any]) -> Sent:
        status = int(answer.get("status") or 0)
        headers = {str(k).lower(): v for k, v in (answer.get("headers") or {}).items()}
        body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
        if status == 412:
            return super().send(spec, [item])[0]  # reads the record again, one by one
        if status >= 400 or status == 0:
            message = str((body.get("error") or {}).get("message") or f"HTTP {status} in $batch")
            if status in (401, 403):
                error: ConnectorError = AuthError(message, status=status)
            elif status == 429 or status >= 500 or status == 0:
                error = TransientError(
                    message, status=status, retry_after=parse_retry_after(headers.get("retry-after"))
                )
            else:
                error = ConnectorError(message, status=status)
            return Sent(item.ref, status=status, error=error)
        etag = headers.get("etag") or self._entity_etag(body)
        if item.key is not None:
            return Sent(item.ref, key=item.key, etag=etag, status=status)
        key = dig(body, spec.key_field) if body else None
        if key in (None, ""):
            match = _ENTITY_KEY_RE.search(headers.get("odata-entityid") or headers.get("location") or "")
            key = match.group(1) if match else None
        if key in (None, ""):
            return Sent(item.ref, status=status, error=PayloadError("the service did not say the key it created"))
        return Sent(item.ref, key=str(key), etag=etag, status=status, created=True)

    def _unpack(self, body: Any, raw: str, url: str) -> tuple[list[Record], str | None, int | None]:
        if not isinstance(body, dict):
            raise PayloadError("response is not an OData v4 collection", raw=raw, url=url)
        records = _records(body.get("value"), raw, url, "value")
        next_link = body.get("@odata.nextLink") or body.get("odata.nextLink")
        return records, next_link, _count(body.get("@odata.count", body.get("odata.count")))

    def _resolve_next(self, link: str, body: Any, request_url: str) -> str:
        # OData JSON §4.6: relative URLs are relative to the context URL when there is one.
        context = body.get("@odata.context") if isinstance(body, dict) else None
        base = urljoin(request_url, context.split("#", 1)[0]) if isinstance(context, str) and context else request_url
        return urljoin(base, link)

    def _entity_sets(self, body: Any) -> list[Any]:
        sets = body.get("value") if isinstance(body, dict) else None
        if not isinstance(sets, list):
            raise PayloadError("not an OData v4 service document", raw=str(body)[:2000])
        return sets


class ODataV2Connector(ODataConnector):
    protocol = "odata_v2"
    version = 2
    default_csrf = True
    default_paging = "client"
    default_literal = "datetimeoffset"
    version_headers = {"MaxDataServiceVersion": "2.0"}
    count_option = ("$inlinecount", "allpages")

    def _unpack(self, body: Any, raw: str, url: str) -> tuple[list[Record], str | None, int | None]:
        envelope = body.get("d") if isinstance(body, dict) else None
        if isinstance(envelope, list):  # the JSON verbose format of OData v1
            return _records(envelope, raw, url, "d"), None, None
        if not isinstance(envelope, dict):
            raise PayloadError("response is not an OData v2 collection (no 'd')", raw=raw, url=url)
        records = _records(envelope.get("results"), raw, url, "d.results")
        return records, envelope.get("__next"), _count(envelope.get("__count"))

    def _entity_sets(self, body: Any) -> list[Any]:
        envelope = body.get("d") if isinstance(body, dict) else None
        sets = envelope.get("EntitySets") if isinstance(envelope, dict) else None
        if not isinstance(sets, list):
            raise PayloadError("not an OData v2 service document", raw=str(body)[:2000])
        return sets
