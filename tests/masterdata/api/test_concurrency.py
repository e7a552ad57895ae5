"""Optimistic concurrency (ETag/If-Match → 412) and races the database settles.

The threaded tests hold a real transaction open in a second connection, so the API request
meets exactly the state a concurrent writer leaves: an uncommitted row it cannot see yet, or a
row lock it has to wait for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from masterdata.models import Customer
from masterdata.services import golden
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def detail(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/"


# --- If-Match ---------------------------------------------------------------------------------
def test_a_stale_if_match_is_refused_with_412_and_the_current_version(api_a, customers):
    api_a.patch(detail(customers.a), {"name": "First"}, format="json", HTTP_IF_MATCH='"1"')

    response = api_a.patch(detail(customers.a), {"name": "Second"}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 412
    assert response.json()["code"] == "stale_version"
    assert response.json()["current_version"] == 2
    assert response["ETag"] == '"2"'
    customers.a.refresh_from_db()
    assert (customers.a.name, customers.a.version) == ("First", 2)


def test_two_editors_of_the_same_version_one_wins(steward_a, customers):
    alice, bob = client_for(steward_a), client_for(steward_a)
    etag = alice.get(detail(customers.a))["ETag"]
    assert bob.get(detail(customers.a))["ETag"] == etag

    won = alice.put(detail(customers.a), {"code": "CA-1", "name": "Alice"}, format="json", HTTP_IF_MATCH=etag)
    lost = bob.patch(detail(customers.a), {"name": "Bob"}, format="json", HTTP_IF_MATCH=etag)

    assert won.status_code == 200
    assert lost.status_code == 412
    assert lost.json()["current_version"] == 2
    assert bob.patch(detail(customers.a), {"name": "Bob"}, format="json", HTTP_IF_MATCH=won["ETag"]).status_code == 200


@pytest.mark.parametrize(
    "send",
    [
        lambda c, path: c.delete(path, HTTP_IF_MATCH='"7"'),
        lambda c, path: c.post(path + "deactivate/", HTTP_IF_MATCH='"7"'),
        lambda c, path: c.post(path + "reactivate/", HTTP_IF_MATCH='W/"7"'),
        lambda c, path: c.put(path, {"code": "CA-1", "name": "x"}, format="json", HTTP_IF_MATCH='"7"'),
    ],
    ids=["delete", "deactivate", "reactivate", "put"],
)
def test_every_write_honours_if_match(api_a, customers, send: Callable):
    response = send(api_a, detail(customers.a))

    assert response.status_code == 412
    assert response.json()["current_version"] == 1


def test_a_stale_version_wins_over_validation_errors(api_a, customers):
    response = api_a.patch(detail(customers.a), {"credit_limit": "lots"}, format="json", HTTP_IF_MATCH='"5"')

    assert response.status_code == 412


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', "1", "*", ""])
def test_if_match_accepts_the_etag_in_its_usual_spellings(api_a, customers, header):
    response = api_a.patch(detail(customers.a), {"name": "Ok"}, format="json", HTTP_IF_MATCH=header)

    assert response.status_code == 200


# --- races with a second connection -----------------------------------------------------------
def hold_transaction(work: Callable[[], None], started: threading.Event, release: threading.Event) -> threading.Thread:
    """Run ``work`` in its own transaction on another connection and keep it open until ``release``."""

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                release.wait(10)
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(10)
    threading.Timer(0.5, release.set).start()  # commit while the API request waits on the database
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_insert_of_the_same_code_is_a_400_not_a_500(api_a, org):
    def insert() -> None:
        Customer.objects.create(code="RACE-1", name="First writer", owner_org_id=org.a.pk)

    holder = hold_transaction(insert, threading.Event(), threading.Event())
    response = api_a.post("/api/v1/customers/", {"code": "RACE-1", "name": "Second", "owner_org": "A"}, format="json")
    holder.join()

    assert response.status_code == 400, response.content
    assert "already exists" in response.json()["errors"]["code"][0]
    assert list(Customer.objects.values_list("name", flat=True)) == ["First writer"]


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_waiting_for_the_row_lock_makes_if_match_stale(api_a, customers):
    def change() -> None:
        golden.update(customers.a, {"name": "Committed first"}, golden.ChangeContext(reason="concurrent"))

    holder = hold_transaction(change, threading.Event(), threading.Event())
    response = api_a.patch(detail(customers.a), {"name": "Too late"}, format="json", HTTP_IF_MATCH='"1"')
    holder.join()

    assert response.status_code == 412, response.content
    assert response.json()["current_version"] == 2
    customers.a.refresh_from_db()
    assert customers.a.name == "Committed first"


@pytest.mark.django_db(transaction=True)
def test_without_if_match_a_waiting_change_applies_on_top(api_a, customers):
    def change() -> None:
        golden.update(customers.a, {"phone": "+86 1"}, golden.ChangeContext(reason="concurrent"))

    holder = hold_transaction(change, threading.Event(), threading.Event())
    response = api_a.patch(detail(customers.a), {"name": "Last"}, format="json")
    holder.join()

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["phone"], response.json()["name"]) == (3, "+86 1", "Last")
