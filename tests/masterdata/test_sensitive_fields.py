"""Sensitive fields: ciphertext in every column that holds them, clear in Python, found by a blind index."""

from __future__ import annotations

import importlib

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core import serializers
from django.core.exceptions import FieldError, ValidationError
from django.db import connection

from masterdata.crypto import KEYS_ENV, blind_index
from masterdata.fields import Undecryptable, is_stored_form
from masterdata.models import Employee, SourceDomain, Supplier, SyncDirection
from masterdata.registry import registry
from masterdata.services import golden, ingest
from masterdata.services.ingest import IncomingRecord
from tests.factories import EmployeeFactory, SourceSystemFactory, SupplierFactory

pytestmark = pytest.mark.django_db

IBAN = "DE89 3704 0044 0532 0130 00"
NATIONAL_ID = "11010519491231002X"


def raw(table: str, column: str, where: str, value) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {where} = %s", [value])
        return [row[0] for row in cursor.fetchall()]


def test_the_database_holds_ciphertext_and_python_the_clear_value():
    supplier = SupplierFactory(bank_account=IBAN)
    employee = EmployeeFactory(national_id=NATIONAL_ID)

    [stored_account] = raw("masterdata_supplier", "bank_account", "id", supplier.pk)
    [stored_id] = raw("masterdata_employee", "national_id", "id", employee.pk)

    for stored, clear in ((stored_account, IBAN), (stored_id, NATIONAL_ID)):
        assert is_stored_form(stored)
        assert clear not in stored and clear.replace(" ", "") not in stored
    assert Supplier.objects.get(pk=supplier.pk).bank_account == IBAN
    assert Employee.objects.get(pk=employee.pk).national_id == NATIONAL_ID


def test_history_rows_hold_ciphertext_too():
    supplier = SupplierFactory(bank_account=IBAN)
    golden.update(supplier, {"bank_account": "CN 6222 0210 0101 2345 678"}, golden.ChangeContext(reason="new bank"))

    stored = raw("masterdata_historicalsupplier", "bank_account", "id", supplier.pk)

    assert len(stored) == 2
    assert all(is_stored_form(value) for value in stored)
    assert {row.bank_account for row in supplier.history.all()} == {IBAN, "CN 6222 0210 0101 2345 678"}


def test_the_same_value_encrypts_differently_each_time():
    first, second = SupplierFactory(bank_account=IBAN), SupplierFactory(bank_account=IBAN)

    [a] = raw("masterdata_supplier", "bank_account", "id", first.pk)
    [b] = raw("masterdata_supplier", "bank_account", "id", second.pk)

    assert a != b
    assert a[:64] == b[:64] == blind_index(IBAN)  # the blind index is what stays the same


def test_saving_an_unchanged_record_writes_no_new_version_although_ciphertext_is_randomised():
    supplier = SupplierFactory(bank_account=IBAN)
    loaded = Supplier.objects.get(pk=supplier.pk)

    changed = golden.save(loaded, golden.ChangeContext(reason="no change"))
    loaded.bank_account = IBAN
    loaded.save()

    assert changed is False
    assert Supplier.objects.get(pk=supplier.pk).version == 1
    assert supplier.history.count() == 1


def test_a_blank_value_stays_blank_in_the_column():
    supplier = SupplierFactory(bank_account="")

    assert raw("masterdata_supplier", "bank_account", "id", supplier.pk) == [""]
    assert Supplier.objects.filter(bank_account="").filter(pk=supplier.pk).exists()


def test_exact_lookups_use_the_blind_index_ignoring_blanks_and_case():
    wanted = SupplierFactory(bank_account=IBAN)
    SupplierFactory(bank_account="GB29 NWBK 6016 1331 9268 19")
    employee = EmployeeFactory(national_id=NATIONAL_ID)

    assert list(Supplier.objects.filter(bank_account=IBAN)) == [wanted]
    assert list(Supplier.objects.filter(bank_account="de89370400440532013000")) == [wanted]
    assert list(Supplier.objects.filter(bank_account__in=[IBAN, "nothing-like-it"])) == [wanted]
    assert list(Employee.objects.filter(national_id=NATIONAL_ID.lower())) == [employee]
    assert not Supplier.objects.filter(bank_account="DE89 3704 0044 0532 0130 01").exists()
    assert not Supplier.objects.filter(bank_account__in=[]).exists()


def test_lookups_that_would_need_the_clear_text_are_refused():
    for lookup in ("icontains", "startswith", "gt", "regex"):
        with pytest.raises(FieldError):
            list(Supplier.objects.filter(**{f"bank_account__{lookup}": "DE89"}))


def test_the_exact_lookup_is_served_by_the_expression_index():
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN output is PostgreSQL's")
    SupplierFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = Supplier.objects.filter(bank_account=IBAN).values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "supplier_bank_account_bidx" in plan


@pytest.mark.parametrize("domain", [d for d in registry if d.sensitive_fields], ids=lambda d: d.name)
def test_every_sensitive_field_has_a_blind_index_in_the_database(domain):
    table = domain.model_class._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    for name in domain.sensitive_fields:
        assert f"{domain.name}_{name}_bidx" in constraints, f"{table}.{name} has no blind index"


def test_the_clear_value_is_limited_to_the_fields_max_length():
    supplier = SupplierFactory.build(code="S-LONG", name="Long", bank_account="X" * 65)

    with pytest.raises(ValidationError) as refused:
        supplier.full_clean()

    assert "bank_account" in refused.value.message_dict


def test_dumpdata_writes_the_stored_form_never_the_clear_value():
    supplier = SupplierFactory(bank_account=IBAN)

    dumped = serializers.serialize("json", Supplier.objects.filter(pk=supplier.pk))
    [restored] = serializers.deserialize("json", dumped)

    assert IBAN not in dumped and blind_index(IBAN) in dumped
    assert restored.object.bank_account == IBAN


def test_a_value_no_key_opens_loads_as_undecryptable_and_is_written_back_unchanged(monkeypatch):
    supplier = SupplierFactory(bank_account=IBAN, name="Before")
    [stored] = raw("masterdata_supplier", "bank_account", "id", supplier.pk)
    monkeypatch.setenv(KEYS_ENV, Fernet.generate_key().decode())  # the key that encrypted it is gone

    loaded = Supplier.objects.get(pk=supplier.pk)
    golden.update(loaded, {"name": "After"}, golden.ChangeContext(reason="rename"))

    assert isinstance(loaded.bank_account, Undecryptable)
    assert raw("masterdata_supplier", "bank_account", "id", supplier.pk) == [stored]


def test_the_migration_encrypts_values_stored_in_clear_before_it():
    supplier = SupplierFactory(bank_account="placeholder")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE masterdata_supplier SET bank_account = %s WHERE id = %s", [IBAN, supplier.pk])
        cursor.execute("UPDATE masterdata_historicalsupplier SET bank_account = %s WHERE id = %s", [IBAN, supplier.pk])
    migration = importlib.import_module("masterdata.migrations.0006_security")

    with connection.schema_editor() as editor:
        migration.encrypt_existing(apps, editor)
        migration.encrypt_existing(apps, editor)  # a second run changes nothing

    [stored] = raw("masterdata_supplier", "bank_account", "id", supplier.pk)
    [history] = raw("masterdata_historicalsupplier", "bank_account", "id", supplier.pk)
    assert is_stored_form(stored) and is_stored_form(history)
    assert Supplier.objects.get(pk=supplier.pk).bank_account == IBAN
    assert Supplier.objects.filter(bank_account=IBAN).exists()


def test_the_sync_paths_bulk_writes_store_ciphertext_and_keep_the_index(org):
    source = SourceSystemFactory(code="erp")
    SourceDomain.objects.create(source=source, domain="supplier", direction=SyncDirection.BOTH, trust_rank=80)
    supplier = registry.get("supplier")

    def offer(account: str) -> None:
        values = {"code": "S-9", "name": "Gamma Metals", "owner_org": "A", "bank_account": account}
        ingest.ingest_batch(source, supplier, [IncomingRecord("9", values, payload={"k": "9", "v": account})])

    offer(IBAN)
    offer("GB29 NWBK 6016 1331 9268 19")

    record = Supplier.objects.get(code="S-9")
    stored = raw("masterdata_supplier", "bank_account", "id", record.pk)
    history = raw("masterdata_historicalsupplier", "bank_account", "id", record.pk)
    assert all(is_stored_form(value) for value in [*stored, *history]) and len(history) == 2
    assert record.bank_account == "GB29 NWBK 6016 1331 9268 19"
    assert list(Supplier.objects.filter(bank_account="GB29NWBK60161331926819")) == [record]
