"""Read-ahead of a source's pages: the next page is fetched while the current one is ingested.

A pull used to wait for the source, then for the hub, page after page. An ERP that answers a
page of 1,000 records in a second then cost as much again as the hub's own work. With one page
read ahead the two overlap, and memory still holds at most two pages.

Why a hand-written helper: the standard library's :class:`~concurrent.futures.ThreadPoolExecutor`
runs the fetch; what it lacks is the one-page-ahead loop around a generator, the caller's
context in the thread, and a clean stop when the caller stops early.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections as db_connections

T = TypeVar("T")
_END = object()


def read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """``pages`` as they come, the next one fetched on a thread while the caller works on the current one.

    * One thread calls ``next`` on ``pages``, one call at a time: a connector needs no locking.
    * The thread runs in a copy of the caller's context: the correlation id, log context and
      anything else kept in context variables stay the same.
    * An error of a fetch is raised where its page would have been: every page before it has
      been handed over (and committed by the pipeline) first.
    * When the caller stops early (an error, ``close()``), the fetch under way is awaited, not
      abandoned, and ``pages`` is closed in the caller's thread.
    * Connectors fetch over HTTP or from files, not from the database. Should one still query it
      (a lazily loaded relation), that query runs on the thread's own connection, outside the
      pipeline's transaction, and the connection is closed after the page.
    """
    context = contextvars.copy_context()

    def fetch() -> object:
        try:
            return context.run(next, pages, _END)
        finally:
            db_connections.close_all()  # the thread's own connections only: Django keeps one per thread

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdm-read-ahead") as pool:
            pending = pool.submit(fetch)
            while True:
                page = pending.result()
                if page is _END:
                    return
                pending = pool.submit(fetch)
                yield page  # type: ignore[misc]
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
