"""Outbox dispatch and push delivery: who gets what, once, in version order, coalesced."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Delivery, DeliveryStatus, DeliveryTrigger, FeedCursor
from connectors.services import dispatch, push
from masterdata.models import ChangeEvent, SourceLink, SyncDirection
from masterdata.services import golden
from tests.connectors.fakes import CrmFake
from tests.connectors.push.conftest import change, crm_target, new_customer, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


def deliveries(target) -> list[tuple[int, str, int | None]]:
    rows = Delivery.objects.filter(target=target).order_by("id")
    return list(rows.values_list("version", "status", "delivered_version"))


def test_a_change_is_handed_to_every_target_set_to_push_or_both_and_to_no_other(crm_push, clock):
    with CrmFake([]) as other:
        pull_only = crm_target(other, code="crm2", direction=SyncDirection.PULL)
        customer = new_customer("C-1", "Alpha", email="a@example.com")
        dispatch.dispatch_pending()

        assert Delivery.objects.filter(target=crm_push).count() == 1
        assert not Delivery.objects.filter(target=pull_only).exists()
        assert push.deliver_due(pull_only, now=clock.now).pushed == 0 and other.writes == []
    assert customer.version == 1


def test_a_new_record_is_created_in_the_target_with_only_the_configured_fields(crm_push, crm, clock):
    customer = new_customer("C-1", "Alpha", email="a@example.com", tax_id="9131", phone="+86")
    run_until_settled(crm_push, clock)

    [(operation, key, body)] = crm.writes
    assert operation == "create" and body == {"code": "C-1", "name": "Alpha", "email": "a@example.com",
                                              "credit_limit": None}  # fmt: skip
    link = SourceLink.objects.get(source=crm_push.source, golden_id=customer.pk)
    assert (link.source_key, link.last_pushed_version, link.source_etag) == (key, 1, '"1"')
    assert link.source_values == {"code": "C-1", "name": "Alpha", "email": "a@example.com", "credit_limit": None}
    assert deliveries(crm_push) == [(1, DeliveryStatus.DELIVERED, 1)]


def test_an_update_patches_only_what_changed_on_the_linked_record(crm_push, crm, clock):
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(crm_push, clock)
    change(customer, name="Alpha Ltd", phone="+86 21 1234")  # the phone is not pushed
    run_until_settled(crm_push, clock)

    operation, key, body = crm.writes[-1]
    assert (operation, body) == ("update", {"name": "Alpha Ltd"})
    request = crm.requests[-1]
    assert (request.method, request.path, request.headers["If-Match"]) == ("PATCH", f"/api/customers/{key}", '"1"')
    assert deliveries(crm_push)[-1] == (2, DeliveryStatus.DELIVERED, 2)


def test_several_pending_versions_coalesce_into_one_push_of_the_latest_state(crm_push, crm, clock):
    customer = new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)
    for name in ("Alpha 2", "Alpha 3", "Alpha 4"):
        customer = change(customer, name=name)
    run_until_settled(crm_push, clock)

    assert [(op, body) for op, _key, body in crm.writes[1:]] == [("update", {"name": "Alpha 4"})]
    assert deliveries(crm_push)[1:] == [(v, DeliveryStatus.DELIVERED, 4) for v in (2, 3, 4)]


def test_a_change_of_fields_the_target_does_not_receive_sends_nothing(crm_push, crm, clock):
    customer = new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)
    requests_before = len(crm.requests)
    change(customer, phone="+86 10 0000", country="CN")
    run_until_settled(crm_push, clock)

    assert len(crm.requests) == requests_before
    assert deliveries(crm_push)[-1] == (2, DeliveryStatus.DELIVERED, 2)


def test_versions_never_overtake_each_other_while_a_record_waits_for_its_retry(crm_push, crm, clock):
    customer = new_customer("C-1", "Alpha")
    run_until_settled(crm_push, clock)
    crm.fail(500, times=1)
    customer = change(customer, name="Beta")
    dispatch.dispatch_pending()
    push.deliver_due(crm_push, now=clock.now)  # fails: the record waits
    customer = change(customer, name="Gamma")
    dispatch.dispatch_pending()

    assert push.deliver_due(crm_push, now=clock.advance(1)).pushed == 0  # the new version waits with it
    run_until_settled(crm_push, clock)
    names = [body["name"] for op, _key, body in crm.writes if "name" in body]
    assert names == ["Alpha", "Gamma"]


def test_a_change_that_came_from_a_system_is_not_pushed_back_to_it(crm_push, crm, clock):
    with CrmFake([]) as other_fake:
        other = crm_target(other_fake, code="crm2")
        customer = new_customer("C-1", "Alpha")
        run_until_settled(crm_push, clock)
        run_until_settled(other, clock)
        from_crm = golden.ChangeContext(source=crm_push.source, reason="pulled")
        change(customer, from_crm, name="Named in the CRM")
        dispatch.dispatch_pending()

        event = ChangeEvent.objects.get(golden_id=customer.pk, version=2)
        assert not Delivery.objects.filter(event=event, target=crm_push).exists()
        assert Delivery.objects.filter(event=event, target=other).exists()
        run_until_settled(other, clock)
        assert other_fake.writes[-1][2] == {"name": "Named in the CRM"}
    assert [op for op, *_ in crm.writes] == ["create"]


def test_dispatch_is_idempotent_whichever_path_runs_first(crm_push, clock):
    customer = new_customer("C-1", "Alpha")
    event = ChangeEvent.objects.get(golden_id=customer.pk)
    dispatch.dispatch_event(event.pk)
    dispatch.dispatch_pending()
    dispatch.dispatch_pending()
    dispatch.dispatch_event(event.pk)

    assert Delivery.objects.filter(event=event).count() == 1
    assert FeedCursor.objects.get(name=dispatch.DISPATCH_CURSOR).position


def test_a_paused_target_queues_changes_and_sends_them_coalesced_when_resumed(crm_push, crm, clock):
    dispatch.pause(crm_push, "SAP maintenance window")
    customer = new_customer("C-1", "Alpha")
    change(customer, name="Alpha 2")
    dispatch.dispatch_pending()

    report = push.deliver_due(crm_push, now=clock.now)
    assert report.paused and crm.writes == []
    assert Delivery.objects.filter(target=crm_push, status=DeliveryStatus.PENDING).count() == 2

    dispatch.resume(crm_push)
    run_until_settled(crm_push, clock)
    assert [(op, body["name"]) for op, _key, body in crm.writes] == [("create", "Alpha 2")]


def test_replay_since_a_time_queues_each_record_changed_since_once(crm_push, crm, clock):
    old = new_customer("C-OLD", "Old")
    ChangeEvent.objects.filter(golden_id=old.pk).update(occurred_at=timezone.now() - timedelta(days=2))
    recent = new_customer("C-NEW", "New")
    change(recent, name="Newer")
    FeedCursor.objects.create(name=dispatch.DISPATCH_CURSOR, position=_feed_end())  # nothing dispatched by events

    queued = dispatch.replay(crm_push, since=timezone.now() - timedelta(days=1))
    run_until_settled(crm_push, clock)

    assert queued == 1
    assert [(op, body["code"], body["name"]) for op, _key, body in crm.writes] == [("create", "C-NEW", "Newer")]
    assert Delivery.objects.get(target=crm_push).trigger == DeliveryTrigger.REPLAY


def test_replay_of_everything_is_the_initial_push_and_skips_what_the_target_holds(crm_push, crm, clock):
    FeedCursor.objects.create(name=dispatch.DISPATCH_CURSOR, position=_feed_end())
    customers = [new_customer(f"C-{i}", f"Customer {i}") for i in range(5)]
    FeedCursor.objects.filter(name=dispatch.DISPATCH_CURSOR).update(position=_feed_end())

    assert dispatch.replay(crm_push) == 5
    run_until_settled(crm_push, clock)
    assert sorted(body["code"] for _op, _key, body in crm.writes) == [c.code for c in customers]

    requests_before = len(crm.requests)
    dispatch.replay(crm_push)
    run_until_settled(crm_push, clock)
    assert len(crm.requests) == requests_before  # the target holds every record as it is


def test_only_one_worker_sends_for_a_target_at_a_time(crm_push, clock):
    new_customer("C-1", "Alpha")
    dispatch.dispatch_pending()
    from connectors.models import PushTarget
    from connectors.services.leases import Leased

    held = Leased(PushTarget, crm_push.pk, 60)
    assert held.acquire()
    try:
        assert push.deliver_due(crm_push, now=clock.now).busy
    finally:
        held.release()
    assert push.deliver_due(crm_push, now=clock.now).pushed == 1


def test_the_odata_target_gets_post_then_patch_with_if_match(odata_v4, clock):
    from masterdata.models import SourceSystem
    from tests.connectors.pipeline.conftest import sap_source
    from tests.connectors.push.conftest import push_target

    source = sap_source(odata_v4, "odata_v4")
    target = push_target(
        source,
        resource="A_BusinessPartner",
        key_field="BusinessPartner",
        lookup_field="SearchTerm1",
        field_map={"code": "SearchTerm1", "name": "OrganizationBPName1"},
    )
    customer = new_customer("C-1", "Alpha")
    run_until_settled(target, clock)
    change(customer, name="Alpha GmbH")
    run_until_settled(target, clock)

    assert [(op, body) for op, _key, body in odata_v4.writes] == [
        ("create", {"SearchTerm1": "C-1", "OrganizationBPName1": "Alpha"}),
        ("update", {"OrganizationBPName1": "Alpha GmbH"}),
    ]
    assert odata_v4.requests[-1].headers["If-Match"] == 'W/"1"'
    assert SourceSystem.objects.get(code="erp").links.get().source_etag == 'W/"2"'
    assert json.loads(odata_v4.requests[-1].body) == {"OrganizationBPName1": "Alpha GmbH"}


def _feed_end() -> str:
    from masterdata.services import changefeed

    return changefeed.start_position()


def test_a_created_key_that_already_has_a_link_moves_that_link_to_the_record(crm_push, crm, clock):
    stale = new_customer("C-0", "Old")
    SourceLink.objects.create(source=crm_push.source, domain="customer", source_key="crm-00002", golden_id=stale.pk,
                              source_values={"code": "C-0", "phone": "kept"})  # fmt: skip
    dispatch.dispatch_pending()
    Delivery.objects.filter(target=crm_push).delete()  # the old record needs nothing pushed
    first = new_customer("C-1", "Alpha", email="a@example.com")  # the CRM answers crm-00001
    second = new_customer("C-2", "Beta", email="b@example.com")  # … and crm-00002, a key already linked
    run_until_settled(crm_push, clock)

    new_link = SourceLink.objects.get(source=crm_push.source, source_key="crm-00001")
    reused = SourceLink.objects.get(source=crm_push.source, source_key="crm-00002")
    assert new_link.golden_id == first.pk and new_link.last_pushed_version == 1
    assert new_link.source_values == {"code": "C-1", "name": "Alpha", "email": "a@example.com", "credit_limit": None}
    assert reused.golden_id == second.pk and reused.last_pushed_version == 1 and reused.source_etag == '"1"'
    assert reused.source_values == {"code": "C-2", "name": "Beta", "email": "b@example.com", "credit_limit": None,
                                    "phone": "kept"}  # fmt: skip
    assert deliveries(crm_push) == [(1, DeliveryStatus.DELIVERED, 1)] * 2
