"""Merging duplicates moves everything to the survivor in one transaction; unmerging restores the state before."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from masterdata.models import (
    ChangeEvent,
    Conflict,
    ConflictStatus,
    Customer,
    DuplicateSuspect,
    Employee,
    GoldenStatus,
    MergeRecord,
    MergeStatus,
    OrgUnit,
    SourceLink,
    SuspectStatus,
)
from masterdata.registry import registry
from masterdata.services import access, golden, merge
from masterdata.services.ingest import ingest_batch
from tests.factories import CustomerFactory, EmployeeFactory, OrgUnitFactory

from .conftest import incoming

pytestmark = pytest.mark.django_db
CUSTOMER = registry.get("customer")


@pytest.fixture
def merger_a(steward_a, org):
    """Steward of company A who may also decide on conflicts and duplicates."""
    access.grant(steward_a, "resolve", org.a)
    return steward_a


@pytest.fixture
def pair(erp, crm, org):
    """The same company came in twice: from the ERP (C-1) and from the CRM (C-2), both owned by company A."""
    ingest_batch(erp, CUSTOMER, [incoming("E1", code="C-1", name="Alpha Trading", owner_org="A", credit_rating="A")])
    ingest_batch(
        crm, CUSTOMER, [incoming("K1", code="C-2", name="AT Group Shanghai", owner_org="A", phone="+86 21 5555")]
    )
    survivor, loser = Customer.objects.get(code="C-1"), Customer.objects.get(code="C-2")
    suspect = DuplicateSuspect.objects.create(
        domain="customer",
        golden_id_a=min(survivor.pk, loser.pk),
        golden_id_b=max(survivor.pk, loser.pk),
        score=93.0,
        reasons={"fuzzy": {"name": 93.0}},
        owner_org=org.a,
    )
    return type("Pair", (), {"survivor": survivor, "loser": loser, "suspect": suspect})


def do_merge(pair, user, choices=None, reason="same company, two systems"):
    return merge.merge(CUSTOMER, pair.survivor, pair.loser, choices or {}, user, reason)


def test_the_survivor_takes_the_chosen_values_with_a_history_row_and_an_event(pair, merger_a):
    do_merge(pair, merger_a, {"phone": "loser", "name": "survivor"})

    survivor = Customer.objects.get(pk=pair.survivor.pk)
    assert (survivor.name, survivor.phone, survivor.version) == ("Alpha Trading", "+86 21 5555", 2)
    row = survivor.history.latest("history_id")
    assert row.history_user == merger_a
    assert row.history_change_reason == "Merged C-2 into C-1: same company, two systems"
    assert survivor.provenance["phone"]["rule"] == "merge"
    event = ChangeEvent.objects.filter(domain="customer", golden_id=survivor.pk).latest("id")
    assert (event.kind, event.changed_fields, event.version) == ("updated", ["phone"], 2)


def test_the_loser_becomes_merged_into_the_survivor_and_announces_it(pair, merger_a):
    do_merge(pair, merger_a)

    loser = Customer.objects.get(pk=pair.loser.pk)
    assert (loser.status, loser.merged_into_id, loser.version) == (GoldenStatus.MERGED, pair.survivor.pk, 2)
    assert loser.history.latest("history_id").history_user == merger_a
    event = ChangeEvent.objects.filter(domain="customer", golden_id=loser.pk).latest("id")
    assert event.kind == "merged"


def test_source_links_of_the_loser_point_at_the_survivor(pair, merger_a, crm):
    do_merge(pair, merger_a)

    link = SourceLink.objects.get(source=crm, source_key="K1")
    assert link.golden_id == pair.survivor.pk
    assert SourceLink.objects.filter(domain="customer", golden_id=pair.loser.pk).count() == 0


def test_a_later_pull_of_the_loser_source_updates_the_survivor(pair, merger_a, crm):
    do_merge(pair, merger_a)

    ingest_batch(crm, CUSTOMER, [incoming("K1", code="C-2", name="AT Group Shanghai", phone="+86 21 6666")])

    assert Customer.objects.get(pk=pair.survivor.pk).phone == "+86 21 6666"
    assert Customer.objects.get(pk=pair.loser.pk).status == GoldenStatus.MERGED


def test_the_suspect_pair_is_marked_merged_and_the_merge_snapshot_is_kept(pair, merger_a, crm):
    record = do_merge(pair, merger_a, {"phone": "loser"})

    pair.suspect.refresh_from_db()
    assert (pair.suspect.status, pair.suspect.decided_by) == (SuspectStatus.MERGED, merger_a)
    assert record.suspect == pair.suspect
    assert (record.survivor_id, record.loser_id, record.owner_org_id) == (
        pair.survivor.pk,
        pair.loser.pk,
        pair.survivor.owner_org_id,
    )
    assert record.survivor_before["phone"] == ""
    assert record.survivor_after == {"phone": "+86 21 5555"}
    assert record.loser_before["status"] == "active"
    assert [m["id"] for m in record.moved_links] == [SourceLink.objects.get(source=crm).pk]
    assert (record.merged_by, record.status, record.reason) == (
        merger_a,
        MergeStatus.MERGED,
        "same company, two systems",
    )


def test_open_conflicts_of_the_loser_move_to_the_survivor_or_close_when_it_has_its_own(pair, merger_a, org):
    loser, survivor = pair.loser, pair.survivor
    moved = Conflict.objects.create(
        domain="customer", golden_id=loser.pk, field="email", reason="equal_trust", owner_org=org.a, candidates=[]
    )
    Conflict.objects.create(
        domain="customer", golden_id=survivor.pk, field="phone", reason="equal_trust", owner_org=org.a, candidates=[]
    )
    closed = Conflict.objects.create(
        domain="customer", golden_id=loser.pk, field="phone", reason="equal_trust", owner_org=org.a, candidates=[]
    )

    do_merge(pair, merger_a)

    moved.refresh_from_db()
    closed.refresh_from_db()
    assert (moved.golden_id, moved.status) == (survivor.pk, ConflictStatus.OPEN)
    assert (closed.golden_id, closed.status) == (loser.pk, ConflictStatus.DISMISSED)
    assert "merged into C-1" in closed.resolution_note


def test_employees_managed_by_the_loser_are_managed_by_the_survivor_with_history(org, merger_a, stewards_group):
    survivor = EmployeeFactory(code="E-1", name="Wang Wei", org_unit=org.a)
    loser = EmployeeFactory(code="E-9", name="Wei Wang", org_unit=org.a)
    report = EmployeeFactory(code="E-2", name="Li Na", org_unit=org.b, manager=loser)
    unit = OrgUnitFactory(code="A-IT", parent=org.a, manager=loser)

    record = merge.merge(registry.get("employee"), survivor, loser, {}, merger_a, "one person, two numbers")

    report.refresh_from_db()
    unit.refresh_from_db()
    assert (report.manager_id, report.version) == (survivor.pk, 2)
    assert report.history.latest("history_id").history_change_reason.startswith("Merged E-9 into E-1")
    assert unit.manager_id == survivor.pk
    moved = {(m["model"], m["field"]): m["ids"] for m in record.moved_children}
    assert moved == {("masterdata.Employee", "manager"): [report.pk], ("masterdata.OrgUnit", "manager"): [unit.pk]}


def test_a_survivor_managed_by_its_own_duplicate_is_left_without_a_manager(org, merger_a):
    loser = EmployeeFactory(code="E-9", name="Wei Wang", org_unit=org.a)
    survivor = EmployeeFactory(code="E-1", name="Wang Wei", org_unit=org.a, manager=loser)

    merge.merge(registry.get("employee"), survivor, loser, {}, merger_a, "one person")

    assert Employee.objects.get(pk=survivor.pk).manager_id is None


def test_merging_org_units_moves_their_records_subunits_and_open_work(org, superuser):
    loser = OrgUnitFactory(code="A-SALES-2", name="A Sales (old)", parent=org.a)
    sub = OrgUnitFactory(code="A-SALES-2-N", name="North", parent=loser)
    customer = CustomerFactory(code="C-7", owner_org=loser)
    conflict = Conflict.objects.create(
        domain="customer", golden_id=customer.pk, field="name", reason="equal_trust", owner_org=loser, candidates=[]
    )

    merge.merge(registry.get("org_unit"), org.a_sales, loser, {}, superuser, "reorganisation")

    sub.refresh_from_db()
    customer.refresh_from_db()
    conflict.refresh_from_db()
    assert sub.parent_id == org.a_sales.pk
    assert customer.owner_org_id == org.a_sales.pk
    assert conflict.owner_org_id == org.a_sales.pk
    assert OrgUnit.objects.get(pk=loser.pk).status == GoldenStatus.MERGED


def test_an_org_unit_cannot_be_merged_with_its_own_parent(org, superuser):
    with pytest.raises(merge.MergeError):
        merge.merge(registry.get("org_unit"), org.a, org.a_sales, {}, superuser, "flatten")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_merge_without_a_reason_is_refused(pair, merger_a, reason):
    with pytest.raises(merge.MergeError):
        do_merge(pair, merger_a, reason=reason)

    assert Customer.objects.get(pk=pair.loser.pk).status == GoldenStatus.ACTIVE


def test_a_steward_of_another_company_cannot_merge(pair, steward_b, org):
    access.grant(steward_b, "resolve", org.b)

    with pytest.raises(golden.OutOfScope):
        do_merge(pair, steward_b)

    assert MergeRecord.objects.count() == 0


def test_a_steward_without_the_resolve_grant_cannot_merge(pair, steward_a):
    with pytest.raises(golden.OutOfScope):
        do_merge(pair, steward_a)


def test_an_already_merged_record_cannot_be_merged_again(pair, merger_a):
    do_merge(pair, merger_a)

    with pytest.raises(merge.MergeError):
        do_merge(pair, merger_a)


def test_the_business_key_cannot_be_taken_from_the_loser(pair, merger_a):
    with pytest.raises(merge.MergeError):
        do_merge(pair, merger_a, {"code": "loser"})


def test_a_failure_half_way_writes_nothing(org, merger_a):
    """A report whose stored e-mail no longer validates stops the merge after the survivor took its values."""
    survivor = EmployeeFactory(code="E-1", name="Wang Wei", org_unit=org.a)
    loser = EmployeeFactory(code="E-9", name="Wei Wang", org_unit=org.a, position="Buyer")
    report = EmployeeFactory(code="E-2", name="Li Na", org_unit=org.a, manager=loser)
    Employee.objects.filter(pk=report.pk).update(email="not an e-mail")

    with pytest.raises(ValidationError):
        merge.merge(registry.get("employee"), survivor, loser, {"position": "loser"}, merger_a, "one person")

    assert Employee.objects.get(pk=survivor.pk).version == 1
    assert Employee.objects.get(pk=loser.pk).status == GoldenStatus.ACTIVE
    assert Employee.objects.get(pk=report.pk).manager_id == loser.pk
    assert MergeRecord.objects.count() == 0
    assert ChangeEvent.objects.filter(domain="employee").count() == 0


def test_the_snapshot_keeps_sensitive_values_encrypted_and_unmerge_restores_them(org, merger_a):
    survivor = EmployeeFactory(code="E-1", name="Wang Wei", org_unit=org.a, national_id="")
    loser = EmployeeFactory(code="E-9", name="Wei Wang", org_unit=org.a, national_id="310101199001011234")

    record = merge.merge(registry.get("employee"), survivor, loser, {"national_id": "loser"}, merger_a, "one person")

    assert Employee.objects.get(pk=survivor.pk).national_id == "310101199001011234"
    assert "310101199001011234" not in str(record.loser_before) + str(record.survivor_after)
    merge.unmerge(record, merger_a, "two people")
    assert Employee.objects.get(pk=survivor.pk).national_id == ""
    assert Employee.objects.get(pk=loser.pk).national_id == "310101199001011234"


# --- unmerge ------------------------------------------------------------------------------------
def test_unmerge_restores_the_loser_its_links_and_the_survivors_values_as_new_versions(pair, merger_a, crm):
    record = do_merge(pair, merger_a, {"phone": "loser"})

    merge.unmerge(record, merger_a, "they are two companies after all")

    survivor = Customer.objects.get(pk=pair.survivor.pk)
    loser = Customer.objects.get(pk=pair.loser.pk)
    assert (survivor.phone, survivor.version) == ("", 3)
    assert (loser.status, loser.merged_into_id, loser.version) == (GoldenStatus.ACTIVE, None, 3)
    assert loser.history.count() == 3  # history is append-only: the merge stays visible
    assert loser.history.latest("history_id").history_change_reason.startswith("Unmerged C-2 from C-1")
    assert SourceLink.objects.get(source=crm).golden_id == loser.pk
    pair.suspect.refresh_from_db()
    assert (pair.suspect.status, pair.suspect.decided_by) == (SuspectStatus.OPEN, None)
    record.refresh_from_db()
    assert (record.status, record.unmerged_by, record.unmerge_reason) == (
        MergeStatus.UNMERGED,
        merger_a,
        "they are two companies after all",
    )


def test_unmerge_keeps_a_survivor_value_changed_after_the_merge(pair, merger_a):
    record = do_merge(pair, merger_a, {"phone": "loser", "credit_rating": "loser"})
    survivor = Customer.objects.get(pk=pair.survivor.pk)
    golden.update(survivor, {"phone": "+86 21 7777"}, golden.ChangeContext(reason="called them"))

    record = merge.unmerge(record, merger_a, "two companies")

    survivor.refresh_from_db()
    assert survivor.phone == "+86 21 7777"
    assert survivor.credit_rating == "A"
    assert record.kept_on_unmerge == ["phone"]


def test_unmerge_gives_children_and_conflicts_back_to_the_loser(org, merger_a):
    survivor = EmployeeFactory(code="E-1", name="Wang Wei", org_unit=org.a)
    loser = EmployeeFactory(code="E-9", name="Wei Wang", org_unit=org.a)
    report = EmployeeFactory(code="E-2", name="Li Na", org_unit=org.a, manager=loser)
    conflict = Conflict.objects.create(
        domain="employee", golden_id=loser.pk, field="email", reason="equal_trust", owner_org=org.a, candidates=[]
    )
    record = merge.merge(registry.get("employee"), survivor, loser, {}, merger_a, "one person")

    merge.unmerge(record, merger_a, "two people")

    report.refresh_from_db()
    conflict.refresh_from_db()
    assert (report.manager_id, report.version) == (loser.pk, 3)
    assert (conflict.golden_id, conflict.status) == (loser.pk, ConflictStatus.OPEN)


def test_unmerge_reopens_a_conflict_the_merge_closed(pair, merger_a, org):
    Conflict.objects.create(
        domain="customer", golden_id=pair.survivor.pk, field="phone", reason="equal_trust", owner_org=org.a
    )
    closed = Conflict.objects.create(
        domain="customer", golden_id=pair.loser.pk, field="phone", reason="equal_trust", owner_org=org.a
    )
    record = do_merge(pair, merger_a)

    merge.unmerge(record, merger_a, "two companies")

    closed.refresh_from_db()
    assert (closed.status, closed.resolved_by, closed.resolution_note) == (ConflictStatus.OPEN, None, "")


def test_a_merge_cannot_be_undone_twice_nor_without_a_reason(pair, merger_a):
    record = do_merge(pair, merger_a)
    with pytest.raises(merge.MergeError):
        merge.unmerge(record, merger_a, "")

    merge.unmerge(record, merger_a, "two companies")

    with pytest.raises(merge.MergeError):
        merge.unmerge(record, merger_a, "again")


def test_a_steward_of_another_company_cannot_unmerge(pair, merger_a, steward_b, org):
    access.grant(steward_b, "resolve", org.b)
    record = do_merge(pair, merger_a)

    with pytest.raises(golden.OutOfScope):
        merge.unmerge(record, steward_b, "not mine")

    assert Customer.objects.get(pk=pair.loser.pk).status == GoldenStatus.MERGED
