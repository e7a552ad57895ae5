"""Every change of who may do what is audited once, whatever path made it: admin pages, services, a shell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
from guardian.shortcuts import assign_perm, remove_perm

from masterdata.models import AuditAction, AuditEvent
from masterdata.services import access, audit, grants
from tests.connectors.pipeline.conftest import make_source, map_source
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

IP = "192.0.2.61"
INGEST = "connectors.ingest_mapping"


def events(action: AuditAction, about=None) -> list[AuditEvent]:
    """Events of ``action`` (about one object, when given), oldest first."""
    found = AuditEvent.objects.filter(action=action)
    if about is not None:
        found = found.filter(object_type=about._meta.label_lower, object_id=str(about.pk))
    return list(found.order_by("id"))


def principal(user_or_group) -> dict:
    if isinstance(user_or_group, Group):
        return {"principal_type": "group", "principal": user_or_group.name, "principal_id": user_or_group.pk}
    return {"principal_type": "user", "principal": user_or_group.username, "principal_id": user_or_group.pk}


def perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@contextmanager
def acting_as(user) -> Iterator[None]:
    """As within a request of ``user`` (what :class:`AuditContextMiddleware` sets up)."""
    request = RequestFactory().post("/", REMOTE_ADDR=IP)
    request.user = user
    with audit.request_context(request):
        yield


@pytest.fixture
def mapping(db):
    source = make_source("crm", kind="crm")
    return map_source(source, "customer", {"resource": "customers", "key_field": "id"}, {"id": "code", "name": "name"})


@pytest.fixture
def admin_browser(superuser) -> Client:
    browser = Client(REMOTE_ADDR=IP)
    browser.force_login(superuser)
    return browser


@pytest.fixture
def auditors(db) -> Group:
    return Group.objects.create(name="Auditors")


# --- object permissions (guardian) ----------------------------------------------------------------


def test_an_ingest_grant_and_its_revocation_on_the_mapping_admin_page_are_one_event_each(
    admin_browser, superuser, mapping
):
    account = UserFactory(username="crm-feed")
    url = f"/admin/connectors/mapping/{mapping.pk}/permissions/user-manage/{account.pk}/"

    assert admin_browser.post(url, {"permissions": ["ingest_mapping"]}).status_code == 302
    assert admin_browser.post(url, {"_save": "Save"}).status_code == 302  # every box unticked

    [granted] = events(AuditAction.OBJECT_PERMISSION_GRANTED, about=mapping)
    [revoked] = events(AuditAction.OBJECT_PERMISSION_REVOKED, about=mapping)
    for event in (granted, revoked):
        assert (event.actor, event.ip, event.org_unit_id) == (superuser, IP, None)
        assert event.detail == {**principal(account), "permission": INGEST}
    assert not account.has_perm(INGEST, mapping)


def test_an_ingest_grant_to_a_group_on_the_mapping_admin_page_is_one_event(admin_browser, superuser, mapping, auditors):
    url = f"/admin/connectors/mapping/{mapping.pk}/permissions/group-manage/{auditors.pk}/"

    assert admin_browser.post(url, {"permissions": ["ingest_mapping"]}).status_code == 302

    [event] = events(AuditAction.OBJECT_PERMISSION_GRANTED, about=mapping)
    assert (event.actor, event.detail) == (superuser, {**principal(auditors), "permission": INGEST})


def test_an_object_permission_given_in_a_shell_is_audited_as_the_systems(mapping):
    account = UserFactory(username="crm-feed")

    assign_perm(INGEST, account, mapping)
    assign_perm(INGEST, account, mapping)  # already held: no new row, nothing to record
    remove_perm(INGEST, account, mapping)
    remove_perm(INGEST, account, mapping)  # no longer held

    [granted] = events(AuditAction.OBJECT_PERMISSION_GRANTED)
    [revoked] = events(AuditAction.OBJECT_PERMISSION_REVOKED)
    assert (granted.actor, granted.actor_label, revoked.actor_label) == (None, "system", "system")
    assert (granted.object_type, granted.object_id) == ("connectors.mapping", str(mapping.pk))


def test_deleting_a_user_revokes_and_audits_its_object_permissions(superuser, mapping):
    account = UserFactory(username="crm-feed")
    assign_perm(INGEST, account, mapping)

    with acting_as(superuser):
        account.delete()

    [event] = events(AuditAction.OBJECT_PERMISSION_REVOKED, about=mapping)
    assert (event.actor, event.detail["principal"]) == (superuser, "crm-feed")


def test_a_scope_grant_is_one_access_event_not_also_an_object_permission_event(superuser, org):
    steward = UserFactory(username="steward")

    with acting_as(superuser):
        access.grant(steward, "view", org.a)
        access.revoke(steward, "view", org.a)

    [granted] = events(AuditAction.ACCESS_GRANTED, about=org.a)
    [revoked] = events(AuditAction.ACCESS_REVOKED, about=org.a)
    assert granted.detail == {**principal(steward), "scope": "view", "org_unit": "A"}
    assert (granted.actor, granted.org_unit_id, revoked.actor) == (superuser, org.a.pk, superuser)
    assert not events(AuditAction.OBJECT_PERMISSION_GRANTED) + events(AuditAction.OBJECT_PERMISSION_REVOKED)


def test_scope_set_on_the_permissions_screen_is_one_event_per_action(superuser, org, auditors):
    with acting_as(superuser):
        grants.set_scope(superuser, auditors, org.b, ["view", "view_sensitive"], reason="Quarterly audit")

    found = events(AuditAction.ACCESS_GRANTED, about=org.b)
    assert sorted(e.detail["scope"] for e in found) == ["view", "view_sensitive"]
    assert {e.detail["principal"] for e in found} == {"Auditors"}


def test_scope_written_past_the_access_service_is_audited_too(org):
    steward = UserFactory(username="steward")

    assign_perm("masterdata.resolve_orgunit", steward, org.b)

    [event] = events(AuditAction.ACCESS_GRANTED, about=org.b)
    assert event.detail == {**principal(steward), "scope": "resolve", "org_unit": "B"}


def test_an_org_unit_permission_that_is_no_scope_is_an_object_permission_event(org):
    steward = UserFactory(username="steward")

    assign_perm("masterdata.delete_orgunit", steward, org.b)

    assert not events(AuditAction.ACCESS_GRANTED)
    [event] = events(AuditAction.OBJECT_PERMISSION_GRANTED, about=org.b)
    assert (event.org_unit_id, event.detail["permission"]) == (org.b.pk, "masterdata.delete_orgunit")


# --- model permissions --------------------------------------------------------------------------


def test_model_permissions_added_to_a_user_are_one_event_listing_the_new_ones(superuser):
    user = UserFactory(username="clerk")
    user.user_permissions.add(perm("masterdata.view_customer"))

    with acting_as(superuser):
        user.user_permissions.add(perm("masterdata.view_customer"), perm("masterdata.change_customer"))

    first, second = events(AuditAction.PERMISSION_GRANTED, about=user)
    assert first.detail == {**principal(user), "permissions": ["masterdata.view_customer"]}
    assert second.detail == {**principal(user), "permissions": ["masterdata.change_customer"]}
    assert (first.actor_label, second.actor, second.ip) == ("system", superuser, IP)


def test_removing_model_permissions_names_only_those_the_user_held():
    user = UserFactory(username="clerk")
    user.user_permissions.add(perm("masterdata.view_customer"))

    user.user_permissions.remove(perm("masterdata.view_customer"), perm("masterdata.delete_customer"))
    user.user_permissions.remove(perm("masterdata.view_customer"))  # no longer held: nothing to record

    [event] = events(AuditAction.PERMISSION_REVOKED, about=user)
    assert event.detail == {**principal(user), "permissions": ["masterdata.view_customer"]}


def test_clearing_a_users_permissions_names_every_one_taken():
    user = UserFactory(username="clerk")
    user.user_permissions.add(perm("masterdata.view_customer"), perm("masterdata.view_supplier"))

    user.user_permissions.clear()

    [event] = events(AuditAction.PERMISSION_REVOKED, about=user)
    assert event.detail["permissions"] == ["masterdata.view_customer", "masterdata.view_supplier"]


def test_a_permission_given_from_its_side_is_one_event_per_user():
    one, two = UserFactory(username="one"), UserFactory(username="two")

    perm(INGEST).user_set.add(one, two)
    perm(INGEST).user_set.remove(two)

    assert [e.detail for e in events(AuditAction.PERMISSION_GRANTED)] == [
        {**principal(one), "permissions": [INGEST]},
        {**principal(two), "permissions": [INGEST]},
    ]
    [revoked] = events(AuditAction.PERMISSION_REVOKED)
    assert revoked.detail == {**principal(two), "permissions": [INGEST]}


def test_a_groups_model_permissions_set_added_and_cleared_are_audited(auditors):
    auditors.permissions.set([perm("masterdata.view_auditevent")])
    auditors.permissions.set([perm("masterdata.view_auditevent"), perm("masterdata.view_customer")])
    auditors.permissions.clear()

    assert [e.detail["permissions"] for e in events(AuditAction.PERMISSION_GRANTED, about=auditors)] == [
        ["masterdata.view_auditevent"],
        ["masterdata.view_customer"],
    ]
    [cleared] = events(AuditAction.PERMISSION_REVOKED, about=auditors)
    assert cleared.detail == {**principal(auditors),
                              "permissions": ["masterdata.view_auditevent", "masterdata.view_customer"]}  # fmt: skip


def test_a_group_permission_given_from_the_permissions_side_is_audited_on_the_group(auditors):
    perm("masterdata.view_auditevent").group_set.add(auditors)

    [event] = events(AuditAction.PERMISSION_GRANTED, about=auditors)
    assert event.detail == {**principal(auditors), "permissions": ["masterdata.view_auditevent"]}


# --- group membership ---------------------------------------------------------------------------


def test_joining_and_leaving_a_group_from_either_side_is_audited_on_the_user(superuser, auditors):
    user = UserFactory(username="clerk")
    others = Group.objects.create(name="Others")

    with acting_as(superuser):
        user.groups.add(auditors, others)
        auditors.user_set.remove(user)
        user.groups.clear()

    [added] = events(AuditAction.GROUP_MEMBER_ADDED, about=user)
    left, cleared = events(AuditAction.GROUP_MEMBER_REMOVED, about=user)
    assert added.detail == {**principal(user), "groups": ["Auditors", "Others"]}
    assert (left.detail["groups"], cleared.detail["groups"]) == (["Auditors"], ["Others"])
    assert {e.actor for e in (added, left, cleared)} == {superuser}


def test_clearing_a_group_from_its_side_is_one_event_per_member(auditors):
    one, two = UserFactory(username="one"), UserFactory(username="two")
    auditors.user_set.add(one, two)

    auditors.user_set.clear()

    assert [e.detail for e in events(AuditAction.GROUP_MEMBER_REMOVED)] == [
        {**principal(one), "groups": ["Auditors"]},
        {**principal(two), "groups": ["Auditors"]},
    ]


# --- staff, superuser, active -------------------------------------------------------------------


def test_making_a_user_superuser_and_deactivating_it_are_audited_with_the_old_and_new_values(superuser):
    user = UserFactory(username="clerk")

    with acting_as(superuser):
        user.is_superuser = True
        user.save()
        user.first_name = "Clerk"
        user.save()  # no flag changed: nothing to record
        user.is_active = False
        user.save(update_fields=["is_active"])

    promoted, deactivated = events(AuditAction.USER_FLAGS_CHANGED, about=user)
    assert promoted.detail == {**principal(user), "changes": {"is_superuser": {"from": False, "to": True}},
                               "created": False}  # fmt: skip
    assert deactivated.detail["changes"] == {"is_active": {"from": True, "to": False}}
    assert (promoted.actor, deactivated.actor) == (superuser, superuser)


def test_a_user_created_superuser_is_audited_and_a_plain_one_is_not():
    plain = UserFactory(username="plain")
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "Very-Secret-42")

    assert not events(AuditAction.USER_FLAGS_CHANGED, about=plain)
    [event] = events(AuditAction.USER_FLAGS_CHANGED, about=boss)
    assert event.detail["created"] is True
    assert event.detail["changes"] == {"is_staff": {"from": False, "to": True},
                                       "is_superuser": {"from": False, "to": True}}  # fmt: skip


def test_a_login_saves_the_user_without_a_flag_event(client):
    user = UserFactory(username="clerk", is_staff=True, password="Correct-Horse-9")
    before = len(events(AuditAction.USER_FLAGS_CHANGED, about=user))

    client.post("/admin/login/", {"username": "clerk", "password": "Correct-Horse-9", "next": "/admin/"})

    assert len(events(AuditAction.LOGIN_SUCCEEDED)) == 1
    assert len(events(AuditAction.USER_FLAGS_CHANGED, about=user)) == before


# --- Django's user and group admin --------------------------------------------------------------


def user_form(user, **changes) -> dict:
    """The user admin's change form as posted: unticked boxes are absent."""
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": "00:00:00",
        "last_login_0": "", "last_login_1": "", "groups": [], "user_permissions": [],
        "is_active": "on",
    }  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_user_admin_audits_each_kind_of_change_once_naming_the_admin(admin_browser, superuser, auditors):
    user = UserFactory(username="clerk")
    url = f"/admin/auth/user/{user.pk}/change/"
    view_customer = perm("masterdata.view_customer")

    response = admin_browser.post(
        url, user_form(user, is_staff="on", groups=[auditors.pk], user_permissions=[view_customer.pk])
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    [flags] = events(AuditAction.USER_FLAGS_CHANGED, about=user)
    [joined] = events(AuditAction.GROUP_MEMBER_ADDED, about=user)
    [granted] = events(AuditAction.PERMISSION_GRANTED, about=user)
    assert flags.detail["changes"] == {"is_staff": {"from": False, "to": True}}
    assert joined.detail == {**principal(user), "groups": ["Auditors"]}
    assert granted.detail == {**principal(user), "permissions": ["masterdata.view_customer"]}
    assert {(e.actor, e.ip) for e in (flags, joined, granted)} == {(superuser, IP)}


def test_the_user_admin_audits_what_it_takes_away(admin_browser, superuser, auditors):
    user = UserFactory(username="clerk", is_staff=True)
    user.groups.add(auditors)
    user.user_permissions.add(perm("masterdata.view_customer"))

    response = admin_browser.post(f"/admin/auth/user/{user.pk}/change/", user_form(user, is_active=None))

    assert response.status_code == 302
    _created_staff, flags = events(AuditAction.USER_FLAGS_CHANGED, about=user)
    [left] = events(AuditAction.GROUP_MEMBER_REMOVED, about=user)
    [revoked] = events(AuditAction.PERMISSION_REVOKED, about=user)
    off = {"from": True, "to": False}
    assert flags.detail["changes"] == {"is_active": off, "is_staff": off}
    assert (left.detail["groups"], revoked.detail["permissions"]) == (["Auditors"], ["masterdata.view_customer"])
    assert {e.actor for e in (flags, left, revoked)} == {superuser}


def test_the_group_admin_audits_the_permissions_it_gives(admin_browser, superuser, auditors):
    view_events = perm("masterdata.view_auditevent")

    response = admin_browser.post(
        f"/admin/auth/group/{auditors.pk}/change/", {"name": "Auditors", "permissions": [view_events.pk]}
    )

    assert response.status_code == 302
    [event] = events(AuditAction.PERMISSION_GRANTED, about=auditors)
    assert (event.actor, event.ip) == (superuser, IP)
    assert event.detail == {**principal(auditors), "permissions": ["masterdata.view_auditevent"]}
