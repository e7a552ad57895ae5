"""Connection secrets: encrypted at rest, masked in Python, references resolved at use, keys rotated."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db

from connectors import crypto
from connectors.crypto import Secret, SecretError, generate_key
from connectors.models import Connection
from connectors.services.secrets import rotate_connection_secrets
from masterdata.models import AuditAction, AuditEvent
from tests.factories import SourceSystemFactory

CLEAR = "S3cr3t-pässwort;DROP"


def raw_row(pk: int) -> tuple[str, str]:
    with db.cursor() as cursor:
        cursor.execute("SELECT secret, client_secret FROM connectors_connection WHERE id = %s", [pk])
        return cursor.fetchone()


def make(**fields) -> Connection:
    defaults = {"protocol": "rest", "base_url": "https://crm.example.com", "auth_type": "bearer"}
    return Connection.objects.create(source=SourceSystemFactory(), **{**defaults, **fields})


@pytest.fixture
def one_key(monkeypatch):
    key = generate_key()
    monkeypatch.setenv(crypto.KEYS_ENV, key)
    return key


@pytest.mark.django_db
def test_a_secret_is_stored_encrypted_and_reads_back_in_clear(one_key):
    conn = make(secret=CLEAR, client_secret="client-" + CLEAR)
    stored, stored_client = raw_row(conn.pk)
    assert stored.startswith("fernet:") and stored_client.startswith("fernet:")
    assert CLEAR not in stored and "pässwort" not in stored_client
    assert Connection.objects.get(pk=conn.pk).secret.reveal() == CLEAR


@pytest.mark.django_db
def test_the_same_secret_encrypts_differently_each_time(one_key):
    first, second = make(secret=CLEAR), make(secret=CLEAR)
    assert raw_row(first.pk)[0] != raw_row(second.pk)[0]


def test_a_secret_never_shows_in_str_or_repr():
    conn = Connection(protocol="rest", base_url="https://x", secret=CLEAR)
    assert isinstance(conn.secret, Secret)
    for text in (str(conn.secret), repr(conn.secret), f"{conn.secret}", repr(vars(conn))):
        assert CLEAR not in text
    assert repr(conn.secret) == "Secret(********)"
    assert repr(Connection(protocol="rest", base_url="https://x").secret) == "Secret(<empty>)"


@pytest.mark.django_db
def test_serialised_connections_hold_ciphertext_and_load_back(one_key):
    conn = make(secret=CLEAR)
    dumped = serializers.serialize("json", [conn])
    assert CLEAR not in dumped and "fernet:" in dumped
    loaded = next(serializers.deserialize("json", dumped)).object
    assert loaded.secret.reveal() == CLEAR


@pytest.mark.django_db
def test_an_env_reference_is_stored_as_written_and_resolved_at_use(monkeypatch, one_key):
    conn = make(secret="${ENV:CRM_TOKEN}")
    assert raw_row(conn.pk)[0] == "${ENV:CRM_TOKEN}"
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.secret.is_reference and repr(conn.secret) == "Secret(${ENV:CRM_TOKEN})"
    monkeypatch.setenv("CRM_TOKEN", "first")
    assert conn.reveal_secret() == "first"
    monkeypatch.setenv("CRM_TOKEN", "rotated-in-the-vault")
    assert conn.reveal_secret() == "rotated-in-the-vault"
    monkeypatch.delenv("CRM_TOKEN")
    with pytest.raises(SecretError, match="CRM_TOKEN"):
        conn.reveal_secret()


def test_only_exact_references_count_as_references():
    assert not Secret("prefix ${ENV:X}").is_reference
    assert not Secret("${ENV:1BAD}").is_reference
    assert Secret("${ENV:GOOD_1}").reference_name == "GOOD_1"


@pytest.mark.django_db
def test_older_keys_still_decrypt_and_rotation_moves_secrets_to_the_new_key(monkeypatch):
    old, new = generate_key(), generate_key()
    monkeypatch.setenv(crypto.KEYS_ENV, old)
    conn = make(secret=CLEAR, client_secret="client-secret")
    referenced = make(secret="${ENV:SOMEWHERE}")
    before = raw_row(conn.pk)

    monkeypatch.setenv(crypto.KEYS_ENV, f"{new},{old}")
    assert Connection.objects.get(pk=conn.pk).secret.reveal() == CLEAR  # MultiFernet: the old key still opens it
    result = rotate_connection_secrets()
    assert result.rotated == 2 and result.undecryptable == []
    after = raw_row(conn.pk)
    assert after != before and all(value.startswith("fernet:") for value in after)
    assert raw_row(referenced.pk)[0] == "${ENV:SOMEWHERE}"

    monkeypatch.setenv(crypto.KEYS_ENV, new)  # the old key is gone
    assert Connection.objects.get(pk=conn.pk).secret.reveal() == CLEAR
    assert Connection.objects.get(pk=conn.pk).client_secret.reveal() == "client-secret"


@pytest.mark.django_db
def test_a_secret_no_key_opens_is_reported_and_kept_unchanged(monkeypatch):
    monkeypatch.setenv(crypto.KEYS_ENV, generate_key())
    conn = make(secret=CLEAR)
    stored = raw_row(conn.pk)[0]
    monkeypatch.setenv(crypto.KEYS_ENV, generate_key())
    loaded = Connection.objects.get(pk=conn.pk)
    assert loaded.secret.is_undecryptable and repr(loaded.secret) == "Secret(<undecryptable>)"
    with pytest.raises(SecretError, match="no configured encryption key"):
        loaded.secret.reveal()
    loaded.save()
    assert raw_row(conn.pk)[0] == stored
    assert rotate_connection_secrets().undecryptable == [conn.pk]
    with pytest.raises(CommandError, match=str(conn.pk)):
        call_command("rotate_connection_secrets")


@pytest.mark.django_db
def test_the_rotation_command_reports_what_it_did(monkeypatch, capsys, one_key):
    make(secret=CLEAR)
    call_command("rotate_connection_secrets")
    assert "Re-encrypted 1 secret(s)." in capsys.readouterr().out


@pytest.mark.django_db
def test_the_rotation_command_is_audited_with_what_it_rotated_and_what_no_key_opens(monkeypatch):
    old, lost = generate_key(), generate_key()
    monkeypatch.setenv(crypto.KEYS_ENV, lost)
    unopenable = make(secret=CLEAR)
    monkeypatch.setenv(crypto.KEYS_ENV, old)
    make(secret=CLEAR, client_secret="client-secret")
    make(secret="${ENV:SOMEWHERE}")
    monkeypatch.setenv(crypto.KEYS_ENV, f"{generate_key()},{old}")

    with pytest.raises(CommandError):
        call_command("rotate_connection_secrets", stdout=StringIO())

    [event] = AuditEvent.objects.filter(action=AuditAction.KEYS_ROTATED)
    assert (event.actor, event.actor_label) == (None, "manage.py rotate_connection_secrets")
    assert event.detail == {
        "rotated": 2,
        "columns": {"connectors_connection.secret": 1, "connectors_connection.client_secret": 1},
        "undecryptable": {"connectors_connection": [str(unopenable.pk)]},
    }


def test_without_keys_debug_derives_a_dev_key_from_the_secret_key(monkeypatch, settings):
    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    settings.DEBUG = True
    token = crypto.encrypt(CLEAR)
    assert crypto.decrypt(token) == CLEAR
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789abcdefghijklmnopqrstu"
    with pytest.raises(SecretError):
        crypto.decrypt(token)


def test_without_keys_production_refuses_to_encrypt_but_references_work(monkeypatch, settings):
    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="MDM_ENCRYPTION_KEYS"):
        Secret(CLEAR).to_stored()
    assert Secret("${ENV:TOKEN}").to_stored() == "${ENV:TOKEN}"


def test_a_malformed_key_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv(crypto.KEYS_ENV, "not-a-fernet-key")
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        crypto.encrypt(CLEAR)


def test_the_form_field_never_renders_the_secret():
    conn = Connection(protocol="rest", base_url="https://x", secret=CLEAR)
    field = Connection._meta.get_field("secret").formfield()
    html = field.widget.render("secret", conn.secret)
    assert CLEAR not in html and 'type="password"' in html


@pytest.mark.django_db
def test_without_keys_production_still_loads_connections_but_cannot_use_their_secrets(monkeypatch, settings):
    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    settings.DEBUG = True
    conn = make(secret=CLEAR)  # the development key
    settings.DEBUG = False
    loaded = Connection.objects.get(pk=conn.pk)
    assert loaded.secret.is_undecryptable
    with pytest.raises(SecretError):
        loaded.reveal_secret()
