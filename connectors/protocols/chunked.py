"""One round's writes sent in chunks — OData ``$batch``, SCIM ``/Bulk``, a REST API's bulk endpoint.

The three protocols batch differently but fail alike, and the delivery guarantees depend on
handling those failures the same way everywhere:

* a chunk refused as a whole by a transient error (timeout, 5xx, 429) marks the chunks after it
  *not attempted*: the target is down, so they wait for the next round instead of hammering it;
* a chunk refused for good (a 4xx) fails its own items only; the next chunk is still sent;
* an endpoint that answers 404, 405 or 501 (:class:`WriteUnsupported`) is not there (any more):
  the caller forgets the capability and every item not yet answered goes one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connectors.errors import ConnectorError, TransientError
from connectors.protocols.base import Outgoing, Sent

#: The answers that say a batch or bulk endpoint does not exist at the target.
UNSUPPORTED_STATUS = frozenset({404, 405, 501})


class WriteUnsupported(Exception):
    """The target answered the batch or bulk request with 404, 405 or 501: it has no such endpoint."""


def refuse_unsupported(exc: ConnectorError) -> None:
    """Turn the "no such endpoint" answers into :class:`WriteUnsupported` (others are left to the caller)."""
    if exc.status in UNSUPPORTED_STATUS:
        raise WriteUnsupported(str(exc)) from exc


def send_in_chunks(
    items: list[Outgoing],
    chunks: Iterable[list[Outgoing]],
    results: dict[int, Sent],
    write: Callable[[list[Outgoing]], list[Sent]],
    one_by_one: Callable[[list[Outgoing]], list[Sent]],
    unsupported: Callable[[], None],
) -> list[Sent]:
    """Send ``chunks`` with ``write`` (one result per item, in order); every item's result, in ``items`` order.

    ``results`` holds what the caller already sent another way (keyed by ``id(item)``);
    ``unsupported`` is called once when the endpoint turns out not to exist, before the items
    still unanswered go through ``one_by_one``.
    """
    down: ConnectorError | None = None
    for chunk in chunks:
        if down is not None:
            results.update({id(item): Sent(item.ref, error=down, attempted=False) for item in chunk})
            continue
        try:
            sent = write(chunk)
        except WriteUnsupported:
            unsupported()
            rest = [item for item in items if id(item) not in results]
            results.update({id(item): answer for item, answer in zip(rest, one_by_one(rest), strict=True)})
            break
        except ConnectorError as exc:
            results.update({id(item): Sent(item.ref, error=exc, status=exc.status) for item in chunk})
            down = exc if isinstance(exc, TransientError) else None
            continue
        results.update({id(item): answer for item, answer in zip(chunk, sent, strict=True)})
    return [results[id(item)] for item in items]
