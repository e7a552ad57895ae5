"""Redis restarted in the middle of a run: no golden change is lost or duplicated at the target.

Each test starts a Redis server of its own (``redis-server`` on a free port, keeping nothing on
disk), a real Celery worker using it as broker and for the pull lock, and real HTTP fakes. The
Redis is killed (SIGKILL) and started again on the same port mid-run: the queued hand-offs and
the lock are gone. The database is the truth — the sweeper (``sweep_outbox``, sent every two
seconds as beat would) dispatches and delivers what the lost messages held, and a pull resumes
from its last committed cursor. The system Redis is not touched. Marked ``fault`` (and
``worker``); each is bounded well under a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from django.db import connection

from connectors import tasks
from connectors.models import Delivery, DeliveryStatus, SyncRun, SyncRunStatus
from masterdata.models import ChangeEvent, Customer, SourceLink
from mdm_project.celery import app
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import INCREMENTAL_CRM_FETCH, SEED_CRM_FIELDS, crm_source
from tests.connectors.push.conftest import assert_crm_mirrors, change, crm_target, new_customer
from tests.connectors.push.test_fault_suite import wait_for
from tests.test_celery_worker import WorkerProcess, database_url

pytestmark = [pytest.mark.fault, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BOUND = 40
NAME = re.compile(r" v(\d+)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A ``redis-server`` of the test's own that keeps nothing: a restart loses every key and message."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("the Redis restart tests need the redis-server program (Debian: apt install redis-server)")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.directory), "--daemonize", "no"]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing saved."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def backlog(self, queue: str) -> int:
        """Messages waiting in a queue (kombu keeps one list per priority step)."""
        client = redis.Redis(port=self.port)
        try:
            return sum(client.llen(key) for key in client.keys(f"{queue}*") if client.type(key) == b"list")
        finally:
            client.close()


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(10)


@pytest.fixture
def restart_worker(own_redis, transactional_db, settings):
    """A worker on the test's Redis; this process hands its tasks to that Redis too."""
    queue = f"test-restart-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": own_redis.url(1),  # the pull lock and the cache
        "CELERY_BROKER_URL": own_redis.url(0),
        "MDM_PUSH_QUEUE": queue,
        "MDM_PUSH_LEASE_SECONDS": "5",  # a push interrupted by the restart holds its target for seconds only
        "PYTHONUNBUFFERED": "1",
    }
    settings.MDM_PUSH_QUEUE = queue
    previous = app.conf.broker_url
    _use_broker(own_redis.url(0))
    process = WorkerProcess(queue, env)
    try:
        process.wait_ready()
        yield process, queue
    finally:
        process.stop()
        _use_broker(previous)


def _use_broker(url: str) -> None:
    """Point this process's Celery app at ``url`` and forget its pooled connections to the old one."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def beat(queue: str, task=None, args: tuple = ()):
    """What beat does, every two seconds; a send while Redis is down is simply lost (as beat's would be)."""

    def send() -> None:
        try:
            (task or tasks.sweep_outbox).apply_async(args, queue=queue, retry=False)
        except Exception:  # the broker is down: the next beat tries again
            return

    return send


def versions_written(crm: CrmFake) -> dict[str, list[int]]:
    """Per code, the version each write to the CRM carried (the name ends with `` v<version>``)."""
    written: dict[str, list[int]] = defaultdict(list)
    by_id: dict[str, str] = {}
    for op, key, body in crm.writes:
        if op == "create":
            by_id[key] = body["code"]
        if "name" in body:
            written[by_id[key]].append(int(NAME.search(body["name"]).group(1)))
    return written


def test_redis_restarted_while_pushes_are_queued_loses_and_duplicates_no_change(restart_worker, own_redis):
    process, queue = restart_worker
    with CrmFake([]) as crm:
        target = crm_target(crm)
        crm.slow(0.15, times=10_000)  # the worker falls behind: hand-offs queue up in Redis
        customers = [new_customer(f"C-{n}", f"Customer {n} v1") for n in range(10)]
        for round_ in range(2, 4):
            customers = [change(c, name=f"Customer {n} v{round_}") for n, c in enumerate(customers)]
        wait_for(lambda: own_redis.backlog(queue) >= 3, "no hand-offs queued up", lambda: process.log)
        lost = own_redis.backlog(queue)  # thrown away with the restart

        own_redis.kill()
        customers = [change(c, name=f"Customer {n} v4") for n, c in enumerate(customers)]  # committed, hand-off fails
        own_redis.start()
        customers = [change(c, name=f"Customer {n} v5") for n, c in enumerate(customers[:5])] + customers[5:]
        customers.append(new_customer("C-10", "Customer 10 v1"))

        wait_for(
            lambda: not Delivery.objects.filter(target=target).exclude(status=DeliveryStatus.DELIVERED).exists()
            and Delivery.objects.filter(target=target).count() == ChangeEvent.objects.filter(domain="customer").count(),
            "not every change was delivered",
            lambda: process.log,
            seconds=BOUND,
            every=0.2,
            nudge=beat(queue),
        )

        assert lost >= 3
        assert_crm_mirrors(crm, customers)  # each record once in the CRM, with its latest values
        for code, written in versions_written(crm).items():
            assert written == sorted(set(written)), f"{code}: a version was written twice or out of order: {written}"
        final = {c.code: c.version for c in Customer.objects.all()}
        assert {code: written[-1] for code, written in versions_written(crm).items()} == final
        assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_redis_restarted_during_a_pull_loses_its_lock_and_the_next_pull_resumes_without_duplicates(
    restart_worker, own_redis
):
    process, queue = restart_worker
    records = data.crm_customers(60)
    with CrmFake(records) as crm:
        source = crm_source(crm, fetch=INCREMENTAL_CRM_FETCH, fields=SEED_CRM_FIELDS)
        crm.slow(0.4, times=10_000)  # 6 pages of 10 take two and a half seconds
        pull = beat(queue, tasks.pull, (source.pk, "customer"))
        pull()
        wait_for(lambda: SyncRun.objects.filter(pages__gte=1).exists(), "the pull did not start", lambda: process.log)

        own_redis.restart()  # the lock key is gone; the running pull finds out at its next page
        wait_for(
            lambda: SyncRun.objects.filter(status=SyncRunStatus.SUCCEEDED).exists(),
            "no pull succeeded after the restart",
            lambda: process.log,
            seconds=BOUND,
            every=0.2,
            nudge=pull,
        )

    # Pulls nudged while waiting may still be running: let them finish (each releases its lock).
    lock_store = redis.Redis.from_url(own_redis.url(1))
    wait_for(
        lambda: not lock_store.keys("mdm:pull-lock:*")
        and not SyncRun.objects.filter(status=SyncRunStatus.RUNNING).exists(),
        "a pull lock was left behind",
        lambda: process.log,
    )
    runs = list(SyncRun.objects.order_by("id"))
    succeeded = next(run for run in runs if run.status == SyncRunStatus.SUCCEEDED)
    assert runs[0].status == SyncRunStatus.FAILED, runs[0].error  # it stopped when its lock was gone…
    assert succeeded.cursor_before == runs[0].cursor_after  # …and the next one went on from its last commit
    assert Customer.objects.count() == SourceLink.objects.filter(source=source).count() == 60
    assert set(Customer.objects.values_list("version", flat=True)) == {1}  # no record written twice
    assert sum(run.created for run in runs) == 60
