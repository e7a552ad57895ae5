"""A steward reads a record's page, compares two versions field by field and reverts to the older one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.models import Customer, SourceLink, SourceSystem
from masterdata.services import golden
from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def renamed(customers):
    """CA-1, renamed and re-rated by the ERP in a nightly pull."""
    erp = SourceSystem.objects.create(code="erp", name="Group ERP")
    record = customers.a
    ctx = golden.ChangeContext(source=erp, reason="nightly pull", rule="trust")
    golden.update(record, {"name": "Alpha Trading Group", "credit_rating": "C"}, ctx)
    SourceLink.objects.create(
        source=erp, domain="customer", source_key="E-1", golden_id=record.pk, last_payload={"NAME1": "Alpha"}
    )
    return Customer.objects.get(pk=record.pk)


def test_a_steward_compares_two_versions_and_reverts(page, steward_a, renamed):
    login(page, steward_a)
    page.goto(reverse("admin:masterdata_customer_change", args=[renamed.pk]))
    page.click("a.recordlink")
    page.wait_for_url("**/record/")
    assert "Group ERP" in page.locator("#source-links").inner_text()
    assert "trust" in page.locator("#golden-values").inner_text()
    screenshot(page, "record-page")

    page.click("#versions_form input[type=submit]")  # newest and the one before are preselected
    page.wait_for_url("**/record/diff/**")
    changed = page.locator("#diff tr.changed").all_inner_texts()
    assert len(changed) == 2 and any("Alpha Trading Group" in row for row in changed)
    screenshot(page, "record-version-diff")

    page.get_by_role("link", name="Revert to version 1…").click()
    page.wait_for_url("**/history/*/")
    crumbs = page.locator(".breadcrumbs").inner_text()  # the steward's words, not simple-history's model
    assert "Customers" in crumbs and "Historical" not in crumbs and crumbs.endswith("Revert to version 1")
    with page.expect_navigation():
        page.click("input[name=_save]")  # without a reason
    assert "Give a reason for the revert." in page.locator(".errorlist").first.inner_text()
    page.fill("#id_change_reason", "The ERP rating was entered by mistake")
    screenshot(page, "record-revert-form")
    with page.expect_navigation():
        page.click("input[name=_save]")

    assert "was changed successfully" in page.locator(".messagelist").inner_text()
    screenshot(page, "record-reverted")
    record = Customer.objects.get(pk=renamed.pk)
    assert (record.name, record.credit_rating, record.version) == ("Alpha Trading", "A", 3)
    reason = record.history.latest("history_id").history_change_reason
    assert reason == "Reverted to version 1: The ERP rating was entered by mistake"
