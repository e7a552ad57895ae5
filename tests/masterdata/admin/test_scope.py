"""A steward of company A sees and changes A's subtree in the admin, and nothing of company B."""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.admin.filters import ScopedOrgUnitFilter
from masterdata.models import Customer, Employee, OrgUnit, Supplier
from masterdata.services import access
from tests.conftest import make_steward
from tests.factories import EmployeeFactory, SupplierFactory, UserFactory

from .conftest import admin_url, browser


@pytest.fixture
def records(org, customers):
    """Customers (from the shared fixture), suppliers and employees of A, A-sales and B."""
    return type(
        "Records",
        (),
        {
            "customers": customers,
            "supplier_a": SupplierFactory(code="SA-1", name="Alpha Steel", owner_org=org.a),
            "supplier_a_sales": SupplierFactory(code="SA-2", name="Alpha Paper", owner_org=org.a_sales),
            "supplier_b": SupplierFactory(code="SB-1", name="Beta Tools", owner_org=org.b),
            "employee_a": EmployeeFactory(code="EA-1", name="Alice Alpha", org_unit=org.a),
            "employee_a_sales": EmployeeFactory(code="EA-2", name="Adam Sales", org_unit=org.a_sales),
            "employee_b": EmployeeFactory(code="EB-1", name="Bob Beta", org_unit=org.b),
        },
    )


def listed_codes(response) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {record.code for record in response.context["cl"].result_list}


SCOPED_LISTS = [
    pytest.param(Customer, {"CA-1", "CA-2"}, "Beta Retail", id="customers"),
    pytest.param(Supplier, {"SA-1", "SA-2"}, "Beta Tools", id="suppliers"),
    pytest.param(Employee, {"EA-1", "EA-2"}, "Bob Beta", id="employees"),
    pytest.param(OrgUnit, {"A", "A-SALES"}, "Company B", id="org-units"),
]


@pytest.mark.parametrize(("model", "expected", "b_name"), SCOPED_LISTS)
def test_steward_changelist_lists_their_company_and_its_descendants_only(
    steward_a_client, records, model, expected, b_name
):
    response = steward_a_client.get(admin_url(model, "changelist"))

    assert listed_codes(response) == expected
    assert b_name not in response.content.decode()


@pytest.mark.parametrize(("model", "expected", "b_name"), SCOPED_LISTS)
def test_steward_search_never_finds_the_other_company(
    steward_a_client, superuser_client, records, model, expected, b_name
):
    url = admin_url(model, "changelist")

    assert listed_codes(steward_a_client.get(url, {"q": b_name})) == set()
    assert len(listed_codes(superuser_client.get(url, {"q": b_name}))) == 1


def test_superuser_changelist_lists_every_company(superuser_client, records):
    assert listed_codes(superuser_client.get(admin_url(Customer, "changelist"))) == {"CA-1", "CA-2", "CB-1"}


def other_company_records(records, org):
    return [records.customers.b, records.supplier_b, records.employee_b, org.b]


def test_steward_cannot_open_the_other_companys_change_pages_by_url(steward_a_client, records, org):
    for record in other_company_records(records, org):
        response = steward_a_client.get(admin_url(record, "change", record.pk), follow=True)

        assert response.redirect_chain == [(reverse("admin:index"), 302)]
        assert str(record) not in response.content.decode()


def test_steward_cannot_change_the_other_companys_records_by_posting(steward_a_client, records):
    customer_b = records.customers.b
    steward_a_client.post(admin_url(customer_b, "change", customer_b.pk), {"code": "CB-1", "name": "Hijacked"})

    customer_b.refresh_from_db()
    assert (customer_b.name, customer_b.version) == ("Beta Retail", 1)


def test_steward_gets_no_history_of_the_other_company_by_url(steward_a_client, records, org):
    for record in other_company_records(records, org):
        version = record.history.latest("history_id")

        assert steward_a_client.get(admin_url(record, "history", record.pk)).status_code == 404
        version_url = admin_url(record, "simple_history", record.pk, version.history_id)
        assert steward_a_client.get(version_url).status_code == 404


def test_steward_sees_history_of_their_own_records(steward_a_client, records):
    customer = records.customers.a_sales

    response = steward_a_client.get(admin_url(customer, "history", customer.pk))

    assert response.status_code == 200
    assert customer.name in response.content.decode()


@pytest.mark.parametrize("model", [Customer, Supplier, Employee, OrgUnit])
def test_org_unit_filter_offers_only_the_stewards_units(steward_a_client, records, org, model):
    response = steward_a_client.get(admin_url(model, "changelist"))

    spec = next(s for s in response.context["cl"].filter_specs if isinstance(s, ScopedOrgUnitFilter))
    assert dict(spec.lookup_choices) == {str(org.a.pk): str(org.a), str(org.a_sales.pk): str(org.a_sales)}


def test_org_unit_filter_selects_a_unit_and_everything_below_it(steward_a_client, superuser_client, records, org):
    url = admin_url(Customer, "changelist")

    assert listed_codes(steward_a_client.get(url, {"org_unit": org.a.pk})) == {"CA-1", "CA-2"}
    assert listed_codes(steward_a_client.get(url, {"org_unit": org.a_sales.pk})) == {"CA-2"}
    assert listed_codes(superuser_client.get(url, {"org_unit": org.group.pk})) == {"CA-1", "CA-2", "CB-1"}


def test_org_unit_filter_with_a_typed_id_of_the_other_company_finds_nothing(steward_a_client, records, org):
    response = steward_a_client.get(admin_url(Customer, "changelist"), {"org_unit": org.b.pk})

    assert listed_codes(response) == set()


def test_add_form_offers_only_org_units_the_steward_may_change(steward_a_client, org):
    response = steward_a_client.get(admin_url(Customer, "add"))

    owner_choices = response.context["adminform"].form.fields["owner_org"].queryset
    assert set(owner_choices) == {org.a, org.a_sales}


def test_steward_cannot_create_a_record_in_the_other_company(steward_a_client, org):
    response = steward_a_client.post(
        admin_url(Customer, "add"),
        {"code": "CX-1", "name": "Sneaky", "owner_org": org.b.pk, "attributes": "{}", "locked_fields": "[]"},
    )

    assert response.status_code == 200
    assert "owner_org" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(code="CX-1").exists()


def autocomplete(client, model, field_name: str, term: str = "") -> set[str]:
    opts = model._meta
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": opts.app_label, "model_name": opts.model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200, response.content[:300]
    return {row["text"] for row in response.json()["results"]}


def test_autocomplete_of_references_offers_only_records_in_scope(steward_a_client, records, org):
    assert autocomplete(steward_a_client, Customer, "owner_org") == {str(org.a), str(org.a_sales)}
    assert autocomplete(steward_a_client, Employee, "manager") == {
        str(records.employee_a),
        str(records.employee_a_sales),
    }
    assert autocomplete(steward_a_client, Employee, "manager", "Bob") == set()


def test_steward_may_rename_their_own_company_but_not_move_it_out_of_reach(steward_a_client, org):
    url = admin_url(OrgUnit, "change", org.a.pk)
    data = {"code": "A", "name": "Company A renamed", "unit_type": "company", "parent": org.group.pk}
    data |= {"attributes": "{}", "locked_fields": "[]", "seen_version": org.a.version}

    response = steward_a_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    org.a.refresh_from_db()
    assert org.a.name == "Company A renamed"
    moved = steward_a_client.post(url, {**data, "parent": org.b.pk, "seen_version": org.a.version})
    assert moved.status_code == 200
    assert "parent" in moved.context["adminform"].form.errors


#: The steward work lists: scoped by their rows' org units, shown to every steward with some scope.
WORKLISTS = {"Conflict", "DuplicateSuspect", "MergeRecord", "QualityIssue", "QualityScore"}


def app_models(response) -> set[str]:
    """Models on the admin index, the steward work lists aside (test_conflict_inbox covers those)."""
    return {model["object_name"] for app in response.context["app_list"] for model in app["models"]} - WORKLISTS


def test_admin_index_shows_a_steward_only_the_models_they_may_act_on(steward_a_client):
    response = steward_a_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert app_models(response) == {"Customer", "Supplier", "Material", "Employee", "OrgUnit", "Plant"}


def test_admin_index_shows_a_steward_without_domain_permissions_only_org_units(org, stewards_group):
    steward = make_steward("unit_only", org.a, stewards_group)
    steward.groups.clear()

    response = browser(steward).get(reverse("admin:index"))

    assert app_models(response) == {"OrgUnit"}


def test_view_only_steward_sees_records_read_only(org, stewards_group, records):
    viewer = make_steward("viewer_a", org.a, stewards_group, actions=("view",))
    client = browser(viewer)
    customer = records.customers.a

    page = client.get(admin_url(customer, "change", customer.pk))
    refused = client.post(admin_url(customer, "change", customer.pk), {"code": "CA-1", "name": "Changed"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert refused.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Alpha Trading"


def test_a_grant_on_a_department_does_not_reach_its_parent_company(org, stewards_group, records):
    steward = make_steward("sales_only", org.a_sales, stewards_group)

    response = browser(steward).get(admin_url(Customer, "changelist"))

    assert listed_codes(response) == {"CA-2"}
    access.revoke(steward, "view", org.a_sales)
    access.revoke(steward, "change", org.a_sales)
    assert browser(steward).get(admin_url(Customer, "changelist")).status_code == 403


def test_admin_index_hides_scoped_domains_from_a_steward_without_any_grant(db, stewards_group):
    steward = UserFactory(username="ungranted", is_staff=True)
    steward.groups.add(stewards_group)

    response = browser(steward).get(reverse("admin:index"))

    assert app_models(response) == {"Material"}


def test_filter_counts_count_only_records_in_scope(steward_a_client, records, org):
    response = steward_a_client.get(admin_url(Customer, "changelist"), {"_facets": "True"})

    html = response.content.decode()
    assert f"{org.a} (2)" in html
    assert f"{org.a_sales} (1)" in html
    assert "CN (2)" in html  # the country filter counts A's customers, not B's
