"""The Prometheus scrape at /metrics: who may read it and what it tells."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from connectors.errors import TransientError
from connectors.http import HttpClient
from connectors.models import (
    Connection,
    Delivery,
    PushTarget,
    SyncFailure,
    SyncRun,
    SyncState,
    WebhookSubscription,
)
from masterdata.models import ChangeEvent, Conflict
from masterdata.observability import metrics
from masterdata.services import workers
from tests.connectors.fakes import AuthPolicy, CrmFake
from tests.factories import SourceSystemFactory

OUTSIDE = "203.0.113.7"  # TEST-NET-3: never inside the default allowed networks
TOKEN = "scrape-token-5f1c9e0a"


@pytest.fixture
def client():
    return Client()


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, labels): value}`` of a text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    return samples(response.content)


def value(found, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_a_client_outside_the_allowed_networks_is_refused_when_no_token_is_configured(client, db):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 403
    assert b"mdm_" not in response.content


def test_without_the_token_a_client_outside_the_networks_must_authenticate(client, db, settings):
    settings.MDM_METRICS_TOKEN = TOKEN

    missing = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer not-the-token")

    assert missing.status_code == wrong.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")


def test_the_bearer_token_opens_the_scrape_from_anywhere(client, db, settings):
    settings.MDM_METRICS_TOKEN = TOKEN

    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_a_scraper_on_an_allowed_network_needs_no_token(client, db, settings):
    settings.MDM_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="11.1.2.3").status_code == 403


def test_behind_a_trusted_proxy_on_the_same_host_an_outside_client_is_still_refused(client, db, settings):
    """The proxy connects from loopback: without MDM_TRUSTED_PROXIES every client would look local."""
    settings.MDM_TRUSTED_PROXIES = 1

    outside = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE)
    forged = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"127.0.0.1, {OUTSIDE}")
    local = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert (outside.status_code, forged.status_code, local.status_code) == (403, 403, 200)


def test_ipv4_peers_reported_as_ipv6_mapped_addresses_match_ipv4_networks(settings):
    settings.MDM_METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.MDM_METRICS_TOKEN = ""

    assert metrics.scrape_refusal("", "::ffff:127.0.0.1") is None
    assert metrics.scrape_refusal("", "not an address") == 403


def test_django_request_metrics_are_exported(client, db):
    client.get("/health/")

    found = scrape(client)

    assert any(name == "django_http_requests_total_by_method_total" for name, _ in found)
    assert any(name == "django_http_responses_total_by_status_total" for name, _ in found)


def test_records_pulled_and_failures_by_classification_come_from_sync_runs_and_the_failure_queue(client, db):
    crm = SourceSystemFactory(code="crm")
    run = SyncRun.objects.create(source=crm, domain="customer", fetched=40, status="partial")
    SyncRun.objects.create(source=crm, domain="customer", fetched=2, status="failed")
    SyncFailure.objects.create(
        source=crm, domain="customer", stage="validate", classification="bad_data", fingerprint="C-1",
        error="email: invalid", attempts=3, run=run,
    )  # fmt: skip
    SyncFailure.objects.create(
        source=crm, domain="customer", stage="map", classification="bad_data", fingerprint="C-2", error="x",
        status="discarded",
    )  # fmt: skip

    found = scrape(client)

    assert value(found, "mdm_records_pulled_total", source="crm", domain="customer") == 42
    failures = {"source": "crm", "domain": "customer", "classification": "bad_data"}
    assert value(found, "mdm_sync_failures_total", **failures, stage="validate") == 3
    assert value(found, "mdm_sync_failures_total", **failures, stage="map") == 1
    stopped = {"source": "crm", "domain": "customer", "stage": "run", "classification": "unclassified"}
    assert value(found, "mdm_sync_failures_total", **stopped) == 1
    # A record the hub refused waits for its source to send it again: a failure, not a dead letter.
    assert value(found, "mdm_dead_letters", system="crm", domain="customer") is None


def test_dead_letters_are_parked_pushes_and_webhook_batches_by_class(client, db, superuser):
    shop = SourceSystemFactory(code="shop")
    target = PushTarget.objects.create(source=shop, domain="customer", resource="customers", key_field="id")
    hook = WebhookSubscription.objects.create(name="erp-sync", url="http://127.0.0.1:9/", secret="s", owner=superuser)
    outbound = {"direction": "outbound", "error": "refused"}
    SyncFailure.objects.create(
        source=shop, push_target=target, domain="customer", stage="push", classification="transient",
        fingerprint="push:1", golden_id=1, attempts=8, **outbound,
    )  # fmt: skip
    SyncFailure.objects.create(
        source=shop, push_target=target, domain="customer", stage="push", classification="bad_data",
        fingerprint="push:2", golden_id=2, **outbound,
    )  # fmt: skip
    SyncFailure.objects.create(
        source=shop, push_target=target, domain="customer", stage="push", classification="bad_data",
        fingerprint="push:3", golden_id=3, status="resolved", **outbound,
    )  # fmt: skip
    SyncFailure.objects.create(
        subscription=hook, domain="", stage="webhook", classification="configuration", fingerprint="webhook:b1",
        attempts=2, **outbound,
    )  # fmt: skip

    found = scrape(client)

    assert value(found, "mdm_dead_letters", system="shop", domain="customer") == 2
    assert value(found, "mdm_dead_letters", system="webhook:erp-sync", domain="") == 1
    push = {"source": "shop", "domain": "customer", "stage": "push"}
    assert value(found, "mdm_sync_failures_total", **push, classification="transient") == 8
    assert value(found, "mdm_sync_failures_total", **push, classification="bad_data") == 2
    webhook = {"source": "webhook:erp-sync", "domain": "", "stage": "webhook", "classification": "configuration"}
    assert value(found, "mdm_sync_failures_total", **webhook) == 2


def test_a_label_the_database_leaves_empty_is_rendered_unknown_not_a_failed_scrape(client, db, monkeypatch):
    def sourceless() -> list[GaugeMetricFamily]:
        family = GaugeMetricFamily("mdm_open_conflicts", "Conflicts waiting for a steward.", labels=["domain"])
        family.add_metric([None], 4)
        return [family]

    monkeypatch.setattr(metrics.DatabaseCollector, "open_conflicts", staticmethod(sourceless))

    found = scrape(client)

    assert value(found, "mdm_open_conflicts", domain="unknown") == 4


def test_outbox_lag_is_the_age_of_the_oldest_change_a_push_target_has_not_received(client, db):
    now = timezone.now()
    shop, erp = SourceSystemFactory(code="shop"), SourceSystemFactory(code="erp")
    shop_target = PushTarget.objects.create(source=shop, domain="customer", resource="customers", key_field="id")
    erp_target = PushTarget.objects.create(source=erp, domain="customer", resource="customers", key_field="id")
    idle = PushTarget.objects.create(source=erp, domain="material", resource="materials", key_field="id")

    def change(golden_id: int, seconds_ago: float) -> ChangeEvent:
        return ChangeEvent.objects.create(
            domain="customer", golden_id=golden_id, version=1, kind="created",
            occurred_at=now - timedelta(seconds=seconds_ago),
        )  # fmt: skip

    def delivery(target: PushTarget, event: ChangeEvent | None, **fields) -> Delivery:
        golden_id = event.golden_id if event else 99
        return Delivery.objects.create(target=target, event=event, domain="customer", golden_id=golden_id,
                                       version=1, **fields)  # fmt: skip

    delivery(shop_target, change(1, 900), status="delivered", delivered_at=now)  # done: no longer waits
    delivery(shop_target, change(2, 600), status="dead")  # parked: a dead letter, not the queue
    delivery(shop_target, change(3, 120), next_attempt_at=now + timedelta(minutes=5))  # in backoff: still waits
    delivery(shop_target, change(4, 10))
    delivery(erp_target, None, trigger="replay", created_at=now - timedelta(seconds=45))  # no event: queued at

    found = scrape(client)

    assert value(found, "mdm_outbox_pending_deliveries", target="shop", domain="customer") == 2
    assert value(found, "mdm_outbox_lag_seconds", target="shop", domain="customer") == pytest.approx(120, abs=30)
    assert value(found, "mdm_outbox_pending_deliveries", target="erp", domain="customer") == 1
    assert value(found, "mdm_outbox_lag_seconds", target="erp", domain="customer") == pytest.approx(45, abs=30)
    assert value(found, "mdm_outbox_pending_deliveries", target="erp", domain=idle.domain) == 0
    assert value(found, "mdm_outbox_lag_seconds", target="erp", domain=idle.domain) == 0


def test_open_conflicts_are_counted_per_domain(client, db):
    for field in ("name", "email"):
        Conflict.objects.create(domain="customer", golden_id=1, field=field, reason="equal_trust")
    Conflict.objects.create(domain="supplier", golden_id=2, field="name", reason="equal_trust", status="resolved")

    found = scrape(client)

    assert value(found, "mdm_open_conflicts", domain="customer") == 2
    assert value(found, "mdm_open_conflicts", domain="supplier") is None


def test_sync_freshness_and_worker_heartbeat_are_exported(client, db):
    done = timezone.now()
    SyncState.objects.create(source=SourceSystemFactory(code="erp"), domain="material", last_success_at=done)
    workers.record_heartbeat("celery@test")
    try:
        found = scrape(client)
    finally:
        workers.clear_heartbeat()

    assert value(found, "mdm_sync_last_success_timestamp_seconds", source="erp", domain="material") == pytest.approx(
        done.timestamp()
    )
    assert 0 <= value(found, "mdm_worker_heartbeat_age_seconds") < 60


def test_records_pushed_are_counted_by_target_and_domain(client, db):
    before = value(scrape(client), "mdm_records_pushed_total", target="shop", domain="material") or 0

    metrics.count_pushed("shop", "material", 5)

    assert value(scrape(client), "mdm_records_pushed_total", target="shop", domain="material") == before + 5


def test_calls_to_external_systems_are_timed_per_source_protocol_and_operation(client, db):
    labels = {"source": "crm", "protocol": "rest", "operation": "GET"}
    before = value(scrape(client), "mdm_external_call_seconds_count", **labels) or 0
    crm = SourceSystemFactory(code="crm")
    with CrmFake(auth=AuthPolicy(open=True)) as fake:
        http = HttpClient(Connection(source=crm, protocol="rest", base_url=fake.base_url, options={"max_retries": 0}))
        http.get_json("api/customers")
        http.close()
        stopped = fake.base_url
    unreachable = HttpClient(Connection(source=crm, protocol="rest", base_url=stopped, options={"max_retries": 0}))
    with pytest.raises(TransientError):
        unreachable.get_json("api/customers")  # a refused connection is timed too

    assert value(scrape(client), "mdm_external_call_seconds_count", **labels) == before + 2


def test_the_database_collector_skips_models_this_installation_does_not_have(monkeypatch, db):
    monkeypatch.setattr(metrics, "_model", lambda label: None)

    names = {family.name for family in metrics.DatabaseCollector().collect()}

    assert names <= {"mdm_worker_heartbeat_age_seconds"}


def test_in_multiprocess_mode_the_scrape_aggregates_the_processes_files_and_still_reads_the_database(
    client, db, monkeypatch, tmp_path
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    Conflict.objects.create(domain="material", golden_id=3, field="name", reason="equal_trust")

    found = scrape(client)

    assert value(found, "mdm_open_conflicts", domain="material") == 1
    assert not any(name.startswith("process_") for name, _ in found)  # only what the files hold


def test_a_worker_can_serve_its_own_metrics_on_a_port(db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = metrics.serve_worker_metrics(port, "127.0.0.1")
    try:
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()

    assert "mdm_external_call_seconds" in body


def test_a_family_that_cannot_be_read_is_left_out_and_the_scrape_still_answers(client, db, monkeypatch):
    def unreachable() -> float:
        raise ConnectionError("cache down")

    monkeypatch.setattr(workers, "heartbeat_age", unreachable)
    Conflict.objects.create(domain="customer", golden_id=9, field="name", reason="equal_trust")

    found = scrape(client)

    assert value(found, "mdm_open_conflicts", domain="customer") == 1
    assert not any(name == "mdm_worker_heartbeat_age_seconds" for name, _ in found)
