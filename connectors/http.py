"""The HTTP client every HTTP protocol shares: auth, timeouts, rate limit, retries, reuse.

One :class:`requests.Session` per connector keeps connections alive between pages and between
the writes of a push round (several at once when a round sends in parallel, :meth:`HttpClient.widen`). Failures
are translated into the connector error hierarchy; 429 and 503 are retried after the server's
``Retry-After`` (delta-seconds or an HTTP-date) when that wait is short enough, other transient
failures of idempotent requests with exponential backoff and jitter; past the configured
attempts the :class:`~connectors.errors.TransientError` carries ``retry_after`` for the caller.

Connection ``options`` read here: ``headers`` (extra request headers), ``query`` (parameters
added to every first request, e.g. ``{"sap-client": "100"}``), ``max_retries`` (default 2),
``max_retry_after`` (longest wait honoured in-process, default 30 s), ``oauth2_client_auth``
(``basic`` — RFC 6749 §2.3.1, the default — or ``post``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urljoin, urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from connectors.crypto import SecretError
from connectors.errors import AuthError, ConfigurationError, ConnectorError, PayloadError, TransientError
from masterdata.observability.http import ObservedAdapter

if TYPE_CHECKING:
    from connectors.models import Connection

log = logging.getLogger(__name__)

USER_AGENT = "mdm-hub-connector/1.0"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_ALWAYS = frozenset({429, 503})  # the server did not process the request
ERROR_BODY_EXCERPT = 500
QUERY_SAFE = "$'(),:/@"


def encode_query(params: dict[str, Any] | list[tuple[str, Any]]) -> str:
    """Percent-encoding that keeps ``$``, quotes and colons readable and spaces as ``%20`` (never ``+``,
    which OData and SCIM servers need not read as a space)."""
    pairs = list(params.items()) if isinstance(params, dict) else params
    return urlencode([(str(k), str(v)) for k, v in pairs], quote_via=quote, safe=QUERY_SAFE)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3): delta-seconds or HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """Spaces requests evenly: at most ``per_second`` starts per second, shared by threads."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class BearerAuth(AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class ApiKeyAuth(AuthBase):
    def __init__(self, header: str, key: str) -> None:
        self.header, self.key = header, key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.key
        return request


class OAuth2ClientCredentials(AuthBase):
    """OAuth2 client-credentials grant (RFC 6749 §4.4): a cached token, fetched again before it expires."""

    refreshable = True

    def __init__(
        self,
        session: requests.Session,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str = "",
        client_auth: str = "basic",
        timeout: float = 30.0,
        extra: dict[str, str] | None = None,
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ConfigurationError("oauth2_client_auth must be 'basic' or 'post'.")
        self.session = session
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.scope, self.client_auth, self.timeout, self.extra = scope, client_auth, timeout, extra or {}
        self.token: str | None = None
        self.expires_at: float | None = None
        self.fetched = 0
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return request

    def invalidate(self) -> None:
        with self._lock:
            self.token = None

    def current_token(self) -> str:
        with self._lock:
            if self.token is None or (self.expires_at is not None and time.monotonic() >= self.expires_at):
                self._fetch()
            return self.token  # type: ignore[return-value]

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", **self.extra}
        if self.scope:
            form["scope"] = self.scope
        auth = None
        if self.client_auth == "basic":  # RFC 6749 §2.3.1: form-urlencode both before Basic
            auth = HTTPBasicAuth(quote_plus(self.client_id), quote_plus(self.client_secret))
        else:
            form.update(client_id=self.client_id, client_secret=self.client_secret)
        try:
            response = self.session.post(
                self.token_url, data=form, auth=auth, timeout=self.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}", url=self.token_url) from exc
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"token request refused: {_oauth_error(response)}", status=response.status_code, url=self.token_url
            )
        if response.status_code >= 400:
            raise TransientError(
                "token endpoint failed",
                status=response.status_code,
                url=self.token_url,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        body = decode_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise PayloadError("token response has no access_token", raw=response.text, url=self.token_url)
        self.token = token
        self.fetched += 1
        expires_in = body.get("expires_in")
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        # Renew a little early so a token does not expire between the check and the request.
        self.expires_at = None if lifetime is None else time.monotonic() + lifetime - min(30.0, lifetime / 10)


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return " — ".join(str(body[k]) for k in ("error", "error_description") if body.get(k)) or "refused"
    return "refused"


def decode_json(response: requests.Response) -> Any:
    """The JSON body, or a PayloadError that keeps the raw text."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(
            f"malformed JSON: {exc}", raw=response.text, status=response.status_code, url=response.url
        ) from exc


def error_detail(response: requests.Response) -> str:
    """A short, secret-free description of an error response (JSON error fields or a body excerpt)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:ERROR_BODY_EXCERPT].strip() or response.reason or "error"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # OData: {"error": {"code", "message"}}; v2 message is {"value": …}
            message = error.get("message")
            message = message.get("value") if isinstance(message, dict) else message
            return " ".join(str(p) for p in (error.get("code"), message) if p) or "error"
        for name in ("detail", "error_description", "message", "error"):
            if body.get(name):
                return str(body[name])[:ERROR_BODY_EXCERPT]
    return response.text[:ERROR_BODY_EXCERPT]


class HttpClient:
    """Requests against one connection's base URL, with its auth and limits."""

    def __init__(self, connection: Connection, *, accept: str = "application/json") -> None:
        self.connection = connection
        self.base_url = connection.base_url.rstrip("/") + "/"
        self.timeout = float(connection.timeout_seconds)
        self.max_retries = int(connection.option("max_retries", 2))
        self.max_retry_after = float(connection.option("max_retry_after", 30))
        self.default_query: dict[str, str] = dict(connection.option("query", {}) or {})
        self.limiter = RateLimiter(connection.rate_limit_per_second)
        self.session = requests.Session()
        self.session.verify = connection.verify_tls
        # Stamps X-Request-ID on every call and times it (mdm_external_call_seconds).
        self.pool_size = 0
        self.widen(8)
        self.session.headers.update({"Accept": accept, "User-Agent": USER_AGENT})
        self.session.headers.update(connection.option("headers", {}) or {})
        self.auth = self._build_auth()
        self.requests_sent = 0

    def widen(self, connections: int) -> None:
        """Keep at least ``connections`` kept-alive connections per host (for requests sent in parallel)."""
        if connections <= self.pool_size:
            return
        self.pool_size = connections
        adapter = ObservedAdapter.for_connection(self.connection, pool_connections=4, pool_maxsize=connections)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _build_auth(self) -> AuthBase | None:
        conn = self.connection
        try:
            if conn.auth_type == "none":
                return None
            if conn.auth_type == "basic":
                return HTTPBasicAuth(conn.username, conn.secret.reveal())
            if conn.auth_type == "bearer":
                return BearerAuth(conn.secret.reveal())
            if conn.auth_type == "api_key":
                return ApiKeyAuth(conn.api_key_header or "X-API-Key", conn.secret.reveal())
            if conn.auth_type == "oauth2_client_credentials":
                return OAuth2ClientCredentials(
                    self.session,
                    token_url=conn.token_url,
                    client_id=conn.client_id,
                    client_secret=conn.client_secret.reveal(),
                    scope=conn.scope,
                    client_auth=conn.option("oauth2_client_auth", "basic"),
                    timeout=self.timeout,
                    extra=conn.option("oauth2_extra", None),
                )
        except SecretError as exc:
            raise ConfigurationError(str(exc)) from exc
        raise ConfigurationError(f"Unknown auth type {conn.auth_type!r}.")

    def url(self, path_or_url: str) -> str:
        """Absolute URL: an absolute one as given, a relative one against the base URL."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        retries: int | None = None,
    ) -> requests.Response:
        """Send with auth, rate limit and retries; a 2xx/3xx response or a ConnectorError.

        ``retries`` overrides the connection's ``max_retries`` for this call (push delivery
        passes 0: it retries on its own schedule instead of sleeping in a worker)."""
        url = self.url(path_or_url)
        params = self._with_default_query(url, encode_query(params) if isinstance(params, dict) else params)
        method = method.upper()
        attempt = 0
        refreshed = False
        while True:
            self.limiter.wait()
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    json=json_body,
                    data=data,
                    auth=self.auth,
                    timeout=self.timeout,
                )
            except requests.Timeout as exc:
                error: TransientError = TransientError(f"timed out after {self.timeout:g}s", url=url)
                error.__cause__ = exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # ChunkedEncodingError: the connection closed halfway through the answer.
                error = TransientError(f"connection failed: {type(exc).__name__}", url=url)
                error.__cause__ = exc
            else:
                status = response.status_code
                log.debug("%s %s → %s", method, response.url, status)
                if status < 400:
                    return response
                if status == 401 and getattr(self.auth, "refreshable", False) and not refreshed:
                    self.auth.invalidate()  # type: ignore[union-attr]
                    refreshed = True
                    continue
                if status in (401, 403):
                    raise AuthError(error_detail(response), status=status, url=response.url)
                if status != 429 and status < 500:
                    raise ConnectorError(error_detail(response), status=status, url=response.url)
                error = TransientError(
                    error_detail(response),
                    status=status,
                    url=response.url,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            if not self._should_retry(method, error, attempt, self.max_retries if retries is None else retries):
                raise error
            time.sleep(error.retry_after if error.retry_after is not None else self._backoff(attempt))
            attempt += 1

    def _with_default_query(self, url: str, params: str | None) -> str | None:
        """Add the connection's fixed parameters (``sap-client``…) unless the URL or params carry them."""
        if not self.default_query:
            return params
        present = set(parse_qs(urlsplit(url).query, keep_blank_values=True))
        present |= set(parse_qs(params or "", keep_blank_values=True))
        extra = encode_query({name: value for name, value in self.default_query.items() if name not in present})
        if not extra:
            return params
        return f"{params}&{extra}" if params else extra

    def _should_retry(self, method: str, error: TransientError, attempt: int, limit: int) -> bool:
        if attempt >= limit:
            return False
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return False
        return method in IDEMPOTENT or error.status in RETRY_ALWAYS

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)  # jitter, not cryptography

    def get_json(
        self, path_or_url: str, *, params: dict[str, Any] | str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[Any, requests.Response]:
        response = self.request("GET", path_or_url, params=params, headers=headers)
        return decode_json(response), response

    def fetch_csrf_token(self, path_or_url: str = "") -> str:
        """SAP Gateway's CSRF token for writes: GET with ``x-csrf-token: Fetch``; the session keeps the cookies."""
        response = self.request("GET", path_or_url, headers={"x-csrf-token": "Fetch"})
        token = response.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise ConnectorError(
                "the service did not hand out a CSRF token", status=response.status_code, url=response.url
            )
        self.session.headers["x-csrf-token"] = token
        return token

    def close(self) -> None:
        self.session.close()
