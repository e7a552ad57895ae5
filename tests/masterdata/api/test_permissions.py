"""Object permissions inherited from the owning org unit, as the API enforces them.

Company A's steward sees and changes the records of A and everything under A, and nothing of
company B: B's records are not found (404), not forbidden, so their existence is not revealed.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masterdata.models import Customer, OrgUnit
from masterdata.services import access
from tests.conftest import client_for, make_steward
from tests.factories import CustomerFactory, UserFactory
from tests.masterdata.api.helpers import BY_NAME, OWNED_DOMAINS, domain_params, make_record, payload, url

pytestmark = pytest.mark.django_db


# --- reading ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", "history/", "links/"])
@pytest.mark.parametrize("domain", domain_params(OWNED_DOMAINS))
def test_a_record_of_another_company_is_not_found(api_a, org, domain, suffix):
    record = make_record(domain, "REC-B", org.b)

    response = api_a.get(url(domain, record.pk, suffix))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_another_companys_record_cannot_be_changed(api_a, customers, method):
    response = getattr(api_a, method)(f"/api/v1/customers/{customers.b.pk}/", {"name": "Hijacked"}, format="json")

    assert response.status_code == 404
    customers.b.refresh_from_db()
    assert (customers.b.name, customers.b.version) == ("Beta Retail", 1)


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_another_companys_record_cannot_change_status(api_a, customers, action):
    response = api_a.post(f"/api/v1/customers/{customers.b.pk}/{action}/")

    assert response.status_code == 404


def test_each_steward_lists_only_their_companys_customers(api_a, api_b, customers):
    codes_a = {row["code"] for row in api_a.get("/api/v1/customers/").json()["results"]}
    codes_b = {row["code"] for row in api_b.get("/api/v1/customers/").json()["results"]}

    assert codes_a == {"CA-1", "CA-2"}
    assert codes_b == {"CB-1"}


def test_a_grant_on_a_department_does_not_reach_up_to_its_company(org, stewards_group, customers):
    client = client_for(make_steward("sales_steward", org.a_sales, stewards_group))

    codes = {row["code"] for row in client.get("/api/v1/customers/").json()["results"]}

    assert codes == {"CA-2"}


def test_a_grant_to_a_group_reaches_its_members(org, stewards_group, customers):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="Company B team")
    access.grant(team, "change", org.b)
    user = UserFactory(username="member")
    user.groups.add(stewards_group, team)

    codes = {row["code"] for row in client_for(user).get("/api/v1/customers/").json()["results"]}

    assert codes == {"CB-1"}


def test_the_superuser_sees_every_company(api_admin, customers):
    codes = {row["code"] for row in api_admin.get("/api/v1/customers/").json()["results"]}

    assert codes == {"CA-1", "CA-2", "CB-1"}


def test_org_units_are_listed_within_the_granted_subtree(api_a, org):
    codes = {row["code"] for row in api_a.get("/api/v1/org-units/").json()["results"]}

    assert codes == {"A", "A-SALES"}


def test_every_steward_with_the_model_permission_sees_all_materials(api_a, api_b, org):
    domain = BY_NAME["material"]
    material = make_record(domain, "M-1")

    assert api_b.get(url(domain, material.pk)).status_code == 200
    response = api_a.patch(url(domain, material.pk), {"name": "Steel coil"}, format="json")
    assert response.status_code == 200
    assert {row["code"] for row in api_b.get(url(domain)).json()["results"]} == {"M-1"}


def test_without_the_model_permission_a_domain_is_forbidden(org):
    user = UserFactory(username="no_model_perms")
    access.grant(user, "change", org.a)
    client = client_for(user)

    assert client.get("/api/v1/materials/").status_code == 403
    assert client.get("/api/v1/customers/").status_code == 403
    assert client.get("/api/v1/org-units/").status_code == 200  # the grant is the org-unit permission


# --- view but not change ----------------------------------------------------------------------
@pytest.fixture
def viewer(org, stewards_group):
    return client_for(make_steward("viewer_a", org.a, stewards_group, actions=("view",)))


def test_a_viewer_reads_but_may_not_change(viewer, customers):
    detail = f"/api/v1/customers/{customers.a.pk}/"

    assert viewer.get(detail).status_code == 200
    assert viewer.get(f"{detail}history/").status_code == 200
    for response in (
        viewer.put(detail, {"code": "CA-1", "name": "X", "owner_org": "A"}, format="json"),
        viewer.patch(detail, {"name": "X"}, format="json"),
        viewer.delete(detail),
        viewer.post(f"{detail}deactivate/"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    customers.a.refresh_from_db()
    assert customers.a.version == 1


def test_a_viewer_may_not_create_in_the_unit_they_only_view(viewer, org):
    response = viewer.post("/api/v1/customers/", payload(BY_NAME["customer"], "C-9", org.a), format="json")

    assert response.status_code == 403
    assert not Customer.objects.filter(code="C-9").exists()


# --- placing records --------------------------------------------------------------------------
@pytest.mark.parametrize("domain", domain_params(OWNED_DOMAINS))
def test_creating_a_record_in_another_company_is_refused(api_a, org, domain):
    response = api_a.post(url(domain), payload(domain, "NEW-B", org.b), format="json")

    assert response.status_code == 403
    field = "parent" if domain.org_field == "pk" else domain.org_field
    assert field in response.json()["errors"]
    assert not domain.model_class.objects.filter(code="NEW-B").exists()


@pytest.mark.parametrize("domain", domain_params(OWNED_DOMAINS))
def test_moving_a_record_into_another_company_is_refused(api_a, org, domain):
    record = make_record(domain, "REC-A", org.a_sales)
    field = "parent" if domain.org_field == "pk" else domain.org_field

    response = api_a.patch(url(domain, record.pk), {field: "B"}, format="json")

    assert response.status_code == 403
    record.refresh_from_db()
    assert record.version == 1


@pytest.mark.parametrize("domain", domain_params(OWNED_DOMAINS))
def test_a_scoped_steward_may_not_create_group_wide_records(api_a, domain):
    response = api_a.post(url(domain), payload(domain, "NO-OWNER", None), format="json")

    assert response.status_code == 403
    assert "group-wide" in response.json()["detail"]


def test_the_superuser_creates_group_wide_records(api_admin):
    response = api_admin.post("/api/v1/customers/", {"code": "C-GRP", "name": "Group customer"}, format="json")

    assert response.status_code == 201
    assert response.json()["owner_org"] is None


def test_moving_within_the_own_subtree_is_allowed(api_a, customers):
    response = api_a.patch(f"/api/v1/customers/{customers.a.pk}/", {"owner_org": "A-SALES"}, format="json")

    assert response.status_code == 200
    assert response.json()["owner_org"] == "A-SALES"


def test_a_steward_may_rename_the_company_they_were_granted(api_a, org):
    response = api_a.patch(f"/api/v1/org-units/{org.a.pk}/", {"name": "Company A Ltd."}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["parent"] == "GRP"


def test_a_steward_may_not_move_their_company_out_of_the_group(api_a, org):
    response = api_a.patch(f"/api/v1/org-units/{org.a.pk}/", {"parent": "B"}, format="json")

    assert response.status_code == 403
    org.a.refresh_from_db()
    assert org.a.parent_id == org.group.pk


def test_moving_a_department_between_own_units_updates_the_scope(api_a, api_b, org):
    hr = OrgUnit.objects.create(code="A-HR", name="HR", parent=org.a)
    CustomerFactory(code="C-HR", owner_org=hr)

    moved = api_a.patch(f"/api/v1/org-units/{hr.pk}/", {"parent": "A-SALES"}, format="json")

    assert moved.status_code == 200, moved.json()
    assert "C-HR" in {row["code"] for row in api_a.get("/api/v1/customers/").json()["results"]}
    assert "C-HR" not in {row["code"] for row in api_b.get("/api/v1/customers/").json()["results"]}


# --- the scoped list is one query -------------------------------------------------------------
def _list_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/customers/", {"page_size": 500})
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def test_the_scoped_list_costs_the_same_queries_for_n_and_3n_records(api_a, org, django_assert_num_queries):
    CustomerFactory.create_batch(5, owner_org=org.a)
    _list_queries(api_a)  # a token's first use stamps its last_used_at (then at most once a minute)
    for_n = len(_list_queries(api_a))
    CustomerFactory.create_batch(10, owner_org=org.a_sales)
    CustomerFactory.create_batch(5, owner_org=org.b)

    with django_assert_num_queries(for_n):
        response = api_a.get("/api/v1/customers/", {"page_size": 500})
    assert len(response.json()["results"]) == 15


def test_the_scope_is_a_subquery_of_the_one_list_query(api_a, org):
    CustomerFactory.create_batch(3, owner_org=org.a)

    queries = _list_queries(api_a)

    listing = [sql for sql in queries if 'FROM "masterdata_customer"' in sql]
    assert len(listing) == 1
    assert "IN (SELECT" in listing[0]
    assert "masterdata_orgunitclosure" in listing[0]
    assert '"masterdata_orgunit"."code"' in listing[0]  # owner_org's code is joined, not fetched per row
