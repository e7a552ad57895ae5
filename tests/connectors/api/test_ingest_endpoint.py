"""``POST /api/v1/ingest/<source>/<domain>/``: records a source posts, exactly once, answered per record."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import IdempotencyKey, SyncFailure, SyncRun
from connectors.services import ingest as ingest_service
from connectors.services import pipeline
from connectors.tasks import purge_idempotency_keys
from masterdata.models import ChangeEvent, Customer, SourceLink
from tests.conftest import client_for
from tests.connectors.api.conftest import URL, post, push_only

pytestmark = pytest.mark.django_db

GOOD = {"id": "C1001", "name": "上海华东贸易有限公司", "credit_score": 720, "last_order_date": "2025-06-01"}
BAD_DATE = {"id": "C1002", "name": "Beta GmbH", "last_order_date": "first of June"}
OTHER = {"id": "C1003", "name": "Gamma Inc."}


def written() -> dict[str, int]:
    """Everything a post can write."""
    return {
        "customers": Customer.objects.count(),
        "history": Customer.history.count(),
        "events": ChangeEvent.objects.count(),
        "links": SourceLink.objects.count(),
        "runs": SyncRun.objects.count(),
        "failures": SyncFailure.objects.count(),
    }


# --- who may post -----------------------------------------------------------------------------
def test_an_anonymous_caller_is_refused(crm):
    response = post(APIClient(), [GOOD])

    assert response.status_code == 401
    assert not Customer.objects.exists()


def test_an_authenticated_user_without_the_ingest_permission_is_refused(crm, api_a):
    response = post(api_a, [GOOD])

    assert response.status_code == 403
    assert "connectors.ingest_mapping" in response.json()["detail"]
    assert written()["runs"] == 0


def test_a_permission_on_one_mapping_allows_that_source_and_domain_only(api_crm, erp):
    assert post(api_crm, [GOOD]).status_code == 200

    response = post(api_crm, [{"KUNNR": "0000100001", "NAME1": "Alpha"}], source="erp", key="key-2")

    assert response.status_code == 403
    assert not SourceLink.objects.filter(source=erp).exists()


def test_the_model_permission_allows_every_source(api_everywhere, crm, erp):
    assert post(api_everywhere, [GOOD]).status_code == 200
    assert post(api_everywhere, [{"KUNNR": "0000100001", "NAME1": "Alpha"}], source="erp").status_code == 200


# --- what is refused before anything is written ----------------------------------------------
def test_a_request_without_an_idempotency_key_is_refused_with_a_clear_message(api_crm):
    response = post(api_crm, [GOOD], key=None)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "idempotency_key_missing"
    assert "Idempotency-Key header is required" in body["detail"]
    assert written()["runs"] == 0


@pytest.mark.parametrize("key", ["x" * 256, "naïve", '""'])
def test_an_idempotency_key_that_is_too_long_or_not_ascii_is_refused(api_crm, key):
    response = post(api_crm, [GOOD], key=key)

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_invalid")


def test_a_batch_over_the_limit_is_refused_whole(api_crm, settings):
    settings.MDM_INGEST_MAX_RECORDS = 2

    response = post(api_crm, [GOOD, OTHER, BAD_DATE])

    assert response.status_code == 400
    assert response.json()["code"] == "batch_too_large"
    assert "limit is 2" in response.json()["detail"]
    assert written()["customers"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [([], "empty_batch"), ({}, "empty_batch"), ([GOOD, "C1004"], "invalid_record"), (7, "invalid_body")],
)
def test_a_body_that_is_not_records_is_refused(api_crm, body, code):
    response = post(api_crm, body)

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert written()["runs"] == 0


def test_records_holding_text_no_database_can_keep_are_refused_before_anything_is_written(api_crm):
    body = '[{"id": "C1"}, {"id": "C2", "name": "a\\u0000b"}, {"id": "C3", "x": {"k\\u0000": 1}}, {"id": "\\ud800"}]'

    response = api_crm.post(
        URL.format(source="crm", domain="customer"), body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid_record")
    assert set(response.json()["errors"]) == {"[1]", "[2]", "[3]"}
    assert written()["runs"] == 0


def test_a_key_longer_than_a_link_can_hold_is_refused_and_the_key_not_used_up(api_crm):
    response = post(api_crm, [GOOD, {"id": "x" * 201, "name": "Long"}])

    assert (response.status_code, response.json()["code"]) == (400, "invalid_record")
    assert list(response.json()["errors"]) == ["[1]"]
    assert written()["runs"] == 0
    assert post(api_crm, [GOOD]).status_code == 200


@pytest.mark.parametrize(
    ("source", "domain", "code"), [("nope", "customer", "unknown_source"), ("crm", "x", "unknown_domain")]
)
def test_an_unknown_source_or_domain_is_a_json_404(api_crm, source, domain, code):
    response = post(api_crm, [GOOD], source=source, domain=domain)

    assert response.status_code == 404
    assert response.json()["code"] == code


def test_an_inactive_source_does_not_take_records(api_crm, crm):
    crm.is_active = False
    crm.save()

    response = post(api_crm, [GOOD])

    assert (response.status_code, response.json()["code"]) == (409, "source_inactive")
    assert written()["runs"] == 0
    assert not IdempotencyKey.objects.exists()  # a refused request is not remembered: fix it and resend


def test_a_domain_the_source_only_receives_takes_no_records(api_crm, crm):
    push_only(crm)

    response = post(api_crm, [GOOD])

    assert response.status_code == 409
    assert response.json()["code"] == "domain_not_inbound"
    assert "direction push" in response.json()["detail"]


def test_a_source_without_a_mapping_for_the_domain_takes_no_records(api_everywhere, crm):
    from masterdata.models import SourceDomain

    SourceDomain.objects.create(source=crm, domain="supplier")

    response = post(api_everywhere, [GOOD], domain="suppliers")

    assert (response.status_code, response.json()["code"]) == (409, "no_mapping")


# --- the answer -------------------------------------------------------------------------------
def test_each_record_gets_its_golden_id_outcome_and_errors_in_the_order_posted(api_crm, crm_integration):
    response = post(api_crm, [GOOD, BAD_DATE, {"name": "no key"}, OTHER])

    assert response.status_code == 200
    body = response.json()
    assert (body["source"], body["domain"], body["received"]) == ("crm", "customer", 4)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["outcome"] for r in results] == ["created", "failed", "failed", "created"]
    assert results[0]["golden_id"] == Customer.objects.get(code="C1001").pk
    assert results[3]["golden_id"] == Customer.objects.get(code="C1003").pk
    assert results[1]["source_key"] == "C1002" and results[1]["golden_id"] is None
    assert results[1]["stage"] == "validate" and "last_transaction_date" in results[1]["errors"]
    assert results[2]["source_key"] is None and results[2]["stage"] == "map"
    assert body["counts"] == {
        "created": 2, "updated": 0, "unchanged": 0, "conflict": 0, "duplicate_suspect": 0, "superseded": 0, "failed": 2,
    }  # fmt: skip
    run = SyncRun.objects.get(pk=body["run"])
    assert (run.trigger, run.status, run.fetched, run.created, run.failed) == ("ingest", "partial", 4, 2, 2)
    assert set(SyncFailure.objects.values_list("source_key", flat=True)) == {"C1002", ""}


def test_history_names_the_account_that_posted_and_the_source(api_crm, crm_integration, crm):
    post(api_crm, [GOOD])

    row = Customer.history.get(code="C1001")
    assert (row.history_user, row.history_source) == (crm_integration, crm)


def test_one_record_may_be_posted_as_an_object(api_crm):
    response = post(api_crm, GOOD)

    assert response.status_code == 200
    assert [r["outcome"] for r in response.json()["results"]] == ["created"]


def test_a_key_twice_in_a_batch_takes_the_last_and_reports_the_first_superseded(api_crm):
    renamed = {**GOOD, "name": "上海华东贸易有限公司（新）"}

    results = post(api_crm, [GOOD, renamed]).json()["results"]

    assert [r["outcome"] for r in results] == ["superseded", "created"]
    assert results[0]["golden_id"] == results[1]["golden_id"]
    assert Customer.objects.get(code="C1001").name == renamed["name"]


def test_later_posts_report_updates_and_unchanged_records(api_crm):
    post(api_crm, [GOOD, OTHER], key="first")

    results = post(api_crm, [{**GOOD, "credit_score": 640}, OTHER], key="second").json()["results"]

    assert [r["outcome"] for r in results] == ["updated", "unchanged"]
    assert results[0]["changed_fields"] == ["credit_rating"]


# --- exactly once -----------------------------------------------------------------------------
def test_a_retried_key_returns_the_first_answer_and_writes_nothing(api_crm):
    first = post(api_crm, [GOOD, BAD_DATE, OTHER])
    before = written()

    again = post(api_crm, [GOOD, BAD_DATE, OTHER])

    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert written() == before


def test_key_order_and_whitespace_do_not_make_another_request(api_crm):
    first = post(api_crm, [GOOD])

    again = api_crm.post(
        URL.format(source="crm", domain="customer"),
        data='[{"last_order_date": "2025-06-01", "credit_score": 720,\n'
        ' "name": "上海华东贸易有限公司", "id": "C1001"}]',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(api_crm):
    post(api_crm, [GOOD])
    before = written()

    response = post(api_crm, [OTHER])

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert "different request body" in response.json()["detail"]
    assert written() == before


def test_keys_are_scoped_per_user_source_and_domain(api_crm, api_everywhere, erp):
    post(api_crm, [GOOD], key="shared")

    other_user = post(api_everywhere, [OTHER], key="shared")
    other_source = post(api_everywhere, [{"KUNNR": "0000100001", "NAME1": "Alpha"}], key="shared", source="erp")

    assert other_user.status_code == other_source.status_code == 200
    assert "Idempotent-Replayed" not in other_user and "Idempotent-Replayed" not in other_source
    assert IdempotencyKey.objects.filter(key="shared").count() == 3


def test_an_expired_key_is_forgotten_and_the_request_processed_again(api_crm, settings):
    settings.MDM_INGEST_KEY_DAYS = 7
    post(api_crm, [GOOD])
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=8))

    response = post(api_crm, [OTHER])

    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert Customer.objects.filter(code="C1003").exists()


def test_the_daily_task_purges_expired_keys_only(api_crm, settings):
    settings.MDM_INGEST_KEY_DAYS = 7
    post(api_crm, [GOOD], key="old")
    post(api_crm, [OTHER], key="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=8))

    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_request_that_fails_unexpectedly_leaves_no_key_behind(api_crm, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "ingest_batch", broken)
    api_crm.raise_request_exception = False

    assert post(api_crm, [GOOD]).status_code == 500
    assert not IdempotencyKey.objects.exists()
    monkeypatch.undo()
    assert post(api_crm, [GOOD]).status_code == 200  # the retry goes through


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_key_write_once(crm_integration, monkeypatch):
    """The second request waits on the key until the first commits, then replays its answer."""
    real = pipeline.ingest_records
    entered = threading.Event()

    def slow(*args, **kwargs):
        entered.set()
        time.sleep(0.5)  # the other request arrives meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "ingest_records", slow)
    answers = {}

    def send(name: str) -> None:
        try:
            answers[name] = post(client_for(crm_integration), [GOOD, OTHER])
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    first.join(20)
    second.join(20)

    assert answers["first"].status_code == answers["second"].status_code == 200
    assert answers["first"].json() == answers["second"].json()
    assert answers["second"]["Idempotent-Replayed"] == "true"
    assert SyncRun.objects.count() == 1
    assert Customer.objects.count() == 2 and Customer.history.count() == 2
    assert ChangeEvent.objects.count() == 2


# --- the contract -----------------------------------------------------------------------------
def test_the_endpoint_is_in_the_openapi_schema_with_its_required_key(api_crm):
    schema = api_crm.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/ingest/{source}/{domain}/"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is True
    assert {"200", "400", "403", "404", "409", "422"} <= set(operation["responses"])


def test_the_batch_limit_defaults_to_a_thousand_records(settings):
    del settings.MDM_INGEST_MAX_RECORDS

    assert ingest_service.max_records() == 1000


def test_the_admin_grants_the_ingest_permission_on_one_mapping_and_nothing_else(crm, superuser):
    from django.test import Client

    from connectors.models import Mapping
    from tests.factories import UserFactory

    account = UserFactory(username="crm-feed")
    mapping = Mapping.objects.get(source=crm, domain="customer")
    browser = Client()
    browser.force_login(superuser)
    url = f"/admin/connectors/mapping/{mapping.pk}/permissions/user-manage/{account.pk}/"

    page = browser.get(url)
    response = browser.post(url, {"permissions": ["ingest_mapping"]})

    assert page.status_code == 200 and "change_mapping" not in page.content.decode()
    assert response.status_code == 302
    assert account.has_perm("connectors.ingest_mapping", mapping)
    assert not account.has_perm("connectors.change_mapping", mapping)
    assert post(client_for(account), [GOOD]).status_code == 200
