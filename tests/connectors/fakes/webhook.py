"""A consumer's webhook endpoint: checks the hub's signature the way a receiver should, records batches.

``POST /hooks/mdm`` with ``X-MDM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``:
a bad or stale signature is refused with 401; a valid batch is recorded in ``batches`` (every
arrival) and, once per ``X-MDM-Batch`` id, its events in ``events`` (what a receiver keeps).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.connectors.fakes.server import FakeRequest, FakeResponse, FakeServer


class WebhookReceiver(FakeServer):
    root_path = "/hooks/mdm"

    def __init__(self, secret: str, *, tolerance: float = 300) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.batches: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        self._seen: set[str] = set()

    def route(self, request: FakeRequest) -> FakeResponse:
        if request.path != self.root_path or request.method != "POST":
            return FakeResponse.json({"error": "not found"}, 404)
        if not self.signed(request):
            self.refused += 1
            return FakeResponse.json({"error": "bad signature"}, 401)
        batch = json.loads(request.body)
        self.batches.append(batch)
        batch_id = request.headers.get("X-MDM-Batch", "")
        if batch_id not in self._seen:
            self._seen.add(batch_id)
            self.events.extend(batch["events"])
        return FakeResponse(204)

    def signed(self, request: FakeRequest) -> bool:
        fields = dict(p.split("=", 1) for p in (request.headers.get("X-MDM-Signature") or "").split(",") if "=" in p)
        if not fields.get("t", "").isdigit() or abs(time.time() - int(fields["t"])) > self.tolerance:
            return False
        signed = fields["t"].encode() + b"." + request.body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))
