"""A SCIM 2.0 service provider (RFC 7643/7644) as Okta- or Azure-AD-style HR sources serve it.

``GET /scim/v2/Users`` answers a ListResponse (``totalResults``, ``itemsPerPage``, 1-based
``startIndex``, ``Resources``) paged by ``startIndex``/``count`` with ``count`` capped at
``max_results`` (fewer than asked, as real providers do); ``filter`` supports
``attr op "value"`` with ``eq ne co sw ew gt ge lt le pr`` joined by ``and``/``or`` (attribute
names case-insensitive, extension attributes by full URN with ``:``); ``sortBy``/``sortOrder``
when ``sort_supported``. ``GET /scim/v2/ServiceProviderConfig`` and ``/Users/{id}`` too. Every
response is ``application/scim+json``; errors use the SCIM Error schema.

Writes (RFC 7644 §3.3, §3.5): ``POST /Users`` creates (the provider assigns ``id``; a taken
``userName`` is a 409 ``uniqueness`` error), ``PUT /Users/{id}`` replaces, ``PATCH /Users/{id}``
applies a PatchOp's ``add``/``replace``/``remove`` operations (paths: ``attr``, ``attr.sub``,
``urn:…:User:attr``, a whole extension URN; no path: the value's attributes). Each write moves
``meta.version`` (``W/"n"``, also the ``ETag`` header) and ``meta.lastModified``; ``If-Match`` with an
older version is refused with 412. Writes are recorded in ``writes`` as (operation, id, body).

Bulk (RFC 7644 §3.7): ``POST /Bulk`` takes a BulkRequest of ``Operations`` (``method``, ``path``,
``bulkId`` — required for POST —, ``version`` as ``If-Match``, ``data``; ``bulkId:<id>`` references
to resources created earlier in the request are resolved), each carried out as if sent alone,
and answers a BulkResponse with ``location``, ``version`` and ``status`` per operation (and the
error as ``response``). It stops after ``failOnErrors`` errors; more than ``max_operations``
operations or ``max_payload_size`` bytes is a 413. ``bulk=False``: a provider without bulk —
``ServiceProviderConfig`` says so and ``/Bulk`` answers 501. Bulk requests are counted in ``bulks``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from tests.connectors.fakes import data
from tests.connectors.fakes.server import AuthPolicy, BadRequest, FakeRequest, FakeResponse, FakeServer

SCIM_JSON = "application/scim+json"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
_FILTER_RE = re.compile(r'\s*(?:(?P<paren>[()])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+))')
DATE_ATTRIBUTES = {"meta.lastmodified", "meta.created"}
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "co": lambda a, b: str(b).lower() in str(a).lower(),
    "sw": lambda a, b: str(a).lower().startswith(str(b).lower()),
    "ew": lambda a, b: str(a).lower().endswith(str(b).lower()),
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _member(obj: dict[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    lowered = name.lower()
    return next((value for key, value in obj.items() if key.lower() == lowered), None)


def attribute(resource: dict[str, Any], path: str) -> Any:
    """An attribute by SCIM path (case-insensitive; ``urn:…:User:employeeNumber`` for extensions)."""
    for key in resource:
        if key.startswith("urn:") and path.lower().startswith(key.lower() + ":"):
            return attribute(resource[key] or {}, path[len(key) + 1 :])
    head, _, rest = path.partition(".")
    value = _member(resource, head)
    if rest:
        if isinstance(value, list):  # multi-valued: the primary or first value
            value = next((v for v in value if v.get("primary")), value[0] if value else None)
        return attribute(value, rest) if isinstance(value, dict) else None
    return value


class _Filter:
    def __init__(self, text: str) -> None:
        self.tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _FILTER_RE.finditer(text) if m.lastgroup]
        self.index = 0

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        predicate = self._or()
        if self.index != len(self.tokens):
            raise BadRequest("invalidFilter: unexpected input")
        return predicate

    def _take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise BadRequest("invalidFilter: unexpected end")
        self.index += 1
        return self.tokens[self.index - 1]

    def _is(self, word: str) -> bool:
        return self.index < len(self.tokens) and self.tokens[self.index][1].lower() == word

    def _or(self) -> Callable[[dict[str, Any]], bool]:
        left = self._and()
        while self._is("or"):
            self._take()
            right, first = self._and(), left
            left = lambda r, a=first, b=right: a(r) or b(r)  # noqa: E731
        return left

    def _and(self) -> Callable[[dict[str, Any]], bool]:
        left = self._term()
        while self._is("and"):
            self._take()
            right, first = self._term(), left
            left = lambda r, a=first, b=right: a(r) and b(r)  # noqa: E731
        return left

    def _term(self) -> Callable[[dict[str, Any]], bool]:
        if self._is("not"):
            self._take()
            inner = self._term()
            return lambda r: not inner(r)
        if self._is("("):
            self._take()
            inner = self._or()
            if self._take()[1] != ")":
                raise BadRequest("invalidFilter: missing )")
            return inner
        path = self._take()[1]
        op = self._take()[1].lower()
        if op == "pr":
            return lambda r: attribute(r, path) not in (None, "", [])
        if op not in OPS:
            raise BadRequest(f"invalidFilter: unknown operator {op}")
        kind, raw = self._take()
        try:
            value = json.loads(raw)
        except ValueError:
            raise BadRequest(f"invalidFilter: bad value {raw}") from None
        if path.lower() in DATE_ATTRIBUTES:
            if kind != "string":
                raise BadRequest("invalidValue: a dateTime must be a string")
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise BadRequest(f"invalidValue: not a dateTime {raw}") from None
        compare = OPS[op]

        def predicate(resource: dict[str, Any]) -> bool:
            actual = attribute(resource, path)
            if actual is None:
                return False
            try:
                return bool(compare(actual, value))
            except TypeError:
                return False

        return predicate


class ScimFake(FakeServer):
    root_path = "/scim/v2"
    content_type = SCIM_JSON
    token = "scim-bearer-token"

    def __init__(
        self,
        users: list[dict[str, Any]] | None = None,
        *,
        auth: AuthPolicy | None = None,
        max_results: int = 100,
        sort_supported: bool = True,
        bulk: bool = True,
        max_operations: int = 1000,
        max_payload_size: int = 1_048_576,
    ) -> None:
        super().__init__(auth or AuthPolicy(bearer_tokens={self.token}, forbidden_tokens={"no-scope-token"}))
        self.users = users if users is not None else data.scim_users(30)
        self.max_results = max_results
        self.sort_supported = sort_supported
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.bulk = bulk
        self.max_operations, self.max_payload_size = max_operations, max_payload_size
        self.bulks: list[int] = []
        self._ids = itertools.count(1)

    def route(self, request: FakeRequest) -> FakeResponse:
        relative = request.path.removeprefix(self.root_path).strip("/")
        if relative == "ServiceProviderConfig":
            return self._json(self.service_provider_config())
        if relative == "Bulk" and request.method == "POST":
            return self._bulk(request)
        if relative == "Users":
            return self._create(request) if request.method == "POST" else self._list(request)
        if relative.startswith("Users/"):
            user = next((u for u in self.users if u["id"] == relative[6:]), None)
            if user is None:
                return self._json(self.error_body(404, "Resource not found"), 404)
            if request.method in ("PUT", "PATCH"):
                return self._write(request, user)
            return self._resource_response(user)
        return self._json(self.error_body(404, "Endpoint not found"), 404)

    # --- bulk ----------------------------------------------------------------------------------
    def _bulk(self, request: FakeRequest) -> FakeResponse:
        if not self.bulk:
            return self._json(self.error_body(501, "Bulk operations are not supported"), 501)
        if len(request.body) > self.max_payload_size:
            return self._json(self.error_body(413, f"The size of the bulk operation exceeds the maxPayloadSize "
                                                   f"({self.max_payload_size})."), 413)  # fmt: skip
        body = self._body(request)
        operations = body.get("Operations")
        if BULK_REQUEST not in body.get("schemas", []) or not isinstance(operations, list):
            raise BadRequest("invalidSyntax: not a BulkRequest")
        if len(operations) > self.max_operations:
            return self._json(self.error_body(413, f"The number of operations exceeds the maxOperations "
                                                   f"({self.max_operations})."), 413)  # fmt: skip
        self.bulks.append(len(operations))
        fail_on_errors = body.get("failOnErrors")
        created: dict[str, str] = {}
        answers, errors = [], 0
        for operation in operations:
            answer = self._bulk_operation(request, operation, created)
            answers.append(answer)
            errors += int(answer["status"]) >= 400
            if isinstance(fail_on_errors, int) and fail_on_errors > 0 and errors >= fail_on_errors:
                break
        return self._json({"schemas": [BULK_RESPONSE], "Operations": answers})

    def _bulk_operation(self, outer: FakeRequest, operation: Any, created: dict[str, str]) -> dict[str, Any]:
        """One operation carried out as if sent alone; its BulkResponse entry."""
        method = str(operation.get("method", "")).upper() if isinstance(operation, dict) else ""
        bulk_id = operation.get("bulkId") if isinstance(operation, dict) else None
        answer: dict[str, Any] = {"method": method}
        if bulk_id:
            answer["bulkId"] = bulk_id
        if method not in ("POST", "PUT", "PATCH", "DELETE") or (method == "POST" and not bulk_id):
            return {**answer, "status": "400", "response": self.error_body(400, "invalidSyntax: bad operation")}
        text = json.dumps({"path": operation.get("path", ""), "data": operation.get("data")})
        for reference, resource_id in created.items():
            text = text.replace(f"bulkId:{reference}", resource_id)
        resolved = json.loads(text)
        headers = Message()
        if operation.get("version"):
            headers["If-Match"] = operation["version"]
        path = f"{self.root_path}/{str(resolved['path']).lstrip('/')}"
        body = json.dumps(resolved["data"]).encode() if resolved["data"] is not None else b""
        inner = FakeRequest(method, path, "", {}, headers, body, outer.client_port)
        try:
            response = self.route(inner)
        except BadRequest as exc:
            response = self._json(self.error_body(400, str(exc)), 400)
        answer["status"] = str(response.status)
        if response.status >= 400:
            answer["response"] = json.loads(response.body) if response.body else None
            return answer
        resource = json.loads(response.body) if response.body else {}
        answer["location"] = (resource.get("meta") or {}).get("location")
        answer["version"] = response.headers.get("ETag")
        if method == "POST" and resource.get("id"):
            created[str(bulk_id)] = resource["id"]
        return answer

    # --- writes ----------------------------------------------------------------------------------
    def _resource_response(self, user: dict[str, Any], status: int = 200) -> FakeResponse:
        response = self._json(self._out(user), status)
        response.headers["ETag"] = user["meta"]["version"]
        return response

    def _stamp(self, user: dict[str, Any], *, new: bool = False) -> None:
        meta = user.setdefault("meta", {"resourceType": "User"})
        now = datetime.now(UTC)
        if new:
            meta["created"] = now
        meta["lastModified"] = now
        number = int(str(meta.get("version", 'W/"0"')).strip('W/"') or 0) + 1
        meta["version"] = f'W/"{number}"'

    def _create(self, request: FakeRequest) -> FakeResponse:
        body = self._body(request)
        if any(u.get("userName") == body.get("userName") for u in self.users if body.get("userName")):
            error = self.error_body(409, "userName is already taken")
            error["scimType"] = "uniqueness"
            return self._json(error, 409)
        user = {k: v for k, v in body.items() if k != "meta"}
        user["id"] = f"scim-{next(self._ids):05d}"
        self._stamp(user, new=True)
        self.users.append(user)
        self.writes.append(("create", user["id"], body))
        return self._resource_response(user, 201)

    def _write(self, request: FakeRequest, user: dict[str, Any]) -> FakeResponse:
        expected = request.headers.get("If-Match")
        if expected and expected != "*" and expected != user["meta"]["version"]:
            return self._json(self.error_body(412, "Failed to update: the resource changed"), 412)
        body = self._body(request)
        if request.method == "PUT":
            kept = {"id": user["id"], "meta": user["meta"]}
            user.clear()
            user.update(kept, **{k: v for k, v in body.items() if k not in ("id", "meta")})
        else:
            if PATCH_OP not in body.get("schemas", []) or not isinstance(body.get("Operations"), list):
                raise BadRequest("invalidSyntax: not a PatchOp")
            for operation in body["Operations"]:
                apply_operation(user, operation)
        self._stamp(user)
        self.writes.append(("update", user["id"], body))
        return self._resource_response(user)

    def change_remotely(self, user_id: str, **changes: Any) -> None:
        """An administrator edits a user at the provider (its version moves on)."""
        user = next(u for u in self.users if u["id"] == user_id)
        user.update(changes)
        self._stamp(user)

    @staticmethod
    def _body(request: FakeRequest) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise BadRequest("invalidSyntax: malformed JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("invalidSyntax: the body must be an object")
        return body

    def _list(self, request: FakeRequest) -> FakeResponse:
        users = self.users
        if request.arg("filter"):
            predicate = _Filter(request.arg("filter") or "").parse()
            users = [u for u in users if predicate(u)]
        sort_by = request.arg("sortBy")
        if sort_by and self.sort_supported:
            descending = (request.arg("sortOrder") or "ascending") == "descending"
            users = sorted(users, key=lambda u: (str(attribute(u, sort_by)), u["id"]), reverse=descending)
        start = self._int(request, "startIndex", 1)
        count = min(self._int(request, "count", self.max_results), self.max_results)
        start = max(1, start)  # RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1
        page = users[start - 1 : start - 1 + max(0, count)]
        body: dict[str, Any] = {
            "schemas": [LIST],
            "totalResults": len(users),
            "itemsPerPage": len(page),
            "startIndex": start,
        }
        if page:
            body["Resources"] = [self._out(user) for user in page]
        return self._json(body)

    @staticmethod
    def _int(request: FakeRequest, name: str, default: int) -> int:
        value = request.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            raise BadRequest(f"invalidValue: {name} must be an integer") from None

    def _out(self, user: dict[str, Any]) -> dict[str, Any]:
        meta = dict(user.get("meta") or {})
        meta["location"] = f"{self.base_url}/Users/{user['id']}"
        return {**user, "meta": meta}

    def _json(self, body: Any, status: int = 200) -> FakeResponse:
        return FakeResponse.json(body, status, content_type=SCIM_JSON)

    def service_provider_config(self) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {
                "supported": self.bulk,
                "maxOperations": self.max_operations if self.bulk else 0,
                "maxPayloadSize": self.max_payload_size if self.bulk else 0,
            },
            "filter": {"supported": True, "maxResults": self.max_results},
            "changePassword": {"supported": False},
            "sort": {"supported": self.sort_supported},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication scheme using the OAuth Bearer Token Standard",
                }
            ],
        }

    def error_body(self, status: int, message: str) -> Any:
        body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": message}
        if message.startswith(("invalidFilter", "invalidValue")):
            body["scimType"] = message.split(":", 1)[0]
        return body


def apply_operation(resource: dict[str, Any], operation: dict[str, Any]) -> None:
    """One PatchOp operation (RFC 7644 §3.5.2) on a resource; BadRequest when it is not one."""
    op = str(operation.get("op", "")).lower()
    path = operation.get("path")
    value = operation.get("value")
    if op not in ("add", "replace", "remove"):
        raise BadRequest(f"invalidSyntax: unknown op {op!r}")
    if path is None:
        if op == "remove" or not isinstance(value, dict):
            raise BadRequest("noTarget: an operation without a path needs an object value")
        for name, item in value.items():
            apply_operation(resource, {"op": op, "path": name, "value": item})
        return
    container, name = _target(resource, path)
    if op == "remove":
        container.pop(name, None)
    elif isinstance(value, dict) and isinstance(container.get(name), dict):
        container[name].update(value)  # a complex attribute: the sub-attributes given are replaced
    else:
        container[name] = value


def _target(resource: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    if path.startswith("urn:"):
        schema = next((key for key in resource if key.startswith("urn:") and path.startswith(key + ":")), None)
        if schema is None:
            prefix, _, attr = path.rpartition(":")
            if not attr[:1].islower():
                return resource, path  # the whole extension schema
            schema = prefix
        return _target(resource.setdefault(schema, {}), path[len(schema) + 1 :])
    head, _, rest = path.partition(".")
    if rest:
        child = resource.setdefault(head, {})
        if not isinstance(child, dict):
            raise BadRequest(f"invalidPath: {head} is not complex")
        return child, rest
    return resource, head
