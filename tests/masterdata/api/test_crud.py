"""CRUD over every domain of the registry, the throwaway ``plant`` domain included.

A steward of company A works through the API exactly as a source system would: create, read,
replace, change, deactivate and reactivate. Golden records are never deleted.
"""

from __future__ import annotations

import pytest

from masterdata.models import GoldenStatus
from tests.masterdata.api.helpers import BY_NAME, DOMAINS, domain_params, make_record, payload, url

pytestmark = pytest.mark.django_db


def test_the_registry_drives_the_routes(api_a):
    response = api_a.get("/api/v1/")

    assert response.status_code == 200
    assert set(response.json()) == {d.api_path for d in DOMAINS}
    assert "plants" in response.json()  # registered by tests/sixth_domain only


@pytest.mark.parametrize("domain", domain_params())
def test_create_answers_201_with_location_etag_and_version_1(api_a, org, domain):
    response = api_a.post(url(domain), payload(domain, "NEW-1", org.a), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] == "NEW-1"
    assert body["version"] == 1
    assert body["status"] == "active"
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"http://testserver{url(domain, body['id'])}"
    assert api_a.get(response["Location"]).json()["code"] == "NEW-1"


@pytest.mark.parametrize("domain", domain_params())
def test_list_shows_the_records_of_the_stewards_subtree(api_a, org, domain):
    make_record(domain, "REC-A", org.a)
    make_record(domain, "REC-A-SALES", org.a_sales)
    make_record(domain, "REC-B", org.b)

    response = api_a.get(url(domain), {"page_size": 100})

    assert response.status_code == 200
    codes = {row["code"] for row in response.json()["results"]}
    assert {"REC-A", "REC-A-SALES"} <= codes
    if domain.org_field is None:
        assert "REC-B" in codes  # materials belong to the whole group
    else:
        assert "REC-B" not in codes


@pytest.mark.parametrize("domain", domain_params())
def test_retrieve_carries_the_version_as_etag(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)

    response = api_a.get(url(domain, record.pk))

    assert response.status_code == 200
    assert response.json()["code"] == "REC-1"
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize("domain", domain_params())
def test_if_none_match_with_the_current_version_answers_304(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)

    unchanged = api_a.get(url(domain, record.pk), HTTP_IF_NONE_MATCH='"1"')
    older = api_a.get(url(domain, record.pk), HTTP_IF_NONE_MATCH='"0"')

    assert unchanged.status_code == 304
    assert unchanged["ETag"] == '"1"'
    assert older.status_code == 200


@pytest.mark.parametrize("domain", domain_params())
def test_put_replaces_the_record_and_bumps_the_version(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)
    body = {**payload(domain, "REC-1", org.a), "name": "Renamed"}

    response = api_a.put(url(domain, record.pk), body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Renamed"
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'


@pytest.mark.parametrize("domain", domain_params())
def test_put_with_the_current_version_in_if_match_is_accepted(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)
    body = {**payload(domain, "REC-1", org.a), "name": "Renamed"}

    response = api_a.put(url(domain, record.pk), body, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'


@pytest.mark.parametrize("domain", domain_params())
def test_patch_changes_only_the_given_fields(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a, attributes={"legacy": "x"})

    response = api_a.patch(url(domain, record.pk), {"name": "Patched"}, format="json")

    assert response.status_code == 200, response.json()
    record.refresh_from_db()
    assert record.name == "Patched"
    assert record.code == "REC-1"
    assert record.attributes == {"legacy": "x"}
    assert record.version == 2
    assert response["ETag"] == '"2"'


@pytest.mark.parametrize("domain", domain_params())
def test_delete_deactivates_and_never_deletes(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)

    response = api_a.delete(url(domain, record.pk))

    assert response.status_code == 200
    assert response.json()["status"] == "inactive"
    assert response["ETag"] == '"2"'
    record.refresh_from_db()  # still there
    assert record.status == GoldenStatus.INACTIVE
    assert api_a.get(url(domain, record.pk)).json()["status"] == "inactive"


@pytest.mark.parametrize("domain", domain_params())
def test_deactivate_and_reactivate_actions(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)

    deactivated = api_a.post(url(domain, record.pk, "deactivate/"))
    reactivated = api_a.post(url(domain, record.pk, "reactivate/"), HTTP_IF_MATCH='"2"')

    assert deactivated.status_code == 200
    assert deactivated.json()["status"] == "inactive"
    assert reactivated.status_code == 200
    assert reactivated.json()["status"] == "active"
    assert reactivated["ETag"] == '"3"'


@pytest.mark.parametrize("domain", domain_params())
def test_deactivating_an_inactive_record_writes_no_new_version(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a, status=GoldenStatus.INACTIVE)

    response = api_a.post(url(domain, record.pk, "deactivate/"))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert record.history.count() == 1


def test_create_stores_foreign_keys_by_business_key(api_a, org):
    manager = make_record(BY_NAME["employee"], "E-MGR", org.a)
    body = {**payload(BY_NAME["employee"], "E-1", org.a_sales), "manager": "E-MGR", "hire_date": "2024-03-01"}

    response = api_a.post("/api/v1/employees/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["org_unit"] == "A-SALES"
    assert response.json()["manager"] == "E-MGR"
    assert manager.reports.get().code == "E-1"


def test_create_of_an_org_unit_places_it_in_the_tree(api_a, org):
    response = api_a.post("/api/v1/org-units/", payload(BY_NAME["org_unit"], "A-HR", org.a), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["parent"] == "A"
    listed = {row["code"] for row in api_a.get("/api/v1/org-units/").json()["results"]}
    assert listed == {"A", "A-SALES", "A-HR"}


def test_decimal_and_json_fields_round_trip(api_a, org):
    body = {
        **payload(BY_NAME["customer"], "C-1", org.a),
        "credit_limit": "1250000.50",
        "currency": "CNY",
        "attributes": {"sap": {"kunnr": "0000100001", "tags": ["vip", 1, None]}},
        "name": "上海华东贸易有限公司",
    }

    created = api_a.post("/api/v1/customers/", body, format="json").json()
    read = api_a.get(f"/api/v1/customers/{created['id']}/").json()

    assert read["credit_limit"] == "1250000.50"
    assert read["attributes"] == body["attributes"]
    assert read["name"] == "上海华东贸易有限公司"


def test_bookkeeping_fields_in_a_body_are_ignored(api_a, customers):
    response = api_a.patch(
        f"/api/v1/customers/{customers.a.pk}/",
        {"name": "New", "version": 99, "provenance": {"name": "forged"}, "id": 12345},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["version"]) == (customers.a.pk, 2)
    assert body["provenance"]["name"]["rule"] == "api"
    assert body["provenance"]["name"]["user"] == "steward_a"


def test_options_describes_the_endpoint_without_listing_related_records(
    api_a, customers, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = api_a.options("/api/v1/customers/")

    assert response.status_code == 200
    fields = response.json()["actions"]["POST"]
    assert fields["code"]["required"] is True
    assert "choices" not in fields["owner_org"]
