"""``$batch`` and ``$metadata`` of the OData fakes: JSON batches (v4.01), multipart/mixed (v2, SAP).

Switches on the fake: ``batch_status`` — answer every ``$batch`` with that status (404, 405, 501:
a service without ``$batch``); ``batch_annotation`` — what ``$metadata`` declares with the
Capabilities vocabulary: None (nothing, so supported by default), ``"supported"``,
``"unsupported"`` (``Capabilities.BatchSupported`` false, by alias) or ``"unsupported_record"``
(``Org.OData.Capabilities.V1.BatchSupport`` with ``Supported`` false).
"""

from __future__ import annotations

import email
import json
import secrets
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from tests.connectors.fakes.server import BadRequest, FakeRequest, FakeResponse

PART_HEAD = b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"


class BatchService:
    """Mixed into the OData fakes, which route, refuse writes and shape errors."""

    root_path: str
    sets: dict[str, Any]
    batches: list[int]
    batch_annotation: str | None
    version: int
    content_type: str

    route: Callable[[FakeRequest], FakeResponse]
    error_body: Callable[[int, str], Any]
    write_allowed: Callable[[FakeRequest], FakeResponse | None]

    def batch(self, request: FakeRequest) -> FakeResponse:
        """OData 4.01 JSON batch: each request routed as if sent alone; answers by id."""
        try:
            requests = json.loads(request.body)["requests"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest("not a JSON batch") from None
        self.batches.append(len(requests))
        answers = []
        for sub in requests:
            headers = Message()
            for name, value in (sub.get("headers") or {}).items():
                headers[name] = value
            path, _, query = str(sub["url"]).partition("?")
            inner = FakeRequest(sub["method"], f"{self.root_path}/{path.lstrip('/')}", query,
                                parse_qs(query, keep_blank_values=True), headers,
                                json.dumps(sub.get("body")).encode() if "body" in sub else b"",
                                request.client_port)  # fmt: skip
            try:
                answer = self.route(inner)
            except BadRequest as exc:
                answer = FakeResponse.json(self.error_body(400, str(exc)), 400)
            body = json.loads(answer.body) if answer.body else None
            answers.append({"id": sub["id"], "status": answer.status, "headers": answer.headers, "body": body})
        return FakeResponse.json({"responses": answers}, content_type=self.content_type)

    def multipart_batch(self, request: FakeRequest) -> FakeResponse:
        """OData v2 multipart/mixed batch as SAP Gateway answers it: 202, one part per change set or query.

        A change set answers its responses in a nested multipart part; one that failed answers the
        error alone in its place (its writes are rolled back — here: a change set holds one write,
        or its first failure stops it). The CSRF token and session of the ``$batch`` POST cover the
        writes inside.
        """
        refused = self.write_allowed(request)
        if refused is not None:
            return refused
        envelope = email.message_from_bytes(
            f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode() + request.body
        )
        if not envelope.is_multipart():
            raise BadRequest("a $batch body must be multipart/mixed")
        outer = f"batchresponse_{secrets.token_hex(8)}"
        chunks: list[bytes] = []
        counted = 0
        for part in envelope.get_payload():
            if part.get_content_type() != "multipart/mixed":  # a query outside any change set
                counted += 1
                chunks.append(PART_HEAD + self._http_answer(self._inner(request, part.get_payload(decode=True))))
                continue
            answers = []
            for sub in part.get_payload():
                answers.append(self._inner(request, sub.get_payload(decode=True)))
                counted += 1
                if answers[-1].status >= 400:
                    break
            if answers and answers[-1].status >= 400:  # the change set failed: its error stands in for it
                chunks.append(PART_HEAD + self._http_answer(answers[-1]))
                continue
            inner = f"changesetresponse_{secrets.token_hex(8)}"
            nested = b"".join(f"--{inner}\r\n".encode() + PART_HEAD + self._http_answer(a) + b"\r\n" for a in answers)
            head = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
            chunks.append(head + nested + f"--{inner}--".encode())
        self.batches.append(counted)
        body = b"".join(f"--{outer}\r\n".encode() + chunk + b"\r\n" for chunk in chunks) + f"--{outer}--\r\n".encode()
        return FakeResponse(202, body, {"Content-Type": f"multipart/mixed; boundary={outer}"})

    def _inner(self, outer: FakeRequest, raw: bytes) -> FakeResponse:
        """One ``application/http`` request of a batch, routed as if sent alone (with the batch's session)."""
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        request_line, *header_lines = head.decode("utf-8").split("\n")
        method, url, _version = request_line.split(" ", 2)
        headers = Message()
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        for name in ("x-csrf-token", "Cookie"):
            if outer.headers.get(name) and not headers.get(name):
                headers[name] = outer.headers[name]
        path, _, query = url.partition("?")
        target = f"{self.root_path}/{path.lstrip('/')}"
        query_args = parse_qs(query, keep_blank_values=True)
        inner = FakeRequest(method, target, query, query_args, headers, body.strip(), outer.client_port)
        try:
            return self.route(inner)
        except BadRequest as exc:
            return FakeResponse.json(self.error_body(400, str(exc)), 400)

    @staticmethod
    def _http_answer(answer: FakeResponse) -> bytes:
        reason = HTTPStatus(answer.status).phrase
        head = [f"HTTP/1.1 {answer.status} {reason}"] + [f"{k}: {v}" for k, v in answer.headers.items()]
        head.append(f"Content-Length: {len(answer.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + answer.body

    def metadata(self) -> str:
        """The service's CSDL; ``batch_annotation`` says what it declares about ``$batch``."""
        annotations = {
            None: "",
            "supported": '<Annotation Term="Capabilities.BatchSupported" Bool="true"/>',
            "unsupported": '<Annotation Term="Capabilities.BatchSupported" Bool="false"/>',
            "unsupported_record": '<Annotation Term="Org.OData.Capabilities.V1.BatchSupport"><Record>'
            '<PropertyValue Property="Supported" Bool="false"/></Record></Annotation>',
        }[self.batch_annotation]
        sets = "".join(f'<EntitySet Name="{name}" EntityType="API.{name}Type"/>' for name in self.sets)
        edmx, edm = "http://docs.oasis-open.org/odata/ns/edmx", "http://docs.oasis-open.org/odata/ns/edm"
        if self.version == 2:
            edmx, edm = "http://schemas.microsoft.com/ado/2007/06/edmx", "http://schemas.microsoft.com/ado/2008/09/edm"
        vocabulary = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"
        return (
            f'<?xml version="1.0" encoding="utf-8"?><edmx:Edmx xmlns:edmx="{edmx}" Version="{self.version}.0">'
            f'<edmx:Reference Uri="{vocabulary}">'
            '<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>'
            f'<edmx:DataServices><Schema xmlns="{edm}" Namespace="API">'
            f'<EntityContainer Name="Container">{sets}{annotations}</EntityContainer>'
            "</Schema></edmx:DataServices></edmx:Edmx>"
        )
