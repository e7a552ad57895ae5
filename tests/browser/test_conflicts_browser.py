"""A steward works the conflict inbox in the browser: side by side, then in bulk with a preview."""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.models import Conflict, ConflictStatus, Customer, SourceSystem
from masterdata.services import access
from masterdata.services.conflicts import candidate
from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.browser
INBOX = reverse("admin:masterdata_conflict_changelist")
SEEN = "2026-11-20T08:00:00+00:00"


def open_conflict(record, field: str, offers: dict[str, str]) -> Conflict:
    return Conflict.objects.create(
        domain="customer",
        golden_id=record.pk,
        field=field,
        reason="equal_trust",
        golden_value=getattr(record, field),
        candidates=[candidate(src, value, SEEN, 80 if src == "erp" else 60) for src, value in offers.items()],
        owner_org_id=record.owner_org_id,
    )


@pytest.fixture
def inbox(steward_a, org, customers):
    """Company A's steward may resolve; both A customers have a rating conflict, CA-1 also a name conflict."""
    access.grant(steward_a, "resolve", org.a)
    for code in ("erp", "crm"):
        SourceSystem.objects.create(code=code, name=code.upper())
    return type(
        "Inbox",
        (),
        {
            "rating_a": open_conflict(customers.a, "credit_rating", {"erp": "AA", "crm": "B"}),
            "rating_a_sales": open_conflict(customers.a_sales, "credit_rating", {"erp": "BBB", "crm": "C"}),
            "name_a": open_conflict(customers.a, "name", {"crm": "Alpha Trading Ltd"}),
            "rating_b": open_conflict(customers.b, "credit_rating", {"erp": "B", "crm": "BB"}),
        },
    )


def test_a_steward_resolves_a_conflict_side_by_side(page, steward_a, customers, inbox):
    login(page, steward_a)
    page.goto(INBOX)
    assert page.locator("#result_list tbody tr").count() == 3  # company B's conflict is not listed
    screenshot(page, "conflict-inbox")

    page.locator("#result_list tbody tr", has_text="CA-1").filter(has_text="erp, crm").get_by_role(
        "link", name="credit_rating"
    ).click()
    page.wait_for_url("**/masterdata/conflict/*/change/")
    assert page.locator("#candidates tr.candidate").count() == 2
    screenshot(page, "conflict-side-by-side")

    page.check("#choice_0")
    page.fill("#id_reason", "The ERP is the master of credit ratings")
    page.click("input[name=_resolve]")

    page.wait_for_url(f"**{INBOX}")
    assert "credit_rating set to 'AA'" in page.locator(".messagelist").inner_text()
    assert page.locator("#result_list tbody tr").count() == 2
    screenshot(page, "conflict-resolved")
    assert Customer.objects.get(pk=customers.a.pk).credit_rating == "AA"


def test_a_steward_takes_the_erp_value_for_all_rating_conflicts_after_a_preview(page, steward_a, customers, inbox):
    login(page, steward_a)
    page.goto(f"{INBOX}?field=credit_rating")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "take_source_for_selected")
    page.click("button[name=index]")
    page.wait_for_selector("body.conflict-bulk")
    screenshot(page, "conflict-bulk-choose")

    page.select_option("#id_source", "erp")
    page.fill("#id_reason", "Ratings come from the ERP")
    with page.expect_navigation():
        page.click("input[name=_preview]")
    page.wait_for_selector("#preview")
    assert page.locator("#preview tbody tr.changed").count() == 2
    assert Conflict.objects.filter(status=ConflictStatus.OPEN).count() == 4  # a preview changes nothing
    screenshot(page, "conflict-bulk-preview")

    with page.expect_navigation():
        page.click("input[name=_confirm]")
    page.wait_for_selector(".messagelist")
    assert "Resolved 2 conflict(s) with erp's value" in page.locator(".messagelist").inner_text()
    screenshot(page, "conflict-bulk-done")
    assert Customer.objects.get(pk=customers.a_sales.pk).credit_rating == "BBB"
    assert Conflict.objects.get(pk=inbox.rating_b.pk).status == ConflictStatus.OPEN


def test_a_steward_of_another_company_cannot_open_the_conflict_by_url(page, steward_b, inbox):
    login(page, steward_b)

    page.goto(reverse("admin:masterdata_conflict_change", args=[inbox.rating_a.pk]))

    assert "/change/" not in page.url
    assert page.get_by_text("Alpha Trading").count() == 0
    screenshot(page, "conflict-refused-other-company")
