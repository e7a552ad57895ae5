"""``manage.py rotate_keys``: every encrypted column re-encrypted, so the old key can go."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from connectors.models import Connection, WebhookSubscription
from masterdata.crypto import BLIND_INDEX_KEY_ENV, KEYS_ENV, generate_key
from masterdata.models import AuditAction, AuditEvent, Employee, Supplier
from masterdata.services import golden, keys
from tests.factories import EmployeeFactory, SourceSystemFactory, SupplierFactory, UserFactory

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
NEW_IBAN = "GB29NWBK60161331926819"
NATIONAL_ID = "11010519491231002X"
PASSWORD = "Sap-Pässwort;1"
CLIENT_SECRET = "oauth-client-secret-77"
HOOK_SECRET = "webhook-signing-secret-99"


def column(table: str, name: str, pk_column: str = "id") -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk_column}, {name} FROM {table}")
        return dict(cursor.fetchall())


def all_ciphertexts() -> list[str]:
    values = [
        *column("masterdata_supplier", "bank_account").values(),
        *column("masterdata_historicalsupplier", "bank_account", "history_id").values(),
        *column("masterdata_employee", "national_id").values(),
        *column("masterdata_historicalemployee", "national_id", "history_id").values(),
        *column("connectors_connection", "secret").values(),
        *column("connectors_connection", "client_secret").values(),
        *column("connectors_webhooksubscription", "secret").values(),
    ]
    return [v for v in values if v]


@pytest.fixture
def old_key(monkeypatch):
    key = generate_key()
    monkeypatch.setenv(KEYS_ENV, key)
    return key


@pytest.fixture
def encrypted_everywhere(old_key):
    supplier = SupplierFactory(bank_account=IBAN)
    golden.update(supplier, {"bank_account": NEW_IBAN}, golden.ChangeContext(reason="new bank"))
    employee = EmployeeFactory(national_id=NATIONAL_ID)
    conn = Connection.objects.create(
        source=SourceSystemFactory(),
        protocol="odata_v4",
        base_url="https://sap.example.com/odata",
        auth_type="basic",
        username="MDM",
        secret=PASSWORD,
        client_secret=CLIENT_SECRET,
    )
    hook = WebhookSubscription.objects.create(
        name="bi", url="https://bi.example.com/hook", secret=HOOK_SECRET, owner=UserFactory()
    )
    return type("Encrypted", (), {"supplier": supplier, "employee": employee, "connection": conn, "hook": hook})


def test_rotation_reencrypts_every_column_so_the_old_key_can_be_removed(encrypted_everywhere, old_key, monkeypatch):
    before = all_ciphertexts()
    new_key = generate_key()
    monkeypatch.setenv(KEYS_ENV, f"{new_key},{old_key}")
    out = StringIO()

    call_command("rotate_keys", stdout=out)
    monkeypatch.setenv(KEYS_ENV, new_key)  # the old key is gone

    after = all_ciphertexts()
    assert len(after) == len(before) == 8 and not set(after) & set(before)
    found = encrypted_everywhere
    supplier = Supplier.objects.get(pk=found.supplier.pk)
    assert supplier.bank_account == NEW_IBAN
    assert {row.bank_account for row in supplier.history.all()} == {IBAN, NEW_IBAN}
    assert Employee.objects.get(pk=found.employee.pk).national_id == NATIONAL_ID
    conn = Connection.objects.get(pk=found.connection.pk)
    assert (conn.secret.reveal(), conn.client_secret.reveal()) == (PASSWORD, CLIENT_SECRET)
    assert WebhookSubscription.objects.get(pk=found.hook.pk).secret.reveal() == HOOK_SECRET
    for clear in (IBAN, NEW_IBAN, NATIONAL_ID, PASSWORD, CLIENT_SECRET, HOOK_SECRET):
        assert not any(clear in value for value in after)
    assert "masterdata_historicalsupplier.bank_account: 2 value(s)" in out.getvalue()
    assert "Re-encrypted 8 value(s)." in out.getvalue()


def test_rotation_is_audited(encrypted_everywhere):
    call_command("rotate_keys", stdout=StringIO())

    [event] = AuditEvent.objects.filter(action=AuditAction.KEYS_ROTATED)
    assert event.actor_label == "manage.py rotate_keys"
    assert event.detail["rotated"] == 8
    assert event.detail["columns"]["connectors_connection.client_secret"] == 1


def test_a_new_blind_index_key_takes_effect_after_rotation(encrypted_everywhere, monkeypatch):
    monkeypatch.setenv(BLIND_INDEX_KEY_ENV, secrets.token_urlsafe(32))
    stale = Supplier.objects.filter(bank_account=NEW_IBAN).exists()

    keys.rotate_all()

    assert stale is False
    assert Supplier.objects.filter(bank_account=NEW_IBAN).get().pk == encrypted_everywhere.supplier.pk


def test_values_no_configured_key_opens_are_reported_and_left_alone(encrypted_everywhere, monkeypatch):
    lost = column("masterdata_employee", "national_id")[encrypted_everywhere.employee.pk]
    monkeypatch.setenv(KEYS_ENV, generate_key())  # the only key that opened them is gone

    with pytest.raises(CommandError, match=r"masterdata_employee\.national_id rows") as refused:
        call_command("rotate_keys", stdout=StringIO())

    assert "Restore the missing key" in str(refused.value)
    assert column("masterdata_employee", "national_id")[encrypted_everywhere.employee.pk] == lost


def test_every_encrypted_column_is_found_history_tables_included():
    found = {(model._meta.db_table, f.column) for model, fields in keys.encrypted_columns() for f in fields}

    assert {
        ("masterdata_supplier", "bank_account"),
        ("masterdata_historicalsupplier", "bank_account"),
        ("masterdata_employee", "national_id"),
        ("masterdata_historicalemployee", "national_id"),
        ("connectors_connection", "secret"),
        ("connectors_connection", "client_secret"),
        ("connectors_webhooksubscription", "secret"),
    } <= found
