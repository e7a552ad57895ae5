"""Webhook subscriptions: signed batches in commit order, scoped to the owner, retried, parked."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from connectors.models import (
    DeliveryStatus,
    FailureClass,
    FailureStage,
    SyncFailure,
    WebhookDelivery,
    WebhookSubscription,
)
from connectors.services import webhooks
from masterdata.models import ChangeEvent, Customer, Material
from masterdata.observability import context
from masterdata.services import changefeed, golden
from tests.connectors.fakes.webhook import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "whsec-3f9a…-ünïcode"


@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as fake:
        yield fake


def subscribe(receiver: WebhookReceiver, owner, **fields) -> WebhookSubscription:
    fields.setdefault("secret", SECRET)
    subscription = WebhookSubscription(name=fields.pop("name", "erp-sync"), url=receiver.base_url, owner=owner,
                                       **fields)  # fmt: skip
    subscription.full_clean()
    subscription.save()
    return subscription


def ctx() -> golden.ChangeContext:
    return golden.ChangeContext(reason="test")


def deliver_until_settled(subscription: WebhookSubscription, clock, rounds: int = 20) -> None:
    for _ in range(rounds):
        webhooks.deliver(subscription, now=clock.now)
        waiting = WebhookDelivery.objects.filter(subscription=subscription, status=DeliveryStatus.PENDING)
        if not waiting.exists():
            return
        clock.to(min(waiting.values_list("next_attempt_at", flat=True)))
    raise AssertionError("batches still pending")


def test_a_subscriber_receives_every_change_once_in_signed_batches_in_commit_order(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, batch_size=2)
    customers = [golden.create(Customer, {"code": f"C-{i}", "name": f"C {i}", "owner_org": org.a}, ctx())
                 for i in range(5)]  # fmt: skip

    deliver_until_settled(subscription, clock)

    assert receiver.refused == 0
    assert [len(batch["events"]) for batch in receiver.batches] == [2, 2, 1]
    assert [e["golden_id"] for e in receiver.events] == [c.pk for c in customers]
    assert [e["id"] for e in receiver.events] == list(ChangeEvent.objects.order_by("id").values_list("id", flat=True))
    subscription.refresh_from_db()
    assert subscription.position and changefeed.read(subscription.position).events == []

    golden.update(customers[0], {"name": "C 0 renamed"}, ctx())
    webhooks.deliver(subscription, now=clock.now)
    assert [(e["golden_id"], e["version"]) for e in receiver.batches[-1]["events"]] == [(customers[0].pk, 2)]


def test_the_signature_is_hmac_sha256_over_time_and_body():
    body = b'{"events":[]}'
    header = webhooks.sign(SECRET, body, 1_700_000_000)
    assert webhooks.verify(SECRET, body, header, now=1_700_000_100)
    assert not webhooks.verify(SECRET, body + b" ", header, now=1_700_000_100)
    assert not webhooks.verify("another secret", body, header, now=1_700_000_100)
    assert not webhooks.verify(SECRET, body, header, now=1_700_000_000 + 301)  # too old: a replay


def test_a_subscriber_sees_only_records_its_owner_may_view_in_its_domains(receiver, steward_a, org, clock):
    subscription = subscribe(receiver, steward_a, domains=["customer"])
    golden.create(Customer, {"code": "CA-1", "name": "A", "owner_org": org.a_sales}, ctx())
    golden.create(Customer, {"code": "CB-1", "name": "B", "owner_org": org.b}, ctx())
    golden.create(Material, {"code": "M-1", "name": "Bolt"}, ctx())

    deliver_until_settled(subscription, clock)

    assert [e["golden_id"] for e in receiver.events] == [Customer.objects.get(code="CA-1").pk]


def test_a_receiver_failing_for_a_while_gets_each_event_once_when_it_recovers(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, batch_size=3)
    for i in range(7):
        golden.create(Customer, {"code": f"C-{i}", "name": f"C {i}", "owner_org": org.a}, ctx())
    receiver.fail(503, times=3)

    deliver_until_settled(subscription, clock)

    assert sorted(e["id"] for e in receiver.events) == list(ChangeEvent.objects.values_list("id", flat=True))
    assert len(receiver.events) == 7
    assert WebhookDelivery.objects.filter(subscription=subscription).first().attempts == 4


def test_a_batch_whose_answer_was_lost_is_sent_again_with_the_same_batch_id(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, timeout_seconds=0.5)
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())
    receiver.hang_after(1.5, times=1)

    deliver_until_settled(subscription, clock)

    assert len(receiver.batches) == 2 and receiver.batches[0]["batch_id"] == receiver.batches[1]["batch_id"]
    assert len(receiver.events) == 1


def test_a_refusal_parks_the_batch_and_the_subscription_goes_on(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, secret="not the receiver's secret")
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())

    webhooks.deliver(subscription, now=clock.now)

    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.attempts, batch.response_code) == (DeliveryStatus.DEAD, 1, 401)
    failure = SyncFailure.objects.get(subscription=subscription)
    assert (failure.stage, failure.classification, failure.source) == (
        FailureStage.WEBHOOK, FailureClass.CONFIGURATION, None,
    )  # fmt: skip
    subscription.refresh_from_db()
    assert subscription.position == batch.position_after

    subscription.secret = SECRET  # the configuration is corrected, then the batch is retried
    subscription.save()
    webhooks.retry_dead_batches([failure.pk], now=clock.now)

    assert [e["golden_id"] for e in receiver.events] == [Customer.objects.get().pk]
    failure.refresh_from_db()
    assert failure.status == "resolved"


def test_transient_failures_end_as_a_dead_letter_after_the_last_attempt(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, max_attempts=3)
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())
    receiver.fail(500, times=10)

    deliver_until_settled(subscription, clock)

    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.attempts, batch.classification) == (DeliveryStatus.DEAD, 3, FailureClass.TRANSIENT)
    assert SyncFailure.objects.get(subscription=subscription).classification == FailureClass.TRANSIENT


def call_count(subscription: WebhookSubscription) -> float:
    labels = {"source": f"webhook:{subscription.name}", "protocol": "webhook", "operation": "POST"}
    return REGISTRY.get_sample_value("mdm_external_call_seconds_count", labels) or 0


def test_webhook_calls_carry_the_correlation_id_and_are_timed(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser)
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())
    before = call_count(subscription)

    with context.bound("sweep-7f3a"):
        webhooks.deliver(subscription, now=clock.now)

    assert [r.headers["X-Request-ID"] for r in receiver.requests] == ["sweep-7f3a"]
    assert call_count(subscription) == before + 1


def test_a_delivery_outside_any_task_sends_an_id_of_its_own(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser)
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())

    webhooks.deliver(subscription, now=clock.now)

    assert context.accept(receiver.requests[0].headers["X-Request-ID"])
    assert context.current() is None


def test_a_dead_lettered_batch_shows_in_the_metrics_scrape(receiver, superuser, org, clock):
    subscription = subscribe(receiver, superuser, secret="not the receiver's secret")
    golden.create(Customer, {"code": "C-1", "name": "C", "owner_org": org.a}, ctx())
    webhooks.deliver(subscription, now=clock.now)

    response = Client().get("/metrics")

    assert response.status_code == 200, response.content
    found = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
    system, labels = "webhook:erp-sync", {"domain": "", "stage": "webhook", "classification": "configuration"}
    assert found[("mdm_dead_letters", frozenset({"system": system, "domain": ""}.items()))] == 1
    assert found[("mdm_sync_failures_total", frozenset({"source": system, **labels}.items()))] == 1
