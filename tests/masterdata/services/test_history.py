"""Reading history: the changes of each version and the state of a record at a given time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masterdata.models import Customer, Employee
from masterdata.services import golden, history

pytestmark = pytest.mark.django_db

SYSTEM = golden.ChangeContext(reason="test")


@pytest.fixture
def customer(org):
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, SYSTEM)
    golden.update(record, {"name": "Alpha Ltd", "tax_id": "91310000"}, SYSTEM)
    golden.update(record, {"owner_org": org.a_sales}, SYSTEM)
    return Customer.objects.get(pk=record.pk)


def test_versions_are_newest_first(customer):
    assert [row.version for row in history.versions(customer)] == [3, 2, 1]


def test_a_creation_lists_the_fields_that_were_set(customer):
    created = history.versions(customer).last()

    changes = {c["field"]: c for c in history.changes_between(created, None)}

    assert set(changes) == {"code", "name", "status", "owner_org"}  # empty defaults are not news
    assert changes["name"] == {"field": "name", "old": None, "new": "Alpha"}


def test_a_change_lists_only_what_changed_under_the_fields_names(customer):
    newest, middle, _ = history.versions(customer)
    middle_changes = history.changes_between(middle, history.versions(customer).last())

    assert sorted(c["field"] for c in middle_changes) == ["name", "tax_id"]  # not "tax"
    assert [c["field"] for c in history.changes_between(newest, middle)] == ["owner_org"]


def test_with_changes_names_foreign_keys_by_business_key(customer):
    rows = list(history.versions(customer))

    pairs = history.with_changes(rows)

    assert pairs[0][1] == [{"field": "owner_org", "old": "A", "new": "A-SALES"}]
    assert {"field": "owner_org", "old": None, "new": "A"} in pairs[2][1]


def test_with_changes_compares_the_last_row_of_a_page_with_the_version_before(customer):
    first_page = list(history.versions(customer)[:2])

    pairs = history.with_changes(first_page)

    assert [row.version for row, _ in pairs] == [3, 2]
    assert sorted(c["field"] for c in pairs[1][1]) == ["name", "tax_id"]


def test_with_changes_costs_one_query_plus_one_per_referenced_model(customer):
    rows = list(history.versions(customer))

    with CaptureQueriesContext(connection) as queries:
        history.with_changes(rows)

    assert len(queries) == 2  # the version before the page; the org units' codes
    assert history.with_changes([]) == []


def test_self_references_are_named_by_code_too(org):
    boss = golden.create(Employee, {"code": "E-1", "name": "Boss", "org_unit": org.a}, SYSTEM)
    worker = golden.create(Employee, {"code": "E-2", "name": "Worker", "org_unit": org.a}, SYSTEM)
    golden.update(worker, {"manager": boss}, SYSTEM)

    pairs = history.with_changes(list(history.versions(worker)))

    assert pairs[0][1] == [{"field": "manager", "old": None, "new": "E-1"}]


def test_as_of_returns_each_version_from_its_updated_at(customer):
    by_version = {row.version: row for row in history.versions(customer)}

    for version, row in by_version.items():
        state = history.as_of(customer, row.updated_at)
        assert state.version == version
        assert state.name == row.name

    just_before_v2 = by_version[2].updated_at - timedelta(microseconds=1)
    assert history.as_of(customer, just_before_v2).version == 1


def test_as_of_before_the_creation_is_none(customer):
    created = history.versions(customer).last()

    assert history.as_of(customer, created.updated_at - timedelta(seconds=1)) is None


def test_as_of_by_model_and_id(customer):
    state = history.as_of(Customer, customer.updated_at + timedelta(days=1), pk=customer.pk)

    assert (state.pk, state.version, state.owner_org_id) == (customer.pk, 3, customer.owner_org_id)


def test_as_of_after_a_deletion_is_none(customer):
    """Golden records are not deleted through the hub; a deletion from the shell still counts."""
    Customer.objects.get(pk=customer.pk).delete()
    deleted = Customer.history.filter(id=customer.pk, history_type="-").get()

    assert history.as_of(Customer, deleted.history_date, pk=customer.pk) is None
    assert history.as_of(Customer, deleted.history_date - timedelta(microseconds=1), pk=customer.pk).version == 3
