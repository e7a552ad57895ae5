"""The failed-syncs queue: inbound and outbound failures together, decided on with a reason, audited on the item."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors.models import FailureClass, FailureDirection, FailureStage, FailureStatus, PushTarget, SyncFailure
from masterdata.models import Customer
from tests.connectors.admin.conftest import queued
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, crm_source, make_source, map_source
from tests.connectors.push.conftest import Clock, crm_target, new_customer, run_until_settled
from tests.factories import SourceSystemFactory, SupplierFactory
from tests.masterdata.admin.conftest import admin_url, browser

QUEUE = reverse("admin:connectors_syncfailure_changelist")
OPEN_QUEUE = f"{QUEUE}?status__exact=open"


def item_url(failure: SyncFailure) -> str:
    return admin_url(SyncFailure, "change", failure.pk)


def decisions_on(failure: SyncFailure) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id=str(failure.pk), content_type__model="syncfailure"))


def crm_with_a_bad_date() -> CrmFake:
    records = data.crm_customers(6)
    records[4]["last_order_date"] = "last tuesday"
    return CrmFake(records)


@pytest.fixture
def inbound_failure(db):
    """A CRM customer the hub refused: its last order date is not a date."""
    with crm_with_a_bad_date() as crm:
        crm_source(crm, code="crm-in")
        from connectors.services import pipeline

        pipeline.pull("crm-in", "customer")
    return SyncFailure.objects.get()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dead_letters(transactional_db, crm, clock):
    """Three customers the CRM target refused while it was down (503), parked after one attempt.

    Transactional: the dispatcher reads the change feed, which shows committed changes only.
    """
    target = crm_target(crm, max_attempts=1)
    customers = [new_customer(f"C-{i}", f"Customer {i}") for i in range(3)]
    crm.fail(503, times=100)
    run_until_settled(target, clock)
    mine = [c.pk for c in customers]
    failures = list(SyncFailure.objects.filter(direction=FailureDirection.OUTBOUND, golden_id__in=mine).order_by("id"))
    assert len(failures) == 3
    return type("DeadLetters", (), {"target": target, "customers": customers, "failures": failures, "crm": crm})


# --- the list -------------------------------------------------------------------------------------
def test_the_queue_opens_on_the_open_failures(superuser):
    response = browser(superuser).get(QUEUE)

    assert response.status_code == 302 and response["Location"] == OPEN_QUEUE


def test_inbound_and_outbound_failures_are_listed_together_with_stage_endpoint_class_and_attempts(
    superuser, inbound_failure, dead_letters
):
    html = browser(superuser).get(OPEN_QUEUE).content.decode()

    assert "← crm-in · customer" in html and "C1005" in html and "last_transaction_date" in html  # inbound
    assert f"→ {dead_letters.target.source.code} · customer" in html  # outbound, to the CRM target
    assert html.count("Transient") >= 3 and "Bad data" in html
    assert "Validate" in html and "Push (delivery to a target)" in html


def test_an_inbound_failure_of_a_record_the_hub_knows_names_that_record(db):
    with crm_with_a_bad_date() as crm:
        from connectors.services import pipeline

        crm.records[4]["last_order_date"] = "2024-01-02"
        source = crm_source(crm)
        pipeline.pull(source, "customer")
        crm.records[4]["last_order_date"] = "yesterday"
        pipeline.pull(source, "customer")

    failure = SyncFailure.objects.get()
    assert failure.golden_id == Customer.objects.get(code="C1005").pk
    assert failure.classification == FailureClass.BAD_DATA


# --- scope ----------------------------------------------------------------------------------------
def test_a_steward_sees_only_failures_of_records_they_may_resolve(resolver_a, customers):
    mine = queued(golden=customers.a_sales, key="KEY-OF-A")
    theirs = queued(golden=customers.b, key="KEY-OF-B")
    queued(key="KEY-UNKNOWN")  # no golden record yet: the whole group's business
    client = browser(resolver_a)

    html = client.get(OPEN_QUEUE).content.decode()

    assert "KEY-OF-A" in html and "KEY-OF-B" not in html and "KEY-UNKNOWN" not in html
    assert client.get(item_url(mine)).status_code == 200
    assert client.get(item_url(theirs)).status_code == 404


def test_a_steward_cannot_decide_on_another_companys_failure_by_posting(resolver_b, customers):
    theirs = queued(golden=customers.a, key="KEY-OF-A")
    client = browser(resolver_b)

    response = client.post(
        reverse("admin:connectors_syncfailure_decide", args=[theirs.pk]), {"decision": "discard", "reason": "mine now"}
    )
    client.post(OPEN_QUEUE, {"action": "discard", "_selected_action": [theirs.pk], "apply": "yes", "reason": "x"})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == FailureStatus.OPEN and decisions_on(theirs) == []


def test_a_steward_without_a_resolve_grant_has_no_queue_in_the_menu(steward_a):
    client = browser(steward_a)

    assert QUEUE not in client.get(reverse("admin:index")).content.decode()
    assert client.get(OPEN_QUEUE).status_code == 403


# --- the item -------------------------------------------------------------------------------------
@pytest.fixture
def supplier_failure(org, customers):
    """A supplier record whose payload carries a bank account (sensitive) and an API token (a credential)."""
    source = make_source("erp", domain="supplier")
    fields = {"id": "code", "name": "name", "iban": "bank_account"}
    map_source(source, "supplier", SEED_CRM_FETCH, fields)
    supplier = SupplierFactory(owner_org=org.a)
    payload = {"id": "S-1", "name": "Acme", "iban": "DE89370400440532013000", "meta": {"api_token": "tok-123"}}
    return queued(source, golden=supplier, key="S-1", domain="supplier", payload=payload)


def test_the_payload_is_pretty_printed_with_credentials_and_sensitive_fields_masked(resolver_a, supplier_failure):
    html = browser(resolver_a).get(item_url(supplier_failure)).content.decode()

    assert "DE89370400440532013000" not in html and "tok-123" not in html
    assert "&quot;iban&quot;: &quot;•••&quot;" in html and "&quot;api_token&quot;: &quot;•••&quot;" in html
    assert "&quot;name&quot;: &quot;Acme&quot;" in html  # the rest shows as it came


def test_someone_who_may_reveal_sensitive_fields_sees_them_after_a_reveal_but_never_credentials(
    superuser, supplier_failure
):
    client = browser(superuser)
    masked = client.get(item_url(supplier_failure)).content.decode()
    html = client.post(reverse("admin:connectors_syncfailure_reveal", args=[supplier_failure.pk])).content.decode()

    assert "DE89370400440532013000" not in masked and "Reveal sensitive values (audited)" in masked
    assert "DE89370400440532013000" in html and "tok-123" not in html


def test_discarding_from_the_item_keeps_who_and_why_and_shows_it_there(superuser, inbound_failure):
    client = browser(superuser)
    decide = reverse("admin:connectors_syncfailure_decide", args=[inbound_failure.pk])

    client.post(decide, {"decision": "discard", "reason": "customer closed in the CRM"})

    inbound_failure.refresh_from_db()
    assert inbound_failure.status == FailureStatus.DISCARDED
    assert (inbound_failure.closed_by, inbound_failure.note) == (superuser, "customer closed in the CRM")
    [entry] = decisions_on(inbound_failure)
    assert entry.user == superuser and entry.change_message == "Discarded. Why: customer closed in the CRM."
    assert "Discarded. Why: customer closed in the CRM." in client.get(item_url(inbound_failure)).content.decode()


def test_a_decision_without_a_reason_is_refused(superuser, inbound_failure):
    client = browser(superuser)

    response = client.post(
        reverse("admin:connectors_syncfailure_decide", args=[inbound_failure.pk]),
        {"decision": "discard", "reason": "  "},
        follow=True,
    )

    assert "Say why" in response.content.decode()
    inbound_failure.refresh_from_db()
    assert inbound_failure.status == FailureStatus.OPEN and decisions_on(inbound_failure) == []


def test_edit_and_retry_corrects_a_mapped_value_and_the_record_goes_through(superuser, inbound_failure):
    client = browser(superuser)
    edit = reverse("admin:connectors_syncfailure_edit", args=[inbound_failure.pk])
    form = client.get(edit).content.decode()
    assert 'name="value:last_order_date"' in form and 'value="last tuesday"' in form
    assert '<ul class="errorlist"><li>“last tuesday” value has an invalid date format.' in form  # next to its field

    response = client.post(edit, {"value:last_order_date": "2023-12-24", "reason": "typo, confirmed by sales"})

    assert response.status_code == 302
    inbound_failure.refresh_from_db()
    assert inbound_failure.status == FailureStatus.RESOLVED
    assert inbound_failure.payload["last_order_date"] == "2023-12-24"
    assert str(Customer.objects.get(code="C1005").last_transaction_date) == "2023-12-24"
    [entry] = decisions_on(inbound_failure)
    assert entry.change_message == (
        "Edited and retried: last_order_date (last_transaction_date): 'last tuesday' → '2023-12-24'. "
        "Why: typo, confirmed by sales. Outcome: went through."
    )


def test_edit_and_retry_that_still_fails_counts_an_attempt_and_says_why(superuser, inbound_failure):
    edit = reverse("admin:connectors_syncfailure_edit", args=[inbound_failure.pk])

    browser(superuser).post(edit, {"value:last_order_date": "24/12/2023", "reason": "try the ERP's format"})

    inbound_failure.refresh_from_db()
    assert (inbound_failure.status, inbound_failure.attempts) == (FailureStatus.OPEN, 2)
    assert inbound_failure.payload["last_order_date"] == "24/12/2023"
    assert "Outcome: failed again: last_transaction_date" in decisions_on(inbound_failure)[0].change_message


# --- bulk decisions -------------------------------------------------------------------------------
def test_bulk_retry_asks_why_then_delivers_once_the_target_recovered_and_audits_each_item(superuser, dead_letters):
    client = browser(superuser)
    ids = [f.pk for f in dead_letters.failures]

    confirm = client.post(OPEN_QUEUE, {"action": "retry", "_selected_action": ids})
    assert confirm.status_code == 200 and "Why" in confirm.content.decode()
    assert all(SyncFailure.objects.filter(pk__in=ids, status=FailureStatus.OPEN).values_list("pk", flat=True))

    dead_letters.crm.faults.clear()  # the CRM is back
    done = client.post(
        OPEN_QUEUE, {"action": "retry", "_selected_action": ids, "apply": "yes", "reason": "CRM back after maintenance"}
    )

    assert done.status_code == 302
    assert set(SyncFailure.objects.filter(pk__in=ids).values_list("status", flat=True)) == {FailureStatus.RESOLVED}
    held = {record.get("code") for record in dead_letters.crm.records}
    assert {"C-0", "C-1", "C-2"} <= held
    for failure in dead_letters.failures:
        [entry] = decisions_on(failure)
        assert entry.user == superuser
        assert entry.change_message == (
            "Retried (one of 3 retried together). Why: CRM back after maintenance. Outcome: went through."
        )


def test_a_retry_while_the_target_is_still_down_counts_an_attempt_and_keeps_the_item_open(superuser, dead_letters):
    failure = dead_letters.failures[0]

    browser(superuser).post(
        reverse("admin:connectors_syncfailure_decide", args=[failure.pk]), {"decision": "retry", "reason": "try again"}
    )

    failure.refresh_from_db()
    assert failure.status == FailureStatus.OPEN and failure.attempts == 2
    assert "Outcome: failed again" in decisions_on(failure)[0].change_message


def test_bulk_discard_without_a_reason_changes_nothing(superuser, dead_letters):
    ids = [f.pk for f in dead_letters.failures]

    response = browser(superuser).post(OPEN_QUEUE, {"action": "discard", "_selected_action": ids, "apply": "yes"})

    assert "Say why" in response.content.decode()
    assert SyncFailure.objects.filter(pk__in=ids, status=FailureStatus.OPEN).count() == 3


# --- the target's switch --------------------------------------------------------------------------
def test_pausing_and_resuming_a_target_is_audited_on_it_and_shown_on_its_failures(superuser, dead_letters):
    client = browser(superuser)
    failure, target = dead_letters.failures[0], dead_letters.target
    switch = reverse("admin:connectors_pushtarget_switch", args=[target.pk, "pause"])

    response = client.post(switch, {"reason": "CRM maintenance window", "next": item_url(failure)})

    assert response.status_code == 302 and response["Location"] == item_url(failure)
    target.refresh_from_db()
    assert target.paused and target.paused_reason == "CRM maintenance window"
    html = client.get(item_url(failure)).content.decode()
    assert "Paused pushing to" in html and "CRM maintenance window" in html and "Resume pushing" in html

    client.post(reverse("admin:connectors_pushtarget_switch", args=[target.pk, "resume"]), {"reason": "window over"})

    target.refresh_from_db()
    assert not target.paused
    messages = LogEntry.objects.filter(content_type__model="pushtarget", object_id=str(target.pk))
    assert sorted(m.change_message for m in messages) == [
        f"Paused pushing to {target}. Why: CRM maintenance window.",
        f"Resumed pushing to {target}. Why: window over.",
    ]


def test_a_company_steward_may_not_pause_a_target(resolver_a, dead_letters):
    response = browser(resolver_a).post(
        reverse("admin:connectors_pushtarget_switch", args=[dead_letters.target.pk, "pause"]), {"reason": "no"}
    )

    assert response.status_code == 403
    assert not PushTarget.objects.get(pk=dead_letters.target.pk).paused


# --- no N+1 ---------------------------------------------------------------------------------------
def fill_queue(rows: int, golden_of) -> None:
    """Half inbound (each from its own source), half outbound (each to its own target)."""
    for i in range(rows):
        record = golden_of(i)
        if i % 2:
            source = SourceSystemFactory()
            target = PushTarget.objects.create(
                source=source, domain="customer", resource="/c", key_field="id", field_map={"code": "code"}
            )
            queued(source, golden=record, key=f"K{i}", direction=FailureDirection.OUTBOUND, push_target=target,
                   stage=FailureStage.PUSH, classification=FailureClass.TRANSIENT)  # fmt: skip
        else:
            queued(golden=record, key=f"K{i}")


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["superuser", "resolver_a"])
def test_the_queue_costs_the_same_queries_for_4_and_24_failures(who, request, org):
    client = browser(request.getfixturevalue(who))

    def golden_of(i: int):
        return Customer.objects.create(code=f"Q{i:04d}", name=f"Customer {i}", owner_org=org.a)

    fill_queue(4, golden_of)
    few = queries_for(client, OPEN_QUEUE)
    fill_queue(24, lambda i: golden_of(i + 100))
    many = queries_for(client, OPEN_QUEUE)

    assert SyncFailure.objects.count() == 28
    assert many == few, f"{few} queries for 4 rows, {many} for 28: a query per row"


def test_a_very_long_queue_is_counted_up_to_a_cap_and_says_so(superuser, monkeypatch):
    from connectors.admin.failures import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "cap", 3)
    for i in range(5):
        queued(key=f"K{i}")

    html = browser(superuser).get(OPEN_QUEUE).content.decode()

    assert "more than 3 sync failures" in html
    assert html.count('name="_selected_action"') == 5  # the page itself still lists every row
