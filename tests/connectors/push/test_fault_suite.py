"""Faults of the hub's own processes, with a real worker: killed mid-push, database connection dropped,
broker unreachable at commit time. Each ends with the change in the target exactly once.

Marked ``fault`` (and ``worker``); each is bounded well under a minute: leases are shortened so
that a dead worker's hold on a target expires in seconds, and "beat" is the test sending
``sweep_outbox`` every two seconds.
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection

from connectors import tasks
from connectors.models import Delivery, DeliveryStatus
from masterdata.models import SourceLink
from tests.connectors.fakes import CrmFake
from tests.connectors.push.conftest import creates_per_code, crm_target, new_customer
from tests.test_celery_worker import WorkerProcess

pytestmark = [pytest.mark.fault, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BOUND = 50


@pytest.fixture
def short_leases(monkeypatch):
    """Read by the worker at start: a dead worker's lease on a target lasts seconds, not minutes."""
    monkeypatch.setenv("MDM_PUSH_LEASE_SECONDS", "5")


def wait_for(condition, what: str, log, seconds: float = BOUND, every: float = 0.02, nudge=None) -> None:
    deadline = time.monotonic() + seconds
    last_nudge = 0.0
    while time.monotonic() < deadline:
        if condition():
            return
        if nudge is not None and time.monotonic() - last_nudge > 2:
            nudge()
            last_nudge = time.monotonic()
        time.sleep(every)
    pytest.fail(f"{what} within {seconds} s; worker log:\n{log()}")


def delivered(target) -> bool:
    return not Delivery.objects.filter(target=target).exclude(status=DeliveryStatus.DELIVERED).exists()


def beat(queue: str):
    return lambda: tasks.sweep_outbox.apply_async(queue=queue)


def another_worker(queue: str) -> WorkerProcess:
    replacement = WorkerProcess(queue, {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                                        "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"})  # fmt: skip
    replacement.wait_ready()
    return replacement


def _database_url() -> str:
    from tests.test_celery_worker import database_url

    return database_url(connection.settings_dict)


def test_a_worker_killed_while_waiting_for_the_answer_to_a_create_neither_loses_nor_duplicates_it(
    short_leases,
    worker,
    settings,
):
    process, queue = worker
    settings.MDM_PUSH_QUEUE = queue
    with CrmFake([]) as crm:
        target = crm_target(crm, timeout=1)
        crm.hang_after(5, method="POST", times=1)
        new_customer("C-1", "Alpha", email="a@example.com")
        wait_for(lambda: len(crm.writes) == 1, "the create did not arrive", lambda: process.log)

        process.process.kill()  # SIGKILL: mid-request, nothing recorded, the target lease still held
        process.process.wait(10)
        assert not delivered(target)
        replacement = another_worker(queue)
        try:
            wait_for(lambda: delivered(target), "the delivery was not completed", lambda: replacement.log,
                     every=0.2, nudge=beat(queue))  # fmt: skip
        finally:
            replacement.stop()

    assert creates_per_code(crm) == {"C-1": 1} and len(crm.records) == 1
    assert SourceLink.objects.get(source=target.source).source_key == crm.records[0]["id"]


def test_a_database_connection_dropped_mid_push_neither_loses_nor_duplicates_the_change(
    short_leases,
    worker,
    settings,
):
    process, queue = worker
    settings.MDM_PUSH_QUEUE = queue
    with CrmFake([]) as crm:
        target = crm_target(crm, timeout=3)
        crm.hang_after(1, method="POST", times=1)
        new_customer("C-1", "Alpha", email="a@example.com")
        wait_for(lambda: len(crm.writes) == 1, "the create did not arrive", lambda: process.log)
        with connection.cursor() as cursor:  # the worker's database session dies while it waits for the answer
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

        wait_for(lambda: delivered(target), "the delivery was not completed", lambda: process.log, every=0.2,
                 nudge=beat(queue))  # fmt: skip

    assert "OperationalError" in process.log or "InterfaceError" in process.log  # the push did lose its session
    assert creates_per_code(crm) == {"C-1": 1} and len(crm.records) == 1


def test_a_change_committed_while_the_broker_is_unreachable_is_delivered_by_the_sweeper(
    worker,
    settings,
    monkeypatch,
):
    process, queue = worker
    settings.MDM_PUSH_QUEUE = queue

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("Redis is down")

    with CrmFake([]) as crm:
        target = crm_target(crm)
        with monkeypatch.context() as patched:
            patched.setattr(tasks.dispatch_event, "apply_async", broker_down)
            customer = new_customer("C-1", "Alpha", email="a@example.com")  # commits; the hand-off is lost
        assert customer.pk and crm.writes == []

        wait_for(lambda: delivered(target) and Delivery.objects.filter(target=target).exists(),
                 "the sweeper did not deliver", lambda: process.log, every=0.2, nudge=beat(queue))  # fmt: skip

    assert creates_per_code(crm) == {"C-1": 1}
