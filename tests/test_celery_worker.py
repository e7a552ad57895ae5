"""A real Celery worker process, on Redis and the test database, runs the heartbeat task."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from masterdata.services import workers
from masterdata.tasks import heartbeat

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60
TASK_TIMEOUT = 30


def database_url(db: dict) -> str:
    """The URL of the database pytest is using right now (test_<name>), for the worker."""
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += f":{quote(db['PASSWORD'])}"
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, queue: str, env: dict[str, str]) -> None:
        self.node = f"{queue}@{socket.gethostname()}"
        command = [sys.executable, "-m", "celery", "-A", "mdm_project", "worker", "--pool", "solo",
                   "--loglevel", "INFO", "--queues", queue, "--hostname", self.node,
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line:
                self.ready.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the worker did not become ready (exit {self.process.returncode}):\n{self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def worker(transactional_db):
    """A worker on its own queue, with the broker, cache and database of this test run."""
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://"), "the worker test needs Redis (REDIS_URL)"
    queue = f"test-worker-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": broker,
        "PYTHONUNBUFFERED": "1",
    }
    process = WorkerProcess(queue, env)
    try:
        process.wait_ready()
        yield process, queue
    finally:
        process.stop()
        client = redis.Redis.from_url(broker)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


def test_a_real_worker_records_its_heartbeat_using_the_test_database(worker):
    process, queue = worker
    assert "Connected to redis://" in process.log
    workers.clear_heartbeat()

    heartbeat.apply_async(queue=queue)

    deadline = time.monotonic() + TASK_TIMEOUT
    beat = workers.last_heartbeat()
    while beat is None and time.monotonic() < deadline:
        time.sleep(0.2)
        beat = workers.last_heartbeat()
    assert beat is not None, f"no heartbeat within {TASK_TIMEOUT} s; worker log:\n{process.log}"
    assert beat["worker"] == process.node
    assert beat["database"] == connection.settings_dict["NAME"]
    assert 0 <= workers.heartbeat_age() < TASK_TIMEOUT + 5
    assert "masterdata.tasks.heartbeat" in process.log
