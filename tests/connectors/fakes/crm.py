"""A REST/JSON CRM: ``GET /api/customers`` with a Bearer token, four pagination styles.

``style`` picks how lists are paged and shaped (as different real CRMs do):

* ``page`` — ``?page=&page_size=`` → ``{"data": […], "page", "page_size", "total"}``
* ``offset`` — ``?offset=&limit=`` → ``{"results": […], "count", "offset", "limit"}``
* ``next_link`` — ``?limit=&cursor=`` → ``{"items": […], "links": {"next": "/api/customers?cursor=…"}}``
  (relative; ``absolute_links=True`` for absolute ones)
* ``link_header`` — ``?page=&per_page=`` → a bare JSON array plus ``Link: <…>; rel="next"`` (RFC 8288)
* ``cursor`` — ``?limit=&after=`` → ``{"customers": […], "paging": {"next_cursor": "…" | null}}``

``updated_since`` (ISO 8601) returns records changed at or after it; ``ordering=updated_at``
sorts by (updated_at, id), else records come by id. ``max_page_size`` caps the page size
silently, as many APIs do.

Writes, as a typical JSON API takes them: ``POST /api/customers`` creates (the CRM assigns the
``id``) and answers the record with ``Location`` and ``ETag``; ``GET``/``PUT``/``PATCH
/api/customers/<id>`` read, replace or change one, honouring ``If-Match`` (412 when stale).
``?code=`` (any of ``filter_fields``) narrows a list. Every write stamps ``updated_at`` and is
recorded in ``writes`` as (operation, id, body).

Bulk, as Zoho CRM documents its upsert: ``POST /api/customers/upsert`` with ``{"data": [records],
"duplicate_check_fields": [...]}`` (at most ``bulk_max`` records, else 400 ``LIMIT_EXCEEDED``). A
record with an ``id`` updates that record; one without is matched by the duplicate check fields,
else created. The answer lists one result per record, in order — ``{"code": "SUCCESS", "action":
"insert"|"update", "details": {"id"}, "message", "status": "success"}`` or ``{"code":
"INVALID_DATA", "details", "message", "status": "error"}`` — with 207 when some were refused.
:meth:`CrmFake.refuse_in_bulk` makes a record (by code) be refused; bulk sizes are in ``bulks``.
"""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from tests.connectors.fakes import data
from tests.connectors.fakes.server import AuthPolicy, BadRequest, FakeRequest, FakeResponse, FakeServer, KeyIndex

STYLES = ("page", "offset", "next_link", "link_header", "cursor")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("o:"))
    except ValueError:
        raise BadRequest("invalid cursor") from None


class CrmFake(FakeServer):
    root_path = ""
    token = "crm-secret-token"

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        *,
        style: str = "page",
        auth: AuthPolicy | None = None,
        max_page_size: int = 100,
        absolute_links: bool = False,
    ) -> None:
        super().__init__(auth or AuthPolicy(bearer_tokens={self.token}, forbidden_tokens={"read-nothing-token"}))
        if style not in STYLES:
            raise ValueError(style)
        self.records = records if records is not None else data.crm_customers(30)
        self.style = style
        self.max_page_size = max_page_size
        self.absolute_links = absolute_links
        self.filter_fields = ("code",)
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.versions: dict[str, int] = {}
        self._index = KeyIndex("id")
        self._ids = itertools.count(1)
        self.bulk_max = 100
        self.bulks: list[int] = []
        self.refusals: dict[str, list[Any]] = {}
        self._checks: dict[str, KeyIndex] = {}

    def route(self, request: FakeRequest) -> FakeResponse:
        path = request.path.rstrip("/")
        if path == "/api/customers/upsert":
            if request.method != "POST":
                return FakeResponse.json({"error": "method_not_allowed"}, 405)
            return self._upsert(request)
        if path.startswith("/api/customers/"):
            return self._one(request, path.removeprefix("/api/customers/"))
        if path != "/api/customers":
            return FakeResponse.json({"error": "not_found"}, 404)
        if request.method == "POST":
            return self._create(request)
        if request.method != "GET":
            return FakeResponse.json({"error": "method_not_allowed"}, 405)
        rows = self._select(request)
        return getattr(self, f"_{self.style}")(request, rows)

    # --- writes ----------------------------------------------------------------------------------
    def etag(self, record_id: str) -> str:
        return f'"{self.versions.setdefault(record_id, 1)}"'

    def find(self, record_id: str) -> dict[str, Any] | None:
        return self._index.find(self.records, record_id)

    def _create(self, request: FakeRequest) -> FakeResponse:
        body = self._json(request)
        record = {**body, "id": f"crm-{next(self._ids):05d}", "updated_at": datetime.now(UTC)}
        self.records.append(record)
        self.writes.append(("create", record["id"], body))
        location = f"{self.url}/api/customers/{record['id']}"
        return FakeResponse.json(record, 201, Location=location, ETag=self.etag(record["id"]))

    def _one(self, request: FakeRequest, record_id: str) -> FakeResponse:
        record = self.find(record_id)
        if record is None:
            return FakeResponse.json({"error": "not_found"}, 404)
        if request.method == "GET":
            return FakeResponse.json(record, ETag=self.etag(record_id))
        if request.method not in ("PUT", "PATCH"):
            return FakeResponse.json({"error": "method_not_allowed"}, 405)
        expected = request.headers.get("If-Match")
        if expected and expected != self.etag(record_id):
            return FakeResponse.json({"error": "precondition_failed", "status": 412}, 412)
        body = self._json(request)
        if request.method == "PUT":
            for name in [n for n in record if n != "id"]:
                del record[name]
        record.update({k: v for k, v in body.items() if k != "id"})
        record["updated_at"] = datetime.now(UTC)
        self.versions[record_id] = self.versions.get(record_id, 1) + 1
        self.writes.append(("update", record_id, body))
        return FakeResponse.json(record, ETag=self.etag(record_id))

    # --- bulk (Zoho-style upsert) ----------------------------------------------------------------
    def refuse_in_bulk(self, code: str, error: str = "INVALID_DATA", message: str = "invalid data", times: int = 1):
        """The next ``times`` bulk writes of the record with this ``code`` are refused with ``error``."""
        self.refusals[code] = [error, message, times]

    def _upsert(self, request: FakeRequest) -> FakeResponse:
        body = self._json(request)
        records = body.get("data")
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            return FakeResponse.json({"code": "INVALID_DATA", "message": "data must list records", "status": "error"},
                                     400)  # fmt: skip
        if len(records) > self.bulk_max:
            message = f"at most {self.bulk_max} records per request"
            return FakeResponse.json({"code": "LIMIT_EXCEEDED", "message": message, "status": "error"}, 400)
        self.bulks.append(len(records))
        check = [name for name in body.get("duplicate_check_fields") or [] if isinstance(name, str)]
        answers = [self._upsert_one(entry, check) for entry in records]
        refused = sum(1 for answer in answers if answer["status"] == "error")
        return FakeResponse.json({"data": answers}, 207 if refused else 200)

    def _upsert_one(self, entry: dict[str, Any], check: list[str]) -> dict[str, Any]:
        refusal = self.refusals.get(str(entry.get("code")))
        if refusal and refusal[2] > 0:
            refusal[2] -= 1
            return {"code": refusal[0], "details": {"api_name": "code"}, "message": refusal[1], "status": "error"}
        values = {k: v for k, v in entry.items() if k != "id"}
        if entry.get("id") is not None:
            record = self.find(str(entry["id"]))
            if record is None:
                return {"code": "INVALID_DATA", "details": {"id": entry["id"]}, "message": "the id given seems to be "
                        "invalid", "status": "error"}  # fmt: skip
        else:
            wanted = {name: values[name] for name in check if name in values}
            record = None
            if wanted:
                first = next(iter(wanted))
                index = self._checks.setdefault(first, KeyIndex(first))
                record = index.find(self.records, str(wanted[first]))
                if record is not None and any(record.get(k) != v for k, v in wanted.items()):
                    record = None
        if record is None:
            record = {**values, "id": f"crm-{next(self._ids):05d}", "updated_at": datetime.now(UTC)}
            self.records.append(record)
            self.writes.append(("create", record["id"], values))
            return {"code": "SUCCESS", "action": "insert", "details": {"id": record["id"]},
                    "message": "record added", "status": "success"}  # fmt: skip
        record.update(values, updated_at=datetime.now(UTC))
        self.versions[record["id"]] = self.versions.get(record["id"], 1) + 1
        self.writes.append(("update", record["id"], values))
        return {"code": "SUCCESS", "action": "update", "details": {"id": record["id"]},
                "message": "record updated", "status": "success"}  # fmt: skip

    def change_remotely(self, record_id: str, **changes: Any) -> None:
        """A CRM user edits a record (its ETag moves on)."""
        record = self.find(record_id)
        assert record is not None
        record.update(changes, updated_at=datetime.now(UTC))
        self.versions[record_id] = self.versions.get(record_id, 1) + 1

    @staticmethod
    def _json(request: FakeRequest) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise BadRequest("malformed JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def _select(self, request: FakeRequest) -> list[dict[str, Any]]:
        rows = self.records
        for name in self.filter_fields:
            if request.arg(name) is not None:
                rows = [r for r in rows if str(r.get(name)) == request.arg(name)]
        since = request.arg("updated_since")
        if since:
            try:
                moment = datetime.fromisoformat(since)
            except ValueError:
                raise BadRequest("updated_since must be ISO 8601") from None
            if moment.tzinfo is None:
                raise BadRequest("updated_since needs a time zone")
            rows = [r for r in rows if isinstance(r.get("updated_at"), datetime) and r["updated_at"] >= moment]
        if request.arg("ordering") == "updated_at":
            return sorted(rows, key=lambda r: (str(r.get("updated_at")), str(r.get("id"))))
        return sorted(rows, key=lambda r: str(r.get("id")))

    def _size(self, request: FakeRequest, name: str, default: int = 20) -> int:
        value = request.arg(name)
        if value is not None and not value.isdigit():
            raise BadRequest(f"{name} must be a positive integer")
        return max(1, min(int(value) if value else default, self.max_page_size))

    def _number(self, request: FakeRequest, name: str, default: int) -> int:
        value = request.arg(name, str(default)) or str(default)
        if not value.isdigit():
            raise BadRequest(f"{name} must be a non-negative integer")
        return int(value)

    def _page(self, request: FakeRequest, rows: list[dict[str, Any]]) -> FakeResponse:
        page, size = max(1, self._number(request, "page", 1)), self._size(request, "page_size")
        chunk = rows[(page - 1) * size : page * size]
        return FakeResponse.json({"data": chunk, "page": page, "page_size": size, "total": len(rows)})

    def _offset(self, request: FakeRequest, rows: list[dict[str, Any]]) -> FakeResponse:
        offset, limit = self._number(request, "offset", 0), self._size(request, "limit")
        return FakeResponse.json(
            {"results": rows[offset : offset + limit], "count": len(rows), "offset": offset, "limit": limit}
        )

    def _next_link(self, request: FakeRequest, rows: list[dict[str, Any]]) -> FakeResponse:
        offset = _offset(request.arg("cursor")) if request.arg("cursor") else 0
        limit = self._size(request, "limit")
        chunk = rows[offset : offset + limit]
        following = None
        if offset + limit < len(rows):
            query = "&".join(p for p in request.raw_query.split("&") if p and not p.startswith("cursor="))
            following = f"/api/customers?{query}{'&' if query else ''}cursor={_token(offset + limit)}"
            if self.absolute_links:
                following = self.url + following
        return FakeResponse.json({"items": chunk, "links": {"next": following, "self": request.path}})

    def _link_header(self, request: FakeRequest, rows: list[dict[str, Any]]) -> FakeResponse:
        page, size = max(1, self._number(request, "page", 1)), self._size(request, "per_page")
        chunk = rows[(page - 1) * size : page * size]
        kept = "&".join(p for p in request.raw_query.split("&") if p and not p.startswith(("page=", "per_page=")))
        base = f"/api/customers?{kept}{'&' if kept else ''}per_page={size}"
        last_page = max(1, -(-len(rows) // size))
        links = [f'<{self.url}{base}&page={last_page}>; rel="last"']
        if page < last_page:
            links.insert(0, f'<{base}&page={page + 1}>; rel="next"')  # relative, resolved per RFC 8288
        return FakeResponse.json(chunk, **{"Link": ", ".join(links), "X-Total-Count": str(len(rows))})

    def _cursor(self, request: FakeRequest, rows: list[dict[str, Any]]) -> FakeResponse:
        offset = _offset(request.arg("after")) if request.arg("after") else 0
        limit = self._size(request, "limit")
        following = _token(offset + limit) if offset + limit < len(rows) else None
        return FakeResponse.json({"customers": rows[offset : offset + limit], "paging": {"next_cursor": following}})

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "status": status}
