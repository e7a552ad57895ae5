"""The attack on the database itself: after real pulls, no clear sensitive value sits in any column.

Suppliers and employees are pulled from two sources of equal standing over HTTP, so the hub
keeps links with their payloads, raises conflicts on the bank account and the national id,
queues refused records with their payloads, merges two suppliers and answers an ingest call
with an idempotency key. Then every text and JSON column of every table is searched with SQL
for the values: none may appear (the customer domain, which has no sensitive field, stays
readable as plain JSON).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse

from connectors.models import SyncFailure
from connectors.services import pipeline
from masterdata.models import Conflict, MergeRecord, SourceLink, Supplier
from masterdata.registry import registry
from masterdata.services import merge
from tests.conftest import client_for
from tests.connectors.api.conftest import post
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, SEED_CRM_FIELDS, connect, make_source, map_source
from tests.masterdata.admin.conftest import browser

pytestmark = pytest.mark.django_db(transaction=False)

IBAN = "DE89370400440532013000"
IBAN_OTHER = "GB29NWBK60161331926819"
IBAN_REFUSED = "FR1420041010050500013M02606"
IBAN_POSTED = "NL91ABNA0417164300"
IBAN_MERGED = "CH9300762011623852957"
IBAN_IN_A_BROKEN_PAGE = "BE68539007547034"
NATIONAL_ID = "11010519491231002X"
NATIONAL_ID_OTHER = "44030419800101123X"
NATIONAL_ID_REFUSED = "31010119900307452X"
SECRETS = [
    IBAN, IBAN_OTHER, IBAN_REFUSED, IBAN_POSTED, IBAN_MERGED, IBAN_IN_A_BROKEN_PAGE,
    NATIONAL_ID, NATIONAL_ID_OTHER, NATIONAL_ID_REFUSED,
]  # fmt: skip

SUPPLIER_FIELDS = {"id": "code", "name": "name", "iban": "bank_account", "owner": "owner_org"}
EMPLOYEE_FIELDS = {"id": "code", "name": "name", "nid": "national_id", "unit": "org_unit", "hired": "hire_date"}


def pull_from(
    code: str, domain: str, fields: dict[str, str], records: list[dict[str, Any]], broken_page: str = ""
) -> None:
    source = make_source(code, domain=domain, trust=50)
    with CrmFake(records) as fake:
        if broken_page:
            fake.malformed(broken_page)
        connect(source, "rest", fake.base_url, auth_type="bearer", secret=CrmFake.token, page_size=10)
        map_source(source, domain, SEED_CRM_FETCH, fields)
        pipeline.pull(source, domain)


def text_columns() -> list[tuple[str, str]]:
    """Every text, character and JSON column of every table of the database."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = current_schema()
                 AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
               ORDER BY table_name, column_name"""
        )
        return cursor.fetchall()


def places_holding(needles: list[str]) -> list[str]:
    """``table.column`` of every column in which one of ``needles`` appears (blanks and case ignored)."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in text_columns():
            for needle in needles:
                cursor.execute(
                    f"SELECT count(*) FROM {quote(table)} "
                    f"WHERE upper(regexp_replace({quote(column)}::text, '\\s', '', 'g')) LIKE %s",
                    [f"%{needle.upper()}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column} holds {needle}")
    return found


@pytest.fixture
def pulled(org, superuser):
    """Suppliers and employees pulled, refused, disputed, merged and posted, as the hub keeps them."""
    spaced = "DE89 3704 0044 0532 0130 00"  # the source spells it with blanks; the needle has none
    pull_from("erp", "supplier", SUPPLIER_FIELDS, [
        {"id": "S-1", "name": "Acme", "iban": spaced, "Bankverbindung": IBAN, "owner": "A"},
        {"id": "S-2", "name": "x" * 300, "iban": IBAN_REFUSED, "owner": "A"},  # too long a name: refused
        {"id": "S-3", "name": "Acme Duplicate", "iban": IBAN_MERGED, "owner": "A"},
    ])  # fmt: skip
    pull_from("bank", "supplier", SUPPLIER_FIELDS, [{"id": "S-1", "name": "Acme", "iban": IBAN_OTHER, "owner": "A"}])
    pull_from("hr", "employee", EMPLOYEE_FIELDS, [
        {"id": "E-1", "name": "Li Lei", "nid": NATIONAL_ID, "unit": "A", "hired": "2020-01-01"},
        {"id": "E-2", "name": "Han Mei", "nid": NATIONAL_ID_REFUSED, "unit": "A", "hired": "last spring"},
    ])  # fmt: skip
    pull_from("hr2", "employee", EMPLOYEE_FIELDS, [
        {"id": "E-1", "name": "Li Lei", "nid": NATIONAL_ID_OTHER, "unit": "A", "hired": "2020-01-01"}
    ])  # fmt: skip
    pull_from("crm", "customer", SEED_CRM_FIELDS, data.crm_customers(3))
    broken = f'{{"data": [{{"id": "S-7", "iban": "{IBAN_IN_A_BROKEN_PAGE}", "name": "cut off'
    pull_from("ariba", "supplier", SUPPLIER_FIELDS, [], broken_page=broken)
    suppliers = registry.get("supplier")
    merge.merge(
        suppliers,
        Supplier.objects.get(code="S-1"),
        Supplier.objects.get(code="S-3"),
        {"bank_account": "loser"},
        superuser,
        "the same company",
    )
    map_source(make_source("portal", domain="supplier"), "supplier", SEED_CRM_FETCH, SUPPLIER_FIELDS)
    answer = post(client_for(superuser), [{"id": "S-9", "name": "Posted", "iban": IBAN_POSTED, "owner": "A"}],
                  source="portal", domain="supplier")  # fmt: skip
    assert answer.status_code == 200, answer.content
    steward = browser(superuser)  # a steward decides: the admin log keeps what was done
    conflict = Conflict.objects.get(domain="supplier", field="bank_account")
    steward.post(reverse("admin:masterdata_conflict_change", args=[conflict.pk]),
                 {"choice": "1", "reason": "confirmed with the bank"})  # fmt: skip
    failure = SyncFailure.objects.get(source_key="E-2")
    steward.post(reverse("admin:connectors_syncfailure_edit", args=[failure.pk]),
                 {"value:hired": "2021-04-01", "value:nid": "", "reason": "date from the contract"})  # fmt: skip


def test_the_scenario_stores_what_the_attack_looks_for(pulled):
    """Guard: the search below must have something to find if sealing were missing."""
    assert SourceLink.objects.filter(domain="supplier").count() >= 3
    assert SourceLink.objects.filter(domain="employee").count() >= 2
    assert Conflict.objects.filter(domain="supplier", field="bank_account").exists()
    assert Conflict.objects.filter(domain="employee", field="national_id").exists()
    assert SyncFailure.objects.filter(domain="supplier", source_key="S-2").exists()
    assert SyncFailure.objects.filter(domain="employee", source_key="E-2", status="resolved").exists()
    assert Conflict.objects.filter(domain="supplier", field="bank_account", status="resolved").exists()
    assert LogEntry.objects.filter(change_message__contains="bank_account").exists()
    assert IBAN_IN_A_BROKEN_PAGE in SyncFailure.objects.get(source__code="ariba", stage="fetch").raw_body
    assert MergeRecord.objects.filter(domain="supplier").exists()
    # … and read through the ORM, everything is there in clear for the code that needs it.
    link = SourceLink.objects.get(source__code="erp", source_key="S-1")
    assert link.last_payload["Bankverbindung"] == IBAN
    assert SyncFailure.objects.get(source_key="S-2").payload["iban"] == IBAN_REFUSED
    conflict = Conflict.objects.get(domain="supplier", field="bank_account")
    assert {c["value"] for c in conflict.candidates} >= {IBAN_OTHER}


def test_no_column_of_any_table_holds_a_sensitive_value_in_clear(pulled):
    assert places_holding(SECRETS) == []


def test_payloads_of_a_domain_without_sensitive_fields_stay_plain_json(pulled):
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_payload->>'name' FROM masterdata_sourcelink WHERE domain = 'customer'")
        names = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT last_payload ? 'sealed' FROM masterdata_sourcelink WHERE domain = 'supplier'")
        sealed = {row[0] for row in cursor.fetchall()}

    assert names == {r["name"] for r in data.crm_customers(3)}
    assert sealed == {True}
