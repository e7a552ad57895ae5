"""The record page: values with provenance and locks, links, open work, merges, version diffs and reverts."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from connectors.models import SyncFailure
from masterdata.models import Conflict, Customer, SourceLink, SourceSystem
from masterdata.registry import registry
from masterdata.services import golden, merge
from tests.conftest import make_steward
from tests.factories import CustomerFactory, SupplierFactory

from .conftest import admin_url, browser, build_record, domain_params
from .test_registry_admin import form_data


@pytest.fixture
def erp(db):
    return SourceSystem.objects.create(code="erp", name="Group ERP")


@pytest.fixture
def customer(customers, erp):
    """Customer CA-1 of company A: renamed once by the ERP, linked to ERP key E-1."""
    record = customers.a
    ctx = golden.ChangeContext(source=erp, reason="nightly pull", rule="trust")
    golden.update(record, {"name": "Alpha Trading Group", "credit_rating": "AA"}, ctx)
    SourceLink.objects.create(
        source=erp,
        domain="customer",
        source_key="E-1",
        golden_id=record.pk,
        last_payload={"NAME1": "Alpha Trading Group"},
    )
    return Customer.objects.get(pk=record.pk)


def record_page(record) -> str:
    return admin_url(record, "record", record.pk)


def diff_url(record, older, newer, **extra) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"from": older, "to": newer, **extra}.items())
    return f"{admin_url(record, 'diff', record.pk)}?{query}"


def versions(record) -> list:
    return list(record.history.order_by("history_id"))


# --- the page -----------------------------------------------------------------------------------------
def test_the_page_shows_each_golden_value_with_its_source_rule_and_time(steward_a_client, customer):
    response = steward_a_client.get(record_page(customer))

    assert response.status_code == 200
    rows = {row["name"]: row for row in response.context["values"]}
    assert (rows["name"]["value"], rows["name"]["source"], rows["name"]["rule"]) == (
        "Alpha Trading Group",
        "erp",
        "trust",
    )
    assert rows["name"]["at"].isoformat() == customer.provenance["name"]["at"]
    assert rows["owner_org"]["value"] == "A"  # references by business code


def test_the_page_shows_source_links_with_their_last_payload(steward_a_client, customer):
    page = steward_a_client.get(record_page(customer)).content.decode()

    assert "E-1" in page and "Group ERP" in page
    assert "&quot;NAME1&quot;: &quot;Alpha Trading Group&quot;" in page


def test_payloads_are_withheld_from_a_steward_who_may_not_reveal_sensitive_fields(steward_a_client, erp, org):
    supplier = SupplierFactory(code="S-1", owner_org=org.a, bank_account="CN12 3456")
    SourceLink.objects.create(
        source=erp, domain="supplier", source_key="L-1", golden_id=supplier.pk, last_payload={"BANKN": "CN12 3456"}
    )

    response = steward_a_client.get(record_page(supplier))

    page = response.content.decode()
    assert "CN12 3456" not in page
    assert "withheld" in page
    assert {row["name"]: row["value"] for row in response.context["values"]}["bank_account"] == "•••"


def test_the_page_lists_open_conflicts_and_failures_of_this_record_only(steward_a_client, customer, customers, erp):
    Conflict.objects.create(domain="customer", golden_id=customer.pk, field="email", reason="equal_trust")
    Conflict.objects.create(domain="customer", golden_id=customers.a_sales.pk, field="phone", reason="equal_trust")
    pulled = SyncFailure.objects.create(
        source=erp, domain="customer", stage="validate", source_key="E-1", fingerprint="E-1", error="bad e-mail"
    )
    pushed = SyncFailure.objects.create(
        source=erp, domain="customer", stage="push", golden_id=customer.pk, fingerprint=f"push:{customer.pk}",
        direction="outbound", error="HTTP 503",
    )  # fmt: skip
    SyncFailure.objects.create(
        source=erp, domain="customer", stage="validate", source_key="E-2", fingerprint="E-2", error="other record"
    )

    response = steward_a_client.get(record_page(customer))

    assert [c["conflict"].field for c in response.context["conflicts"]] == ["email"]
    assert {f["failure"].pk for f in response.context["failures"]} == {pulled.pk, pushed.pk}


def test_a_steward_of_another_company_cannot_open_the_page_or_a_diff_by_url(steward_b_client, customer):
    rows = versions(customer)

    page = steward_b_client.get(record_page(customer))
    diff = steward_b_client.get(diff_url(customer, rows[0].history_id, rows[1].history_id))

    assert page.status_code == diff.status_code == 302
    assert "Alpha" not in steward_b_client.get(page.url).content.decode()


def test_the_change_form_links_to_the_record_page(steward_a_client, customer):
    page = steward_a_client.get(admin_url(customer, "change", customer.pk)).content.decode()

    assert f'href="{record_page(customer)}"' in page


# --- merges --------------------------------------------------------------------------------------
def test_the_survivor_lists_the_records_merged_into_it_with_their_history(superuser_client, superuser, customer, org):
    twin = CustomerFactory(code="CA-9", name="Alpha Trading (old)", owner_org=org.a)
    merge.merge(registry.get("customer"), customer, twin, {}, superuser, "duplicate")

    survivor_page = superuser_client.get(record_page(customer))
    twin_page = superuser_client.get(record_page(twin)).content.decode()

    assert [item["record"].pk for item in survivor_page.context["merged_in"]] == [twin.pk]
    assert admin_url(twin, "history", twin.pk) in survivor_page.content.decode()
    assert "was merged into" in twin_page and record_page(customer) in twin_page


# --- locks ---------------------------------------------------------------------------------------
def lock(client, record, field: str, action: str = "lock", reason: str = "agreed with finance"):
    return client.post(admin_url(record, "lock", record.pk), {"field": field, "action": action, "reason": reason})


def test_a_steward_locks_a_field_with_a_reason_kept_in_history_and_the_admin_log(steward_a_client, steward_a, customer):
    response = lock(steward_a_client, customer, "credit_rating")

    assert response.status_code == 302 and response.url == record_page(customer)
    record = Customer.objects.get(pk=customer.pk)
    assert record.locked_fields == ["credit_rating"]
    assert record.history.latest("history_id").history_change_reason == "agreed with finance"
    assert "agreed with finance" in LogEntry.objects.get(user=steward_a).get_change_message()


def test_unlocking_releases_the_field(steward_a_client, customer):
    lock(steward_a_client, customer, "credit_rating")

    lock(steward_a_client, customer, "credit_rating", action="unlock", reason="finance changed its mind")

    assert Customer.objects.get(pk=customer.pk).locked_fields == []


def test_a_lock_without_a_reason_changes_nothing(steward_a_client, customer):
    lock(steward_a_client, customer, "credit_rating", reason="  ")

    assert Customer.objects.get(pk=customer.pk).locked_fields == []


def test_a_steward_who_may_only_view_cannot_lock(stewards_group, org, customer):
    viewer = make_steward("viewer_a", org.a, stewards_group, actions=("view",))

    response = lock(browser(viewer), customer, "credit_rating")

    assert response.status_code == 403
    assert Customer.objects.get(pk=customer.pk).locked_fields == []


def test_a_steward_of_another_company_cannot_lock(steward_b_client, customer):
    lock(steward_b_client, customer, "credit_rating")

    assert Customer.objects.get(pk=customer.pk).locked_fields == []


# --- versions -----------------------------------------------------------------------------------
def test_the_diff_shows_every_field_of_two_versions_and_marks_the_changed_ones(steward_a_client, customer, org):
    golden.update(customer, {"owner_org": org.a_sales}, golden.ChangeContext(reason="moved to sales"))
    first, _, third = versions(customer)

    response = steward_a_client.get(diff_url(customer, third.history_id, first.history_id))

    rows = {row["field"]: row for row in response.context["fields"]}
    assert (rows["name"]["old"], rows["name"]["new"], rows["name"]["changed"]) == (
        "Alpha Trading",
        "Alpha Trading Group",
        True,
    )
    assert (rows["owner_org"]["old"], rows["owner_org"]["new"]) == ("A", "A-SALES")
    assert rows["country"]["changed"] is False
    assert response.context["changed_count"] == 3
    assert (response.context["older"].version, response.context["newer"].version) == (1, 3)


def test_the_diff_can_show_only_the_changed_fields(steward_a_client, customer):
    first, second = versions(customer)

    page = steward_a_client.get(diff_url(customer, first.history_id, second.history_id, changed=1)).content.decode()

    assert "credit_rating" in page and "country" not in page


def test_the_diff_hides_sensitive_values_the_steward_may_not_reveal(steward_a_client, org):
    supplier = SupplierFactory(code="S-1", owner_org=org.a, bank_account="CN12 3456")
    golden.update(supplier, {"bank_account": "CN99 0000"}, golden.ChangeContext(reason="new bank"))
    first, second = versions(supplier)

    response = steward_a_client.get(diff_url(supplier, first.history_id, second.history_id))

    row = next(r for r in response.context["fields"] if r["field"] == "bank_account")
    assert (row["old"], row["new"], row["changed"]) == ("•••", "•••", True)
    assert "CN99" not in response.content.decode()


def test_a_version_of_another_record_is_not_found(steward_a_client, customer, customers):
    other = customers.a_sales.history.get()

    response = steward_a_client.get(diff_url(customer, versions(customer)[0].history_id, other.history_id))

    assert response.status_code == 404


def test_the_page_offers_a_revert_for_every_older_version(steward_a_client, customer):
    response = steward_a_client.get(record_page(customer))

    items = response.context["versions"]
    assert [item["may_revert"] for item in items] == [False, True]
    assert items[1]["url"] == admin_url(customer, "simple_history", customer.pk, versions(customer)[0].history_id)


def test_a_revert_needs_a_reason(steward_a_client, customer):
    url = admin_url(customer, "simple_history", customer.pk, versions(customer)[0].history_id)
    data = form_data(steward_a_client.get(url)) | {"change_reason": ""}

    response = steward_a_client.post(url, data)

    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    assert Customer.objects.get(pk=customer.pk).name == "Alpha Trading Group"


def test_a_revert_restores_the_version_as_a_new_one_with_its_reason(steward_a_client, steward_a, customer):
    url = admin_url(customer, "simple_history", customer.pk, versions(customer)[0].history_id)
    data = form_data(steward_a_client.get(url)) | {"change_reason": "the ERP rename was a mistake"}

    response = steward_a_client.post(url, data)

    assert response.status_code == 302
    record = Customer.objects.get(pk=customer.pk)
    assert (record.name, record.credit_rating, record.version) == ("Alpha Trading", "A", 3)
    row = record.history.latest("history_id")
    assert (row.history_user, row.history_change_reason) == (
        steward_a,
        "Reverted to version 1: the ERP rename was a mistake",
    )


def test_a_steward_who_may_only_view_gets_no_revert(stewards_group, org, customer):
    viewer = browser(make_steward("viewer_a", org.a, stewards_group, actions=("view",)))

    response = viewer.get(record_page(customer))

    assert [item["may_revert"] for item in response.context["versions"]] == [False, False]
    assert response.context["lock_form"] is None


def test_a_merged_record_offers_no_lock(superuser_client, superuser, customer, org):
    twin = CustomerFactory(code="CA-9", owner_org=org.a)
    merge.merge(registry.get("customer"), customer, twin, {}, superuser, "duplicate")

    page = superuser_client.get(record_page(twin)).content.decode()

    assert 'id="lock_form"' not in page


@pytest.mark.parametrize("domain_name", domain_params())
def test_every_domain_has_a_record_page_and_a_diff(superuser_client, org, domain_name):
    record = build_record(registry.get(domain_name), org.a, 1)
    golden.update(record, {"name": "Renamed"}, golden.ChangeContext(reason="rename"))
    first, second = versions(record)

    page = superuser_client.get(record_page(record))
    diff = superuser_client.get(diff_url(record, first.history_id, second.history_id))

    assert page.status_code == diff.status_code == 200
    assert "Renamed" in page.content.decode()
    assert [row["field"] for row in diff.context["fields"] if row["changed"]] == ["name"]
