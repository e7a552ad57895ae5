"""/api/v1/<domain>/<id>/history/: every version with its changed fields, and ``?as_of=``.

A change that changes nothing is no version; each version names who made it, why and from
which source system.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from masterdata.services import golden
from tests.factories import SourceSystemFactory
from tests.masterdata.api.helpers import domain_params, make_record, url

pytestmark = pytest.mark.django_db


def detail(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/"


def versions(client, customer, **params) -> list[dict]:
    response = client.get(detail(customer) + "history/", params)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


# --- no empty versions ------------------------------------------------------------------------
def test_a_patch_with_identical_values_writes_no_version(api_a, customers):
    response = api_a.patch(
        detail(customers.a), {"name": "Alpha Trading", "country": "CN", "owner_org": "A"}, format="json"
    )

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert customers.a.history.count() == 1
    assert len(versions(api_a, customers.a)) == 1


def test_a_put_of_the_record_as_read_writes_no_version(api_a, customers):
    as_read = api_a.get(detail(customers.a)).json()

    response = api_a.put(detail(customers.a), as_read, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 1
    assert customers.a.history.count() == 1


def test_an_equal_decimal_in_another_spelling_is_no_change(api_a, customers):
    api_a.patch(detail(customers.a), {"credit_limit": "1500.50"}, format="json")

    response = api_a.patch(detail(customers.a), {"credit_limit": "1500.5"}, format="json")

    assert response.json()["version"] == 2
    assert customers.a.history.count() == 2


@pytest.mark.parametrize("domain", domain_params())
def test_every_domain_keeps_history_without_empty_versions(api_a, org, domain):
    record = make_record(domain, "REC-1", org.a)

    api_a.patch(url(domain, record.pk), {"name": "Once"}, format="json")
    api_a.patch(url(domain, record.pk), {"name": "Once"}, format="json")
    response = api_a.get(url(domain, record.pk, "history/"))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["version"] for row in rows] == [2, 1]
    assert rows[0]["changes"] == [{"field": "name", "old": f"{domain.name} REC-1", "new": "Once"}]


# --- what a version says ----------------------------------------------------------------------
def test_each_version_lists_the_fields_it_changed(api_a, customers):
    api_a.patch(detail(customers.a), {"name": "Alpha Trading Ltd.", "tax_id": "91310000X"}, format="json")
    api_a.patch(detail(customers.a), {"owner_org": "A-SALES"}, format="json")

    newest, middle, created = versions(api_a, customers.a)

    assert newest["changes"] == [{"field": "owner_org", "old": "A", "new": "A-SALES"}]
    assert sorted(middle["changes"], key=lambda c: c["field"]) == [
        {"field": "name", "old": "Alpha Trading", "new": "Alpha Trading Ltd."},
        {"field": "tax_id", "old": "", "new": "91310000X"},
    ]
    assert created["history_type"] == "created"
    assert {c["field"] for c in created["changes"]} >= {"code", "name", "owner_org", "status"}
    assert {c["old"] for c in created["changes"]} == {None}


def test_values_are_json_friendly(api_a, customers):
    api_a.patch(detail(customers.a), {"credit_limit": "99.90", "last_transaction_date": "2025-01-31"}, format="json")

    changes = {c["field"]: c for c in versions(api_a, customers.a)[0]["changes"]}

    assert changes["credit_limit"]["new"] == "99.90"
    assert changes["last_transaction_date"]["new"] == "2025-01-31"


def test_a_version_carries_user_reason_and_version_number(api_a, customers):
    reason = "Tax id checked with the authority · 税号已核实"
    wsgi_header = reason.encode("utf-8").decode("latin-1")  # how a WSGI server hands it over

    api_a.patch(detail(customers.a), {"tax_id": "T-1"}, format="json", HTTP_X_CHANGE_REASON=wsgi_header)
    api_a.post(detail(customers.a) + "deactivate/")

    deactivated, changed, _ = versions(api_a, customers.a)
    assert (changed["version"], changed["user"], changed["change_reason"]) == (2, "steward_a", reason)
    assert (deactivated["version"], deactivated["change_reason"]) == (3, "API POST")
    assert deactivated["changes"] == [{"field": "status", "old": "active", "new": "inactive"}]
    assert changed["source"] is None


def test_a_version_names_the_source_system_that_caused_it(api_a, customers):
    crm = SourceSystemFactory(code="crm")
    golden.update(customers.a, {"phone": "+86 21 5555"}, golden.ChangeContext(source=crm, reason="CRM sync"))

    newest = versions(api_a, customers.a)[0]

    assert (newest["source"], newest["user"], newest["change_reason"]) == ("crm", None, "CRM sync")


def test_history_is_paginated_newest_first_with_changes_across_pages(api_a, customers):
    for n in range(2, 7):
        api_a.patch(detail(customers.a), {"name": f"Name {n}"}, format="json")

    seen, page = [], api_a.get(detail(customers.a) + "history/", {"page_size": 2}).json()
    while True:
        seen += page["results"]
        if not page["next"]:
            break
        page = api_a.get(page["next"]).json()

    assert [row["version"] for row in seen] == [6, 5, 4, 3, 2, 1]
    assert seen[2]["changes"] == [{"field": "name", "old": "Name 3", "new": "Name 4"}]  # first of page 2
    assert seen[1]["changes"] == [{"field": "name", "old": "Name 4", "new": "Name 5"}]  # last of page 1


# --- as of a time -----------------------------------------------------------------------------
def test_as_of_returns_the_record_as_it_stood_then(api_a, customers):
    first = api_a.get(detail(customers.a)).json()
    second = api_a.patch(detail(customers.a), {"name": "Renamed", "owner_org": "A-SALES"}, format="json").json()

    at_first = api_a.get(detail(customers.a) + "history/", {"as_of": first["updated_at"]})
    at_second = api_a.get(detail(customers.a) + "history/", {"as_of": second["updated_at"]})

    assert at_first.status_code == 200
    assert (at_first.json()["name"], at_first.json()["owner_org"], at_first.json()["version"]) == (
        "Alpha Trading",
        "A",
        1,
    )
    assert at_first["ETag"] == '"1"'
    assert (at_second.json()["name"], at_second.json()["version"]) == ("Renamed", 2)


def test_as_of_between_two_versions_is_the_older(api_a, customers):
    first = datetime.fromisoformat(api_a.get(detail(customers.a)).json()["updated_at"])
    api_a.patch(detail(customers.a), {"name": "Renamed"}, format="json")

    between = (first + timedelta(microseconds=1)).isoformat()
    response = api_a.get(detail(customers.a) + "history/", {"as_of": between})

    assert response.json()["name"] == "Alpha Trading"


def test_as_of_accepts_naive_times_as_utc_and_a_plus_decoded_as_space(api_a, customers):
    later = "2999-01-01T00:00:00"

    naive = api_a.get(detail(customers.a) + "history/", {"as_of": later})
    spaced = api_a.get(f"{detail(customers.a)}history/?as_of={later}+00:00")  # '+' arrives as a space

    assert naive.status_code == spaced.status_code == 200
    assert naive.json()["code"] == spaced.json()["code"] == "CA-1"
