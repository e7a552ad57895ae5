"""A steward works inside their company only: what they cannot see does not open by URL either."""

from __future__ import annotations

import pytest
from django.urls import reverse

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
