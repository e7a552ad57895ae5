"""Retention of the delivery ledger: finished rows go after the retention, work still to do never does.

The clock is moved by handing ``now`` to the purge (31 days on, with a 30-day retention); rows that
should look older than others are back-dated.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors import tasks
from connectors.models import (
    Delivery,
    DeliveryStatus,
    FailureDirection,
    SyncFailure,
    WebhookDelivery,
    WebhookSubscription,
)
from connectors.services import dispatch, failures, push, retention, webhooks
from masterdata.models import ChangeEvent, Customer
from masterdata.services import golden
from tests.connectors.fakes.webhook import WebhookReceiver
from tests.connectors.push.conftest import change, crm_target, new_customer, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "whsec-retention"


def in_days(days: float):
    return timezone.now() + timedelta(days=days)


def statuses(target) -> list[tuple[int, str]]:
    return list(Delivery.objects.filter(target=target).order_by("id").values_list("golden_id", "status"))


# --- push deliveries ---------------------------------------------------------------------------------
def test_delivered_pushes_older_than_the_retention_are_deleted_and_younger_ones_kept(crm_push, clock):
    old, young = new_customer("C-1", "Alpha"), new_customer("C-2", "Beta")
    run_until_settled(crm_push, clock)
    Delivery.objects.filter(golden_id=old.pk).update(delivered_at=in_days(-31))

    report = retention.purge(30)

    assert (report.deliveries, report.dry_run) == (1, False)
    assert statuses(crm_push) == [(young.pk, DeliveryStatus.DELIVERED)]


def test_pending_deliveries_are_never_deleted_however_old_and_still_go_out(crm_push, crm, clock):
    dispatch.pause(crm_push)
    customer = new_customer("C-1", "Alpha")
    dispatch.dispatch_pending()

    report = retention.purge(30, now=in_days(400))

    assert report.deliveries == 0 and statuses(crm_push) == [(customer.pk, DeliveryStatus.PENDING)]
    dispatch.resume(crm_push)
    run_until_settled(crm_push, clock)
    assert [body["code"] for op, _key, body in crm.writes if op == "create"] == ["C-1"]


def test_a_record_with_an_open_dead_letter_keeps_its_ledger_until_a_steward_closes_the_failure(crm, clock, superuser):
    target = crm_target(crm)
    customer = new_customer("C-1", "Alpha")
    run_until_settled(target, clock)
    crm.fail(400, times=1)
    change(customer, name="Alpha, refused")
    dispatch.dispatch_pending()
    push.deliver_due(target, now=clock.now)
    failure = SyncFailure.objects.get(direction=FailureDirection.OUTBOUND, status="open")

    kept = retention.purge(30, now=in_days(31))

    assert kept.deliveries == 0
    assert statuses(target) == [(customer.pk, DeliveryStatus.DELIVERED), (customer.pk, DeliveryStatus.DEAD)]

    failures.discard([failure.pk], user=superuser, note="obsolete")
    purged = retention.purge(30, now=in_days(31))

    assert purged.deliveries == 2 and statuses(target) == []


def test_a_dead_letter_retried_after_a_purge_is_still_sent(crm, clock):
    target = crm_target(crm)
    new_customer("C-0", "Zero")
    run_until_settled(target, clock)
    crm.fail(400, times=1)
    new_customer("C-1", "Alpha")
    dispatch.dispatch_pending()
    push.deliver_due(target, now=clock.now)
    failure = SyncFailure.objects.get(direction=FailureDirection.OUTBOUND, status="open")
    assert retention.purge(0, now=in_days(1)).deliveries == 1  # C-0's delivery; C-1's dead letter stays

    totals = push.retry_dead_letters([failure.pk], now=clock.advance(60))

    assert totals["resolved"] == 1
    assert sorted(body["code"] for op, _key, body in crm.writes if op == "create") == ["C-0", "C-1"]


def test_the_purge_deletes_in_batches(crm_push, clock):
    for number in range(5):
        new_customer(f"C-{number}", f"Customer {number}")
    run_until_settled(crm_push, clock)

    with CaptureQueriesContext(connection) as queries:
        report = retention.purge(30, now=in_days(31), batch_size=2)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "connectors_delivery"')]
    assert report.deliveries == 5 and len(deletes) == 3
    assert not Delivery.objects.exists()


# --- webhook batches ------------------------------------------------------------------------------------
@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as fake:
        yield fake


def subscribe(receiver, owner, **fields):
    return WebhookSubscription.objects.create(
        name="erp-sync", url=receiver.base_url, owner=owner, secret=SECRET, **fields
    )


def customers(count: int, org) -> list[Customer]:
    ctx = golden.ChangeContext(reason="test")
    return [
        golden.create(Customer, {"code": f"C-{n}", "name": f"C {n}", "owner_org": org.a}, ctx) for n in range(count)
    ]


def test_old_webhook_batches_are_deleted_but_open_dead_letters_and_the_newest_batch_are_kept(
    receiver, superuser, org, clock
):
    subscription = subscribe(receiver, superuser, batch_size=1)
    created = customers(3, org)
    receiver.fail(400, times=1)  # the first batch is refused for good: a dead letter
    for _ in range(4):
        webhooks.deliver(subscription, now=clock.now)
    batches = list(WebhookDelivery.objects.order_by("id").values_list("status", flat=True))
    assert batches == [DeliveryStatus.DEAD, DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED]

    report = retention.purge(30, now=in_days(31))

    assert report.webhook_deliveries == 1
    kept = WebhookDelivery.objects.order_by("id")
    assert [b.status for b in kept] == [DeliveryStatus.DEAD, DeliveryStatus.DELIVERED]
    # The dead batch, retried now, must not take the subscription back to where it ended.
    failure = SyncFailure.objects.get(subscription=subscription)
    webhooks.retry_dead_batches([failure.pk], now=clock.now)
    later = golden.create(Customer, {"code": "C-9", "name": "C 9", "owner_org": org.a}, golden.ChangeContext())
    webhooks.deliver(subscription, now=clock.now)
    received = [event["golden_id"] for event in receiver.events]
    assert sorted(received) == sorted([c.pk for c in created] + [later.pk])  # each event exactly once


# --- dry run, command, task -------------------------------------------------------------------------------
def test_the_command_counts_in_a_dry_run_and_deletes_without_it(crm_push, clock):
    new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)
    out = io.StringIO()

    call_command("purge_deliveries", "--older-than", "0", "--dry-run", stdout=out)

    assert "Would delete 1 push deliveries and 0 webhook batches" in out.getvalue()
    assert "Change events are kept" in out.getvalue()
    assert Delivery.objects.count() == 1

    call_command("purge_deliveries", "--older-than", "0", stdout=out)

    assert "Deleted 1 push deliveries" in out.getvalue() and not Delivery.objects.exists()
    with pytest.raises(CommandError):
        call_command("purge_deliveries", "--older-than", "-1")


def test_beat_runs_the_purge_daily_with_the_configured_retention(crm_push, clock, settings):
    settings.MDM_DELIVERY_RETENTION_DAYS = 0
    new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)

    result = tasks.purge_deliveries.apply().get()

    entry = django_settings.CELERY_BEAT_SCHEDULE["purge-deliveries"]
    assert (entry["task"], entry["schedule"]) == ("connectors.tasks.purge_deliveries", 24 * 3600.0)
    assert result == {"deliveries": 1, "webhook_deliveries": 0, "events": 0}


# --- change events -----------------------------------------------------------------------------------------
def test_change_events_are_kept_unless_their_retention_is_set(crm_push, clock, settings):
    assert settings.MDM_CHANGE_EVENT_RETENTION_DAYS == 0
    new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)

    report = retention.purge(30, now=in_days(4000))

    assert report.events == 0 and ChangeEvent.objects.count() == 1


def test_with_a_retention_set_only_events_every_reader_has_read_and_no_kept_delivery_needs_are_deleted(
    crm_push, crm, clock, settings, receiver, superuser
):
    settings.MDM_CHANGE_EVENT_RETENTION_DAYS = 30
    read = new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)  # the dispatcher has read C-1's event, its delivery is done
    dispatch.pause(crm_push)
    waiting = new_customer("C-2", "Beta")
    dispatch.dispatch_pending()  # read too, but its delivery waits
    unread = new_customer("C-3", "Gamma")  # not yet read by the dispatcher
    subscription = subscribe(receiver, superuser)  # a subscriber that has read nothing holds everything back

    assert retention.purge(30, now=in_days(31)).events == 0

    webhooks.deliver(subscription, now=clock.now)
    report = retention.purge(30, now=in_days(31))

    assert report.events == 1
    assert set(ChangeEvent.objects.values_list("golden_id", flat=True)) == {waiting.pk, unread.pk}
    assert read.pk not in set(ChangeEvent.objects.values_list("golden_id", flat=True))
    dispatch.resume(crm_push)
    run_until_settled(crm_push, clock)  # the feed goes on: what was kept is still delivered
    assert sorted(body["code"] for op, _key, body in crm.writes if op == "create") == ["C-1", "C-2", "C-3"]
