"""The permissions screen: one page to grant a user or group view/change/resolve on an org unit, audited."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from masterdata.models import Customer, OrgUnit
from masterdata.registry import registry
from masterdata.services import access, grants
from tests.factories import OrgUnitFactory, UserFactory
from tests.masterdata.admin.conftest import browser

SCREEN = reverse("admin:masterdata_orgunituserpermission_changelist")
GROUP_SCREEN = reverse("admin:masterdata_orgunitgrouppermission_changelist")


@pytest.fixture
def newcomer(stewards_group):
    """A steward with the model permissions of the stewards' group and no org-unit grant yet."""
    user = UserFactory(username="newcomer", is_staff=True)
    user.groups.add(stewards_group)
    return user


def grant_form(principal, unit: OrgUnit, actions: list[str], reason: str = "new steward of company A") -> dict:
    kind = "group" if isinstance(principal, Group) else "user"
    return {kind: principal.pk, "unit": unit.pk, "actions": actions, "reason": reason}


def menu(client) -> str:
    return client.get(reverse("admin:index")).content.decode()


def test_only_those_who_manage_access_see_the_screen(steward_a, superuser):
    assert browser(steward_a).get(SCREEN).status_code == 403
    assert SCREEN not in menu(browser(steward_a))
    assert browser(superuser).get(SCREEN).status_code == 200
    assert SCREEN in menu(browser(superuser)) and GROUP_SCREEN in menu(browser(superuser))


def test_a_grant_on_a_unit_reaches_its_subtree_and_the_records_owned_there(superuser, newcomer, org, customers):
    response = browser(superuser).post(SCREEN, grant_form(newcomer, org.a, ["view", "change", "resolve"]))

    assert response.status_code == 302
    assert sorted(grants.current_actions(newcomer, org.a)) == ["change", "resolve", "view"]
    visible = access.restrict(newcomer, registry.get("customer"), Customer.objects.all())
    assert set(visible.values_list("code", flat=True)) == {"CA-1", "CA-2"}  # A's own and its sales department's
    assert access.can_act_on(newcomer, customers.a_sales, "resolve")
    assert not access.can_act_on(newcomer, customers.b, "view")


def test_every_change_of_access_is_kept_with_who_and_why_and_shown_on_the_screen(superuser, newcomer, org):
    client = browser(superuser)
    client.post(SCREEN, grant_form(newcomer, org.a, ["view", "change"], reason="joined sales ops"))

    [entry] = LogEntry.objects.filter(object_id=str(org.a.pk), content_type__model="orgunit")
    assert entry.user == superuser
    assert entry.change_message == "Scope of user newcomer set to: view, change. Why: joined sales ops"
    assert "Scope of user newcomer set to: view, change. Why: joined sales ops" in client.get(SCREEN).content.decode()


def test_unticking_an_action_revokes_it(superuser, steward_a, org):
    client = browser(superuser)

    response = client.post(SCREEN, grant_form(steward_a, org.a, ["view"], reason="moved to reporting"), follow=True)

    assert grants.current_actions(steward_a, org.a) == ["view"]
    assert "Steward_a on A · Company A: revoked change." in response.content.decode()  # capitalised by the admin


def test_a_change_of_access_without_a_reason_changes_nothing(superuser, newcomer, org):
    response = browser(superuser).post(SCREEN, grant_form(newcomer, org.a, ["view"], reason=""))

    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert grants.current_actions(newcomer, org.a) == []


def test_a_group_is_granted_from_the_same_screen(superuser, stewards_group, org):
    browser(superuser).post(SCREEN, grant_form(stewards_group, org.b, ["view", "resolve"]))

    assert grants.current_actions(stewards_group, org.b) == ["view", "resolve"]


def test_naming_both_a_user_and_a_group_is_refused(superuser, newcomer, stewards_group, org):
    form = grant_form(newcomer, org.a, ["view"]) | {"group": stewards_group.pk}

    response = browser(superuser).post(SCREEN, form)

    assert "Choose a user or a group (one of them)." in response.content.decode()
    assert grants.current_actions(newcomer, org.a) == []


def test_the_change_link_of_a_grant_opens_the_form_with_its_actions_ticked(superuser, steward_a, org):
    client = browser(superuser)
    html = client.get(SCREEN).content.decode()
    link = re.search(rf'href="([^"]*user={steward_a.pk}&amp;unit={org.a.pk}[^"]*)"', html).group(1)

    form = client.get(link.replace("&amp;", "&")).content.decode()

    assert re.search(r'<input type="checkbox" name="actions" value="view"[^>]* checked', form)
    assert re.search(r'<input type="checkbox" name="actions" value="change"[^>]* checked', form)
    assert not re.search(r'<input type="checkbox" name="actions" value="resolve"[^>]* checked', form)
    assert f'<option value="{steward_a.pk}" selected>steward_a</option>' in form


def rows_of(html: str) -> list[str]:
    body = html[html.index("<tbody>", html.index('id="result_list"')) :]
    return re.findall(r"<tr>(.*?)</tr>", body[: body.index("</tbody>")], re.S)


def test_grants_of_users_and_groups_are_listed_together_paginated_and_searchable(superuser, org, stewards_group):
    for n in range(60):
        access.grant(UserFactory(username=f"clerk{n:03d}"), "view", org.b)
    access.grant(stewards_group, "view", org.a)
    client = browser(superuser)

    first = client.get(SCREEN, {"kind": "all"}).content.decode()
    second = client.get(SCREEN, {"kind": "all", "p": 2}).content.decode()
    found = client.get(SCREEN, {"kind": "all", "q": "clerk05"}).content.decode()
    groups = client.get(GROUP_SCREEN).content.decode()

    assert len(rows_of(first)) == 50 and "next &rsaquo;" in first
    assert len(rows_of(second)) == 11 and "page 2" in second and "next &rsaquo;" not in second
    assert [re.search(r"<strong>(.*?)</strong>", row).group(1) for row in rows_of(found)] == [
        f"clerk{n:03d}" for n in range(50, 60)
    ]
    assert len(rows_of(groups)) == 1 and "group <strong>Data stewards</strong>" in groups


def test_the_org_unit_is_chosen_with_a_search_box_not_a_list_of_every_unit(superuser, org):
    for n in range(30):
        OrgUnitFactory(code=f"CC-{n:03d}", name=f"Cost centre {n}", parent=org.b)
    client = browser(superuser)

    html = client.get(SCREEN).content.decode()
    answer = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "masterdata", "model_name": "orgunituserpermission", "field_name": "content_object",
         "term": "Cost centre 2"},
    ).json()  # fmt: skip

    assert "CC-029" not in html  # no option is rendered until the admin searches
    assert {r["text"] for r in answer["results"]} >= {"CC-002 · Cost centre 2", "CC-020 · Cost centre 20"}


def test_a_stewards_menu_shows_only_what_their_grants_let_them_act_on(superuser, newcomer, org):
    admin_client, steward = browser(superuser), browser(newcomer)
    customers_list = reverse("admin:masterdata_customer_changelist")
    failures_list = reverse("admin:connectors_syncfailure_changelist")
    assert customers_list not in menu(steward)

    admin_client.post(SCREEN, grant_form(newcomer, org.a, ["view", "change"]))
    assert customers_list in menu(steward) and failures_list not in menu(steward)

    admin_client.post(SCREEN, grant_form(newcomer, org.a, ["view", "change", "resolve"]))
    assert failures_list in menu(steward)


def test_the_screen_costs_the_same_queries_for_10_and_50_grants(superuser, org):
    client = browser(superuser)

    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            unit = OrgUnitFactory(code=f"U{n:03d}", parent=org.a)
            access.grant(UserFactory(username=f"u{n:03d}"), "view", unit)
            access.grant(Group.objects.create(name=f"g{n:03d}"), "resolve", unit)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(SCREEN, {"kind": "all"}).status_code == 200
        return len(captured)

    add(5, 0)
    few = queries()
    add(20, 100)
    assert queries() == few
