"""Bulk writes to a REST API that documents one: many records per request, one answer per record.

Many JSON APIs take a list of records in one request and answer each record on its own — Zoho
CRM's ``POST /crm/v2/<module>/upsert`` (``{"data": [...]}`` → ``{"data": [{"status": "success",
"details": {"id"}}, …]}``), Salesforce's sObject Collections (``{"records": [...]}`` → ``[{"id",
"success", "errors"}]``), HubSpot's ``…/batch/upsert`` (``{"inputs": [...]}`` → ``{"results":
[...]}``). A push target says how its API does it (:class:`BulkWrite`, the target's ``bulk``
setting); without one every record is its own request.

What does not change: each record is judged alone. A record the API refuses is that record's
failure (parked, or retried when its code is one of ``retry_codes`` or its status says "not
now"); the others are delivered. A request that fails as a whole fails every record in it, and
after a transient failure no further request starts. A record whose answer is missing — or a
whole request whose answer is lost — is retried, and a create that may have arrived is looked up
before it is sent again (singly, as are updates that carry an ETag: bulk APIs take no
``If-Match``, and a record the target gave an ETag keeps its precondition).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from connectors.errors import ConfigurationError, ConnectorError, PayloadError, TransientError
from connectors.protocols.base import Outgoing, PushSpec, Record, RecordRefused, Sent, dig, error_for_status
from connectors.protocols.capabilities import connection_key, remember, remembered
from connectors.protocols.chunked import refuse_unsupported, send_in_chunks

METHODS = ("POST", "PUT", "PATCH")
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class BulkWrite:
    """How one API takes records in bulk.

    ``path``/``method``: where every record goes (an upsert), or only creates when ``update_path``
    (and ``update_method``) take the updates. ``max_items``: records per request (the API's
    documented limit). ``items_key``: the request body's member holding the records; ``extra``:
    constant members beside it (``{"allOrNone": false}``); ``item_extra``: constant members of each
    record (``{"attributes": {"type": "Account"}}``); ``item_key_field``: where an update carries
    the target's key (``id``). ``results_path``: where the answers are (empty: the body is the
    list); ``match``: ``position`` (answers in request order) or the path in each answer holding
    the record's lookup value. ``status_field``: each answer's outcome — an HTTP status, or a value
    in ``success_values`` for success; ``key_field``: the key of a created record in its answer
    (default: the push target's key field); ``message_field``, ``code_field``: why a record was
    refused; ``retry_codes``: codes meaning "not now" (retried, not parked).
    """

    path: str
    items_key: str
    method: str = "POST"
    update_path: str = ""
    update_method: str = ""
    max_items: int = 100
    extra: Mapping[str, Any] = field(default_factory=dict)
    item_extra: Mapping[str, Any] = field(default_factory=dict)
    item_key_field: str = ""
    results_path: str = ""
    match: str = "position"
    status_field: str = "status"
    success_values: tuple[Any, ...] = (True, "success")
    key_field: str = ""
    message_field: str = "message"
    code_field: str = "code"
    retry_codes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BulkWrite:
        problems = bulk_errors(data)
        if problems:
            raise ConfigurationError("bulk: " + "; ".join(problems))
        values = dict(data)
        for name in ("success_values", "retry_codes"):
            if name in values:
                values[name] = tuple(values[name])
        values["method"] = str(values.get("method", "POST")).upper()
        values["update_method"] = str(values.get("update_method") or values["method"]).upper()
        return cls(**values)


_TEXT = ("path", "items_key", "update_path", "item_key_field", "results_path", "match", "status_field", "key_field",
         "message_field", "code_field")  # fmt: skip


def bulk_errors(data: Any) -> list[str]:
    """Every problem of a ``bulk`` setting (empty when sound); an empty setting means no bulk writes."""
    if not isinstance(data, Mapping):
        return ["must be an object"]
    known = {f.name for f in fields(BulkWrite)}
    problems = [f"unknown key {key!r}" for key in sorted(set(data) - known)]
    for key in ("path", "items_key"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(f"{key} is required")
    for key in _TEXT:
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key} must be text")
    for key in ("method", "update_method"):
        if key in data and str(data[key]).upper() not in METHODS:
            problems.append(f"{key} must be one of {', '.join(METHODS)}")
    size = data.get("max_items", 100)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_ITEMS:
        problems.append(f"max_items must be a whole number from 1 to {MAX_ITEMS}")
    for key in ("extra", "item_extra"):
        if key in data and not isinstance(data[key], Mapping):
            problems.append(f"{key} must be an object")
    if isinstance(data.get("extra"), Mapping) and data.get("items_key") in data["extra"]:
        problems.append("extra cannot hold the items key")
    for key in ("success_values", "retry_codes"):
        if key in data and not isinstance(data[key], list):
            problems.append(f"{key} must be a list")
    if isinstance(data.get("retry_codes"), list) and not all(isinstance(c, str) for c in data["retry_codes"]):
        problems.append("retry_codes must be a list of texts")
    return problems


class BulkSender:
    """Sends one round's items in bulk requests; ``single`` sends the items bulk cannot take one by one."""

    def __init__(self, connector: Any, spec: PushSpec, bulk: BulkWrite, single: Callable[..., list[Sent]]) -> None:
        self.connector, self.spec, self.bulk, self.single = connector, spec, bulk, single
        self.capability = connection_key(connector.connection, f"rest-bulk:{bulk.path}")
        self.outcome, self.message = _reader(bulk.status_field), _reader(bulk.message_field)
        self.code, self.key = _reader(bulk.code_field), _reader(bulk.key_field or spec.key_field)

    def send(self, items: list[Outgoing]) -> list[Sent]:
        if remembered(self.capability) is False:
            return self.single(self.spec, items)
        results: dict[int, Sent] = {}
        alone = [item for item in items if (item.key is None and item.recover) or (item.key is not None and item.etag)]
        for item, sent in zip(alone, self.single(self.spec, alone), strict=True):
            results[id(item)] = sent
        creates = [item for item in items if id(item) not in results and item.key is None]
        updates = [item for item in items if id(item) not in results and item.key is not None]
        size = self.bulk.max_items
        chunks = [group[start : start + size] for group in (creates, updates) for start in range(0, len(group), size)]

        def write(chunk: list[Outgoing]) -> list[Sent]:
            bulk = self.bulk  # a chunk holds creates only or updates only
            if chunk[0].key is None:
                method, path = bulk.method, bulk.path
            else:
                method, path = bulk.update_method, bulk.update_path or bulk.path
            status, answers = self._request(method, path, chunk)
            return [self._result(item, answer, status) for item, answer in zip(chunk, answers, strict=True)]

        return send_in_chunks(
            items,
            chunks,
            results,
            write,
            lambda rest: self.single(self.spec, rest),
            lambda: remember(self.capability, False),
        )

    # --- one request --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, chunk: Sequence[Outgoing]) -> tuple[int, list[Record | None]]:
        body = {**self.bulk.extra, self.bulk.items_key: [self._item(item) for item in chunk]}
        try:
            response = self.connector.http.request(method, path, json_body=body, retries=0)
        except ConnectorError as exc:
            refuse_unsupported(exc)
            raise
        try:
            answer = response.json()
        except ValueError as exc:
            raise PayloadError("the bulk answer is not JSON", raw=response.text, url=response.url) from exc
        listed = dig(answer, self.bulk.results_path or None)
        if not isinstance(listed, list):
            raise PayloadError("the bulk answer holds no list of results", raw=response.text[:2000], url=response.url)
        return response.status_code, self._align(chunk, listed, response)

    def _item(self, item: Outgoing) -> Record:
        if item.key is None:
            return {**self.bulk.item_extra, **item.body}
        record = {**self.bulk.item_extra, **item.patch}
        lookup = self.spec.lookup_field
        if lookup and item.lookup_value is not None and dig(record, lookup) is None:
            _put(record, lookup, item.lookup_value)  # an upsert finds the record by it
        if self.bulk.item_key_field:
            record[self.bulk.item_key_field] = item.key
        return record

    def _align(self, chunk: Sequence[Outgoing], listed: list[Any], response: Any) -> list[Record | None]:
        """Each item's answer (None when the answer says nothing of it)."""
        answers = [a if isinstance(a, dict) else None for a in listed]
        if self.bulk.match == "position":
            if len(answers) != len(chunk):
                raise PayloadError(f"the bulk answer holds {len(answers)} result(s) for {len(chunk)} record(s)",
                                   raw=response.text[:2000], url=response.url)  # fmt: skip
            return answers
        by_value: dict[str, Record] = {}
        for answer in answers:
            value = dig(answer, self.bulk.match) if answer is not None else None
            if answer is not None and value is not None:
                by_value.setdefault(str(value), answer)
        return [by_value.get(str(item.lookup_value)) if item.lookup_value is not None else None for item in chunk]

    def _result(self, item: Outgoing, answer: Record | None, status: int) -> Sent:
        if answer is None:
            # Whether the API took it is unknown: try again (a create then looks before it writes).
            return Sent(item.ref, error=PayloadError("the bulk answer says nothing of this record"))
        outcome = self.outcome(answer)
        message = str(self.message(answer) or "")
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            status = outcome
            if not 200 <= outcome < 300:
                return Sent(item.ref, status=outcome, error=error_for_status(outcome, message or f"HTTP {outcome}"))
        elif outcome not in self.bulk.success_values:
            code = str(self.code(answer) or outcome or "")
            text = f"{code}: {message}" if message and code else message or code or "refused in bulk"
            error = TransientError(text) if code in self.bulk.retry_codes else RecordRefused(text, code=code)
            return Sent(item.ref, error=error)
        if item.key is not None:
            return Sent(item.ref, key=item.key, status=status)
        key = self.key(answer)
        if key in (None, ""):
            return Sent(item.ref, status=status, error=PayloadError("the bulk answer did not say the record's key"))
        return Sent(item.ref, key=str(key), status=status, created=True)


def _reader(path: str) -> Callable[[Record], Any]:
    """How a value is read from an answer: a plain key directly, a dotted path with :func:`dig`."""
    if "." not in path:
        return lambda answer: answer.get(path)
    return lambda answer: dig(answer, path)


def _put(record: Record, path: str, value: Any) -> None:
    """Set a dotted path in ``record`` (objects only), creating objects on the way."""
    node = record
    *heads, last = path.split(".")
    for head in heads:
        child = node.get(head)
        node[head] = child = dict(child) if isinstance(child, dict) else {}  # a copy: the item's own body stays
        node = child
    node[last] = value
