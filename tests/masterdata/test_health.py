"""Liveness and readiness probes: unauthenticated, fast, and silent about internals."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from masterdata.services import health, workers

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"
CHECK_NAMES = {"database", "broker", "worker", "beat"}


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def beat(db):
    """Beat has scheduled the heartbeat just now (as django-celery-beat records it)."""
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name="worker-heartbeat", task=health.HEARTBEAT_TASK, interval=every, last_run_at=timezone.now()
    )


@pytest.fixture
def worker(db):
    workers.record_heartbeat("celery@test")
    yield
    workers.clear_heartbeat()


@pytest.fixture
def everything_up(beat, worker):
    return beat


def get_ready(client):
    response = client.get("/health/ready/")
    return response, json.loads(response.content)


def test_liveness_answers_ok_without_authentication(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}


def test_ready_when_database_broker_worker_and_beat_are_fine(client, everything_up):
    response, body = get_ready(client)

    assert response.status_code == 200
    assert body == {"status": "ready"}
    assert "no-cache" in response["Cache-Control"]


def test_an_unreachable_broker_makes_the_hub_not_ready_and_names_only_the_check(client, everything_up):
    with override_settings(CELERY_BROKER_URL=CLOSED_PORT_BROKER):
        response, body = get_ready(client)

    assert response.status_code == 503
    assert body == {
        "status": "not_ready",
        "checks": {"database": "ok", "broker": "fail", "worker": "ok", "beat": "ok"},
    }


def test_a_failing_check_reveals_no_host_port_or_error_text(client, everything_up):
    with override_settings(CELERY_BROKER_URL=CLOSED_PORT_BROKER):
        response, body = get_ready(client)

    text = response.content.decode()
    for internal in ("127.0.0.1", ":1", "redis", "Error", "refused", "postgres"):
        assert internal not in text
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == CHECK_NAMES
    assert set(body["checks"].values()) <= {"ok", "fail"}


def test_the_reason_of_a_failed_check_goes_to_the_log_not_to_the_caller(client, everything_up, caplog):
    with override_settings(CELERY_BROKER_URL=CLOSED_PORT_BROKER):
        get_ready(client)

    assert any("readiness check broker failed" in record.getMessage() for record in caplog.records)


def test_without_a_worker_heartbeat_the_hub_is_not_ready(client, beat):
    workers.clear_heartbeat()

    response, body = get_ready(client)

    assert response.status_code == 503
    assert body["checks"]["worker"] == "fail"
    assert body["checks"]["beat"] == "ok"


def test_a_heartbeat_older_than_the_allowed_age_counts_as_no_worker(client, everything_up, settings):
    settings.MDM_WORKER_HEARTBEAT_MAX_AGE = 0

    _, body = get_ready(client)

    assert body["checks"]["worker"] == "fail"


def test_beat_that_has_not_scheduled_the_heartbeat_lately_is_not_ready(client, everything_up, settings):
    everything_up.last_run_at = timezone.now() - timedelta(seconds=settings.MDM_BEAT_MAX_AGE + 5)
    everything_up.save(update_fields=["last_run_at"])

    response, body = get_ready(client)

    assert response.status_code == 503
    assert body["checks"] == {"database": "ok", "broker": "ok", "worker": "ok", "beat": "fail"}


def test_beat_that_never_ran_is_not_ready(client, worker):
    _, body = get_ready(client)

    assert body["checks"]["beat"] == "fail"


def test_the_quick_start_broker_is_ready_when_its_queue_folder_is_writable(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    assert health.check_broker() is True

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    assert health.check_broker() is False


def test_probes_answer_a_logged_out_client_even_with_debug_off(client, everything_up, settings):
    settings.DEBUG = False

    assert client.get("/health/").status_code == 200
    assert client.get("/health/ready/").status_code == 200


def test_readiness_accepts_only_get(client, everything_up):
    assert client.post("/health/ready/").status_code == 405
