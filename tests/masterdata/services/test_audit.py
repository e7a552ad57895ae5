"""The audit log: who did what, from where, in which request — and nobody can rewrite it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from masterdata.models import AppendOnlyError, AuditAction, AuditEvent
from masterdata.observability import context
from masterdata.services import access, audit
from tests.connectors.test_config import MINIMAL, import_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-9"
LOGIN = "/admin/login/"


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def login(client: Client, password: str, username: str = "auditor", ip: str = "192.0.2.44"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def test_an_event_carries_the_actor_the_object_and_the_correlation_id(steward_a, org):
    with context.bound("corr-42"):
        event = audit.record(AuditAction.SENSITIVE_REVEALED, actor=steward_a, obj=org.a, detail={"fields": ["x"]})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_label, stored.correlation_id) == (steward_a, "steward_a", "corr-42")
    assert (stored.object_type, stored.object_id, stored.detail) == (
        "masterdata.orgunit",
        str(org.a.pk),
        {"fields": ["x"]},
    )


def test_an_event_without_actor_or_request_is_the_systems():
    event = audit.record(AuditAction.KEYS_ROTATED)

    assert (event.actor, event.actor_label, event.ip) == (None, "system", None)


def test_the_model_refuses_to_change_or_delete_an_event():
    event = audit.record(AuditAction.KEYS_ROTATED)

    event.action = AuditAction.LOGIN_SUCCEEDED
    for attempt in (event.save, event.delete, AuditEvent.objects.all().delete,
                    lambda: AuditEvent.objects.update(actor_label="someone else")):  # fmt: skip
        with pytest.raises(AppendOnlyError):
            attempt()

    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.KEYS_ROTATED


@pytest.mark.parametrize(
    "statement",
    ["UPDATE masterdata_auditevent SET actor_label = 'nobody'", "DELETE FROM masterdata_auditevent"],
)
def test_the_database_refuses_to_change_or_delete_an_event(statement):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    audit.record(AuditAction.KEYS_ROTATED, actor_label="rotation")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert AuditEvent.objects.get().actor_label == "rotation"


def test_deleting_a_user_keeps_the_events_it_caused():
    user = UserFactory(username="leaver")
    user_id = user.pk
    audit.record(AuditAction.TOKEN_CREATED, actor=user)

    user.delete()

    event = AuditEvent.objects.get()
    assert (event.actor_id, event.actor_label) == (user_id, "leaver")


def test_grants_and_revokes_are_audited(steward_a, org):
    access.grant(steward_a, "view_sensitive", org.b)
    access.grant(steward_a, "view_sensitive", org.b)  # already held: nothing new to record
    access.revoke(steward_a, "view_sensitive", org.b)

    granted, revoked = AuditEvent.objects.filter(action__startswith="access.", object_id=str(org.b.pk)).order_by("id")
    assert (granted.action, revoked.action) == (AuditAction.ACCESS_GRANTED, AuditAction.ACCESS_REVOKED)
    assert granted.detail == {"principal_type": "user", "principal": "steward_a", "principal_id": steward_a.pk,
                              "scope": "view_sensitive", "org_unit": "B"}  # fmt: skip
    assert granted.org_unit_id == org.b.pk


def test_a_grant_on_the_admin_permission_page_names_the_admin_who_made_it(superuser, steward_a, org):
    client = Client()
    client.force_login(superuser)
    url = f"/admin/masterdata/orgunit/{org.b.pk}/permissions/user-manage/{steward_a.pk}/"

    response = client.post(url, {"permissions": ["view_orgunit", "view_sensitive_orgunit"]}, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 302
    events = AuditEvent.objects.filter(action=AuditAction.ACCESS_GRANTED, org_unit_id=org.b.pk)
    assert {e.detail["scope"] for e in events} == {"view", "view_sensitive"}
    assert {(e.actor, e.ip) for e in events} == {(superuser, "192.0.2.7")}


def test_logins_and_failed_logins_are_audited_without_the_password(db):
    UserFactory(username="auditor", is_staff=True, password=PASSWORD)

    login(Client(), "Wrong-Password-1")
    login(Client(), PASSWORD)

    failed, succeeded = AuditEvent.objects.filter(action__startswith="login.").order_by("id")
    assert (failed.action, failed.actor_label, failed.ip) == (AuditAction.LOGIN_FAILED, "auditor", "192.0.2.44")
    assert (succeeded.action, succeeded.actor.username) == (AuditAction.LOGIN_SUCCEEDED, "auditor")
    assert "Wrong-Password-1" not in str(failed.detail) and PASSWORD not in str(succeeded.detail)


def test_brute_force_is_locked_out_and_the_lockout_audited(db):
    UserFactory(username="auditor", is_staff=True, password=PASSWORD)
    client = Client()

    statuses = [login(client, f"guess-{n}").status_code for n in range(6)]

    assert statuses[-1] == 429
    assert actions().count(AuditAction.LOGIN_FAILED) >= 5
    lockouts = AuditEvent.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT)
    assert lockouts.exists()
    assert {(e.detail["username"], e.detail["ip_address"]) for e in lockouts} == {("auditor", "192.0.2.44")}


def test_a_config_import_is_audited(tmp_path):
    import_text(MINIMAL, tmp_path)

    [event] = AuditEvent.objects.filter(action=AuditAction.CONFIG_IMPORTED)
    assert event.detail["changes"] == 5 and event.detail["origin"].endswith("integration.yaml")


# --- the client's address ----------------------------------------------------------------------
def request_from(remote: str, forwarded: str | None = None):
    from django.test import RequestFactory

    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_trusted_proxies_the_address_is_the_peers_and_forwarded_headers_are_ignored(settings):
    settings.MDM_TRUSTED_PROXIES = 0

    assert audit.client_ip(request_from("198.51.100.7", "10.9.9.9")) == "198.51.100.7"


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        (1, "203.0.113.5", "203.0.113.5"),  # what the one proxy saw
        (1, "10.9.9.9, 203.0.113.5", "203.0.113.5"),  # a forged entry on the left is not taken
        (2, "10.9.9.9, 203.0.113.5, 192.168.1.2", "203.0.113.5"),  # the outer of two proxies saw the client
        (2, "203.0.113.5", "203.0.113.5"),  # fewer entries than proxies: the leftmost, as DRF does
        (1, "2001:DB8::1", "2001:db8::1"),  # written as Python writes it
        (1, "not-an-address", "127.0.0.1"),  # not an address: the peer's
        (1, "", "127.0.0.1"),
    ],
)
def test_behind_trusted_proxies_the_address_is_the_one_the_outermost_proxy_saw(settings, proxies, forwarded, expected):
    settings.MDM_TRUSTED_PROXIES = proxies

    assert audit.client_ip(request_from("127.0.0.1", forwarded)) == expected
