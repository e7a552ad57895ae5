"""The sync path's bulk update: every row gets its own values, whatever the column's type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from masterdata.models import Customer, Supplier
from masterdata.services import bulk_sql
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_in_every_kind_of_column(org):
    first, second, third = (CustomerFactory(code=f"U-{n}", name=f"Before {n}", owner_org=org.a) for n in range(3))
    at = timezone.now().replace(microsecond=0)
    first.name, first.credit_limit = "上海华东贸易有限公司", Decimal("1234.50")
    first.last_transaction_date = dt.date(2026, 1, 2)
    first.attributes, first.owner_org, first.updated_at, first.version = {"segment": "A", "n": [1, 2]}, org.b, at, 7
    second.name, second.credit_limit, second.last_transaction_date = 'Quote " and \\ backslash', None, None
    second.attributes, second.owner_org, second.updated_at, second.version = {}, None, at, 2
    fields = ["name", "credit_limit", "last_transaction_date", "attributes", "owner_org", "updated_at", "version"]

    bulk_sql.update(Customer, [first, second], fields)

    first_saved, second_saved, third_saved = (Customer.objects.get(pk=c.pk) for c in (first, second, third))
    assert (first_saved.name, first_saved.credit_limit, first_saved.last_transaction_date) == (
        "上海华东贸易有限公司",
        Decimal("1234.50"),
        dt.date(2026, 1, 2),
    )
    assert (first_saved.attributes, first_saved.owner_org_id, first_saved.updated_at, first_saved.version) == (
        {"segment": "A", "n": [1, 2]},
        org.b.pk,
        at,
        7,
    )
    assert (second_saved.name, second_saved.credit_limit, second_saved.last_transaction_date) == (
        'Quote " and \\ backslash',
        None,
        None,
    )
    assert (second_saved.attributes, second_saved.owner_org_id, second_saved.version) == ({}, None, 2)
    assert third_saved.name == "Before 2"  # a row not given is not touched


def test_a_column_with_no_value_in_any_row_is_written_as_empty(org):
    records = [CustomerFactory(code=f"N-{n}", owner_org=org.a, credit_limit=Decimal("10")) for n in range(2)]
    for record in records:
        record.credit_limit, record.owner_org = None, None

    bulk_sql.update(Customer, records, ["credit_limit", "owner_org"])

    assert list(Customer.objects.filter(code__startswith="N-").values_list("credit_limit", "owner_org")) == [
        (None, None),
        (None, None),
    ]


def test_a_value_too_long_for_its_column_is_refused_not_cut(org):
    record = CustomerFactory(code="L-1", owner_org=org.a)
    record.country = "DEU"  # two characters allowed

    with pytest.raises(DataError):
        bulk_sql.update(Customer, [record], ["country"])


def test_sensitive_values_are_stored_encrypted_and_read_back_in_clear(org):
    supplier = Supplier.objects.create(code="S-1", name="Supplier", owner_org=org.a, bank_account="DE001")
    supplier.bank_account = "DE89370400440532013000"

    bulk_sql.update(Supplier, [supplier], ["bank_account"])

    with connection.cursor() as cursor:
        cursor.execute("SELECT bank_account FROM masterdata_supplier WHERE id = %s", [supplier.pk])
        stored = cursor.fetchone()[0]
    assert "DE89370400440532013000" not in stored
    assert Supplier.objects.get(pk=supplier.pk).bank_account == "DE89370400440532013000"


def test_more_rows_than_one_statement_takes_are_all_written(org, monkeypatch):
    monkeypatch.setattr(bulk_sql, "BATCH", 2)
    records = [CustomerFactory(code=f"B-{n}", owner_org=org.a) for n in range(5)]
    for n, record in enumerate(records):
        record.name = f"After {n}"

    with CaptureQueriesContext(connection) as queries:
        bulk_sql.update(Customer, records, ["name"])

    assert sorted(Customer.objects.filter(code__startswith="B-").values_list("name", flat=True)) == [
        f"After {n}" for n in range(5)
    ]
    # Three statements, each seen by Django's query log and execute wrappers like any other.
    assert [q["sql"].startswith('UPDATE "masterdata_customer"') for q in queries.captured_queries] == [True] * 3
