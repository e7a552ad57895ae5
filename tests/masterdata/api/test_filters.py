"""Filters (``code``, ``status``, ``updated_since`` and each domain's own), search, ordering and
cursor pagination of the list endpoints.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from masterdata.models import Customer, Employee, GoldenStatus
from tests.factories import CustomerFactory
from tests.masterdata.api.helpers import domain_params, make_record, url

pytestmark = pytest.mark.django_db
CUSTOMERS = "/api/v1/customers/"


def codes(client, path: str = CUSTOMERS, **params) -> list[str]:
    response = client.get(path, params)
    assert response.status_code == 200, response.json()
    return [row["code"] for row in response.json()["results"]]


@pytest.mark.parametrize("domain", domain_params())
def test_every_domain_filters_by_code_and_status(api_a, org, domain):
    make_record(domain, "KEEP", org.a)
    make_record(domain, "OLD", org.a, status=GoldenStatus.INACTIVE)

    assert codes(api_a, url(domain), code="KEEP") == ["KEEP"]
    assert codes(api_a, url(domain), status="inactive") == ["OLD"]
    assert codes(api_a, url(domain), code="KEEP", status="inactive") == []


def test_updated_since_lists_records_changed_at_or_after_the_time(api_a, customers):
    Customer.objects.filter(pk=customers.a.pk).update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert sorted(codes(api_a, updated_since=since)) == ["CA-2"]


def test_updated_since_accepts_a_naive_time_and_a_date(api_a, customers):
    assert sorted(codes(api_a, updated_since="2000-01-01T00:00:00")) == ["CA-1", "CA-2"]
    assert sorted(codes(api_a, updated_since="2000-01-01")) == ["CA-1", "CA-2"]
    assert codes(api_a, updated_since="2999-01-01T00:00:00Z") == []


def test_updated_since_takes_any_utc_offset_python_reads_and_refuses_what_cannot_be_an_instant(api_a, customers):
    # PostgreSQL stores offsets up to ±15:59 only; the filter compares in UTC (found by API fuzzing).
    assert sorted(codes(api_a, updated_since="2000-01-01T00:00:00+16:46")) == ["CA-1", "CA-2"]
    refused = api_a.get(CUSTOMERS, {"updated_since": "0001-01-01T00:00:00+01:00"})
    assert refused.status_code == 400
    assert "updated_since" in refused.json()["errors"]


def test_domain_filters_from_the_registry(api_a, org, customers):
    CustomerFactory(code="CA-DE", country="DE", credit_rating="B", owner_org=org.a)
    Employee.objects.create(code="E-1", name="Li Wei", org_unit=org.a_sales)
    Employee.objects.create(code="E-2", name="Zhang Min", org_unit=org.a)

    assert codes(api_a, country="DE") == ["CA-DE"]
    assert sorted(codes(api_a, credit_rating="A")) == ["CA-1", "CA-2"]
    assert codes(api_a, "/api/v1/employees/", org_unit="A-SALES") == ["E-1"]  # a foreign key by business key
    assert codes(api_a, "/api/v1/employees/", org_unit="NOPE") == []


def test_a_filter_cannot_reach_outside_the_scope(api_a, customers):
    assert codes(api_a, code="CB-1") == []
    assert codes(api_a, "/api/v1/org-units/", parent="GRP") == ["A"]


def test_search_looks_in_the_domains_search_fields(api_a, customers, org):
    CustomerFactory(code="CA-3", name="Gamma", email="buyer@alpha.example", owner_org=org.a)

    assert codes(api_a, search="华东") == ["CA-2"]
    assert sorted(codes(api_a, search="alpha")) == ["CA-1", "CA-3"]  # name or e-mail, any case
    assert codes(api_a, search="Beta") == []  # company B's customer stays invisible


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("code", ["A-1", "A-2", "A-3"]),
        ("-code", ["A-3", "A-2", "A-1"]),
        ("name", ["A-2", "A-3", "A-1"]),
        ("-name,code", ["A-1", "A-3", "A-2"]),
    ],
)
def test_ordering_by_the_allowed_fields(api_a, org, ordering, expected):
    for code, name in (("A-1", "Zeta"), ("A-2", "Alpha"), ("A-3", "Mu")):
        CustomerFactory(code=code, name=name, owner_org=org.a)

    assert codes(api_a, ordering=ordering) == expected


def walk(client, path: str, **params) -> list[str]:
    """Follow ``next`` links to the end; fail if a page repeats."""
    seen, page = [], client.get(path, params).json()
    while True:
        seen += [row["code"] for row in page["results"]]
        assert len(seen) == len(set(seen)), "a row came twice"
        if not page["next"]:
            return seen
        page = client.get(page["next"]).json()


def test_cursor_pages_cover_every_row_once(api_a, org):
    CustomerFactory.create_batch(7, owner_org=org.a)
    CustomerFactory.create_batch(3, owner_org=org.b)

    first = api_a.get(CUSTOMERS, {"page_size": 3}).json()
    everything = walk(api_a, CUSTOMERS, page_size=3)

    assert set(first) == {"next", "previous", "results"}  # a cursor page: no count, no offset
    assert len(everything) == 7
    assert everything == sorted(everything)


def test_cursor_pages_keep_the_ordering_and_break_ties_by_id(api_a, org):
    for n in range(9):
        CustomerFactory(code=f"T-{n}", name="Same name" if n % 2 else f"Name {n}", owner_org=org.a)

    by_name = walk(api_a, CUSTOMERS, page_size=2, ordering="-name")

    assert len(by_name) == 9
    expected = list(Customer.objects.order_by("-name", "-id").values_list("code", flat=True))
    assert by_name == expected


def test_the_previous_link_leads_back(api_a, org):
    CustomerFactory.create_batch(5, owner_org=org.a)
    first = api_a.get(CUSTOMERS, {"page_size": 2}).json()
    second = api_a.get(first["next"]).json()

    back = api_a.get(second["previous"]).json()

    assert [r["code"] for r in back["results"]] == [r["code"] for r in first["results"]]


def test_the_default_page_size_comes_from_the_settings(api_a, org, settings):
    CustomerFactory.create_batch(4, owner_org=org.a)
    settings.API_PAGE_SIZE = 3

    response = api_a.get(CUSTOMERS).json()

    assert len(response["results"]) == 3
    assert response["next"]


def test_page_size_up_to_the_maximum_is_accepted(api_a, org, settings):
    settings.API_MAX_PAGE_SIZE = 4
    CustomerFactory.create_batch(5, owner_org=org.a)

    assert len(codes(api_a, page_size=4)) == 4
    assert api_a.get(CUSTOMERS, {"page_size": 5}).status_code == 400


def test_a_page_without_filter_parameters_builds_no_filter_form(api_a, org, monkeypatch):
    """The filter backends leave such a page unchanged; django-filter would still build and validate a form."""
    import django_filters

    built = []
    original = django_filters.FilterSet.__init__
    monkeypatch.setattr(
        django_filters.FilterSet, "__init__", lambda self, *a, **kw: built.append(1) or original(self, *a, **kw)
    )
    CustomerFactory.create_batch(3, owner_org=org.a)

    first = api_a.get(CUSTOMERS, {"page_size": 2}).json()
    second = api_a.get(first["next"]).json()
    assert built == []
    assert [r["code"] for r in first["results"] + second["results"]] == sorted(
        Customer.objects.values_list("code", flat=True)
    )

    assert codes(api_a, page_size=2, status="active") and built == [1]  # a filter parameter: the form is built
