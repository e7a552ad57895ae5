"""Access managers grant and revoke org-unit scope on guardian's pages; stewards cannot."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission

from masterdata.models import Customer, OrgUnit
from masterdata.services import access
from tests.factories import UserFactory

from .conftest import admin_url, browser


@pytest.fixture
def access_manager(db):
    """Staff user whose only right is the global ``grant_orgunit`` permission."""
    user = UserFactory(username="access_manager", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="grant_orgunit"))
    return user


@pytest.fixture
def newcomer(stewards_group):
    """A steward with model permissions and no org-unit scope yet."""
    user = UserFactory(username="newcomer", is_staff=True)
    user.groups.add(stewards_group)
    return user


def manager_browser(user):
    """Posts like a browser: with the CSRF token of the page it was given."""
    return browser(user, enforce_csrf_checks=True)


def submit(client, url: str, data: dict):
    client.get(url)
    return client.post(url, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, **data})


def grant_page(unit: OrgUnit) -> str:
    return admin_url(unit, "permissions", unit.pk)


def visible_customers(user) -> set[str]:
    response = browser(user).get(admin_url(Customer, "changelist"))
    if response.status_code == 403:
        return set()
    return {record.code for record in response.context["cl"].result_list}


def set_user_scope(client, unit: OrgUnit, username: str, codenames: list[str]):
    """Pick the user on the unit's permission page, then save their scope on the user page."""
    picked = submit(client, grant_page(unit), {"user": username, "submit_manage_user": "Manage user"})
    assert picked.status_code == 302, picked.content[:500]
    return submit(client, picked.url, {"permissions": codenames})


def set_group_scope(client, unit: OrgUnit, group_name: str, codenames: list[str]):
    picked = submit(client, grant_page(unit), {"group": group_name, "submit_manage_group": "Manage group"})
    assert picked.status_code == 302, picked.content[:500]
    return submit(client, picked.url, {"permissions": codenames})


@pytest.mark.parametrize("manager", ["superuser", "access_manager"])
def test_access_manager_grants_and_revokes_a_users_scope_in_the_admin(request, manager, newcomer, customers, org):
    client = manager_browser(request.getfixturevalue(manager))
    assert visible_customers(newcomer) == set()

    granted = set_user_scope(client, org.a, "newcomer", ["view_orgunit", "change_orgunit"])

    assert granted.status_code == 302
    assert visible_customers(newcomer) == {"CA-1", "CA-2"}
    assert sorted(action for action, _ in access.grants_of(newcomer)) == ["change", "view"]

    set_user_scope(client, org.a, "newcomer", ["view_orgunit"])
    assert [action for action, _ in access.grants_of(newcomer)] == ["view"]

    revoked = set_user_scope(client, org.a, "newcomer", [])

    assert revoked.status_code == 302
    assert visible_customers(newcomer) == set()
    assert access.grants_of(newcomer) == []


def test_superuser_grants_and_revokes_a_groups_scope_in_the_admin(superuser, stewards_group, customers, org):
    auditors = Group.objects.create(name="Auditors B")
    auditors.permissions.set(stewards_group.permissions.all())
    auditor = UserFactory(username="auditor", is_staff=True)
    auditor.groups.add(auditors)
    client = manager_browser(superuser)

    set_group_scope(client, org.b, "Auditors B", ["view_orgunit"])

    assert visible_customers(auditor) == {"CB-1"}
    page = client.get(grant_page(org.b)).content.decode()
    assert "Auditors B" in page

    set_group_scope(client, org.b, "Auditors B", [])

    assert visible_customers(auditor) == set()


def test_permission_pages_offer_only_the_org_unit_scope_permissions(superuser, newcomer, org):
    client = manager_browser(superuser)
    picked = submit(client, grant_page(org.a), {"user": "newcomer", "submit_manage_user": "Manage user"})

    form = client.get(picked.url).context["form"]

    assert [code for code, _ in form.fields["permissions"].choices] == list(access.SCOPE_CODENAMES.values())
    refused = submit(client, picked.url, {"permissions": ["delete_orgunit"]})
    assert refused.status_code == 200
    assert access.grants_of(newcomer) == []


def test_granting_to_an_unknown_user_is_refused_with_a_message(superuser, org):
    client = manager_browser(superuser)

    response = submit(client, grant_page(org.a), {"user": "nobody", "submit_manage_user": "Manage user"})

    assert response.status_code == 200
    assert "This user does not exist" in response.content.decode()


def test_steward_who_may_change_a_unit_cannot_open_its_permission_pages(steward_a_client, steward_a, org):
    group = Group.objects.create(name="Some group")
    urls = [
        grant_page(org.a),
        admin_url(org.a, "permissions_manage_user", org.a.pk, steward_a.pk),
        admin_url(org.a, "permissions_manage_group", org.a.pk, group.pk),
    ]

    statuses = [steward_a_client.get(url).status_code for url in urls]
    posted = steward_a_client.post(urls[1], {"permissions": ["view_orgunit", "change_orgunit", "resolve_orgunit"]})

    assert statuses == [403, 403, 403]
    assert posted.status_code == 403
    assert sorted(action for action, _ in access.grants_of(steward_a)) == ["change", "view"]


def object_tools(response) -> str:
    html = response.content.decode()
    return html.split('class="object-tools"', 1)[1].split("</ul>", 1)[0]


def test_org_unit_change_form_shows_history_and_object_permissions_to_access_managers(superuser_client, org):
    tools = object_tools(superuser_client.get(admin_url(org.a, "change", org.a.pk)))

    assert "History" in tools
    assert admin_url(org.a, "history", org.a.pk) in tools
    assert "Object permissions" in tools
    assert grant_page(org.a) in tools


def test_org_unit_change_form_shows_a_steward_history_but_no_object_permissions(steward_a_client, org):
    tools = object_tools(steward_a_client.get(admin_url(org.a, "change", org.a.pk)))

    assert "History" in tools
    assert "Object permissions" not in tools


def test_access_manager_sees_the_whole_tree_read_only(access_manager, org):
    client = browser(access_manager)

    listed = {unit.code for unit in client.get(admin_url(OrgUnit, "changelist")).context["cl"].result_list}
    page = client.get(admin_url(org.b, "change", org.b.pk))

    assert listed == {"GRP", "A", "A-SALES", "B"}
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.get(admin_url(Customer, "changelist")).status_code == 403


def test_every_scope_change_is_kept_in_the_admin_log(superuser, newcomer, org):
    client = manager_browser(superuser)

    set_user_scope(client, org.a, "newcomer", ["view_orgunit"])
    set_user_scope(client, org.a, "newcomer", [])

    messages = list(
        LogEntry.objects.filter(object_id=str(org.a.pk), user=superuser)
        .order_by("pk")
        .values_list("change_message", flat=True)
    )
    assert messages == ["Scope of user newcomer set to: view.", "Scope of user newcomer set to: none."]
