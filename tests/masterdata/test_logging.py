"""Structured logs and the correlation id: from the inbound request through Celery tasks to outbound calls."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import uuid

import pytest
import redis
from celery import shared_task
from django.conf import settings

from connectors.http import HttpClient
from connectors.models import Connection
from masterdata.observability import context, logs
from masterdata.tasks import heartbeat
from mdm_project.celery import app as celery_app
from tests.connectors.fakes import AuthPolicy, CrmFake
from tests.test_celery_worker import TASK_TIMEOUT, worker  # noqa: F401  (the real worker fixture)

GENERATED = re.compile(r"[0-9a-f]{32}")


@shared_task
def log_and_call(url: str | None = None) -> str | None:
    """A task as a sync run would be: it logs, calls a source system and reports the id it ran under."""
    logging.getLogger("tests.task").warning("task running")
    if url:
        http = HttpClient(Connection(protocol="rest", base_url=url, options={"max_retries": 0}))
        http.get_json("api/customers")
        http.close()
    return context.current()


@pytest.fixture
def json_log():
    """The console handler of the settings' LOGGING, switched to JSON into a buffer; returns a reader."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(logs.json_formatter())
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous_stream)
    handler.setFormatter(previous_formatter)


def test_each_request_writes_one_json_access_line_with_its_correlation_id(api_a, json_log):
    response = api_a.get("/api/v1/customers/?name=Secret", HTTP_X_REQUEST_ID="req-7f3a")

    [line] = [entry for entry in json_log() if entry["logger"] == "masterdata.requests"]
    assert line["request_id"] == "req-7f3a"
    assert line["method"] == "GET" and line["path"] == "/api/v1/customers/" and line["status"] == 200
    assert line["level"] == "INFO" and line["duration_ms"] >= 0
    assert "Secret" not in json.dumps(line)  # the query string may carry personal data
    assert response["X-Request-ID"] == "req-7f3a"


def test_every_log_record_of_a_request_carries_its_id(api_a, json_log):
    api_a.get("/api/v1/no-such-endpoint/", HTTP_X_CORRELATION_ID="corr-1")

    warnings = [entry for entry in json_log() if entry["logger"] == "django.request"]
    assert warnings and all(entry["request_id"] == "corr-1" for entry in warnings)


@pytest.mark.parametrize("offered", ["has spaces", "x" * 65, "abc\r\nX-Injected: 1", "", "-leading-dash"])
def test_an_unusable_id_from_the_caller_is_replaced_by_a_new_one(client, db, offered):
    response = client.get("/health/", HTTP_X_REQUEST_ID=offered)

    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_requests_without_an_id_get_a_new_one_each(client, db):
    first, second = client.get("/health/")["X-Request-ID"], client.get("/health/")["X-Request-ID"]

    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


def test_outside_a_request_or_task_records_show_no_id(json_log):
    logging.getLogger("tests.logging").warning("between requests")

    assert json_log()[-1]["request_id"] == "-"


def test_a_task_published_under_an_id_carries_it_in_its_message(db):
    queue = f"test-correlation-{uuid.uuid4().hex[:10]}"
    with context.bound("req-celery-1"):
        log_and_call.apply_async(queue=queue)
    try:
        with celery_app.connection_for_read() as connection:
            message = connection.SimpleQueue(queue).get(timeout=5)
            message.ack()
    finally:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()

    assert message.headers[context.TASK_HEADER] == "req-celery-1"
    assert log_and_call.apply(headers=message.headers).get() == "req-celery-1"


def test_the_task_logs_and_calls_the_source_system_under_the_id_it_was_sent_with(json_log):
    with CrmFake(auth=AuthPolicy(open=True)) as fake:
        result = log_and_call.apply(args=[fake.base_url], headers={context.TASK_HEADER: "run-99"}).get()

        assert fake.requests[-1].headers["X-Request-ID"] == "run-99"
    assert result == "run-99"
    assert [e["request_id"] for e in json_log() if e["message"] == "task running"] == ["run-99"]
    assert context.current() is None  # the worker's context is clean again


def test_a_task_sent_outside_any_request_runs_under_an_id_of_its_own():
    assert GENERATED.fullmatch(log_and_call.apply().get())


def test_a_task_run_eagerly_inside_a_request_keeps_the_request_id_and_gives_it_back():
    with context.bound("req-eager"):
        assert log_and_call.apply().get() == "req-eager"
        assert context.current() == "req-eager"


def test_outbound_calls_outside_any_request_or_task_send_no_request_id():
    with CrmFake(auth=AuthPolicy(open=True)) as fake:
        http = HttpClient(Connection(protocol="rest", base_url=fake.base_url, options={"max_retries": 0}))
        http.get_json("api/customers")
        http.close()

        assert "X-Request-ID" not in fake.requests[-1].headers


@pytest.mark.worker
def test_a_real_worker_logs_the_task_under_the_id_of_the_request_that_sent_it(worker):  # noqa: F811
    process, queue = worker
    with context.bound("req-worker-42"):
        heartbeat.apply_async(queue=queue)

    deadline = time.monotonic() + TASK_TIMEOUT
    while "succeeded" not in process.log and time.monotonic() < deadline:
        time.sleep(0.2)
    [line] = [line for line in process.lines if "masterdata.tasks.heartbeat" in line and "succeeded" in line]
    assert "req-worker-42" in line


def test_log_format_is_json_or_plain_and_nothing_else():
    assert logs.logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ValueError, match="MDM_LOG_FORMAT"):
        logs.logging_config(log_format="xml", level="INFO")
