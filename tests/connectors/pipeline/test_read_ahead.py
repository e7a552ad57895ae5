"""A pull reads the source's next page while the hub ingests the current one."""

from __future__ import annotations

import threading
import time

import pytest

from connectors.errors import TransientError
from connectors.models import SyncRunStatus
from connectors.services import pipeline
from connectors.services.read_ahead import read_ahead
from masterdata.models import Customer
from masterdata.observability import context

WAIT = 10  # seconds; a hang fails the test instead of the run


class Source:
    """Pages 1..n as a connector's generator yields them, noting who asked for what and when."""

    def __init__(self, pages: int, *, fail_at: int | None = None) -> None:
        self.pages, self.fail_at = pages, fail_at
        self.asked: list[int] = []
        self.asked_for = {n: threading.Event() for n in range(1, pages + 2)}
        self.closed = False
        self.correlation_ids: list[str | None] = []

    def fetch(self):
        try:
            for n in range(1, self.pages + 1):
                self.asked.append(n)
                self.asked_for[n].set()
                self.correlation_ids.append(context.current())
                if n == self.fail_at:
                    raise TransientError(f"page {n}: the source is down")
                yield n
        finally:
            self.closed = True


def test_every_page_comes_once_and_in_order():
    source = Source(5)

    assert list(read_ahead(source.fetch())) == [1, 2, 3, 4, 5]
    assert source.asked == [1, 2, 3, 4, 5]
    assert source.closed


def test_the_next_page_is_asked_for_while_the_current_one_is_worked_on():
    source = Source(3)
    pages = read_ahead(source.fetch())

    assert next(pages) == 1
    # The caller has not asked for page 2 yet: the source is asked on the thread meanwhile.
    assert source.asked_for[2].wait(WAIT)
    assert next(pages) == 2
    assert source.asked_for[3].wait(WAIT)
    assert not source.asked_for[4].is_set()  # one page ahead, never more
    assert list(pages) == [3]


def test_an_error_of_a_fetch_comes_where_its_page_would_have_been():
    source = Source(4, fail_at=3)
    seen = []

    with pytest.raises(TransientError, match="page 3"):
        for page in read_ahead(source.fetch()):
            seen.append(page)

    assert seen == [1, 2]  # the pages before it were all handed over first
    assert source.closed


def test_a_caller_that_stops_early_closes_the_source():
    source = Source(10)
    pages = read_ahead(source.fetch())

    assert next(pages) == 1
    pages.close()

    assert source.closed
    assert source.asked == [1, 2]  # the page fetched ahead, nothing after it


def test_the_fetch_runs_with_the_callers_correlation_id():
    source = Source(2)
    with context.bound(None) as correlation_id:
        assert list(read_ahead(source.fetch())) == [1, 2]

    assert source.correlation_ids == [correlation_id, correlation_id]


def customer_reads(crm) -> int:
    return sum(1 for r in list(crm.requests) if r.method == "GET" and r.path == "/api/customers")


def test_a_pull_asks_the_source_for_the_next_page_while_it_ingests_the_current_one(incremental_crm, crm):
    reads_while_on_page_one = []

    def on_page(run, page):
        if page.number == 1:
            deadline = time.monotonic() + WAIT
            while customer_reads(crm) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            reads_while_on_page_one.append(customer_reads(crm))

    run = pipeline.pull(incremental_crm, "customer", progress=on_page).run

    assert reads_while_on_page_one == [2]
    assert (run.status, run.pages, run.created) == (SyncRunStatus.SUCCEEDED, 3, 30)
    assert Customer.objects.count() == 30
