"""Two pulls of one source/domain never overlap: a Redis lock, or a database lease without Redis."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from connectors import tasks
from connectors.models import SyncRun, SyncRunStatus, SyncState
from connectors.services import locks, pipeline
from masterdata.models import Customer
from tests.connectors.pipeline.conftest import crm_source

WAIT = 10


@pytest.fixture
def no_redis(settings):
    """The quick start: no REDIS_URL, the filesystem broker."""
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    assert locks.backend() == "database"


def test_the_lock_lives_in_redis_when_there_is_one():
    assert locks.backend() == "redis" and locks.redis_url() == settings.REDIS_URL


def test_a_pull_while_another_holds_the_lock_is_refused_and_leaves_no_run(seed_crm):
    with locks.pull_lock(seed_crm.pk, "customer"), pytest.raises(locks.PullLocked, match="already running"):
        pipeline.pull(seed_crm, "customer")

    assert not SyncRun.objects.exists()
    assert pipeline.pull(seed_crm, "customer").run.status == SyncRunStatus.SUCCEEDED  # released


def test_the_lock_of_one_source_or_domain_does_not_block_another(seed_crm):
    with locks.pull_lock(seed_crm.pk, "supplier"), locks.pull_lock(seed_crm.pk + 1, "customer"):
        assert pipeline.pull(seed_crm, "customer").run.status == SyncRunStatus.SUCCEEDED


def test_a_scheduled_pull_that_finds_one_running_steps_aside(seed_crm):
    with locks.pull_lock(seed_crm.pk, "customer"):
        result = tasks.pull.apply(args=[seed_crm.pk, "customer"]).get(timeout=WAIT)

    assert "already running" in result["skipped"]
    assert not SyncRun.objects.exists()


def test_two_overlapping_pulls_really_running_at_once(transactional_db, crm):
    source = crm_source(crm)
    crm.slow(1.0, times=1)
    outcome: dict = {}

    def first_pull() -> None:
        try:
            outcome["run"] = pipeline.pull(source.pk, "customer").run
        finally:
            connection.close()

    thread = threading.Thread(target=first_pull)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not SyncRun.objects.filter(status=SyncRunStatus.RUNNING).exists():
        assert time.monotonic() < deadline, "the first pull did not start"
        time.sleep(0.02)

    with pytest.raises(locks.PullLocked):
        pipeline.pull(source, "customer")

    thread.join(timeout=WAIT * 3)
    assert not thread.is_alive()
    assert outcome["run"].status == SyncRunStatus.SUCCEEDED
    assert SyncRun.objects.count() == 1 and Customer.objects.count() == 30


def test_a_lock_that_expired_under_a_running_pull_stops_it(seed_crm):
    client = redis.Redis.from_url(settings.REDIS_URL)

    def another_pull_takes_over(run, page):
        client.set(locks.lock_name(seed_crm.pk, "customer"), "someone-else")

    try:
        run = pipeline.pull(seed_crm, "customer", progress=another_pull_takes_over).run
    finally:
        client.delete(locks.lock_name(seed_crm.pk, "customer"))
        client.close()

    assert run.status == SyncRunStatus.FAILED and "lock expired" in run.error
    assert run.pages == 1


def test_without_redis_a_database_lease_keeps_pulls_apart(seed_crm, no_redis):
    with locks.pull_lock(seed_crm.pk, "customer") as lease:
        assert isinstance(lease, locks.DatabaseLease)
        state = SyncState.objects.get(source=seed_crm, domain="customer")
        assert state.lock_token == lease.token and state.locked_until > timezone.now()
        with pytest.raises(locks.PullLocked):
            pipeline.pull(seed_crm, "customer")

    assert SyncState.objects.get(source=seed_crm).lock_token == ""
    run = pipeline.pull(seed_crm, "customer").run
    assert run.status == SyncRunStatus.SUCCEEDED and Customer.objects.count() == 30
    assert SyncState.objects.get(source=seed_crm).lock_token == ""


def test_a_lease_left_by_a_dead_worker_expires(seed_crm, no_redis):
    SyncState.objects.create(
        source=seed_crm, domain="customer", lock_token="dead-worker", locked_until=timezone.now() - timedelta(seconds=1)
    )

    assert pipeline.pull(seed_crm, "customer").run.status == SyncRunStatus.SUCCEEDED


def test_a_lease_is_renewed_page_by_page(seed_crm, no_redis):
    expiries = []

    def watch(run, page):
        expiries.append(SyncState.objects.get(source=seed_crm).locked_until)

    pipeline.pull(seed_crm, "customer", progress=watch)

    assert len(expiries) == 3 and expiries == sorted(expiries) and expiries[0] < expiries[-1]
