"""An admin grants a steward access to a company from the permissions screen, choosing with search boxes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.services import grants
from tests.browser.conftest import login, screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def choose(page, field: str, term: str, option: str) -> None:
    """Pick ``option`` in the admin's autocomplete box of ``field`` after typing ``term``."""
    page.click(f".field-{field} .select2-selection")
    page.fill(".select2-container--open .select2-search__field", term)
    page.click(f".select2-results__option:has-text('{option}')")


def test_an_admin_grants_a_steward_view_and_resolve_on_a_company(page, superuser, org, stewards_group):
    newcomer = UserFactory(username="li.wei", is_staff=True)
    newcomer.groups.add(stewards_group)
    login(page, superuser)

    page.goto(reverse("admin:masterdata_orgunituserpermission_changelist"))
    choose(page, "user", "li.w", "li.wei")
    choose(page, "unit", "Company B", "B · Company B")
    page.check("input[name=actions][value=view]")
    page.check("input[name=actions][value=resolve]")
    page.fill("#id_reason", "Li Wei takes over company B's customers")
    screenshot(page, "permissions-grant-form")
    page.click("input[type=submit][value='Save access']")

    assert "Li.wei on B · Company B: granted view, resolve." in page.locator(".messagelist").inner_text()
    assert grants.current_actions(newcomer, org.b) == ["view", "resolve"]
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert any("li.wei" in row and "B · Company B" in row and "resolve" in row for row in rows)
    screenshot(page, "permissions-after-grant")
