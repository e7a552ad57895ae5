"""The change list's "every value" filters (country, credit rating, ...): read at most once a minute per user."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masterdata.admin.filters import RecentValuesFieldListFilter
from masterdata.models import Customer
from tests.factories import CustomerFactory

from .conftest import admin_url, browser

pytestmark = pytest.mark.django_db
URL = admin_url(Customer, "changelist")


def offered(client, title: str) -> tuple[list[str], list[str]]:
    """The values the sidebar filter ``title`` offers, and the SQL of the page."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == title)
    return [str(v) for v in spec.lookup_choices], [q["sql"] for q in queries]


def distinct_queries(sql: list[str]) -> list[str]:
    return [q for q in sql if "SELECT DISTINCT" in q]


def test_the_values_are_read_once_then_served_without_scanning_the_table(org, superuser):
    CustomerFactory(owner_org=org.a, country="DE")
    CustomerFactory(owner_org=org.b, country="CN")
    client = browser(superuser)

    first, first_sql = offered(client, "country")
    again, again_sql = offered(client, "country")

    assert first == again == ["CN", "DE"]
    assert len(distinct_queries(first_sql)) == 2  # country and credit rating
    assert distinct_queries(again_sql) == []


def test_a_new_value_is_offered_once_the_minute_is_over(org, superuser, monkeypatch):
    monkeypatch.setattr(RecentValuesFieldListFilter, "SECONDS", 1)
    CustomerFactory(owner_org=org.a, country="DE")
    client = browser(superuser)
    assert offered(client, "country")[0] == ["DE"]

    CustomerFactory(owner_org=org.a, country="FR")
    time.sleep(1.2)

    assert offered(client, "country")[0] == ["DE", "FR"]
    assert client.get(URL, {"country": "FR"}).context["cl"].result_count == 1  # filtering by it works at once


def test_each_user_is_offered_only_the_values_of_records_in_scope(org, superuser, steward_a, steward_b):
    CustomerFactory(owner_org=org.a, country="DE")
    CustomerFactory(owner_org=org.b, country="CN")

    assert offered(browser(steward_a), "country")[0] == ["DE"]
    assert offered(browser(steward_b), "country")[0] == ["CN"]
    assert offered(browser(superuser), "country")[0] == ["CN", "DE"]


def test_fields_with_choices_keep_djangos_filter():
    from django.contrib import admin

    from masterdata.admin.golden import _lists_every_value

    status = Customer._meta.get_field("status")
    assert not _lists_every_value(status)
    assert _lists_every_value(Customer._meta.get_field("country"))
    assert admin.site._registry[Customer].get_list_filter(None)[0] == "status"
