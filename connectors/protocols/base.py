"""The one small interface every protocol module implements, and the cursor logic they share.

A connector reads a source in pages: ``fetch(spec, cursor)`` yields :class:`Page` objects, each
with the raw source records and the cursor that is safe to store once that page is committed.
``check()`` tests the connection; ``send(spec, items)`` writes golden records to a target system
(:class:`PushSpec`, :class:`Outgoing` → one :class:`Sent` per item; protocols that can write).

Incremental fetches ask the server for records changed *at or after* the stored cursor value
and drop, on the client, those at the stored value whose key is not greater than the stored
key: a page boundary that fell between records sharing one timestamp loses nothing and repeats
nothing. With ``lookback_seconds`` the window opens earlier and nothing is dropped (late commits
in the source are caught; the pipeline skips unchanged payloads by hash).
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.errors import AuthError, ConfigurationError, ConnectorError, TransientError, UnsupportedOperation

if TYPE_CHECKING:
    from connectors.http import HttpClient
    from connectors.models import Connection

Record = dict[str, Any]
CURSOR_TYPES = ("timestamp", "number", "string")
_MS_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{1,4})?\)/$")


@dataclass(frozen=True)
class FetchSpec:
    """What to read and how it is shaped — built from a mapping.

    ``resource``: entity set (OData), endpoint path (REST), resource path (SCIM, default
    ``/Users``) or file name / glob inside the drop directory (files).
    ``key_field`` / ``cursor_field``: dotted paths into a record (``meta.lastModified``; keys
    that contain dots themselves, like SCIM extension URNs, are matched whole).
    ``record_path``: where the list of records sits in a response body or JSON file.
    ``pagination``: protocol-specific style; the protocol's default when None.
    ``options``: protocol extras; they override the connection's ``options``.
    """

    resource: str
    key_field: str
    cursor_field: str | None = None
    cursor_type: str = "timestamp"
    record_path: str | None = None
    pagination: str | None = None
    filter: str | None = None
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    page_size: int | None = None
    lookback_seconds: float = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key_field:
            raise ConfigurationError("A fetch spec needs the key field of the source records.")
        if self.cursor_type not in CURSOR_TYPES:
            raise ConfigurationError(f"cursor_type must be one of {', '.join(CURSOR_TYPES)}.")
        if self.page_size is not None and self.page_size < 1:
            raise ConfigurationError("page_size must be positive.")
        if self.lookback_seconds < 0:
            raise ConfigurationError("lookback_seconds cannot be negative.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FetchSpec:
        """Build from configuration (YAML/JSON); unknown keys are an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"Unknown fetch spec keys: {', '.join(unknown)}.")
        values = dict(data)
        for name in ("select", "expand"):
            if isinstance(values.get(name), str):
                values[name] = tuple(part.strip() for part in values[name].split(",") if part.strip())
            elif name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["select"], data["expand"] = list(self.select), list(self.expand)
        data["params"], data["options"] = dict(self.params), dict(self.options)
        return data


@dataclass(frozen=True)
class Cursor:
    """A high-water mark: the greatest cursor value seen and the greatest key at that value."""

    value: str | int | float
    key: str | int | float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "key": self.key}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cursor | None:
        if not data or data.get("value") is None:
            return None
        return cls(value=data["value"], key=data.get("key"))


@dataclass
class Page:
    """One page of raw source records.

    ``cursor`` is what to store after this page (and all before it) is committed; it equals the
    incoming cursor while the source is not read in cursor order and the run is not finished.
    """

    records: list[Record]
    cursor: Cursor | None
    number: int = 1
    total: int | None = None
    skipped: int = 0
    last: bool = False


@dataclass(frozen=True)
class PushSpec:
    """Where and how records are written to a target (built from a push target).

    ``resource``: entity set (OData), collection path (REST), resource type path (SCIM
    ``/Users``). ``key_field``: where the target keeps its key. ``lookup_field``: a target field
    holding the record's own value, to find a record an unanswered create may have made.
    ``options``: protocol extras (``connectors/README.md``), over the connection's options.
    ``bulk``: the target's bulk write, where its API documents one.
    """

    resource: str
    key_field: str
    lookup_field: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    bulk: Mapping[str, Any] = field(default_factory=dict)
    """How the target takes many records per request (REST, :mod:`connectors.protocols.rest_bulk`); empty: none."""


@dataclass
class Outgoing:
    """One golden record to write: its whole target-shaped ``body`` and the ``changes`` since the
    target last held it (None when unknown: the whole body counts as changed).

    ``key`` is the target's key when the record is linked (update), else None (create).
    ``recover``: an earlier attempt may have reached the target unanswered (a timeout, a
    dropped connection), so a create first looks for the record by ``lookup_value``.
    """

    ref: int
    body: Record
    changes: Record | None = None
    key: str | None = None
    etag: str | None = None
    lookup_value: Any = None
    recover: bool = False

    @property
    def patch(self) -> Record:
        return self.body if self.changes is None else self.changes


@dataclass
class Sent:
    """What became of one :class:`Outgoing`: the key and ETag the target answered, or the error."""

    ref: int
    key: str | None = None
    etag: str | None = None
    status: int | None = None
    created: bool = False
    error: ConnectorError | None = None
    attempted: bool = True
    remote: Record | None = None
    """The target's current record, when a precondition failed (412) and it was read again."""

    @property
    def ok(self) -> bool:
        return self.error is None


class RecordRefused(ConnectorError):
    """The target refused one record inside a bulk request, with its own code rather than an HTTP status."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def error_for_status(status: int, message: str, *, retry_after: float | None = None) -> ConnectorError:
    """The error of one operation answered inside a batch or bulk request, sorted as a single answer would be.

    401/403 refuse the credentials; 429, 5xx and a missing status may pass (transient); any other
    status is the target's verdict on the record (408/409 among them, which the retry rules treat
    as transient).
    """
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 0 or status == 429 or status >= 500:
        return TransientError(message, status=status or None, retry_after=retry_after)
    return ConnectorError(message, status=status)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    status: int | None = None
    elapsed_ms: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


_MISSING = object()


def dig(obj: Any, path: str | None, default: Any = None) -> Any:
    """The value at a dotted path; whole keys containing dots (SCIM URNs) are tried before splitting."""
    if path is None or path == "":
        return obj
    found = _dig(obj, path)
    return default if found is _MISSING else found


def _dig(obj: Any, path: str) -> Any:
    if isinstance(obj, Mapping) and path in obj:
        return obj[path]
    if isinstance(obj, list) and path.isdigit():
        index = int(path)
        return obj[index] if index < len(obj) else _MISSING
    start = 0
    while (dot := path.find(".", start)) != -1:
        head, rest = path[:dot], path[dot + 1 :]
        if isinstance(obj, Mapping) and head in obj:
            found = _dig(obj[head], rest)
            if found is not _MISSING:
                return found
        elif isinstance(obj, list) and head.isdigit() and int(head) < len(obj):
            return _dig(obj[int(head)], rest)
        start = dot + 1
    return _MISSING


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601, OData v2 ``/Date(ms)/`` / ``/Date(ms+0000)/`` or a date; else None.

    A value without a zone is taken as UTC (OData v2 Edm.DateTime is UTC by definition).
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    match = _MS_DATE_RE.match(value)
    if match:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; microseconds only when present."""
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def cursor_order(value: Any, cursor_type: str) -> Any:
    """A comparable form of a cursor value of the expected type, or None when it is not one."""
    if cursor_type == "timestamp":
        return parse_timestamp(value)
    if cursor_type == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        try:
            return float(value) if isinstance(value, str) else None
        except ValueError:
            return None
    return value if isinstance(value, str) and value else None


def key_order(key: Any) -> tuple[int, Any]:
    if isinstance(key, bool) or key is None:
        return (0, "")
    if isinstance(key, int | float):
        return (1, key)
    return (2, str(key))


class CursorTracker:
    """Applies a stored cursor to incoming records and keeps the next high-water mark."""

    def __init__(
        self,
        spec: FetchSpec,
        cursor: Cursor | None,
        *,
        value_of: Callable[[Record], Any] | None = None,
    ) -> None:
        self.spec = spec
        self.start = cursor if spec.cursor_field else None
        self.value_of = value_of or (lambda record: dig(record, spec.cursor_field))
        self.best: tuple[Any, tuple[int, Any]] | None = None
        self.best_cursor = self.start
        self.start_order = cursor_order(self.start.value, spec.cursor_type) if self.start else None
        if self.start is not None and self.start_order is None:
            raise ConfigurationError(f"The stored cursor {self.start.value!r} is not a {spec.cursor_type}.")
        if self.start_order is not None:
            self.best = (self.start_order, key_order(self.start.key))
        self.unordered_values = 0

    def since(self) -> Any:
        """The lower bound to ask the server for (lookback applied), in comparable form; None = all."""
        if self.start_order is None:
            return None
        if self.spec.lookback_seconds and self.spec.cursor_type == "timestamp":
            return self.start_order - timedelta(seconds=self.spec.lookback_seconds)
        if self.spec.lookback_seconds and self.spec.cursor_type == "number":
            return self.start_order - self.spec.lookback_seconds
        return self.start_order

    def admit(self, record: Record) -> bool:
        """Track the record; False when it is at or before the stored cursor (already delivered)."""
        if not self.spec.cursor_field:
            return True
        order = cursor_order(self.value_of(record), self.spec.cursor_type)
        if order is None:
            self.unordered_values += 1
            return True
        key = dig(record, self.spec.key_field)
        position = (order, key_order(key))
        if self.best is None or position > self.best:
            self.best = position
            self.best_cursor = Cursor(value=self._stored_value(order), key=key)
        if self.start_order is None:
            return True
        if self.spec.lookback_seconds:
            return order >= self.since()
        return position > (self.start_order, key_order(self.start.key))

    def filter_page(self, records: list[Record]) -> tuple[list[Record], int]:
        kept = [record for record in records if self.admit(record)]
        return kept, len(records) - len(kept)

    def page_cursor(self, *, ordered: bool, last: bool) -> Cursor | None:
        """The cursor safe to store after this page: the best so far when read in order or at the end."""
        return self.best_cursor if (ordered or last) else self.start

    def _stored_value(self, order: Any) -> str | int | float:
        return format_timestamp(order) if isinstance(order, datetime) else order


class Connector(ABC):
    """One protocol behind one small interface."""

    protocol: ClassVar[str]

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def option(self, spec: FetchSpec | PushSpec | None, name: str, default: Any = None) -> Any:
        """A protocol extra: the fetch (or push) spec's options win over the connection's."""
        if spec is not None and name in spec.options:
            return spec.options[name]
        return self.connection.option(name, default)

    def page_size(self, spec: FetchSpec) -> int:
        return int(spec.page_size or self.connection.page_size or 500)

    @abstractmethod
    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        """Test the connection (and, given a spec, that one record of it can be read); never raises."""

    @abstractmethod
    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        """Pages of raw records changed since ``cursor`` (everything when None)."""

    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """Create or update records in the target: one :class:`Sent` per item, in order.

        A failure of one item is reported in its ``Sent.error``, never raised; items after a
        transient failure (the target is down) are returned unattempted (``attempted=False``).
        """
        raise UnsupportedOperation(f"The {self.protocol} connector cannot push records.")

    def close(self) -> None:
        """Release connections and files; a closed connector may be used again (it reopens)."""
        return None  # nothing held by default

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def run_check(probe: Callable[[], tuple[str, int | None]]) -> CheckResult:
        """Run a probe returning (message, status); failures become a negative result."""
        started = time.monotonic()
        try:
            message, status = probe()
        except ConnectorError as exc:
            elapsed = int((time.monotonic() - started) * 1000)
            return CheckResult(False, str(exc), exc.status, elapsed, {"error": type(exc).__name__})
        return CheckResult(True, message, status, int((time.monotonic() - started) * 1000))


class HttpConnector(Connector):
    """A connector over HTTP: one shared client per connector (connection reuse, auth, limits)."""

    accept: ClassVar[str] = "application/json"
    _http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            from connectors.http import HttpClient

            self._http = HttpClient(self.connection, accept=self.accept)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    #: Requests in flight at once when a target has no bulk endpoint (option ``concurrency``).
    default_concurrency: ClassVar[int] = 8

    def send(self, spec: PushSpec, items: list[Outgoing]) -> list[Sent]:
        """One request (or a few) per item, ``concurrency`` at a time over kept-alive connections.

        Every item is a different record (a round coalesces a record's versions into one item),
        so items may overlap without one version overtaking another. The first item goes alone:
        when the target is down, one request finds out. After a transient failure no further
        item starts; those left are returned unattempted and wait for the next round.
        """
        results: list[Sent | None] = [None] * len(items)
        if not items:
            return []
        results[0] = self._send_guarded(spec, items[0])
        down = self._down(results[0])
        workers = max(1, int(self.option(spec, "concurrency", self.default_concurrency) or 1))
        rest = list(range(1, len(items)))
        if down is None and rest:
            if workers == 1:
                for index in rest:
                    results[index] = self._send_guarded(spec, items[index])
                    down = self._down(results[index])
                    if down is not None:
                        break
            else:
                down = self._send_concurrently(spec, items, rest, results, workers)
        return [
            sent if sent is not None else Sent(item.ref, error=down, attempted=False)
            for item, sent in zip(items, results, strict=True)
        ]

    def _send_concurrently(
        self, spec: PushSpec, items: list[Outgoing], indexes: list[int], results: list[Sent | None], workers: int
    ) -> TransientError | None:
        """Send ``items[indexes]`` on a small thread pool; a transient failure stops further starts."""
        stop = threading.Event()
        failure: list[TransientError] = []

        def one(index: int) -> None:
            if stop.is_set():
                return
            sent = self._send_guarded(spec, items[index])
            results[index] = sent
            down = self._down(sent)
            if down is not None:
                failure.append(down)
                stop.set()

        self.http.widen(workers)
        with ThreadPoolExecutor(max_workers=min(workers, len(indexes)), thread_name_prefix="push") as pool:
            # Each request carries the caller's context (the correlation id stamped on it).
            for future in [pool.submit(contextvars.copy_context().run, one, index) for index in indexes]:
                future.result()
        return failure[0] if failure else None

    def _send_guarded(self, spec: PushSpec, item: Outgoing) -> Sent:
        try:
            return self.send_one(spec, item)
        except ConnectorError as exc:
            remote, etag = getattr(exc, "remote", None), getattr(exc, "etag", None)
            return Sent(item.ref, etag=etag, status=exc.status, error=exc, remote=remote)

    @staticmethod
    def _down(sent: Sent) -> TransientError | None:
        return sent.error if isinstance(sent.error, TransientError) else None

    def send_one(self, spec: PushSpec, item: Outgoing) -> Sent:
        """Create or update one record; raise a ConnectorError when the target refuses."""
        raise UnsupportedOperation(f"The {self.protocol} connector cannot push records.")
