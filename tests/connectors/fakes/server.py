"""The harness every fake system shares: a real HTTP server on 127.0.0.1, auth, fault switches.

A fake is a :class:`FakeServer` subclass that implements :meth:`FakeServer.route`. Start it as a
context manager (or ``start()``/``stop()``); ``base_url`` is the service root a connection points
at. Every request is recorded in ``requests``. Faults are queued with :meth:`FakeServer.inject`
(status, body, headers, delay; for ``times`` matching requests, after letting ``after`` pass) and
the helpers :meth:`fail`, :meth:`malformed`, :meth:`slow`. Faults that strike *after* the fake
has done the work — the nastiest for a writer, who cannot know whether it arrived — are
:meth:`hang_after` (the answer comes later than the client waits) and :meth:`cut_after` (the
connection closes halfway through the answer).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MALFORMED_JSON = '{"value": [{"id": "1", "name": "cut off here'


@dataclass
class FakeRequest:
    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client_port: int

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False
    """Send the headers and half the body, then close the connection."""

    @classmethod
    def json(cls, data: Any, status: int = 200, *, content_type: str = "application/json", **headers: str):
        body = json.dumps(data, default=json_default, ensure_ascii=False).encode("utf-8")
        return cls(status, body, {"Content-Type": f"{content_type}; charset=utf-8", **headers})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "application/json"):
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds") + "Z"


@dataclass
class Fault:
    status: int | None = 500
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    after: int = 0
    path: str | None = None
    """Only requests whose path contains this."""
    method: str | None = None
    """Only requests of this method."""
    after_processing: bool = False
    """Do the work first, then spoil the answer (``delay`` it, or ``cut`` it)."""
    cut: bool = False

    def matches(self, request: FakeRequest) -> bool:
        return (self.path is None or self.path in request.path) and (
            self.method is None or self.method == request.method
        )


class TokenIssuer:
    """OAuth2 access tokens shared by a token endpoint and the resource servers that accept them."""

    def __init__(self, clients: dict[str, str], lifetime: float = 3600, scope: str = "") -> None:
        self.clients = dict(clients)
        self.lifetime = lifetime
        self.scope = scope
        self.tokens: dict[str, float] = {}
        self.issued = 0
        self._lock = threading.Lock()

    def issue(self) -> str:
        with self._lock:
            self.issued += 1
            token = f"tok-{self.issued}-{time.monotonic_ns()}"
            self.tokens[token] = time.monotonic() + self.lifetime
            return token

    def valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()


@dataclass
class AuthPolicy:
    """Who may call: bearer tokens, basic users, API keys, tokens of an issuer; or anyone when ``open``."""

    bearer_tokens: set[str] = field(default_factory=set)
    forbidden_tokens: set[str] = field(default_factory=set)
    basic: dict[str, str] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    issuer: TokenIssuer | None = None
    open: bool = False

    def check(self, request: FakeRequest) -> int | None:
        """None when allowed, else 401 or 403."""
        if self.open:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer":
            if credential in self.forbidden_tokens:
                return 403
            if credential in self.bearer_tokens or (self.issuer and self.issuer.valid(credential)):
                return None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credential).decode("utf-8").partition(":")
            except ValueError:
                return 401
            if self.basic.get(user) == password and user:
                return None
        for name, key in self.api_keys.items():
            if request.headers.get(name) == key:
                return None
        return 401


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    wbufsize = 64 * 1024  # headers and body leave in one write…
    disable_nagle_algorithm = True  # …at once (no 40 ms delayed-ACK stall per request)
    server: _Server

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = FakeRequest(
            self.command,
            parts.path,
            parts.query,
            parse_qs(parts.query, keep_blank_values=True),
            self.headers,
            body,
            self.client_address[1],
        )
        response = self.server.fake.dispatch(request)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.cut:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # the client gave up waiting (a hang it timed out on)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_MERGE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """Base of the fakes: serving, recording, auth and faults; subclasses route."""

    root_path = ""
    realm = "fake"

    def __init__(self, auth: AuthPolicy | None = None) -> None:
        self.auth = auth or AuthPolicy(open=True)
        self.requests: list[FakeRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the fake first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.url + self.root_path

    # --- faults --------------------------------------------------------------------------------
    def inject(self, status: int | None = 500, body: bytes | str = b"", **kwargs: Any) -> Fault:
        fault = Fault(status=status, body=body, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, status: int, *, retry_after: str | None = None, **kwargs: Any) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = json.dumps(self.error_body(status, f"injected {status}"))
        return self.inject(status, body, headers={"Content-Type": "application/json", **headers}, **kwargs)

    def malformed(self, body: str = MALFORMED_JSON, **kwargs: Any) -> Fault:
        return self.inject(200, body, headers={"Content-Type": self.content_type}, **kwargs)

    def slow(self, delay: float, **kwargs: Any) -> Fault:
        return self.inject(None, delay=delay, **kwargs)

    def hang_after(self, delay: float, **kwargs: Any) -> Fault:
        """The request is carried out, but its answer comes ``delay`` seconds late."""
        return self.inject(None, delay=delay, after_processing=True, **kwargs)

    def cut_after(self, **kwargs: Any) -> Fault:
        """The request is carried out, then the connection closes halfway through the answer."""
        return self.inject(None, after_processing=True, cut=True, **kwargs)

    def _take_fault(self, request: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times <= 0 or not fault.matches(request):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    # --- dispatch --------------------------------------------------------------------------------
    content_type = "application/json"

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None and fault.after_processing:
            response = self._answer(request)
            if fault.delay:
                time.sleep(fault.delay)
            response.cut = fault.cut
            return response
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                body = fault.body.encode("utf-8") if isinstance(fault.body, str) else fault.body
                return FakeResponse(fault.status, body, dict(fault.headers))
        return self._answer(request)

    def _answer(self, request: FakeRequest) -> FakeResponse:
        if self.needs_auth(request):
            denied = self.auth.check(request)
            if denied:
                response = FakeResponse.json(
                    self.error_body(denied, "unauthorised" if denied == 401 else "forbidden"),
                    denied,
                    content_type=self.content_type,
                )
                if denied == 401:
                    response.headers["WWW-Authenticate"] = f'Bearer realm="{self.realm}"'
                return response
        try:
            return self.route(request)
        except BadRequest as exc:
            return FakeResponse.json(self.error_body(400, str(exc)), 400, content_type=self.content_type)

    def needs_auth(self, request: FakeRequest) -> bool:
        return True

    def route(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(self.error_body(404, "no such resource"), 404)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "status": status}

    # --- inspection ------------------------------------------------------------------------------
    def requests_to(self, path_part: str) -> list[FakeRequest]:
        return [r for r in self.requests if path_part in r.path]


class KeyIndex:
    """Finds a record by key in a list that tests may also change directly (as a real system would: by index).

    Records appended since the last look are indexed then; a list that shrank or was replaced, or
    a hit whose key changed in place, rebuilds the index.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.records: list[dict[str, Any]] | None = None
        self.positions: dict[str, int] = {}
        self.indexed = 0

    def find(self, records: list[dict[str, Any]], value: str) -> dict[str, Any] | None:
        if self.records is not records or len(records) < self.indexed:
            self.records, self.positions, self.indexed = records, {}, 0
        for position in range(self.indexed, len(records)):
            self.positions.setdefault(str(records[position].get(self.key)), position)
        self.indexed = len(records)
        position = self.positions.get(value)
        if position is None or str(records[position].get(self.key)) == value:
            return None if position is None else records[position]
        self.records = None  # changed in place: index again
        return self.find(records, value)


class BadRequest(Exception):
    """Raised by routes for a 400 in the protocol's error format."""
