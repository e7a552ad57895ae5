"""OData fakes: v4 as SAP S/4HANA and Dynamics 365 serve it, v2 as SAP Gateway does.

* :class:`ODataV4Fake` — ``/odata/v4/API_BUSINESS_PARTNER/A_BusinessPartner``: ``value``,
  ``@odata.count`` for ``$count=true``, server-driven paging with ``Prefer: odata.maxpagesize``
  (capped by ``max_page_size``) and ``@odata.nextLink`` carrying ``$skiptoken`` — absolute or
  relative (``next_link="relative"``) — and ``$filter``/``$orderby``/``$top``/``$skip``/``$select``.
* :class:`ODataV2Fake` — ``/sap/opu/odata/sap/API_PRODUCT_SRV/A_Product`` (or the entity sets and
  root given, e.g. :meth:`ODataV2Fake.business_partner_set` under ``…/API_BUSINESS_PARTNER``): ``d.results``,
  ``d.__count`` (a string) for ``$inlinecount=allpages``, ``__next`` when ``server_page_size`` is
  set, ``/Date(ms)/`` for Edm.DateTime and ``/Date(ms+0000)/`` for Edm.DateTimeOffset,
  ``__metadata`` and ``__deferred`` navigation, ``$expand``; CSRF tokens (``x-csrf-token: Fetch``)
  guard POST, which creates a record.

Both take writes as their services do: ``POST <set>`` creates (a key the body lacks is assigned,
one the set already has is refused with 409) and answers the entity with its ETag (v4
``@odata.etag`` and the ``ETag`` header, v2 ``__metadata.etag``; v4 ``Prefer: return=minimal``
answers 204 with ``OData-EntityId``); ``GET <set>(<key>)`` reads one; ``PATCH`` (v2 also ``MERGE``,
tunnelled or not) changes the properties given and ``PUT`` replaces them, both honouring
``If-Match`` (412 on a stale ETag). Every write is recorded in ``writes`` as (operation, key, body).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tests.connectors.fakes import data
from tests.connectors.fakes.odata_batch import BatchService
from tests.connectors.fakes.odata_query import parse_filter, sort_records
from tests.connectors.fakes.server import (
    AuthPolicy,
    BadRequest,
    FakeRequest,
    FakeResponse,
    FakeServer,
    KeyIndex,
    iso,
)


@dataclass
class EntitySet:
    name: str
    key: str
    records: list[dict[str, Any]]
    types: dict[str, str] = field(default_factory=dict)
    """Date/time properties: ``datetime`` (Edm.DateTime) or ``datetimeoffset`` (Edm.DateTimeOffset)."""
    navigation: tuple[str, ...] = ()
    namespace: str = "API"

    def known(self) -> set[str]:
        names = set(self.types) | {self.key}
        if self.records:
            names |= set(self.records[0])
        return names


_ENTITY_PATH = re.compile(r"^([A-Za-z_][\w]*)\((.+)\)$")


def key_of_literal(literal: str) -> str:
    """``'10'`` / ``10`` / ``BusinessPartner='10'`` / ``guid'…'`` → the key as text."""
    value = literal.split("=", 1)[1] if "=" in literal and not literal.startswith("'") else literal
    value = value.removeprefix("guid")
    return value[1:-1].replace("''", "'") if value.startswith("'") and value.endswith("'") else value


class ODataFake(FakeServer, BatchService, ABC):
    version = 4
    realm = "SAP NetWeaver Application Server"
    max_page_size = 5000

    def __init__(
        self,
        entity_sets: list[EntitySet],
        *,
        auth: AuthPolicy | None = None,
        server_page_size: int | None = None,
        next_link: str = "absolute",
        context: str = "absolute",
        root_path: str | None = None,
        batch_status: int | None = None,
        batch_annotation: str | None = None,
    ) -> None:
        super().__init__(auth)
        self.batch_status = batch_status
        self.batch_annotation = batch_annotation
        if root_path is not None:
            self.root_path = root_path
        self.sets = {entity_set.name: entity_set for entity_set in entity_sets}
        self.server_page_size = server_page_size
        self.next_link = next_link
        self.context = context
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.batches: list[int] = []
        self.etags: dict[tuple[str, str], int] = {}
        self._indexes: dict[str, KeyIndex] = {}
        self._numbers = itertools.count(9_000_001)

    def entity_set(self, name: str) -> EntitySet:
        return self.sets[name]

    def route(self, request: FakeRequest) -> FakeResponse:
        if not request.path.startswith(self.root_path):
            return FakeResponse.json(self.error_body(404, "not found"), 404)
        relative = request.path[len(self.root_path) :].strip("/")
        if relative == "":
            return self.service_document()
        if relative == "$metadata" and request.method == "GET":
            return FakeResponse.text(self.metadata(), content_type="application/xml")
        if relative == "$batch" and request.method == "POST":
            if self.batch_status is not None:
                return FakeResponse.json(
                    self.error_body(self.batch_status, "$batch is not supported"), self.batch_status
                )
            return self.batch(request) if self.version == 4 else self.multipart_batch(request)
        if relative in self.sets:
            if request.method == "POST":
                return self.create(request, self.sets[relative])
            return self.collection(request, self.sets[relative])
        match = _ENTITY_PATH.match(relative)
        if match and match.group(1) in self.sets:
            return self.entity(request, self.sets[match.group(1)], key_of_literal(match.group(2)))
        return FakeResponse.json(self.error_body(404, f"Resource not found for segment '{relative}'"), 404)

    # --- writes ----------------------------------------------------------------------------------
    def etag(self, entity_set: EntitySet, key: str) -> str:
        return f'W/"{self.etags.setdefault((entity_set.name, key), 1)}"'

    def find(self, entity_set: EntitySet, key: str) -> dict[str, Any] | None:
        index = self._indexes.setdefault(entity_set.name, KeyIndex(entity_set.key))
        return index.find(entity_set.records, key)

    def write_allowed(self, request: FakeRequest) -> FakeResponse | None:
        """None when the write may go on (v2: a valid CSRF token and session)."""
        return None

    def create(self, request: FakeRequest, entity_set: EntitySet) -> FakeResponse:
        refused = self.write_allowed(request)
        if refused is not None:
            return refused
        received = self._body(request)
        record = dict(received)
        key = record.get(entity_set.key)
        if key in (None, ""):
            key = next(str(n) for n in self._numbers if self.find(entity_set, str(n)) is None)
            record[entity_set.key] = key
        if self.find(entity_set, str(key)) is not None:
            return FakeResponse.json(self.error_body(409, f"Entity with key {key} already exists"), 409)
        self._touch(entity_set, record)
        entity_set.records.append(record)
        self.writes.append(("create", str(key), received))
        return self.answer_entity(request, entity_set, record, 201)

    def entity(self, request: FakeRequest, entity_set: EntitySet, key: str) -> FakeResponse:
        record = self.find(entity_set, key)
        if record is None:
            return FakeResponse.json(self.error_body(404, f"Entity {key} not found"), 404)
        method = request.headers.get("X-HTTP-Method", request.method).upper()
        if method == "GET":
            return self.answer_entity(request, entity_set, record, 200)
        if method not in ("PATCH", "MERGE", "PUT"):
            return FakeResponse.json(self.error_body(405, "method not allowed"), 405)
        refused = self.write_allowed(request)
        if refused is not None:
            return refused
        expected = request.headers.get("If-Match")
        if expected and expected != "*" and expected != self.etag(entity_set, key):
            return FakeResponse.json(self.error_body(412, "Precondition failed: the ETag is stale"), 412)
        changes = self._body(request)
        if method == "PUT":
            for name in [n for n in record if n != entity_set.key]:
                del record[name]
        record.update({name: value for name, value in changes.items() if name != entity_set.key})
        self._touch(entity_set, record)
        self.etags[(entity_set.name, key)] = self.etags.get((entity_set.name, key), 1) + 1
        self.writes.append(("update", key, changes))
        response = FakeResponse(204, b"", {"ETag": self.etag(entity_set, key)})
        return response

    def change_remotely(self, set_name: str, key: str, **changes: Any) -> None:
        """Someone changes a record in the system itself (its ETag moves on)."""
        entity_set = self.sets[set_name]
        record = self.find(entity_set, key)
        assert record is not None
        record.update(changes)
        self._touch(entity_set, record)
        self.etags[(set_name, key)] = self.etags.get((set_name, key), 1) + 1

    @staticmethod
    def _body(request: FakeRequest) -> dict[str, Any]:
        try:
            record = json.loads(request.body)
        except ValueError:
            raise BadRequest("Malformed JSON body") from None
        if not isinstance(record, dict):
            raise BadRequest("The body must be an entity")
        return record

    @staticmethod
    def _touch(entity_set: EntitySet, record: dict[str, Any]) -> None:
        if "LastChangeDateTime" in entity_set.known():
            record["LastChangeDateTime"] = datetime.now(UTC)

    @abstractmethod
    def answer_entity(self, request: FakeRequest, entity_set: EntitySet, record: dict, status: int) -> FakeResponse:
        """One entity in the version's format, with its ETag."""

    def collection(self, request: FakeRequest, entity_set: EntitySet) -> FakeResponse:
        predicate = parse_filter(request.arg("$filter"), self.version, entity_set.types)
        rows = [r for r in entity_set.records if predicate is None or predicate(r)]
        rows = sort_records(rows, request.arg("$orderby") or entity_set.key, entity_set.known())
        total = len(rows)
        skip = self._int(request, "$skip", 0)
        top = self._int(request, "$top", None)
        rows = rows[skip : skip + top if top is not None else None]
        token = self._int(request, "$skiptoken", 0)
        size = self.page_size(request)
        page = rows[token : token + size] if size else rows[token:]
        more = bool(size) and token + size < len(rows)
        select = [s.strip() for s in (request.arg("$select") or "").split(",") if s.strip()]
        expand = {s.strip() for s in (request.arg("$expand") or "").split(",") if s.strip()}
        unknown = (set(select) | expand) - entity_set.known()
        if unknown:
            raise BadRequest(f"Property {sorted(unknown)[0]} not found")
        items = [self.serialise(entity_set, record, select, expand) for record in page]
        next_url = self.next_url(request, entity_set, token + size) if more else None
        response = self.body(request, entity_set, items, total, next_url)
        if self.version == 4 and "odata.maxpagesize" in (request.headers.get("Prefer") or ""):
            response.headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        return response

    @staticmethod
    def _int(request: FakeRequest, name: str, default: int | None) -> int | None:
        value = request.arg(name)
        if value is None:
            return default
        if not value.isdigit():
            raise BadRequest(f"Invalid value for {name}: {value!r}")
        return int(value)

    def page_size(self, request: FakeRequest) -> int | None:
        return self.server_page_size

    def next_url(self, request: FakeRequest, entity_set: EntitySet, token: int) -> str:
        kept = [
            part
            for part in request.raw_query.split("&")
            if part and not part.lower().startswith(("$skiptoken=", "%24skiptoken="))
        ]
        query = "&".join([*kept, f"$skiptoken={token}"])
        if self.next_link == "relative":
            return f"{entity_set.name}?{query}"
        return f"{self.base_url}/{entity_set.name}?{query}"

    @abstractmethod
    def serialise(self, entity_set: EntitySet, record: dict[str, Any], select: list[str], expand: set[str]) -> dict:
        """One record in the version's JSON format."""

    @abstractmethod
    def body(self, request: FakeRequest, entity_set: EntitySet, items: list, total: int, next_url: str | None):
        """The collection envelope."""

    @abstractmethod
    def service_document(self) -> FakeResponse:
        """The service root's list of entity sets."""


class ODataV4Fake(ODataFake):
    version = 4
    root_path = "/odata/v4/API_BUSINESS_PARTNER"
    content_type = "application/json;odata.metadata=minimal"

    def __init__(self, records: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        partners = EntitySet(
            "A_BusinessPartner", "BusinessPartner", records if records is not None else data.business_partners(25)
        )
        super().__init__([partners], **kwargs)

    def page_size(self, request: FakeRequest) -> int | None:
        prefer = request.headers.get("Prefer") or ""
        for part in prefer.split(","):
            name, _, value = part.strip().partition("=")
            if name == "odata.maxpagesize" and value.isdigit():
                return min(int(value), self.max_page_size)
        return self.server_page_size or self.max_page_size

    def serialise(self, entity_set: EntitySet, record: dict[str, Any], select: list[str], expand: set[str]) -> dict:
        names = select or [n for n in record if n not in entity_set.navigation]
        item = {name: self._value(record.get(name)) for name in names}
        for name in expand:
            item[name] = [{k: self._value(v) for k, v in child.items()} for child in record.get(name, [])]
        return item

    @staticmethod
    def _value(value: Any) -> Any:
        if isinstance(value, datetime):
            return iso(value)
        return value

    def body(self, request: FakeRequest, entity_set: EntitySet, items: list, total: int, next_url: str | None):
        metadata = f"{self.base_url}/$metadata" if self.context == "absolute" else "$metadata"
        payload: dict[str, Any] = {"@odata.context": f"{metadata}#{entity_set.name}"}
        if self.context == "none":
            payload = {}
        if (request.arg("$count") or "").lower() == "true":
            payload["@odata.count"] = total
        payload["value"] = items
        if next_url:
            payload["@odata.nextLink"] = next_url
        return FakeResponse.json(payload, content_type=self.content_type, **{"OData-Version": "4.0"})

    def service_document(self) -> FakeResponse:
        payload = {
            "@odata.context": f"{self.base_url}/$metadata",
            "value": [{"name": name, "kind": "EntitySet", "url": name} for name in self.sets],
        }
        return FakeResponse.json(payload, content_type=self.content_type, **{"OData-Version": "4.0"})

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": str(status), "message": message}}

    def answer_entity(self, request: FakeRequest, entity_set: EntitySet, record: dict, status: int) -> FakeResponse:
        key = str(record.get(entity_set.key))
        etag = self.etag(entity_set, key)
        location = f"{self.base_url}/{entity_set.name}('{key}')"
        headers = {"OData-Version": "4.0", "ETag": etag, "OData-EntityId": location, "Location": location}
        if status == 201 and "return=minimal" in (request.headers.get("Prefer") or ""):
            return FakeResponse(204, b"", headers)
        item = {"@odata.context": f"{self.base_url}/$metadata#{entity_set.name}/$entity", "@odata.etag": etag}
        item.update(self.serialise(entity_set, record, [], set()))
        return FakeResponse.json(item, status, content_type=self.content_type, **headers)


def ms_date(value: datetime, *, offset: bool) -> str:
    milliseconds = int(value.astimezone(UTC).timestamp() * 1000)
    return f"/Date({milliseconds}+0000)/" if offset else f"/Date({milliseconds})/"


class ODataV2Fake(ODataFake):
    version = 2
    root_path = "/sap/opu/odata/sap/API_PRODUCT_SRV"
    realm = "SAP NetWeaver Application Server"

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        *,
        entity_sets: list[EntitySet] | None = None,
        assign_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        product = EntitySet(
            "A_Product",
            "Product",
            records if records is not None else data.products(25),
            types={"CreationDate": "datetime", "LastChangeDateTime": "datetimeoffset"},
            navigation=("to_Description",),
            namespace="API_PRODUCT_SRV",
        )
        super().__init__(entity_sets or [product], **kwargs)
        self.csrf_tokens: set[str] = set()
        self.assign_keys = assign_keys

    @staticmethod
    def business_partner_set(records: list[dict[str, Any]]) -> EntitySet:
        """SAP API_BUSINESS_PARTNER's A_BusinessPartner: LastChangeDate (Edm.DateTime) + LastChangeTime (Edm.Time)."""
        return EntitySet(
            "A_BusinessPartner",
            "BusinessPartner",
            records,
            types={"CreationDate": "datetime", "LastChangeDate": "datetime", "LastChangeDateTime": "datetimeoffset"},
            namespace="API_BUSINESS_PARTNER",
        )

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        response = super().dispatch(request)
        if request.headers.get("x-csrf-token", "").lower() == "fetch" and response.status == 200:
            token = secrets.token_urlsafe(16)
            self.csrf_tokens.add(token)
            response.headers["x-csrf-token"] = token
            response.headers["Set-Cookie"] = f"SAP_SESSIONID_FAK_100={token[:8]}; path=/; HttpOnly"
        return response

    def collection(self, request: FakeRequest, entity_set: EntitySet) -> FakeResponse:
        accept = request.headers.get("Accept") or ""
        if "json" not in accept and request.arg("$format") != "json":
            atom = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"/>'
            return FakeResponse.text(atom, content_type="application/atom+xml;type=feed")
        return super().collection(request, entity_set)

    def write_allowed(self, request: FakeRequest) -> FakeResponse | None:
        token = request.headers.get("x-csrf-token")
        cookie = request.headers.get("Cookie") or ""
        if token not in self.csrf_tokens or "SAP_SESSIONID_FAK_100=" not in cookie:
            response = FakeResponse.text("CSRF token validation failed", 403, "text/plain")
            response.headers["x-csrf-token"] = "Required"
            return response
        return None

    def create(self, request: FakeRequest, entity_set: EntitySet) -> FakeResponse:
        if self.write_allowed(request) is None:
            try:
                record = json.loads(request.body)
            except ValueError:
                raise BadRequest("Malformed JSON body") from None
            if not isinstance(record, dict) or (entity_set.key not in record and not self.assign_keys):
                raise BadRequest(f"Key property {entity_set.key} missing")
        return super().create(request, entity_set)

    def answer_entity(self, request: FakeRequest, entity_set: EntitySet, record: dict, status: int) -> FakeResponse:
        item = self.serialise(entity_set, record, [], set())
        etag = self.etag(entity_set, str(record.get(entity_set.key)))
        item["__metadata"]["etag"] = etag
        return FakeResponse.json({"d": item}, status, ETag=etag)

    def serialise(self, entity_set: EntitySet, record: dict[str, Any], select: list[str], expand: set[str]) -> dict:
        uri = f"{self.base_url}/{entity_set.name}('{record.get(entity_set.key)}')"
        item: dict[str, Any] = {
            "__metadata": {"id": uri, "uri": uri, "type": f"{entity_set.namespace}.{entity_set.name}Type"}
        }
        for name in select or [n for n in record if n not in entity_set.navigation]:
            value = record.get(name)
            if isinstance(value, datetime):
                declared = entity_set.types.get(name, "datetime")
                value = ms_date(value, offset=declared == "datetimeoffset")
            item[name] = value
        for name in entity_set.navigation:
            if name in expand:
                item[name] = {"results": [dict(child) for child in record.get(name, [])]}
            elif not select:
                item[name] = {"__deferred": {"uri": f"{uri}/{name}"}}
        return item

    def body(self, request: FakeRequest, entity_set: EntitySet, items: list, total: int, next_url: str | None):
        envelope: dict[str, Any] = {"results": items}
        if request.arg("$inlinecount") == "allpages":
            envelope["__count"] = str(total)
        if next_url:
            envelope["__next"] = next_url
        return FakeResponse.json({"d": envelope})

    def service_document(self) -> FakeResponse:
        return FakeResponse.json({"d": {"EntitySets": list(self.sets)}})

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": f"/IWBEP/CM_MGW_RT/{status:03d}", "message": {"lang": "en", "value": message}}}


def query_of(url: str) -> dict[str, list[str]]:
    """The parsed query string of a URL (for assertions on what a connector sent)."""
    return parse_qs(url.partition("?")[2], keep_blank_values=True)
