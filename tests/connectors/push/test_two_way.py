"""Two-way sync with a system the hub both pulls from and pushes to: echoes and collisions.

The CRM's own answer to a push must not come back as a change of the CRM's; a field both sides
changed since the last push is a conflict for a steward, held back from the CRM meanwhile.
"""

from __future__ import annotations

import pytest

from connectors.models import DeliveryTrigger
from connectors.services import dispatch, pipeline
from masterdata.models import ChangeEvent, Conflict, ConflictReason, Customer
from masterdata.services import conflicts
from tests.connectors.fakes import CrmFake
from tests.connectors.pipeline.conftest import map_source
from tests.connectors.push.conftest import change, crm_target, new_customer, run_until_settled

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
    run = pipeline.pull(target.source, "customer").run
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
