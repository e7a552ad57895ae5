"""An OAuth2 authorisation server's token endpoint for the client-credentials grant (RFC 6749 §4.4).

``POST /oauth2/token`` with a form body ``grant_type=client_credentials`` (and ``scope``);
the client authenticates with HTTP Basic (``client_secret_basic``) or in the form
(``client_secret_post``). Tokens come from a :class:`TokenIssuer` that resource fakes share, so
expiry (``lifetime``) and revocation (``issuer.revoke_all()``) are observable end to end.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from tests.connectors.fakes.server import FakeRequest, FakeResponse, FakeServer, TokenIssuer


class OAuthFake(FakeServer):
    root_path = ""

    def __init__(self, issuer: TokenIssuer) -> None:
        super().__init__()
        self.issuer = issuer

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/token"

    def needs_auth(self, request: FakeRequest) -> bool:
        return False  # the client authenticates to the token endpoint itself, below

    def route(self, request: FakeRequest) -> FakeResponse:
        if request.path != "/oauth2/token":
            return FakeResponse.json({"error": "not_found"}, 404)
        if request.method != "POST":
            return FakeResponse.json({"error": "invalid_request", "error_description": "POST only"}, 405)
        if "application/x-www-form-urlencoded" not in (request.headers.get("Content-Type") or ""):
            return self._error(400, "invalid_request", "form-encoded body required")
        form = request.form()
        client_id, secret = self._client(request, form)
        if client_id is None or self.issuer.clients.get(client_id) != secret:
            response = self._error(401, "invalid_client", "client authentication failed")
            response.headers["WWW-Authenticate"] = 'Basic realm="token"'
            return response
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type", form.get("grant_type") or "missing")
        if self.issuer.scope and form.get("scope", "") != self.issuer.scope:
            return self._error(400, "invalid_scope", form.get("scope") or "missing")
        body: dict[str, Any] = {
            "access_token": self.issuer.issue(),
            "token_type": "Bearer",
            "expires_in": self.issuer.lifetime,
        }
        if self.issuer.scope:
            body["scope"] = self.issuer.scope
        return FakeResponse.json(body, **{"Cache-Control": "no-store", "Pragma": "no-cache"})

    @staticmethod
    def _client(request: FakeRequest, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization") or ""
        if header.lower().startswith("basic "):
            decoded = base64.b64decode(header[6:]).decode("utf-8")
            client_id, _, secret = decoded.partition(":")
            return unquote(client_id), unquote(secret)  # RFC 6749 §2.3.1: form-urlencoded before Basic
        if "client_id" in form:
            return form["client_id"], form.get("client_secret")
        return None, None

    @staticmethod
    def _error(status: int, error: str, description: str) -> FakeResponse:
        return FakeResponse.json({"error": error, "error_description": description}, status)
