"""The admin's security pages: masked sensitive fields with an audited reveal, the audit log, API tokens."""

from __future__ import annotations

import hashlib
import re

import pytest

from masterdata.models import ApiToken, AuditAction, AuditEvent, Supplier
from masterdata.services import audit, golden, tokens
from tests.conftest import make_steward
from tests.factories import SupplierFactory

from .conftest import admin_url, browser
from .test_registry_admin import form_data

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"


@pytest.fixture
def supplier(org):
    return SupplierFactory(code="SA-1", name="Alpha Steel", owner_org=org.a, bank_account=IBAN)


@pytest.fixture
def revealer(org, stewards_group):
    return make_steward("revealer_a", org.a, stewards_group, actions=("view", "change", "view_sensitive"))


def reveal_url(record) -> str:
    return admin_url(record, "reveal", record.pk)


# --- sensitive fields on the change form -----------------------------------------------------------
def test_the_change_form_shows_the_mask_and_a_reveal_link_never_the_value(revealer, supplier):
    page = browser(revealer).get(admin_url(supplier, "change", supplier.pk))

    html = page.content.decode()
    assert page.status_code == 200
    assert IBAN not in html
    assert 'value="••••3000"' in html
    assert reveal_url(supplier) in html and "Reveal (audited)" in html


def test_saving_the_form_with_the_mask_keeps_the_value_and_a_typed_value_replaces_it(revealer, supplier):
    client = browser(revealer)
    url = admin_url(supplier, "change", supplier.pk)

    kept = client.post(url, form_data(client.get(url)) | {"name": "Alpha Steel Ltd"})
    replaced = client.post(url, form_data(client.get(url)) | {"bank_account": "GB29NWBK60161331926819"})

    assert kept.status_code == replaced.status_code == 302
    history = list(Supplier.history.filter(id=supplier.pk).order_by("history_id"))
    assert [h.bank_account for h in history] == [IBAN, IBAN, "GB29NWBK60161331926819"]
    assert history[1].name == "Alpha Steel Ltd"


def test_a_steward_without_the_scope_sees_the_mask_and_cannot_reveal(steward_a, supplier):
    client = browser(steward_a)

    html = client.get(admin_url(supplier, "change", supplier.pk)).content.decode()
    refused = client.post(reveal_url(supplier))

    assert IBAN not in html and "••••3000" in html and "Reveal (audited)" not in html
    assert refused.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED).exists()


def test_the_reveal_page_asks_first_then_shows_the_value_and_audits_it(revealer, supplier, org):
    client = browser(revealer)

    confirm = client.get(reveal_url(supplier))
    shown = client.post(reveal_url(supplier))

    assert IBAN not in confirm.content.decode() and "audit log will record" in confirm.content.decode()
    assert IBAN in shown.content.decode()
    [event] = AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED)
    assert (event.actor, event.object_id, event.org_unit_id) == (revealer, str(supplier.pk), org.a.pk)
    assert event.detail["via"] == "admin" and event.detail["fields"] == ["bank_account"]


def test_a_record_of_another_org_has_no_reveal_page_for_the_steward(revealer, org):
    other = SupplierFactory(code="SB-1", name="Beta Paper", owner_org=org.b, bank_account=IBAN)

    assert browser(revealer).post(reveal_url(other)).status_code == 404


def test_the_history_page_shows_sensitive_changes_in_clear_only_to_the_scope_and_audits_that(
    revealer, steward_a, supplier
):
    golden.update(supplier, {"bank_account": "GB29NWBK60161331926819"}, golden.ChangeContext(reason="new bank"))
    url = admin_url(supplier, "history", supplier.pk)

    hidden = browser(steward_a).post(url, {"_reveal": "1"}).content.decode()
    masked = browser(revealer).get(url).content.decode()
    clear = browser(revealer).post(url, {"_reveal": "1"}).content.decode()

    assert "GB29NWBK60161331926819" not in hidden and "Reveal sensitive values" not in hidden
    assert "GB29NWBK60161331926819" not in masked and "Reveal sensitive values (audited)" in masked
    assert "GB29NWBK60161331926819" in clear
    [event] = AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED)
    assert (event.actor, event.detail["via"]) == (revealer, "admin history")


# --- the audit log ---------------------------------------------------------------------------------
def test_the_audit_log_is_listed_and_filtered_for_admins_and_read_only_even_for_superusers(superuser_client):
    event = audit.record(AuditAction.KEYS_ROTATED, actor_label="manage.py rotate_keys", detail={"rotated": 3})
    audit.record(AuditAction.LOGIN_FAILED, actor_label="mallory")

    listing = superuser_client.get(admin_url(AuditEvent, "changelist"), {"action__exact": "keys.rotated"})
    detail = superuser_client.get(admin_url(event, "change", event.pk))

    assert listing.status_code == 200
    assert "manage.py rotate_keys" in listing.content.decode() and "mallory" not in listing.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert superuser_client.get(admin_url(AuditEvent, "add")).status_code == 403
    assert superuser_client.post(admin_url(event, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert superuser_client.post(admin_url(event, "change", event.pk), {"actor_label": "x"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "manage.py rotate_keys"


def test_no_permission_exists_to_add_change_or_delete_audit_events():
    opts = AuditEvent._meta

    assert opts.default_permissions == ("view",)


def test_a_steward_without_the_view_permission_cannot_read_the_audit_log(steward_a):
    assert browser(steward_a).get(admin_url(AuditEvent, "changelist")).status_code == 403


# --- API tokens -------------------------------------------------------------------------------------
def test_a_token_created_in_the_admin_is_shown_once_and_stored_hashed(superuser_client, steward_a):
    response = superuser_client.post(
        admin_url(ApiToken, "add"),
        {"name": "BI reader", "user": steward_a.pk, "read_only": "on", "expires_in_days": 30},
    )

    html = response.content.decode()
    key = re.search(r'<code id="api-token"[^>]*>([^<]+)</code>', html).group(1)
    token = ApiToken.objects.get()
    assert "no-store" in response["Cache-Control"]
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (token.user, token.read_only, token.expires_at is not None) == (steward_a, True, True)
    assert key not in superuser_client.get(admin_url(ApiToken, "changelist")).content.decode()
    assert key not in superuser_client.get(admin_url(token, "change", token.pk)).content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_CREATED, actor__username="admin").exists()


def test_tokens_are_revoked_by_an_action_never_deleted(superuser_client, steward_a):
    issued = tokens.issue(steward_a, "CRM")

    response = superuser_client.post(
        admin_url(ApiToken, "changelist"), {"action": "revoke_selected", "_selected_action": [issued.token.pk]}
    )

    assert response.status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    assert superuser_client.get(admin_url(issued.token, "delete", issued.token.pk)).status_code == 403


def test_a_staff_user_may_issue_tokens_only_for_themselves(org, stewards_group, superuser):
    from django.contrib.auth.models import Permission

    manager = make_steward("token_manager", org.a, stewards_group)
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client = browser(manager)

    page = client.get(admin_url(ApiToken, "add"))
    refused = client.post(admin_url(ApiToken, "add"), {"name": "escalate", "user": superuser.pk})

    choices = [str(c[0]) for c in page.context["adminform"].form.fields["user"].choices if c[0]]
    assert choices == [str(manager.pk)]
    assert refused.status_code == 200 and not ApiToken.objects.filter(user=superuser).exists()
