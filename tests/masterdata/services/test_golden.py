"""The single write path of golden records: provenance, versions, scope and the refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from masterdata.models import Customer, GoldenStatus, Material, OrgUnit
from masterdata.services import golden
from tests.factories import SourceSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_a(steward_a):
    return golden.ChangeContext(user=steward_a, reason="steward edit", rule="steward")


@pytest.fixture
def system():
    """A sync or a management command: no user, scoped by configuration."""
    return golden.ChangeContext(reason="sync")


# --- provenance and versions ------------------------------------------------------------------
def test_create_records_provenance_of_every_given_field(org):
    crm = SourceSystemFactory(code="crm")
    ctx = golden.ChangeContext(source=crm, rule="source_priority")

    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, ctx)

    assert record.version == 1
    assert record.provenance["name"] == {
        "source": "crm",
        "user": None,
        "at": ctx.at.isoformat(),
        "rule": "source_priority",
    }
    assert "status" not in record.provenance  # bookkeeping fields have no provenance


def test_update_moves_provenance_only_for_the_changed_fields(org, as_a, system):
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, system)

    updated = golden.update(record, {"name": "Alpha", "phone": "+86 21"}, as_a)

    assert updated.version == 2
    assert updated.provenance["phone"]["user"] == "steward_a"
    assert updated.provenance["name"]["user"] is None


def test_an_update_that_changes_nothing_writes_nothing(org, system):
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "credit_limit": Decimal("10.50")}, system)

    same = golden.update(record, {"name": "Alpha", "credit_limit": "10.5"}, system)

    assert same.version == 1
    assert record.history.count() == 1
    assert golden.save(Customer.objects.get(pk=record.pk), system) is False


def test_deactivate_and_reactivate_are_versions_and_idempotent(customers, system):
    inactive = golden.deactivate(customers.a, system)
    again = golden.deactivate(customers.a, system)
    active = golden.reactivate(customers.a, system)

    assert (inactive.status, inactive.version) == (GoldenStatus.INACTIVE, 2)
    assert again.version == 2
    assert (active.status, active.version) == (GoldenStatus.ACTIVE, 3)
    assert Customer.objects.filter(pk=customers.a.pk).exists()


# --- optimistic concurrency -------------------------------------------------------------------
def test_a_stale_expected_version_is_refused_and_nothing_written(customers, system):
    golden.update(customers.a, {"name": "First"}, system)

    with pytest.raises(golden.StaleVersion) as refused:
        golden.update(customers.a, {"name": "Second"}, system, expected_version=1)

    assert (refused.value.expected, refused.value.current) == (1, 2)
    customers.a.refresh_from_db()
    assert customers.a.name == "First"


def test_the_update_works_on_the_stored_state_not_the_callers_copy(customers, system):
    stale_copy = Customer.objects.get(pk=customers.a.pk)
    golden.update(customers.a, {"phone": "+86 1"}, system)

    updated = golden.update(stale_copy, {"name": "Renamed"}, system)

    assert (updated.phone, updated.name, updated.version) == ("+86 1", "Renamed", 3)


def test_check_version_passes_without_an_expectation(customers):
    golden.check_version(customers.a, None)
    golden.check_version(customers.a, 1)
    with pytest.raises(golden.StaleVersion):
        golden.check_version(customers.a, 2)


# --- status rules -----------------------------------------------------------------------------
def test_status_merged_cannot_be_set_directly(customers, system):
    with pytest.raises(golden.GoldenRecordError) as refused:
        golden.update(customers.a, {"status": GoldenStatus.MERGED}, system)

    assert refused.value.field == "status"
    with pytest.raises(golden.GoldenRecordError):
        golden.create(Customer, {"code": "C-9", "name": "x", "status": GoldenStatus.MERGED}, system)


def test_a_merged_record_cannot_be_edited(customers, system):
    Customer.objects.filter(pk=customers.a_sales.pk).update(status=GoldenStatus.MERGED, merged_into=customers.a)

    with pytest.raises(golden.GoldenRecordError, match="merged"):
        golden.update(customers.a_sales, {"name": "Changed"}, system)
    with pytest.raises(golden.GoldenRecordError):
        golden.reactivate(customers.a_sales, system)


def test_model_rules_are_validation_errors(org, system):
    with pytest.raises(ValidationError) as refused:
        golden.create(Customer, {"code": "C-1", "name": "x", "credit_limit": Decimal("-1")}, system)

    assert "credit_limit" in refused.value.message_dict


# --- database refusals ------------------------------------------------------------------------
def test_a_duplicate_code_the_validation_missed_is_a_duplicate_key_error(customers, system, monkeypatch):
    """What a concurrent insert looks like: validation saw no duplicate, the database does."""
    monkeypatch.setattr(Customer, "validate_constraints", lambda self, exclude=None: None)
    monkeypatch.setattr(Customer, "validate_unique", lambda self, exclude=None: None)

    with pytest.raises(golden.DuplicateKey) as refused:
        golden.create(Customer, {"code": "CA-1", "name": "Twin"}, system)

    assert refused.value.field == "code"
    assert "already exists" in refused.value.message
    assert Customer.objects.filter(code="CA-1").count() == 1  # and the transaction is still usable


def test_a_cycle_the_validation_missed_is_refused_on_the_parent(org, system, monkeypatch):
    """What two concurrent moves look like: each passed the check, the tree lock catches the second."""
    monkeypatch.setattr(OrgUnit, "clean", lambda self: None)

    with pytest.raises(golden.GoldenRecordError) as refused:
        golden.update(org.a, {"parent": org.a_sales}, system)

    assert refused.value.field == "parent"
    org.a.refresh_from_db()
    assert org.a.parent_id == org.group.pk


# --- scope ------------------------------------------------------------------------------------
def test_a_steward_creates_only_inside_their_subtree(org, as_a):
    inside = golden.create(Customer, {"code": "C-A", "name": "x", "owner_org": org.a_sales}, as_a)

    assert inside.pk
    with pytest.raises(golden.OutOfScope) as refused:
        golden.create(Customer, {"code": "C-B", "name": "x", "owner_org": org.b}, as_a)
    assert refused.value.field == "owner_org"
    with pytest.raises(golden.OutOfScope, match="group-wide"):
        golden.create(Customer, {"code": "C-0", "name": "x"}, as_a)
    assert not Customer.objects.filter(code__in=["C-B", "C-0"]).exists()


def test_a_steward_cannot_change_a_record_outside_their_subtree(customers, as_a):
    with pytest.raises(golden.OutOfScope):
        golden.update(customers.b, {"name": "Hijacked"}, as_a)

    with pytest.raises(golden.OutOfScope):
        golden.update(customers.b, {"owner_org": customers.a.owner_org}, as_a)  # not even to pull it in


def test_a_steward_moves_records_only_within_their_subtree(customers, org, as_a):
    moved = golden.update(customers.a, {"owner_org": org.a_sales}, as_a)

    assert moved.owner_org_id == org.a_sales.pk
    with pytest.raises(golden.OutOfScope):
        golden.update(customers.a, {"owner_org": org.b}, as_a)


def test_an_org_unit_is_placed_by_its_parent(org, as_a):
    renamed = golden.update(org.a, {"name": "Company A Ltd."}, as_a)  # A itself is in A's scope
    created = golden.create(OrgUnit, {"code": "A-HR", "name": "HR", "parent": org.a}, as_a)

    assert (renamed.version, created.parent_id) == (2, org.a.pk)
    with pytest.raises(golden.OutOfScope) as refused:
        golden.update(org.a, {"parent": org.b}, as_a)
    assert refused.value.field == "parent"
    with pytest.raises(golden.OutOfScope):
        golden.create(OrgUnit, {"code": "TOP", "name": "Top"}, as_a)
    with pytest.raises(golden.OutOfScope):
        golden.update(org.group, {"name": "Renamed group"}, as_a)


def test_a_viewer_may_not_change_anything(org, customers, stewards_group):
    from tests.conftest import make_steward

    viewer = golden.ChangeContext(user=make_steward("viewer", org.a, stewards_group, actions=("view",)))

    with pytest.raises(golden.OutOfScope):
        golden.update(customers.a, {"name": "x"}, viewer)


def test_materials_and_system_changes_have_no_org_scope(org, as_a, system):
    material = golden.create(Material, {"code": "M-1", "name": "Steel"}, as_a)
    golden.update(material, {"name": "Steel coil"}, as_a)
    foreign = golden.create(Customer, {"code": "C-B", "name": "x", "owner_org": org.b}, system)

    assert Material.objects.get(code="M-1").version == 2
    assert foreign.owner_org_id == org.b.pk


def test_the_superuser_places_records_anywhere(org, superuser):
    ctx = golden.ChangeContext(user=superuser)

    record = golden.create(Customer, {"code": "C-0", "name": "Group-wide"}, ctx)
    moved = golden.update(record, {"owner_org": org.b}, ctx)

    assert (record.owner_org_id, moved.owner_org_id) == (None, org.b.pk)
