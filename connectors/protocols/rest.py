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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from connectors.errors import ConfigurationError, PayloadError
from connectors.protocols.base import (
    CheckResult,
    Cursor,
    CursorTracker,
    FetchSpec,
    HttpConnector,
    Page,
    Record,
    dig,
    format_timestamp,
)

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


class RestConnector(HttpConnector):
    protocol = "rest"

    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        style = spec.pagination or self.option(spec, "pagination", "page")
        if style not in PAGINATION_STYLES:
            raise ConfigurationError(f"REST pagination must be one of {', '.join(PAGINATION_STYLES)}.")
        tracker = CursorTracker(spec, cursor)
        ordered = bool(self.option(spec, "ordered", False))
        size = self.page_size(spec)
        base_params = self._base_params(spec, tracker)
        position = int(self.option(spec, "first_page", 1)) if style == "page" else 0
        url, params = spec.resource, self._page_params(spec, style, base_params, position, size, None)
        number, seen, total = 0, 0, None
        previous_first_key: Any = object()
        while True:
            body, response = self.http.get_json(url, params=params)
            records = find_records(body, spec.record_path, response.text, response.url)
            number += 1
            seen += len(records)
            total_path = self.option(spec, "total_path")
            if total is None and total_path:
                value = dig(body, total_path)
                total = int(value) if isinstance(value, int | str) and str(value).isdigit() else None
            first_key = dig(records[0], spec.key_field) if records else None
            if records and number > 1 and first_key == previous_first_key and style in ("page", "offset"):
                raise PayloadError(
                    "pagination does not advance: the API ignores its paging parameters",
                    raw=response.text[:2000],
                    url=response.url,
                )
            previous_first_key = first_key
            next_url, next_params = self._next(
                spec, style, body, response, records, size, seen, total, position, base_params
            )
            last = next_url is None
            kept, skipped = tracker.filter_page(records)
            yield Page(kept, tracker.page_cursor(ordered=ordered, last=last), number, total, skipped, last)
            if last:
                return
            if style == "page":
                position += 1
            elif style == "offset":
                position += len(records)
            url, params = next_url, next_params

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

    def _page_params(
        self, spec: FetchSpec, style: str, base: dict[str, Any], position: int, size: int, token: Any
    ) -> dict[str, Any]:
        params = dict(base)
        if style == "page":
            params[self.option(spec, "page_param", "page")] = position
            params[self.option(spec, "page_size_param", "page_size")] = size
        elif style == "offset":
            params[self.option(spec, "offset_param", "offset")] = position
            params[self.option(spec, "limit_param", "limit")] = size
        elif style in ("next_link", "link_header", "cursor"):
            size_param = self.option(spec, "page_size_param")
            if size_param:
                params[size_param] = size
            if token is not None:
                params[self.option(spec, "cursor_param", "cursor")] = token
        return params

    def _next(
        self,
        spec: FetchSpec,
        style: str,
        body: Any,
        response: Any,
        records: list[Record],
        size: int,
        seen: int,
        total: int | None,
        position: int,
        base: dict[str, Any],
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Where the next page is (URL and parameters), or (None, None) after the last one."""
        if style in ("page", "offset"):
            short = len(records) < size and bool(self.option(spec, "short_page_is_last", False))
            if not records or short or (total is not None and seen >= total):
                return None, None
            following = position + 1 if style == "page" else position + len(records)
            return spec.resource, self._page_params(spec, style, base, following, size, None)
        if style == "next_link":
            link = dig(body, self.option(spec, "next_link_path", "next"))
            return (urljoin(response.url, link), None) if isinstance(link, str) and link else (None, None)
        if style == "link_header":
            link = response.links.get("next", {}).get("url")
            return (urljoin(response.url, link), None) if link else (None, None)
        if style == "cursor":
            token = dig(body, self.option(spec, "next_cursor_path", "next_cursor"))
            if token in (None, "") or not records:
                return None, None
            return spec.resource, self._page_params(spec, style, base, 0, size, token)
        return None, None

    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        def probe() -> tuple[str, int | None]:
            if spec is None:
                response = self.http.request("GET", self.option(None, "check_path", ""))
                return f"{response.url} answered", response.status_code
            style = spec.pagination or self.option(spec, "pagination", "page")
            first = int(self.option(spec, "first_page", 1)) if style == "page" else 0
            params = self._page_params(spec, style, dict(spec.params), first, 1, None)
            body, response = self.http.get_json(spec.resource, params=params)
            records = find_records(body, spec.record_path, response.text, response.url)
            return f"{spec.resource} answered with {len(records)} record(s)", response.status_code

        return self.run_check(probe)
