"""Faults of a target: every golden change arrives exactly once — none lost, none duplicated — counted.

Retries are driven by moving the test's clock to each delivery's next attempt, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.models import Delivery, DeliveryStatus, FailureClass, FailureDirection, FailureStage, SyncFailure
from connectors.services import dispatch, push
from masterdata.models import SourceLink
from tests.connectors.push.conftest import (
    assert_crm_mirrors,
    change,
    creates_per_code,
    crm_target,
    new_customer,
    run_until_settled,
)

pytestmark = pytest.mark.django_db(transaction=True)


def a_batch_of_changes(count: int = 6):
    """``count`` new customers, then a second version of every other one."""
    customers = [new_customer(f"C-{i}", f"Customer {i}", email=f"c{i}@example.com") for i in range(count)]
    return [change(c, name=f"{c.name} v2") if i % 2 else c for i, c in enumerate(customers)]


def test_a_target_failing_with_500_for_a_while_gets_every_change_once_when_it_recovers(crm, clock):
    target = crm_target(crm)
    customers = a_batch_of_changes()
    crm.fail(500, times=4)

    rounds = run_until_settled(target, clock)

    assert rounds > 1
    assert_crm_mirrors(crm, customers)
    assert set(creates_per_code(crm).values()) == {1}
    assert Delivery.objects.filter(target=target).exclude(status=DeliveryStatus.DELIVERED).count() == 0
    assert not SyncFailure.objects.filter(direction=FailureDirection.OUTBOUND, status="open").exists()


def test_429_is_retried_no_sooner_than_the_retry_after_the_target_asked_for(crm, clock):
    target = crm_target(crm)
    customers = a_batch_of_changes(3)
    crm.fail(429, retry_after="600", times=1)
    dispatch.dispatch_pending()
    started = clock.now

    push.deliver_due(target, now=clock.now)

    waiting = Delivery.objects.filter(target=target, status=DeliveryStatus.PENDING, attempts=1)
    assert waiting.exists()
    assert min(waiting.values_list("next_attempt_at", flat=True)) >= started + timedelta(seconds=600)
    assert push.deliver_due(target, now=clock.advance(599)).pushed == 2  # the others were not held back
    run_until_settled(target, clock)
    assert_crm_mirrors(crm, customers)
    assert set(creates_per_code(crm).values()) == {1}


@pytest.mark.parametrize("fault", ["hang past the timeout", "connection closed mid-answer"])
def test_a_create_whose_answer_is_lost_is_not_created_twice(crm, clock, fault):
    target = crm_target(crm, timeout=0.5)
    customers = a_batch_of_changes(4)
    if fault.startswith("hang"):
        crm.hang_after(1.5, method="POST", times=2)
    else:
        crm.cut_after(method="POST", times=2)

    run_until_settled(target, clock)

    assert_crm_mirrors(crm, customers)
    assert set(creates_per_code(crm).values()) == {1}
    assert SourceLink.objects.filter(source=target.source).count() == len(customers)


def test_an_update_whose_answer_was_lost_is_recognised_by_its_etag_and_not_sent_again(crm, clock):
    target = crm_target(crm, timeout=0.5)
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(target, clock)
    crm.hang_after(1.5, method="PATCH", times=1)
    customer = change(customer, name="Alpha Ltd")

    run_until_settled(target, clock)

    assert_crm_mirrors(crm, [customer])
    assert [body for op, _k, body in crm.writes if op == "update"] == [{"name": "Alpha Ltd"}]
    assert crm.requests[-1].method == "GET"  # the 412 made it read the record: it already held the change


def test_a_permanent_400_parks_the_change_at_once_as_bad_data_in_the_failure_queue(crm, clock):
    target = crm_target(crm)
    customer = new_customer("C-1", "Alpha")
    crm.fail(400, times=1)
    dispatch.dispatch_pending()

    push.deliver_due(target, now=clock.now)

    delivery = Delivery.objects.get(target=target)
    assert (delivery.status, delivery.attempts, delivery.classification, delivery.response_code) == (
        DeliveryStatus.DEAD, 1, FailureClass.BAD_DATA, 400,
    )  # fmt: skip
    failure = SyncFailure.objects.get(direction=FailureDirection.OUTBOUND)
    assert (failure.stage, failure.classification, failure.golden_id, failure.push_target) == (
        FailureStage.PUSH, FailureClass.BAD_DATA, customer.pk, target,
    )  # fmt: skip
    assert failure.status == "open" and failure.source == target.source and failure.payload["code"] == "C-1"


def test_retrying_a_dead_letter_sends_the_current_state(crm, clock):
    target = crm_target(crm)
    customer = new_customer("C-1", "Alpha")
    crm.fail(400, times=1)
    dispatch.dispatch_pending()
    push.deliver_due(target, now=clock.now)
    change(customer, name="Alpha, corrected")  # the steward fixes the data; not dispatched yet
    failure = SyncFailure.objects.get(direction=FailureDirection.OUTBOUND)

    totals = push.retry_dead_letters([failure.pk], now=clock.advance(60))

    assert totals == {"retried": 1, "resolved": 1, "failed": 0, "waiting": 0}
    assert [(op, body["name"]) for op, _k, body in crm.writes] == [("create", "Alpha, corrected")]
    failure.refresh_from_db()
    assert failure.status == "resolved"
    run_until_settled(target, clock)  # the correction's own event finds nothing left to send
    assert len(crm.writes) == 1


def test_dead_letters_are_retried_in_bulk(crm, clock):
    target = crm_target(crm)
    customers = a_batch_of_changes(3)
    crm.fail(422, times=3)
    run_until_settled(target, clock)
    dead = SyncFailure.objects.filter(direction=FailureDirection.OUTBOUND, status="open")
    assert dead.count() == 3

    totals = push.retry_dead_letters(list(dead.values_list("pk", flat=True)), now=clock.now)

    assert (totals["retried"], totals["resolved"]) == (3, 3)
    assert_crm_mirrors(crm, customers)


def test_transient_failures_back_off_exponentially_then_park_as_transient(crm, clock):
    target = crm_target(crm, max_attempts=4)
    new_customer("C-1", "Alpha")
    crm.fail(503, times=100)
    dispatch.dispatch_pending()
    waits = []
    for _ in range(4):
        before = clock.now
        push.deliver_due(target, now=clock.now)
        delivery = Delivery.objects.get(target=target)
        if delivery.status == DeliveryStatus.DEAD:
            break
        waits.append((delivery.next_attempt_at - before).total_seconds())
        clock.to(delivery.next_attempt_at)

    assert [w >= b * 0.5 and w <= b * 1.5 for w, b in zip(waits, (30, 60, 120), strict=True)] == [True] * 3
    delivery = Delivery.objects.get(target=target)
    assert (delivery.status, delivery.attempts, delivery.classification) == ("dead", 4, FailureClass.TRANSIENT)
    assert SyncFailure.objects.get(direction=FailureDirection.OUTBOUND).classification == FailureClass.TRANSIENT


def test_a_record_the_push_map_cannot_render_is_bad_data_without_a_request(crm, clock):
    target = crm_target(crm)
    target.field_map = [*target.field_map, {"golden": "country", "target": "region",
                                            "transforms": [{"op": "lookup", "table": {"DE": "EU"}}]}]  # fmt: skip
    target.save()
    new_customer("C-1", "Alpha", country="CN")
    run_until_settled(target, clock)

    assert crm.writes == [] and Delivery.objects.get(target=target).classification == FailureClass.BAD_DATA
