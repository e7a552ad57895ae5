"""REST/JSON, declaratively: any JSON API that lists records, configured rather than coded.

The fetch spec names the endpoint (``resource``), where the records sit in a body
(``record_path``; a body that *is* the list needs none), the key and cursor fields and the
pagination style:

* ``page`` — ``?page=<n>&page_size=<size>`` from ``first_page`` (1); stops at an empty page, at the
  total (``total_path``) or, with ``short_page_is_last``, at a page shorter than asked (off by
  default: many APIs cap the page size silently).
* ``offset`` — ``?offset=<n>&limit=<size>``; same stop rules.
* ``next_link`` — follow the URL found at ``next_link_path`` (``next``) in the body.
* ``link_header`` — follow the ``Link: <…>; rel="next"`` header (RFC 8288), relative links resolved
  against the request URL.
* ``cursor`` — pass the token found at ``next_cursor_path`` back as ``cursor_param``.
* ``none`` — one request.

Options (spec or connection): ``page_param``, ``page_size_param``, ``first_page``,
``offset_param``, ``limit_param``, ``next_link_path``, ``next_cursor_path``, ``cursor_param``,
``total_path``, ``updated_since_param`` (the incremental parameter, e.g. ``updated_since``),
``updated_since_format`` (``iso``, ``date``, ``epoch``, ``epoch_ms``), ``sort_params`` (added to
the first request, e.g. ``{"ordering": "updated_at"}``) and ``ordered`` (true when the API returns
records in cursor order, letting the cursor advance after every page; otherwise it advances when
the run is complete).

Writing (``send``), configured by options: ``create_method`` (``POST``) to ``create_path`` (the
resource); ``update_method`` (``PATCH`` with the changed fields only; ``PUT`` sends the whole
record) to ``update_path`` (``<resource>/{key}``); ``body_path`` wraps the record (``data`` →
``{"data": {…}}``) and the answer is read there too (``response_path`` when it differs); the key
of a created record is read at the push target's key field, else from ``Location``. A record an
unanswered create may have made is looked up with ``?<lookup_param>=<value>`` (``lookup_param``
defaults to the lookup field). An ``ETag`` the API answers is sent back as ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin

from connectors.errors import ConfigurationError, ConnectorError, PayloadError, PreconditionFailed
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
)
from connectors.protocols.rest_bulk import BulkSender, BulkWrite

PAGINATION_STYLES = ("page", "offset", "next_link", "link_header", "cursor", "none")


def find_records(body: Any, record_path: str | None, raw: str, url: str) -> list[Record]:
    """The record list of a body: at ``record_path``, the body itself, or its only list of objects."""
    if record_path:
        records = dig(body, record_path)
    elif isinstance(body, list):
        records = body
    else:
        lists = [v for v in body.values() if isinstance(v, list)] if isinstance(body, dict) else []
        records = lists[0] if len(lists) == 1 else None
    if not isinstance(records, list):
        where = f"'{record_path}'" if record_path else "the body (set record_path)"
        raise PayloadError(f"no record list at {where}", raw=raw, url=url)
    if not all(isinstance(item, dict) for item in records):
        raise PayloadError("the record list holds something other than objects", raw=raw, url=url)
    return records


def since_parameter(since: Any, style: str) -> str:
    if not isinstance(since, datetime):
        return str(since)
    since = since.replace(microsecond=0)  # rounded down: a superset, the tracker drops what was delivered
    if style == "iso":
        return format_timestamp(since)
    if style == "date":
        return since.date().isoformat()
    if style == "epoch":
        return str(int(since.timestamp()))
    if style == "epoch_ms":
        return str(int(since.timestamp() * 1000))
    raise ConfigurationError("updated_since_format must be iso, date, epoch or epoch_ms.")


class _Pager:
    """Where the next page of one read is: the state of one pagination style."""

    def __init__(self, connector: RestConnector, spec: FetchSpec, style: str, base: dict[str, Any], size: int):
        self.connector, self.spec, self.style, self.base, self.size = connector, spec, style, base, size
        self.position = int(self.option("first_page", 1)) if style == "page" else 0
        self.seen = 0
        self.total: int | None = None
        self.previous_first_key: Any = object()

    def option(self, name: str, default: Any = None) -> Any:
        return self.connector.option(self.spec, name, default)

    def params(self, token: Any = None) -> dict[str, Any]:
        params = dict(self.base)
        size = self.size
        if self.style == "page":
            params[self.option("page_param", "page")] = self.position
            params[self.option("page_size_param", "page_size")] = size
        elif self.style == "offset":
            params[self.option("offset_param", "offset")] = self.position
            params[self.option("limit_param", "limit")] = size
        elif self.style in ("next_link", "link_header", "cursor"):
            size_param = self.option("page_size_param")
            if size_param:
                params[size_param] = size
            if token is not None:
                params[self.option("cursor_param", "cursor")] = token
        return params

    def advance(self, body: Any, response: Any, records: list[Record]) -> tuple[str | None, dict[str, Any] | None]:
        """Record a page; return the next (URL, params), or (None, None) after the last page."""
        self.seen += len(records)
        total_path = self.option("total_path")
        if self.total is None and total_path:
            value = dig(body, total_path)
            self.total = int(value) if isinstance(value, int | str) and str(value).isdigit() else None
        if self.style in ("page", "offset"):
            return self._advance_numbered(response, records)
        if self.style == "next_link":
            link = dig(body, self.option("next_link_path", "next"))
            return (urljoin(response.url, link), None) if isinstance(link, str) and link else (None, None)
        if self.style == "link_header":
            link = response.links.get("next", {}).get("url")
            return (urljoin(response.url, link), None) if link else (None, None)
        if self.style == "cursor":
            token = dig(body, self.option("next_cursor_path", "next_cursor"))
            if token in (None, "") or not records:
                return None, None
            return self.spec.resource, self.params(token)
        return None, None

    def _advance_numbered(self, response: Any, records: list[Record]) -> tuple[str | None, dict[str, Any] | None]:
        first_key = dig(records[0], self.spec.key_field) if records else None
        if records and first_key == self.previous_first_key:
            raise PayloadError(
                "pagination does not advance: the API ignores its paging parameters",
                raw=response.text[:2000],
                url=response.url,
            )
        self.previous_first_key = first_key
        short = len(records) < self.size and bool(self.option("short_page_is_last", False))
        if not records or short or (self.total is not None and self.seen >= self.total):
            return None, None
        self.position += 1 if self.style == "page" else len(records)
        return self.spec.resource, self.params()


class RestConnector(HttpConnector):
    protocol = "rest"

    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        tracker = CursorTracker(spec, cursor)
        pager = _Pager(self, spec, self._style(spec), self._base_params(spec, tracker), self.page_size(spec))
        ordered = bool(self.option(spec, "ordered", False))
        url: str | None = spec.resource
        params: dict[str, Any] | None = pager.params()
        number = 0
        while url is not None:
            body, response = self.http.get_json(url, params=params)
            records = find_records(body, spec.record_path, response.text, response.url)
            number += 1
            url, params = pager.advance(body, response, records)
            last = url is None
            kept, skipped = tracker.filter_page(records)
            yield Page(kept, tracker.page_cursor(ordered=ordered, last=last), number, pager.total, skipped, last)

    def _style(self, spec: FetchSpec) -> str:
        style = spec.pagination or self.option(spec, "pagination", "page")
        if style not in PAGINATION_STYLES:
            raise ConfigurationError(f"REST pagination must be one of {', '.join(PAGINATION_STYLES)}.")
        return style

    def _base_params(self, spec: FetchSpec, tracker: CursorTracker) -> dict[str, Any]:
        params: dict[str, Any] = dict(spec.params)
        since = tracker.since()
        since_param = self.option(spec, "updated_since_param")
        if since is not None and since_param:
            params[since_param] = since_parameter(since, self.option(spec, "updated_since_format", "iso"))
        sort_params = self.option(spec, "sort_params", {}) or {}
        if not isinstance(sort_params, Mapping):
            raise ConfigurationError("sort_params must be an object of query parameters.")
        params.update(sort_params)
        return params

    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        def probe() -> tuple[str, int | None]:
            if spec is None:
                response = self.http.request("GET", self.option(None, "check_path", ""))
                return f"{response.url} answered", response.status_code
            pager = _Pager(self, spec, self._style(spec), dict(spec.params), 1)
            body, response = self.http.get_json(spec.resource, params=pager.params())
            records = find_records(body, spec.record_path, response.text, response.url)
            return f"{spec.resource} answered with {len(records)} record(s)", response.status_code

        return self.run_check(probe)

    # --- writing -----------------------------------------------------------------------------
    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """In bulk requests when the target has a bulk write (``spec.bulk``), else one request per record."""
        if not spec.bulk or not items:
            return super().send(spec, items)
        return BulkSender(self, spec, BulkWrite.from_dict(spec.bulk), super().send).send(items)

    def send_one(self, spec: PushSpec, item: Outgoing) -> Sent:
        if item.key is None and item.recover and spec.lookup_field and item.lookup_value is not None:
            found = self._find(spec, item.lookup_value)
            if found is not None:  # an earlier create did arrive: update what it made
                item = replace(item, key=str(dig(found, spec.key_field)), changes=None)
        if item.key is None:
            method = str(self.option(spec, "create_method", "POST")).upper()
            path = self.option(spec, "create_path", spec.resource)
            response = self.http.request(method, path, json_body=self._wrap(spec, item.body), retries=0)
            record = self._answer(spec, response)
            key = dig(record, spec.key_field) if record else None
            if key in (None, "") and response.headers.get("Location"):
                key = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            if key in (None, ""):
                raise PayloadError("the API did not say the key of the record it created", raw=response.text)
            etag = response.headers.get("ETag")
            return Sent(item.ref, key=str(key), etag=etag, status=response.status_code, created=True)
        method = str(self.option(spec, "update_method", "PATCH")).upper()
        path = self.record_path(spec, item.key)
        headers = {"If-Match": item.etag} if item.etag else None
        body = item.body if method == "PUT" else item.patch
        try:
            response = self.http.request(method, path, json_body=self._wrap(spec, body), headers=headers, retries=0)
        except ConnectorError as exc:
            if exc.status != 412:
                raise
            reread = self.http.request("GET", path)
            remote = self._answer(spec, reread)
            message = "the record changed in the API since it was last written"
            raise PreconditionFailed(message, url=exc.url, remote=remote, etag=reread.headers.get("ETag")) from exc
        return Sent(item.ref, key=item.key, etag=response.headers.get("ETag"), status=response.status_code)

    def record_path(self, spec: PushSpec, key: str) -> str:
        template = self.option(spec, "update_path", spec.resource.rstrip("/") + "/{key}")
        return template.replace("{key}", quote(str(key), safe=""))

    def _wrap(self, spec: PushSpec, body: Record) -> Any:
        wrapper = self.option(spec, "body_path")
        return {wrapper: body} if wrapper else body

    def _answer(self, spec: PushSpec, response: Any) -> Record:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise PayloadError("the answer is not JSON", raw=response.text, url=response.url) from exc
        record = dig(body, self.option(spec, "response_path", self.option(spec, "body_path")))
        return record if isinstance(record, dict) else {}

    def _find(self, spec: PushSpec, value: Any) -> Record | None:
        param = self.option(spec, "lookup_param", spec.lookup_field)
        body, response = self.http.get_json(spec.resource, params={param: value})
        records = find_records(body, self.option(spec, "lookup_record_path"), response.text, response.url)
        matching = [r for r in records if str(dig(r, spec.lookup_field)) == str(value)]
        return matching[0] if matching else None
