"""API tokens: stored hashed, shown once, read-only or read-write, expiring, revocable — and audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from masterdata.models import ApiToken, AuditAction, AuditEvent
from masterdata.services import tokens
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_only_the_hash_of_a_token_is_stored(steward_a):
    issued = tokens.issue(steward_a, "SAP outbound")

    with connection.cursor() as cursor:
        cursor.execute("SELECT key_hash, prefix FROM masterdata_apitoken WHERE id = %s", [issued.token.pk])
        key_hash, prefix = cursor.fetchone()

    assert issued.key.startswith("mdm_") and len(issued.key) > 40
    assert key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert issued.key not in key_hash and issued.key.startswith(prefix) and len(prefix) < 10


def test_a_token_authenticates_its_user_and_records_its_use(steward_a, customers):
    issued = tokens.issue(steward_a, "CRM")

    response = bearer(issued.key).get("/api/v1/customers/")

    assert response.status_code == 200
    assert {row["code"] for row in response.json()["results"]} == {"CA-1", "CA-2"}
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is not None


def test_an_expired_token_answers_401_saying_so(steward_a):
    issued = tokens.issue(steward_a, "old", expires_at=timezone.now() - timedelta(minutes=1))

    response = bearer(issued.key).get("/api/v1/customers/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    [event] = AuditEvent.objects.filter(action=AuditAction.TOKEN_REJECTED)
    assert event.actor == steward_a and event.detail["name"] == "old"


def test_a_revoked_token_answers_401(steward_a):
    issued = tokens.issue(steward_a, "leaked")
    tokens.revoke(issued.token, actor_label="security team")

    response = bearer(issued.key).get("/api/v1/customers/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Token revoked."
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED, actor_label="security team").exists()


def test_a_wrong_token_answers_401_and_writes_no_event_naming_anyone(steward_a):
    tokens.issue(steward_a, "real")

    response = bearer("mdm_" + "x" * 43).get("/api/v1/customers/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
    assert not AuditEvent.objects.filter(action=AuditAction.TOKEN_REJECTED).exists()


def test_a_read_only_token_reads_but_may_not_write(steward_a, customers):
    client = client_for(steward_a, read_only=True)
    path = f"/api/v1/customers/{customers.a.pk}/"

    read = client.get(path)
    writes = [
        client.patch(path, {"name": "Read-only write"}, format="json"),
        client.put(path, {"code": "CA-1", "name": "Read-only write"}, format="json"),
        client.post("/api/v1/customers/", {"code": "CA-9", "name": "New"}, format="json"),
        client.delete(path),
        client.post(f"{path}deactivate/"),
    ]

    assert read.status_code == 200
    assert [w.status_code for w in writes] == [403] * 5
    assert "read-only" in writes[0].json()["detail"]
    customers.a.refresh_from_db()
    assert (customers.a.name, customers.a.status, customers.a.version) == ("Alpha Trading", "active", 1)


def test_a_read_write_token_may_write(steward_a, customers):
    response = client_for(steward_a).patch(f"/api/v1/customers/{customers.a.pk}/", {"name": "New"}, format="json")

    assert response.status_code == 200


def test_issuing_a_token_is_audited(steward_a, superuser):
    issued = tokens.issue(steward_a, "ERP", read_only=True, expires_in_days=30, actor=superuser)

    [event] = AuditEvent.objects.filter(action=AuditAction.TOKEN_CREATED)
    assert (event.actor, event.object_id) == (superuser, str(issued.token.pk))
    assert event.detail["read_only"] is True and event.detail["user"] == "steward_a"
    assert issued.key not in str(event.detail)


def test_the_command_prints_the_token_once_and_applies_the_options(steward_a):
    out, err = StringIO(), StringIO()

    call_command("create_api_token", "steward_a", "--read-only", "--expires-in", "7", "--name", "BI", stdout=out,
                 stderr=err)  # fmt: skip

    key = out.getvalue().strip()
    token = tokens.authenticate(key)
    assert (token.name, token.user, token.read_only) == ("BI", steward_a, True)
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert key not in err.getvalue() and "not be shown again" in err.getvalue()


def test_the_command_refuses_an_unknown_user_and_a_nonsense_lifetime(steward_a):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="at least one day"):
        call_command("create_api_token", "steward_a", "--expires-in", "0", stdout=StringIO(), stderr=StringIO())
