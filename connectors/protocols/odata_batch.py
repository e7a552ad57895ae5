"""OData ``$batch`` on the wire: whether a service takes it, and the two formats it comes in.

* **Support.** Per the Capabilities vocabulary (``Org.OData.Capabilities.V1``) a service supports
  ``$batch`` unless its ``$metadata`` says otherwise: the term ``BatchSupported`` (a Boolean) or
  the record ``BatchSupport`` with ``Supported`` false, under the full namespace or the alias the
  document declares. What a connection's service said — or a ``$batch`` answered 404, 405 or 501 —
  is remembered per connection (:mod:`connectors.protocols.capabilities`).
* **JSON** (OData 4.01 JSON Format §19): ``{"requests": [{"id", "method", "url", "headers",
  "body"}]}`` answered by ``{"responses": [{"id", "status", "headers", "body"}]}``.
* **multipart/mixed** (OData v2, as SAP Gateway serves it): one change set per write, so that a
  refused write does not roll back the others; each part an ``application/http`` request,
  answered in the same order by a change set holding the response — or, when the change set
  failed, by the error response in its place.

An answer is a :class:`BatchAnswer` either way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

CAPABILITIES = "Org.OData.Capabilities.V1"
_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})")
_FALSE = {"false", "0"}


@dataclass
class BatchRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class BatchAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    """Header names in lower case."""
    body: Any = None


# --- is $batch supported? ----------------------------------------------------------------------------
def batch_supported_in_metadata(xml_text: str) -> bool:
    """False only when the CSDL says ``$batch`` is unsupported; true by the vocabulary's default."""
    try:
        root = ElementTree.fromstring(xml_text)  # the configured service's own metadata
    except ElementTree.ParseError:
        return True
    aliases = {CAPABILITIES}
    for element in root.iter():
        is_declaration = _local(element.tag) in ("Include", "Schema") and element.get("Namespace") == CAPABILITIES
        if is_declaration and element.get("Alias"):
            aliases.add(element.get("Alias", ""))
    for annotation in root.iter():
        if _local(annotation.tag) != "Annotation":
            continue
        namespace, _, term = (annotation.get("Term") or "").rpartition(".")
        if namespace not in aliases:
            continue
        if term == "BatchSupported" and _boolean(annotation) is False:
            return False
        if term == "BatchSupport":
            for value in annotation.iter():
                supported = _local(value.tag) == "PropertyValue" and value.get("Property") == "Supported"
                if supported and _boolean(value) is False:
                    return False
    return True


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _boolean(element: ElementTree.Element) -> bool | None:
    """A Boolean annotation value: ``Bool="false"``, a ``<Bool>`` child, or true when none is given."""
    if element.get("Bool") is not None:
        return element.get("Bool", "").strip().lower() not in _FALSE
    for child in element:
        if _local(child.tag) == "Bool":
            return (child.text or "").strip().lower() not in _FALSE
    return True


# --- JSON batch (OData 4.01) ------------------------------------------------------------------------
def json_batch(requests: list[BatchRequest]) -> dict[str, Any]:
    items = []
    for number, request in enumerate(requests):
        item: dict[str, Any] = {"id": str(number), "method": request.method, "url": request.url}
        if request.headers:
            item["headers"] = request.headers
        if request.body is not None:
            item["body"] = request.body
        items.append(item)
    return {"requests": items}


def parse_json_batch(body: Any, count: int) -> list[BatchAnswer] | str:
    """The answers by request id, in request order; a message when the answer is not a batch of them."""
    responses = body.get("responses") if isinstance(body, Mapping) else None
    if not isinstance(responses, list):
        return "the $batch answer has no responses"
    by_id = {str(r.get("id")): r for r in responses if isinstance(r, Mapping)}
    missing = [str(n) for n in range(count) if str(n) not in by_id]
    if missing:
        return f"the $batch answer lacks request(s) {', '.join(missing)}"
    answers = []
    for number in range(count):
        answer = by_id[str(number)]
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        answers.append(BatchAnswer(_status(answer.get("status")), headers, answer.get("body")))
    return answers


def _status(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- multipart/mixed batch (OData v2) -----------------------------------------------------------------
def multipart_batch(requests: list[BatchRequest]) -> tuple[bytes, str]:
    """The body and its Content-Type: one change set per request."""
    batch = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for number, request in enumerate(requests, start=1):
        changeset = f"changeset_{uuid.uuid4()}"
        lines += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                  f"Content-ID: {number}", ""]  # fmt: skip
        lines.append(f"{request.method} {request.url} HTTP/1.1")
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        payload = "" if request.body is None else json.dumps(request.body, ensure_ascii=False)
        if request.body is not None:
            lines.append(f"Content-Length: {len(payload.encode('utf-8'))}")
        lines += ["", payload, f"--{changeset}--", ""]
    lines.append(f"--{batch}--")
    return "\r\n".join(lines).encode("utf-8"), f"multipart/mixed; boundary={batch}"


def parse_multipart_batch(content_type: str, body: bytes, count: int) -> list[BatchAnswer] | str:
    """One answer per change set, in order; a message when the answer cannot be read as one."""
    answers: list[BatchAnswer] = []
    for headers, content in _parts(content_type, body):
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            inner = [_http_response(part) for part_headers, part in _parts(inner_type, content)]
            answers.extend(answer for answer in inner if answer is not None)
        else:
            answer = _http_response(content)
            if answer is not None:
                answers.append(answer)
    if len(answers) != count:
        return f"the $batch answer holds {len(answers)} response(s) for {count} request(s)"
    return answers


def _parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    match = _BOUNDARY_RE.search(content_type)
    if not match:
        return []
    delimiter = b"--" + match.group(1).encode("ascii")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        headers, content = _split_head(chunk.lstrip(b"\r\n"))
        parts.append((headers, content.removesuffix(b"\r\n").removesuffix(b"\n")))
    return parts


def _split_head(chunk: bytes) -> tuple[dict[str, str], bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = chunk.partition(separator)
        if found:
            break
    else:
        return {}, chunk
    headers = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _http_response(content: bytes) -> BatchAnswer | None:
    """An ``application/http`` response: status line, headers, a JSON (or empty) body."""
    status_line, _, rest = content.lstrip(b"\r\n").partition(b"\n")
    match = _STATUS_LINE_RE.match(status_line.decode("latin-1").strip())
    if not match:
        return None
    headers, payload = _split_head(rest) if rest.strip() else ({}, b"")
    if not headers and payload == rest:  # no blank line: headers only
        headers, payload = _split_head(rest + b"\r\n\r\n")
    payload = payload.strip()
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = payload.decode("utf-8", "replace")
    return BatchAnswer(int(match.group(1)), headers, parsed)
