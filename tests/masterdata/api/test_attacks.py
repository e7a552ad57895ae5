"""The attacks of the security acceptance list, tried against the API: each is refused and nothing leaks.

Token attacks (wrong, expired, revoked, read-only writing) are in ``test_tokens``; sensitive
values without the scope in ``test_sensitive``; brute-force logins in ``services/test_audit``.
"""

from __future__ import annotations

import pytest

from masterdata.models import AuditEvent, Customer, Supplier
from tests.factories import SupplierFactory

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE masterdata_customer; --",
    "%' OR '%'='",
    "\\x27 UNION SELECT 1",
]


@pytest.fixture
def supplier_b(org):
    return SupplierFactory(code="SB-1", name="Beta Paper", owner_org=org.b, bank_account="GB29NWBK60161331926819")


@pytest.mark.parametrize("suffix", ["", "history/", "links/"])
def test_a_record_of_another_org_is_not_found_by_its_id(api_a, customers, suffix):
    response = api_a.get(f"/api/v1/customers/{customers.b.pk}/{suffix}")

    assert response.status_code == 404


def test_another_orgs_record_cannot_be_changed_revealed_or_deactivated(api_a, customers, supplier_b):
    path = f"/api/v1/customers/{customers.b.pk}/"

    answers = [
        api_a.patch(path, {"name": "Taken over"}, format="json").status_code,
        api_a.put(path, {"code": "CB-1", "name": "Taken over"}, format="json").status_code,
        api_a.post(f"{path}deactivate/").status_code,
        api_a.delete(path).status_code,
        api_a.post(f"/api/v1/suppliers/{supplier_b.pk}/reveal/").status_code,
    ]

    assert answers == [404] * 5
    customers.b.refresh_from_db()
    assert (customers.b.name, customers.b.status) == ("Beta Retail", "active")


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_in_search_filters_and_ordering_finds_nothing_extra_and_breaks_nothing(api_a, customers, text):
    answers = [
        api_a.get("/api/v1/customers/", {"search": text}),
        api_a.get("/api/v1/customers/", {"code": text}),
        api_a.get("/api/v1/customers/", {"tax_id": text}),
        api_a.get("/api/v1/suppliers/", {"bank_account": text}),
        api_a.get("/api/v1/customers/", {"ordering": text}),
    ]

    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert all(a.json()["results"] == [] for a in answers[:4])
    assert answers[4].status_code == 400  # an unknown ordering field is named, not executed
    assert Customer.objects.count() == 3


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_as_a_stored_value_is_just_text(api_a, org, text):
    response = api_a.post("/api/v1/customers/", {"code": "CA-X", "name": text, "owner_org": "A"}, format="json")

    assert response.status_code == 201
    assert Customer.objects.get(code="CA-X").name == text
    assert Customer.objects.count() == 1


def test_an_over_long_value_is_a_400_naming_the_field_not_a_500(api_a, org):
    response = api_a.post(
        "/api/v1/suppliers/",
        {"code": "SA-9", "name": "Long", "owner_org": "A", "bank_account": "9" * 5000},
        format="json",
    )

    assert response.status_code == 400
    assert "bank_account" in response.json()["errors"]
    assert not Supplier.objects.exists()


def test_an_oversized_body_is_refused_before_it_is_parsed(api_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = api_a.post(
        "/api/v1/customers/", {"code": "CA-9", "name": "x", "attributes": {"blob": "y" * 20_000}}, format="json"
    )

    assert response.status_code in (400, 413)
    assert not Customer.objects.filter(code="CA-9").exists()


def test_failed_attacks_leave_no_reveal_in_the_audit_log(api_a, supplier_b):
    api_a.post(f"/api/v1/suppliers/{supplier_b.pk}/reveal/")
    api_a.get("/api/v1/suppliers/", {"bank_account": "GB29NWBK60161331926819"})

    assert not AuditEvent.objects.filter(action="sensitive.revealed").exists()
