"""Sensitive fields in the API: masked without the view_sensitive scope, clear (and audited) with it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from masterdata.models import AuditAction, AuditEvent, SourceLink, Supplier
from masterdata.services import access, golden
from tests.conftest import client_for, make_steward
from tests.factories import EmployeeFactory, SourceSystemFactory, SupplierFactory

pytestmark = pytest.mark.django_db

IBAN_A = "DE89370400440532013000"
IBAN_B = "GB29NWBK60161331926819"
MASKED_A = "••••3000"


@pytest.fixture
def suppliers(org):
    return type(
        "Suppliers",
        (),
        {
            "a": SupplierFactory(code="SA-1", name="Alpha Steel", owner_org=org.a, bank_account=IBAN_A),
            "b": SupplierFactory(code="SB-1", name="Beta Paper", owner_org=org.b, bank_account=IBAN_B),
        },
    )


@pytest.fixture
def revealer_a(org, stewards_group):
    """A steward of company A who may also read its sensitive values."""
    return make_steward("revealer_a", org.a, stewards_group, actions=("view", "change", "view_sensitive"))


@pytest.fixture
def api_revealer(revealer_a):
    return client_for(revealer_a)


def reveals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED).order_by("id"))


def test_without_the_scope_list_and_detail_show_the_masked_value(api_a, suppliers):
    listing = api_a.get("/api/v1/suppliers/").json()["results"]
    detail = api_a.get(f"/api/v1/suppliers/{suppliers.a.pk}/").json()

    assert [row["bank_account"] for row in listing] == [MASKED_A]
    assert detail["bank_account"] == MASKED_A
    assert reveals() == []


def test_short_values_are_masked_whole_and_blanks_stay_blank(api_a, org):
    short = SupplierFactory(code="SA-2", name="Short", owner_org=org.a, bank_account="12345")
    blank = SupplierFactory(code="SA-3", name="Blank", owner_org=org.a, bank_account="")

    assert api_a.get(f"/api/v1/suppliers/{short.pk}/").json()["bank_account"] == "••••"
    assert api_a.get(f"/api/v1/suppliers/{blank.pk}/").json()["bank_account"] == ""


def test_with_the_scope_values_are_clear_and_the_answer_is_audited_once(api_revealer, revealer_a, suppliers, org):
    SupplierFactory(code="SA-2", name="Alpha Two", owner_org=org.a_sales, bank_account="CN6222021001012345678")

    listing = api_revealer.get("/api/v1/suppliers/").json()["results"]

    assert {row["bank_account"] for row in listing} == {IBAN_A, "CN6222021001012345678"}
    [event] = reveals()
    assert event.actor == revealer_a
    assert event.detail["via"] == "api list" and event.detail["count"] == 2
    assert event.detail["fields"] == ["bank_account"]


def test_the_scope_is_read_once_per_request_not_per_row(api_revealer, org, django_assert_max_num_queries):
    SupplierFactory.create_batch(3, owner_org=org.a, bank_account=IBAN_A)
    api_revealer.get("/api/v1/suppliers/")  # the token's first use is stamped once
    with django_assert_max_num_queries(50) as few:
        api_revealer.get("/api/v1/suppliers/")
    SupplierFactory.create_batch(12, owner_org=org.a_sales, bank_account=IBAN_A)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api_revealer.get("/api/v1/suppliers/")

    assert len(response.json()["results"]) == 15


def test_the_scope_of_company_a_reveals_nothing_of_company_b(org, stewards_group, suppliers):
    group_viewer = make_steward("group_viewer", org.group, stewards_group, actions=("view",))
    access.grant(group_viewer, "view_sensitive", org.a)

    rows = {
        row["code"]: row["bank_account"] for row in client_for(group_viewer).get("/api/v1/suppliers/").json()["results"]
    }

    assert rows == {"SA-1": IBAN_A, "SB-1": "••••6819"}


def test_history_masks_sensitive_changes_without_the_scope(api_a, api_revealer, suppliers):
    golden.update(suppliers.a, {"bank_account": "DE02120300000000202051"}, golden.ChangeContext(reason="new bank"))

    masked = api_a.get(f"/api/v1/suppliers/{suppliers.a.pk}/history/").json()["results"][0]["changes"]
    clear = api_revealer.get(f"/api/v1/suppliers/{suppliers.a.pk}/history/").json()["results"][0]["changes"]
    as_of = api_a.get(f"/api/v1/suppliers/{suppliers.a.pk}/history/", {"as_of": timezone.now().isoformat()}).json()

    assert masked == [{"field": "bank_account", "old": MASKED_A, "new": "••••2051"}]
    assert clear == [{"field": "bank_account", "old": IBAN_A, "new": "DE02120300000000202051"}]
    assert as_of["bank_account"] == "••••2051"
    assert [event.detail["via"] for event in reveals()] == ["api history"]


def test_reveal_returns_the_clear_values_and_writes_an_audit_event(api_revealer, revealer_a, suppliers, org):
    response = api_revealer.post(f"/api/v1/suppliers/{suppliers.a.pk}/reveal/", HTTP_X_REQUEST_ID="reveal-1")

    assert response.status_code == 200
    assert response.json() == {"id": suppliers.a.pk, "version": 1, "values": {"bank_account": IBAN_A}}
    [event] = reveals()
    assert (event.actor_label, event.object_type, event.object_id) == (
        "revealer_a",
        "masterdata.supplier",
        str(suppliers.a.pk),
    )
    assert (event.org_unit_id, event.correlation_id, event.ip) == (org.a.pk, "reveal-1", "127.0.0.1")
    assert event.detail["via"] == "api reveal"


def test_reveal_without_the_scope_is_refused_and_of_another_org_is_not_found(api_a, api_revealer, suppliers):
    refused = api_a.post(f"/api/v1/suppliers/{suppliers.a.pk}/reveal/")
    hidden = api_revealer.post(f"/api/v1/suppliers/{suppliers.b.pk}/reveal/")

    assert refused.status_code == 403
    assert hidden.status_code == 404
    assert reveals() == []


def test_an_employees_national_id_is_masked_and_revealed_the_same_way(org, stewards_group, api_revealer):
    employee = EmployeeFactory(code="E-1", name="Li Wei", org_unit=org.a, national_id="11010519491231002X")
    steward = make_steward("hr_a", org.a, stewards_group)

    masked = client_for(steward).get(f"/api/v1/employees/{employee.pk}/").json()["national_id"]
    revealed = api_revealer.post(f"/api/v1/employees/{employee.pk}/reveal/").json()["values"]

    assert masked == "••••002X"
    assert revealed == {"national_id": "11010519491231002X"}


def test_a_put_of_the_masked_value_keeps_the_real_one(api_a, suppliers):
    path = f"/api/v1/suppliers/{suppliers.a.pk}/"
    body = api_a.get(path).json()

    response = api_a.put(path, {**body, "name": "Alpha Steel Ltd"}, format="json")

    assert response.status_code == 200, response.json()
    stored = Supplier.objects.get(pk=suppliers.a.pk)
    assert (stored.name, stored.bank_account) == ("Alpha Steel Ltd", IBAN_A)


def test_other_masked_text_is_refused_rather_than_stored(api_revealer, suppliers):
    response = api_revealer.patch(f"/api/v1/suppliers/{suppliers.a.pk}/", {"bank_account": "••••9999"}, format="json")

    assert response.status_code == 400
    assert "bank_account" in response.json()["errors"]
    assert Supplier.objects.get(pk=suppliers.a.pk).bank_account == IBAN_A


def test_only_a_user_who_may_read_a_sensitive_value_may_change_it(api_a, api_revealer, suppliers):
    blind = api_a.patch(f"/api/v1/suppliers/{suppliers.a.pk}/", {"bank_account": "DE0000FRAUD"}, format="json")
    seeing = api_revealer.patch(f"/api/v1/suppliers/{suppliers.a.pk}/", {"bank_account": "DE02 1203"}, format="json")

    assert blind.status_code == 403
    assert seeing.status_code == 200
    assert Supplier.objects.get(pk=suppliers.a.pk).bank_account == "DE02 1203"


def test_the_filter_finds_an_exact_value_through_the_blind_index(api_revealer, suppliers):
    found = api_revealer.get("/api/v1/suppliers/", {"bank_account": "de89 3704 0044 0532 0130 00"}).json()
    missed = api_revealer.get("/api/v1/suppliers/", {"bank_account": "DE89370400440532013001"}).json()

    assert [row["code"] for row in found["results"]] == ["SA-1"]
    assert missed["results"] == []


def test_the_filter_confirms_no_guess_to_a_user_who_may_not_read_the_value(api_a, suppliers):
    response = api_a.get("/api/v1/suppliers/", {"bank_account": IBAN_A})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_an_employee_is_found_by_national_id(org, api_revealer):
    employee = EmployeeFactory(code="E-2", name="Zhang San", org_unit=org.a_sales, national_id="110105194912310021")

    response = api_revealer.get("/api/v1/employees/", {"national_id": "110105194912310021"})

    assert [row["id"] for row in response.json()["results"]] == [employee.pk]


def test_source_payloads_of_the_links_hide_sensitive_values_under_any_name(api_revealer, suppliers):
    payload = {"LIFNR": "0000300001", "NAME1": "Alpha Steel", "BANKN": IBAN_A, "bank": {"IBAN": "DE00OLD"}}
    SourceLink.objects.create(
        source=SourceSystemFactory(code="sap"),
        domain="supplier",
        source_key="0000300001",
        golden_id=suppliers.a.pk,
        last_payload=payload,
        payload_hash=SourceLink.hash_payload(payload),
    )

    [link] = api_revealer.get(f"/api/v1/suppliers/{suppliers.a.pk}/links/").json()

    assert link["last_payload"] == {"LIFNR": "0000300001", "NAME1": "Alpha Steel", "BANKN": MASKED_A,
                                    "bank": {"IBAN": "••••"}}  # fmt: skip


def test_the_openapi_schema_documents_the_reveal_endpoint(api_admin):
    schema = api_admin.get("/api/schema/?format=json").json()

    assert "post" in schema["paths"]["/api/v1/suppliers/{id}/reveal/"]
