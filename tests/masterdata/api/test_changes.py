"""GET /api/v1/changes/: every change once, in commit order, resumable at the position a reader kept.

These tests commit (``transaction=True``): the feed serves committed changes only.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from masterdata.models import ChangeEvent, Customer, Material
from masterdata.services import changefeed, golden

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/changes/"


def ctx() -> golden.ChangeContext:
    return golden.ChangeContext(reason="test")


def read(client, after: str | None = None, **params) -> dict:
    query = {**params, **({"after": after} if after is not None else {})}
    response = client.get(URL, query)
    assert response.status_code == 200, response.content
    return response.json()


def read_all(client, after: str | None = None, **params) -> tuple[list[dict], str]:
    """Everything after ``after``, page by page, and the position to come back with."""
    events: list[dict] = []
    while True:
        page = read(client, after, **params)
        events += page["events"]
        after = page["next"]
        if not page["has_more"]:
            return events, after


def test_a_reader_gets_each_change_once_and_resumes_exactly_where_it_stopped(api_admin, org):
    alpha = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, ctx())
    golden.create(Customer, {"code": "C-2", "name": "Beta", "owner_org": org.a}, ctx())
    golden.update(alpha, {"name": "Alpha Ltd"}, ctx())

    first = read(api_admin, limit=2)
    assert [(e["golden_id"], e["version"]) for e in first["events"]] == [(alpha.pk, 1), (alpha.pk + 1, 1)]
    assert first["has_more"] is True
    rest, position = read_all(api_admin, first["next"])
    assert [(e["golden_id"], e["version"], e["kind"]) for e in rest] == [(alpha.pk, 2, "updated")]
    assert read(api_admin, position)["events"] == []

    golden.update(alpha, {"name": "Alpha Group"}, ctx())  # a restarted reader resumes from its stored position
    assert [e["version"] for e in read(api_admin, position)["events"]] == [3]


def test_an_event_describes_the_change_and_links_the_record(api_admin, org):
    source = golden.ChangeContext(source=None, reason="test")
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, source)

    [event] = read(api_admin)["events"]

    assert event["domain"] == "customer" and event["kind"] == "created" and event["origin_source"] is None
    assert event["changed_fields"] == ["code", "name", "owner_org", "status"]
    assert event["record"].endswith(f"/api/v1/customers/{record.pk}/")


def test_a_change_committed_after_a_later_one_is_not_skipped(api_admin, org):
    """Two connections: the first takes the lower event id but commits after the second."""
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                golden.create(Customer, {"code": "C-SLOW", "name": "Slow", "owner_org": org.a}, ctx())
                inserted.set()
                release.wait(20)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
            inserted.set()
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(20)
    golden.create(Customer, {"code": "C-FAST", "name": "Fast", "owner_org": org.a}, ctx())  # commits first

    seen, position = read_all(api_admin)
    assert [e["golden_id"] for e in seen] == [Customer.objects.get(code="C-FAST").pk]

    release.set()
    writer.join(20)
    assert not errors and not writer.is_alive()
    slow = ChangeEvent.objects.get(golden_id=Customer.objects.get(code="C-SLOW").pk)
    fast = ChangeEvent.objects.get(golden_id=Customer.objects.get(code="C-FAST").pk)
    assert slow.id < fast.id  # an "id greater than the last one read" reader would never see it

    later, _ = read_all(api_admin, position)
    assert [e["id"] for e in later] == [slow.id]


def test_a_steward_sees_the_changes_of_records_in_their_scope_only(api_a, api_b, api_admin, org):
    golden.create(Customer, {"code": "CA-1", "name": "A company", "owner_org": org.a}, ctx())
    golden.create(Customer, {"code": "CA-2", "name": "A sales", "owner_org": org.a_sales}, ctx())
    golden.create(Customer, {"code": "CB-1", "name": "B company", "owner_org": org.b}, ctx())
    golden.create(Customer, {"code": "CG-1", "name": "Group-wide"}, ctx())
    golden.create(Material, {"code": "M-1", "name": "Bolt"}, ctx())

    def codes(client) -> set[str]:
        events, _ = read_all(client)
        ids = {(e["domain"], e["golden_id"]) for e in events}
        customers = {c.code for c in Customer.objects.all() if ("customer", c.pk) in ids}
        materials = {m.code for m in Material.objects.all() if ("material", m.pk) in ids}
        return customers | materials

    assert codes(api_a) == {"CA-1", "CA-2", "M-1"}
    assert codes(api_b) == {"CB-1", "M-1"}
    assert codes(api_admin) == {"CA-1", "CA-2", "CB-1", "CG-1", "M-1"}


def test_the_feed_can_be_narrowed_to_domains(api_admin, org):
    golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, ctx())
    golden.create(Material, {"code": "M-1", "name": "Bolt"}, ctx())

    events, _ = read_all(api_admin, domain="material")

    assert [e["domain"] for e in events] == ["material"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"after": "p1:garbage"}, "after"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
     ({"domain": "planet"}, "domain")],
)  # fmt: skip
def test_a_bad_parameter_is_a_400_naming_it(api_admin, params, field):
    response = api_admin.get(URL, params)
    assert response.status_code == 400
    assert field in response.content.decode()


def test_the_feed_needs_authentication(db):
    assert APIClient().get(URL).status_code in (401, 403)


def test_the_feed_is_in_the_openapi_schema(api_admin):
    schema = api_admin.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/changes/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"after", "domain", "limit"}


def test_a_position_taken_now_serves_only_later_changes(org):
    golden.create(Customer, {"code": "C-OLD", "name": "Old", "owner_org": org.a}, ctx())
    position = changefeed.start_position()
    new = golden.create(Customer, {"code": "C-NEW", "name": "New", "owner_org": org.a}, ctx())

    page = changefeed.read(position)

    assert [e.golden_id for e in page.events] == [new.pk]
