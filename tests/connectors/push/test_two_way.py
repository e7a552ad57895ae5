"""Two-way sync with a system the hub both pulls from and pushes to: echoes and collisions.

The CRM's own answer to a push must not come back as a change of the CRM's; a field both sides
changed since the last push is a conflict for a steward, held back from the CRM meanwhile.
"""

from __future__ import annotations

import pytest

from connectors.models import DeliveryTrigger
from connectors.services import dispatch, pipeline
from masterdata.models import ChangeEvent, Conflict, ConflictReason, Customer, Employee, OrgUnit
from masterdata.services import conflicts, golden
from tests.connectors.fakes import CrmFake
from tests.connectors.pipeline.conftest import connect, make_source, map_source
from tests.connectors.push.conftest import (
    CRM_PUSH_MAP,
    change,
    crm_target,
    new_customer,
    push_target,
    run_until_settled,
)

pytestmark = pytest.mark.django_db(transaction=True)

CRM_PULL = {"resource": "/api/customers", "record_path": "data", "key_field": "id", "pagination": "page",
            "options": {"total_path": "total"}}  # fmt: skip
CRM_FIELDS = [{"source": "code", "target": "code"}, {"source": "name", "target": "name"},
              {"source": "email", "target": "email"}]  # fmt: skip


@pytest.fixture
def two_way():
    """A CRM the hub pushes customers to and pulls them back from."""
    with CrmFake([]) as fake:
        target = crm_target(fake)
        map_source(target.source, "customer", CRM_PULL, CRM_FIELDS)
        yield fake, target


def pull(target):
    run = pipeline.pull(target.source, target.domain).run
    assert run.status == "succeeded", run.error
    return run


def test_what_the_crm_reports_back_after_a_push_is_our_own_echo_not_a_change(two_way, clock):
    crm, target = two_way
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(target, clock)
    customer = change(customer, name="Alpha Ltd")  # not pushed yet: the CRM still says "Alpha"

    run = pull(target)

    customer.refresh_from_db()
    assert (customer.name, customer.version) == ("Alpha Ltd", 2)  # the stale "Alpha" did not win
    assert (run.updated, run.conflicts) == (0, 0)
    run_until_settled(target, clock)
    assert crm.records[0]["name"] == "Alpha Ltd"

    pull(target)  # now it reports our push back

    customer.refresh_from_db()
    assert customer.version == 2
    assert not ChangeEvent.objects.filter(golden_id=customer.pk, origin_source=target.source).exists()
    assert not Conflict.objects.exists()


def test_a_change_made_only_in_the_crm_is_taken_and_not_pushed_back(two_way, clock):
    crm, target = two_way
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(target, clock)
    crm.change_remotely(crm.records[0]["id"], email="new@example.com")
    writes_before = len(crm.writes)

    pull(target)
    run_until_settled(target, clock)

    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    assert len(crm.writes) == writes_before


def test_a_field_changed_on_both_sides_is_a_two_way_collision_held_back_from_the_crm(two_way, clock):
    crm, target = two_way
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(target, clock)
    dispatch.pause(target)
    customer = change(customer, name="Alpha (hub)", email="hub@example.com")
    crm.change_remotely(crm.records[0]["id"], name="Alpha (crm)")

    run = pull(target)

    conflict = Conflict.objects.get()
    assert (run.conflicts, conflict.reason, conflict.field) == (1, ConflictReason.TWO_WAY_COLLISION, "name")
    assert {c["source"]: c["value"] for c in conflict.candidates} == {None: "Alpha (hub)", "crm": "Alpha (crm)"}
    customer.refresh_from_db()
    assert customer.name == "Alpha (hub)"  # neither side won silently

    dispatch.resume(target)
    run_until_settled(target, clock)
    assert crm.writes[-1][2] == {"email": "hub@example.com"}  # the held name waits for the steward
    assert crm.records[0]["name"] == "Alpha (crm)"


def test_deciding_a_collision_for_the_hub_value_pushes_it_to_the_crm(two_way, clock, superuser):
    crm, target = two_way
    customer = new_customer("C-1", "Alpha")
    run_until_settled(target, clock)
    change(customer, name="Alpha (hub)")
    crm.change_remotely(crm.records[0]["id"], name="Alpha (crm)")
    pull(target)
    run_until_settled(target, clock)
    assert crm.records[0]["name"] == "Alpha (crm)"

    conflicts.resolve(Conflict.objects.get(), "Alpha (hub)", superuser, "the hub is right")
    run_until_settled(target, clock)

    assert crm.records[0]["name"] == "Alpha (hub)"
    assert target.deliveries.filter(trigger=DeliveryTrigger.RESYNC, status="delivered").exists()


def test_a_collision_found_by_a_stale_etag_is_raised_at_push_time(two_way, clock):
    crm, target = two_way
    customer = new_customer("C-1", "Alpha", email="a@example.com")
    run_until_settled(target, clock)
    crm.change_remotely(crm.records[0]["id"], name="Alpha (crm)")  # not pulled yet
    change(customer, name="Alpha (hub)", email="hub@example.com")

    run_until_settled(target, clock)

    conflict = Conflict.objects.get()
    assert (conflict.reason, conflict.field) == (ConflictReason.TWO_WAY_COLLISION, "name")
    assert crm.records[0]["name"] == "Alpha (crm)" and crm.records[0]["email"] == "hub@example.com"
    assert Customer.objects.get().name == "Alpha (hub)"


# --- foreign keys take part like plain fields, compared by the related record's code ----------------
CRM_PUSH_WITH_ORG = [*CRM_PUSH_MAP, {"golden": "owner_org", "target": "org"}]
CRM_FIELDS_WITH_ORG = [*CRM_FIELDS, {"source": "org", "target": "owner_org"}]


@pytest.fixture
def two_way_org():
    """The CRM also keeps each customer's owning company, by its code (``org``), both ways."""
    with CrmFake([]) as fake:
        source = make_source("crm", kind="crm")
        connect(source, "rest", fake.base_url, auth_type="bearer", secret=CrmFake.token)
        target = push_target(source, resource="/api/customers", key_field="id", lookup_field="code",
                             field_map=CRM_PUSH_WITH_ORG)  # fmt: skip
        map_source(source, "customer", CRM_PULL, CRM_FIELDS_WITH_ORG)
        yield fake, target


@pytest.fixture
def companies():
    ctx = golden.ChangeContext(reason="test")
    return {code: golden.create(OrgUnit, {"code": code, "name": code, "unit_type": "company"}, ctx)
            for code in ("DE", "CN", "US")}  # fmt: skip


def test_an_org_unit_changed_on_both_sides_is_a_two_way_collision_held_back_from_the_crm(two_way_org, companies, clock):
    crm, target = two_way_org
    customer = new_customer("C-1", "Alpha", email="a@example.com", owner_org=companies["DE"])
    run_until_settled(target, clock)
    assert crm.records[0]["org"] == "DE"
    dispatch.pause(target)
    customer = change(customer, owner_org=companies["CN"], email="hub@example.com")
    crm.change_remotely(crm.records[0]["id"], org="US")

    run = pull(target)

    conflict = Conflict.objects.get()
    assert (run.conflicts, conflict.reason, conflict.field) == (1, ConflictReason.TWO_WAY_COLLISION, "owner_org")
    assert {c["source"]: c["value"] for c in conflict.candidates} == {None: "CN", "crm": "US"}
    assert conflict.golden_value == "CN"
    customer.refresh_from_db()
    assert customer.owner_org == companies["CN"]  # neither side won silently

    dispatch.resume(target)
    run_until_settled(target, clock)
    assert crm.writes[-1][2] == {"email": "hub@example.com"}  # the held org waits for the steward
    assert crm.records[0]["org"] == "US"


def test_deciding_an_org_unit_collision_for_the_hub_pushes_it_to_the_crm(two_way_org, companies, clock, superuser):
    crm, target = two_way_org
    customer = new_customer("C-1", "Alpha", owner_org=companies["DE"])
    run_until_settled(target, clock)
    change(customer, owner_org=companies["CN"])
    crm.change_remotely(crm.records[0]["id"], org="US")
    pull(target)
    run_until_settled(target, clock)
    assert crm.records[0]["org"] == "US"

    conflicts.resolve(Conflict.objects.get(field="owner_org"), "CN", superuser, "the hub is right")
    run_until_settled(target, clock)

    assert crm.records[0]["org"] == "CN"


def test_an_org_unit_changed_only_in_the_crm_is_taken_and_our_own_echo_is_ignored(two_way_org, companies, clock):
    crm, target = two_way_org
    customer = new_customer("C-1", "Alpha", owner_org=companies["DE"])
    run_until_settled(target, clock)
    change(customer, owner_org=companies["CN"])  # not pushed yet: the CRM still says DE

    pull(target)

    customer.refresh_from_db()
    assert customer.owner_org == companies["CN"] and not Conflict.objects.exists()  # the stale DE is no change
    run_until_settled(target, clock)
    assert crm.records[0]["org"] == "CN"
    crm.change_remotely(crm.records[0]["id"], org="US")

    pull(target)

    customer.refresh_from_db()
    assert customer.owner_org == companies["US"] and not Conflict.objects.exists()


def test_an_org_unit_collision_found_by_a_stale_etag_is_raised_at_push_time(two_way_org, companies, clock):
    crm, target = two_way_org
    customer = new_customer("C-1", "Alpha", email="a@example.com", owner_org=companies["DE"])
    run_until_settled(target, clock)
    crm.change_remotely(crm.records[0]["id"], org="US")  # not pulled yet
    change(customer, owner_org=companies["CN"], email="hub@example.com")

    run_until_settled(target, clock)

    conflict = Conflict.objects.get()
    assert (conflict.reason, conflict.field) == (ConflictReason.TWO_WAY_COLLISION, "owner_org")
    assert {c["source"]: c["value"] for c in conflict.candidates} == {None: "CN", "crm": "US"}
    assert crm.records[0]["org"] == "US" and crm.records[0]["email"] == "hub@example.com"


def test_a_manager_changed_on_both_sides_is_a_two_way_collision_on_the_employee(clock):
    """A reference to the domain's own records (an employee's manager) collides like any field."""
    with CrmFake([]) as hr:
        source = make_source("hr", kind="hr", domain="employee")
        connect(source, "rest", hr.base_url, auth_type="bearer", secret=CrmFake.token)
        push_map = [{"golden": "code", "target": "code"}, {"golden": "name", "target": "name"},
                    {"golden": "manager", "target": "manager"}]  # fmt: skip
        target = push_target(source, domain="employee", resource="/api/customers", key_field="id",
                             lookup_field="code", field_map=push_map)  # fmt: skip
        map_source(source, "employee", CRM_PULL, [{"source": "code", "target": "code"},
                   {"source": "name", "target": "name"}, {"source": "manager", "target": "manager"}])  # fmt: skip
        ctx = golden.ChangeContext(reason="test")
        boss, deputy, other = (
            golden.create(Employee, {"code": code, "name": code}, ctx) for code in ("E-1", "E-2", "E-3")
        )
        worker = golden.create(Employee, {"code": "E-9", "name": "Worker", "manager": boss}, ctx)
        run_until_settled(target, clock)
        held = {r["code"]: r for r in hr.records}
        assert held["E-9"]["manager"] == "E-1"
        dispatch.pause(target)
        change(worker, manager=deputy)
        hr.change_remotely(held["E-9"]["id"], manager="E-3")

        pull(target)

        conflict = Conflict.objects.get()
        assert (conflict.reason, conflict.domain, conflict.field) == (ConflictReason.TWO_WAY_COLLISION, "employee",
                                                                      "manager")  # fmt: skip
        assert {c["source"]: c["value"] for c in conflict.candidates} == {None: "E-2", "hr": "E-3"}
        worker.refresh_from_db()
        assert worker.manager == deputy and other.pk
        dispatch.resume(target)
        run_until_settled(target, clock)
        assert held["E-9"]["manager"] == "E-3"  # held back from the HR system until a steward decides
