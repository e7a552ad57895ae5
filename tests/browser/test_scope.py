"""A steward works inside their company only: what they cannot see does not open by URL either."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from masterdata.models import DuplicateSuspect, MergeRecord, SourceLink, SourceSystem
from masterdata.services import access
from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.browser


def test_a_steward_logs_in_and_lists_the_customers_of_their_company(page, steward_a, customers):
    login(page, steward_a)
    screenshot(page, "steward-index")

    page.goto(reverse("admin:masterdata_customer_changelist"))

    codes = page.locator("#result_list tbody th a").all_inner_texts()
    assert sorted(codes) == ["CA-1", "CA-2"]
    assert page.get_by_text("Beta Retail").count() == 0
    screenshot(page, "steward-customer-list")


def test_a_steward_of_company_b_cannot_open_a_customer_of_company_a_by_url(page, steward_b, customers):
    login(page, steward_b)

    change_url = reverse("admin:masterdata_customer_change", args=[customers.a.pk])
    page.goto(change_url)

    # The admin treats a record outside the steward's scope as one that does not exist.
    assert "/change/" not in page.url
    assert page.get_by_text("Alpha Trading").count() == 0
    assert "doesn’t exist" in page.locator(".messagelist").inner_text()
    screenshot(page, "steward-b-refused-customer-of-a")

    history = page.goto(reverse("admin:masterdata_customer_history", args=[customers.a.pk]))
    assert history is not None and history.status == 404
    assert "Alpha Trading" not in page.content()


def test_a_steward_of_company_b_reaches_none_of_company_as_work_by_url_list_or_search(page, steward_b, customers, org):
    """Source links (each holding a source's whole record), duplicates, merges, record pages, version diffs."""
    steward_b.user_permissions.add(Permission.objects.get(codename="view_sourcelink"))  # as the demo's stewards
    access.grant(steward_b, "resolve", org.b)
    erp = SourceSystem.objects.create(code="erp", name="ERP")
    link_a = SourceLink.objects.create(
        source=erp, domain="customer", source_key="CA-1", golden_id=customers.a.pk,
        last_payload={"NAME1": "Alpha Trading"},
    )  # fmt: skip
    SourceLink.objects.create(source=erp, domain="customer", source_key="CB-1", golden_id=customers.b.pk)
    pair = DuplicateSuspect.objects.create(
        domain="customer", golden_id_a=customers.a.pk, golden_id_b=customers.a_sales.pk, score=90, owner_org=org.a
    )
    merge = MergeRecord.objects.create(
        domain="customer", survivor_id=customers.a.pk, loser_id=customers.a_sales.pk, owner_org=org.a, reason="x"
    )
    version = customers.a.history.first().history_id
    login(page, steward_b)

    page.goto(reverse("admin:masterdata_sourcelink_changelist"))
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert len(rows) == 1 and "CB-1" in rows[0]
    screenshot(page, "steward-b-source-links")
    page.goto(reverse("admin:masterdata_sourcelink_changelist") + "?q=CA-1")
    assert "0 source links" in page.locator("#changelist").inner_text()

    for url in (
        reverse("admin:masterdata_sourcelink_change", args=[link_a.pk]),
        reverse("admin:masterdata_duplicatesuspect_change", args=[pair.pk]),
        reverse("admin:masterdata_mergerecord_change", args=[merge.pk]),
        reverse("admin:masterdata_customer_record", args=[customers.a.pk]),
        reverse("admin:masterdata_customer_diff", args=[customers.a.pk]) + f"?from={version}&to={version}",
    ):
        response = page.goto(url)
        assert response is not None and response.status in (200, 404), url
        assert "Alpha Trading" not in page.content(), url
    screenshot(page, "steward-b-refused-work-of-a")
