"""A REST target with a documented bulk write (the CRM's Zoho-style upsert): N records a request, each judged alone."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import CommandError

from connectors.models import Delivery, DeliveryStatus, FailureClass, FailureDirection, PushTarget, SyncFailure
from connectors.protocols import Outgoing, PushSpec, get_connector
from connectors.protocols.rest_bulk import bulk_errors
from connectors.services import dispatch, push
from masterdata.models import LinkStatus, SourceLink
from tests.connectors.conftest import make_connection
from tests.connectors.fakes import AuthPolicy, CrmFake
from tests.connectors.fakes.server import FakeResponse
from tests.connectors.push.conftest import (
    assert_crm_mirrors,
    change,
    creates_per_code,
    crm_target,
    new_customer,
    run_until_settled,
)
from tests.connectors.test_config import OUTBOUND, export, import_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

#: The CRM's upsert as Zoho CRM documents it: records under "data", answers under "data", by position.
CRM_BULK = {
    "path": "/api/customers/upsert",
    "items_key": "data",
    "extra": {"duplicate_check_fields": ["code"]},
    "max_items": 2,
    "item_key_field": "id",
    "results_path": "data",
    "status_field": "status",
    "success_values": ["success"],
    "key_field": "details.id",
    "retry_codes": ["TOO_MANY_REQUESTS"],
}


def bulk_target(crm, **bulk):
    return crm_target(crm, bulk={**CRM_BULK, **bulk})


def customers(count: int):
    return [new_customer(f"B-{n}", f"Bulk {n}", email=f"b{n}@example.com") for n in range(count)]


def upserts(crm) -> list[dict]:
    return [json.loads(r.body) for r in crm.requests if r.path.endswith("/upsert")]


class CrmFakeBulk(CrmFake):
    """A CRM that answers its bulk results by key, out of order, and forgets one."""

    answer_by_key = False

    def __init__(self) -> None:
        super().__init__([], auth=AuthPolicy(open=True))

    def _upsert(self, request):
        response = super()._upsert(request)
        if not self.answer_by_key:
            return response
        answers = json.loads(response.body)["data"]
        sent = json.loads(request.body)["data"]
        for answer, record in zip(answers, sent, strict=True):
            answer["details"]["code"] = record["code"]
        return FakeResponse.json({"data": [answers[2], answers[0]]}, response.status)


def test_one_request_carries_up_to_max_items_records_creates_then_updates(crm, clock):
    target = bulk_target(crm)
    records = customers(5)

    run_until_settled(target, clock)

    assert crm.bulks == [2, 2, 1]
    assert [r.method for r in crm.requests] == ["POST"] * 3  # no request of its own for any record
    assert upserts(crm)[0] == {"duplicate_check_fields": ["code"], "data": [
        {"code": "B-0", "name": "Bulk 0", "email": "b0@example.com", "credit_limit": None},
        {"code": "B-1", "name": "Bulk 1", "email": "b1@example.com", "credit_limit": None}]}  # fmt: skip
    links = dict(SourceLink.objects.filter(source=target.source).values_list("golden_id", "source_key"))
    assert links == {r.pk: next(c["id"] for c in crm.records if c.get("code") == r.code) for r in records}

    for record in records:
        change(record, name=f"{record.name} v2")
    run_until_settled(target, clock)

    assert crm.bulks == [2, 2, 1, 2, 2, 1]
    assert upserts(crm)[3]["data"][0] == {"name": "Bulk 0 v2", "code": "B-0", "id": links[records[0].pk]}
    assert_crm_mirrors(crm, records)
    assert set(creates_per_code(crm).values()) == {1}
    assert not Delivery.objects.filter(target=target).exclude(status=DeliveryStatus.DELIVERED).exists()
    assert set(SourceLink.objects.filter(source=target.source).values_list("last_pushed_version", flat=True)) == {2}


def test_a_record_the_api_refuses_is_parked_alone_and_a_retry_sends_it(crm, clock):
    target = bulk_target(crm, max_items=100)
    records = customers(4)
    crm.refuse_in_bulk("B-2", "INVALID_DATA", "invalid data")
    dispatch.dispatch_pending()

    report = push.deliver_due(target, now=clock.now)

    assert (report.pushed, report.dead, report.retrying) == (3, 1, 0) and crm.bulks == [4]
    assert Delivery.objects.get(target=target, golden_id=records[2].pk).status == DeliveryStatus.DEAD
    failure = SyncFailure.objects.get(direction=FailureDirection.OUTBOUND)
    assert (failure.golden_id, failure.classification) == (records[2].pk, FailureClass.BAD_DATA)
    assert "INVALID_DATA: invalid data" in failure.error
    assert [c.get("code") for c in crm.records if c.get("code")] == ["B-0", "B-1", "B-3"]

    totals = push.retry_dead_letters([failure.pk], now=clock.now)

    assert totals["resolved"] == 1  # tried before: looked up, then created on its own
    assert_crm_mirrors(crm, records)
    assert set(creates_per_code(crm).values()) == {1}


def test_a_record_refused_for_now_is_retried_with_backoff_and_arrives_once(crm, clock):
    target = bulk_target(crm)
    records = customers(3)
    crm.refuse_in_bulk("B-1", "TOO_MANY_REQUESTS", "slow down", times=2)
    dispatch.dispatch_pending()

    report = push.deliver_due(target, now=clock.now)

    assert (report.pushed, report.retrying, report.dead) == (2, 1, 0)
    waiting = Delivery.objects.get(target=target, golden_id=records[1].pk)
    assert (waiting.status, waiting.attempts, waiting.classification) == (DeliveryStatus.PENDING, 1, "transient")
    run_until_settled(target, clock)
    assert_crm_mirrors(crm, records)
    assert set(creates_per_code(crm).values()) == {1}


def test_a_failed_request_retries_each_of_its_records_and_a_lost_answer_is_looked_up_not_created_again(crm, clock):
    target = bulk_target(crm)
    records = customers(4)
    crm.fail(503, path="/upsert", times=1)
    crm.cut_after(path="/upsert", times=1)  # the second request is carried out, its answer lost
    dispatch.dispatch_pending()

    first = push.deliver_due(target, now=clock.now)

    assert (first.retrying, first.pushed) == (2, 0)  # after the 503 no further request starts this round
    run_until_settled(target, clock)

    assert_crm_mirrors(crm, records)
    assert set(creates_per_code(crm).values()) == {1}, creates_per_code(crm)
    assert any(r.method == "GET" and r.arg("code") for r in crm.requests)  # looked up before creating again
    assert SourceLink.objects.filter(source=target.source, status=LinkStatus.ACTIVE).count() == 4


def test_pending_versions_go_as_one_record_of_the_latest_state(crm, clock):
    target = bulk_target(crm)
    [record] = customers(1)
    run_until_settled(target, clock)
    record = change(record, name="second")
    record = change(record, name="third")

    run_until_settled(target, clock)

    key = next(c["id"] for c in crm.records if c.get("code") == "B-0")
    assert crm.bulks == [1, 1] and upserts(crm)[1]["data"] == [{"name": "third", "code": "B-0", "id": key}]
    later = Delivery.objects.filter(target=target, golden_id=record.pk, version__gt=1)
    assert later.count() == 2 and set(later.values_list("delivered_version", flat=True)) == {record.version}


def test_answers_matched_by_key_and_a_record_the_answer_omits_is_retried():
    with CrmFakeBulk() as fake:
        rest = get_connector(make_connection("rest", fake.base_url, options={"max_retries": 0}))
        spec = PushSpec("/api/customers", "id", "code", bulk={**CRM_BULK, "match": "details.code", "max_items": 10})
        fake.answer_by_key = True
        one, two, three = rest.send(spec, [Outgoing(n, {"code": f"K-{n}"}, lookup_value=f"K-{n}") for n in range(3)])

    assert one.ok and three.ok and one.key != three.key and one.created
    assert two.error is not None and "says nothing of this record" in str(two.error)  # answered out of order, one lost


def test_a_target_without_the_endpoint_gets_single_requests_and_it_is_remembered(crm, clock):
    target = bulk_target(crm, path="/api/customers/bulk-nowhere")
    records = customers(3)

    run_until_settled(target, clock)
    change(records[0], name="again")
    run_until_settled(target, clock)

    assert [r.path for r in crm.requests].count("/api/customers/bulk-nowhere") == 1
    assert_crm_mirrors(crm, records)


def test_the_bulk_setting_is_checked_and_round_trips_through_the_config_file(tmp_path):
    UserFactory(username="integration", is_superuser=True)  # the owner the file's webhook names
    assert bulk_errors(CRM_BULK) == []
    assert bulk_errors({"path": "/x", "max_items": 0, "method": "GET", "surprise": 1}) == [
        "unknown key 'surprise'", "items_key is required", "method must be one of POST, PUT, PATCH",
        "max_items must be a whole number from 1 to 10000",
    ]  # fmt: skip
    bulk = "\n        bulk: {path: /api/customers/upsert, items_key: data, max_items: 100, results_path: data}"
    text = OUTBOUND.replace("max_attempts: 5", "max_attempts: 5" + bulk)

    import_text(text, tmp_path)

    assert PushTarget.objects.get().bulk["path"] == "/api/customers/upsert"
    exported = export()
    assert yaml.safe_load(exported)["sources"][0]["push_targets"][0]["bulk"]["items_key"] == "data"
    assert "No changes" in import_text(exported, tmp_path)
    with pytest.raises(CommandError) as caught:
        import_text(text.replace("max_items: 100", "max_items: 100000"), tmp_path)
    assert "sources[0].push_targets[0].bulk: max_items must be a whole number from 1 to 10000" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        import_text(text.replace("protocol: rest", "protocol: odata_v4"), tmp_path)
    assert "bulk writes are for REST targets; this source speaks odata_v4" in str(caught.value)


def test_values_with_quotes_backslashes_and_accents_reach_the_ledger_as_sent(crm, clock):
    target = bulk_target(crm)
    [record] = customers(1)
    run_until_settled(target, clock)
    tricky = 'Müller "Söhne" \\ {Ltd}, \'quoted\' \\"'

    record = change(record, name=tricky, email="")
    run_until_settled(target, clock)

    link = SourceLink.objects.get(source=target.source, golden_id=record.pk)
    assert link.source_values["name"] == tricky and link.source_values["email"] == ""
    assert link.last_pushed_version == record.version
    assert next(c for c in crm.records if c.get("code") == "B-0")["name"] == tricky
