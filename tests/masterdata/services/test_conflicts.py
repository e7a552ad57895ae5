"""A steward resolves or dismisses conflicts, and locks fields against every source."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from masterdata.models import ChangeEvent, Conflict, ConflictStatus, Customer
from masterdata.services import access, conflicts, golden
from masterdata.services.ingest import ingest_batch

from .conftest import incoming

pytestmark = pytest.mark.django_db


@pytest.fixture
def conflict(erp, webshop, customer_domain, org):
    """The ERP and the web shop (equal trust) disagree on the name of C-1, a customer of company A."""
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha", owner_org="A")])
    ingest_batch(webshop, customer_domain, [incoming("W1", code="C-1", name="Alpha Online")])
    return Conflict.objects.get()


@pytest.fixture
def resolver_a(steward_a, org):
    access.grant(steward_a, "resolve", org.a)
    return steward_a


def test_a_conflict_is_scoped_to_the_owning_org_unit_of_its_record(conflict, org):
    assert conflict.owner_org == org.a
    assert conflict.domain == "customer"
    assert conflict.golden_id == Customer.objects.get().pk


def test_resolving_writes_the_chosen_value_with_history_and_event_and_closes_the_conflict(conflict, resolver_a):
    record = conflicts.resolve(conflict, "Alpha Online", resolver_a, "the shop has the new brand name")

    assert (record.name, record.version) == ("Alpha Online", 2)
    row = record.history.order_by("-history_id").first()
    assert (row.history_user, row.history_change_reason) == (resolver_a, "the shop has the new brand name")
    assert record.provenance["name"]["rule"] == "steward"
    assert record.provenance["name"]["user"] == "steward_a"
    event = ChangeEvent.objects.filter(golden_id=record.pk).order_by("-id").first()
    assert (event.kind, event.version, event.changed_fields, event.user) == ("updated", 2, ["name"], resolver_a)
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED
    assert (conflict.resolved_by, conflict.resolution_value) == (resolver_a, "Alpha Online")
    assert conflict.resolution_note == "the shop has the new brand name"
    assert conflict.resolved_at is not None


def test_resolving_to_the_current_value_closes_the_conflict_without_a_new_version(conflict, superuser):
    record = conflicts.resolve(conflict, "Alpha", superuser, "keep the ERP name")

    assert record.version == 1
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED


def test_resolving_can_lock_the_field_so_no_source_changes_it_again(conflict, superuser, erp, customer_domain):
    conflicts.resolve(conflict, "Alpha Online", superuser, "brand name", lock=True)

    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha Renamed", owner_org="A")])

    record = Customer.objects.get()
    assert record.name == "Alpha Online"
    assert record.locked_fields == ["name"]


def test_a_closed_conflict_cannot_be_resolved_again(conflict, superuser):
    conflicts.dismiss(conflict, superuser, "both fine")

    with pytest.raises(golden.GoldenRecordError):
        conflicts.resolve(conflict, "Alpha Online", superuser)


def test_dismissing_keeps_the_golden_value(conflict, superuser):
    closed = conflicts.dismiss(conflict, superuser, "the shop name is a display name")

    assert (closed.status, closed.resolution_value) == (ConflictStatus.DISMISSED, "Alpha")
    assert Customer.objects.get().version == 1


def test_a_steward_of_another_company_may_not_resolve(conflict, steward_b):
    with pytest.raises(golden.OutOfScope):
        conflicts.resolve(conflict, "Alpha Online", steward_b)
    with pytest.raises(golden.OutOfScope):
        conflicts.dismiss(conflict, steward_b)
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


def test_a_steward_who_may_change_but_not_resolve_may_not_resolve(conflict, steward_a):
    with pytest.raises(golden.OutOfScope):
        conflicts.resolve(conflict, "Alpha Online", steward_a)


def test_a_foreign_key_is_resolved_by_business_code(erp, webshop, customer_domain, org, superuser):
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha", owner_org="A")])
    ingest_batch(webshop, customer_domain, [incoming("W1", code="C-1", name="Alpha", owner_org="B")])
    conflict = Conflict.objects.get()
    assert [c["value"] for c in conflict.candidates] == ["A", "B"]  # shown by code, as sources name them

    record = conflicts.resolve(conflict, "B", superuser, "moved to B")

    assert record.owner_org == org.b


def test_only_one_open_conflict_per_field_of_a_record(conflict):
    duplicate = Conflict(domain="customer", golden_id=conflict.golden_id, field="name", reason="equal_trust")

    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()

    conflict.status = ConflictStatus.RESOLVED
    conflict.save()
    duplicate.save()  # once closed, a new conflict may open


# --- locks ----------------------------------------------------------------------------------------
def test_locking_a_field_is_a_version_with_history_and_event(conflict, superuser):
    record = conflicts.lock_field(Customer.objects.get(), "phone", superuser, "verified by phone call")

    assert (record.locked_fields, record.version) == (["phone"], 2)
    assert record.history.order_by("-history_id").first().history_change_reason == "verified by phone call"
    assert ChangeEvent.objects.filter(golden_id=record.pk, version=2, changed_fields=["locked_fields"]).exists()


def test_locking_twice_changes_nothing_the_second_time(conflict, superuser):
    conflicts.lock_field(Customer.objects.get(), "phone", superuser)

    record = conflicts.lock_field(Customer.objects.get(), "phone", superuser)

    assert record.version == 2


def test_only_fields_of_the_domain_can_be_locked(conflict, superuser):
    with pytest.raises(golden.GoldenRecordError):
        conflicts.lock_field(Customer.objects.get(), "version", superuser)
