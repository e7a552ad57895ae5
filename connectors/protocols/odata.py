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

Writing (``send``, :mod:`connectors.protocols.odata_write`): POST creates, PATCH updates with
``If-Match``, many writes per ``$batch`` request when the service takes it.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urljoin

from connectors.errors import ConfigurationError, PayloadError
from connectors.http import encode_query
from connectors.protocols.base import (
    CheckResult,
    Cursor,
    CursorTracker,
    FetchSpec,
    Page,
    Record,
    dig,
    parse_timestamp,
)
from connectors.protocols.odata_write import (
    LITERAL_STYLES,
    ODataWriter,
    normalize_v2,
    odata_literal,
    odata_string,
)

__all__ = ["LITERAL_STYLES", "ODataV2Connector", "ODataV4Connector", "normalize_v2", "odata_literal",
           "odata_string", "parse_edm_time"]  # fmt: skip

_EDM_TIME_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def parse_edm_time(value: Any) -> timedelta | None:
    """OData v2 Edm.Time (``PT14H30M05S``) as a duration since midnight."""
    match = _EDM_TIME_RE.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0))


class ODataConnector(ODataWriter):
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
