"""A steward bulk-retries failed pushes once the target is back, and the target then holds the records."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import FailureDirection, FailureStatus, SyncFailure
from connectors.services import dispatch
from tests.browser.conftest import login, screenshot
from tests.conftest import make_steward
from tests.connectors.fakes import CrmFake
from tests.connectors.push.conftest import Clock, crm_target, new_customer, run_until_settled

pytestmark = pytest.mark.browser


@pytest.fixture
def crm(monkeypatch):
    """The CRM as a push target; changes are delivered by the test, not handed to Celery workers."""
    monkeypatch.setattr(dispatch, "_enqueue", lambda event_ids: None)
    with CrmFake(records=[]) as fake:
        yield fake


def test_a_steward_bulk_retries_failed_pushes_after_the_target_recovers(page, org, stewards_group, crm):
    steward = make_steward("steward_a", org.a, stewards_group, actions=("view", "change", "resolve"))
    target = crm_target(crm, max_attempts=1)
    customers = [new_customer(f"C-{i}", f"Alpha Trading {i}", owner_org=org.a) for i in range(3)]
    crm.fail(503, times=1000)  # the CRM is down for maintenance
    run_until_settled(target, Clock())
    parked = SyncFailure.objects.filter(direction=FailureDirection.OUTBOUND, status=FailureStatus.OPEN)
    assert parked.count() == 3 and crm.records == []

    login(page, steward)
    page.get_by_role("link", name="Sync failures").first.click()
    page.wait_for_url("**/syncfailure/?status__exact=open")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert all("Transient" in text and "→ crm · customer" in text for text in rows.all_inner_texts())
    screenshot(page, "failures-queue")

    crm.faults.clear()  # the CRM is back
    page.check("#action-toggle")
    page.select_option("select[name=action]", "retry")
    page.click("button[name=index]")
    page.fill("#id_reason", "CRM maintenance is over")
    screenshot(page, "failures-bulk-retry-reason")
    page.click("input[type=submit][value='Retry them']")

    assert "Retried 3: 3 went through." in page.locator(".messagelist").inner_text()
    assert sorted(record["code"] for record in crm.records) == ["C-0", "C-1", "C-2"]
    assert not parked.exists()
    screenshot(page, "failures-after-bulk-retry")

    failure = SyncFailure.objects.filter(golden_id=customers[0].pk).get()
    page.goto(reverse("admin:connectors_syncfailure_change", args=[failure.pk]))
    decision = page.locator("#decisions tbody tr").first.inner_text()
    assert "steward_a" in decision and "Why: CRM maintenance is over. Outcome: went through." in decision
    screenshot(page, "failure-item-with-decision")


def test_a_steward_of_company_b_cannot_open_a_failure_of_company_a(page, org, stewards_group, crm, customers):
    steward_b = make_steward("steward_b", org.b, stewards_group, actions=("view", "change", "resolve"))
    from tests.connectors.admin.conftest import queued

    theirs = queued(golden=customers.a, key="CA-1")

    login(page, steward_b)
    response = page.goto(reverse("admin:connectors_syncfailure_change", args=[theirs.pk]))

    assert response is not None and response.status == 404
    page.goto(reverse("admin:connectors_syncfailure_changelist"))
    assert "CA-1" not in page.content() and "0 sync failures" in page.content()
