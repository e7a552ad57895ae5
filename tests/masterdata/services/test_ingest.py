"""Ingest of a batch: create, update, skip unchanged payloads, history, events, dry runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from masterdata.models import ChangeEvent, Conflict, Customer, DuplicateSuspect, SourceLink
from masterdata.services.ingest import ingest_batch

from .conftest import incoming

pytestmark = pytest.mark.django_db


def history_rows() -> int:
    return Customer.history.count()


# --- create, update, unchanged ------------------------------------------------------------------
def test_a_new_source_record_creates_a_golden_record_with_history_link_and_event(erp, customer_domain, org):
    result = ingest_batch(
        erp,
        customer_domain,
        [incoming("K1", code="C-1", name="Alpha Trading", credit_limit="1000.50", owner_org="A")],
        reason="nightly pull",
    )

    (outcome,) = result.outcomes
    assert outcome.outcome == "created"
    record = Customer.objects.get(pk=outcome.golden_id)
    assert (record.code, record.name, record.credit_limit, record.owner_org) == (
        "C-1",
        "Alpha Trading",
        Decimal("1000.50"),
        org.a,
    )
    assert record.version == 1
    row = record.history.get()
    assert (row.history_type, row.history_source_id, row.history_change_reason) == ("+", erp.pk, "nightly pull")
    assert record.provenance["name"]["source"] == "erp"
    assert record.provenance["name"]["rule"] == "trust"
    link = SourceLink.objects.get(source=erp, source_key="K1")
    assert link.golden_id == record.pk
    assert link.payload_hash == SourceLink.hash_payload(link.last_payload)
    event = ChangeEvent.objects.get(golden_id=record.pk)
    assert (event.domain, event.version, event.kind, event.origin_source) == ("customer", 1, "created", erp)
    assert {"code", "name", "credit_limit", "owner_org"} <= set(event.changed_fields)
    assert result.counts["created"] == 1


def test_a_changed_source_record_updates_only_what_changed_with_a_new_version(erp, customer_domain):
    first = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", phone="1")])
    golden_id = first.outcomes[0].golden_id

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", phone="2")], reason="sync")

    (outcome,) = result.outcomes
    assert (outcome.outcome, outcome.golden_id, outcome.changed_fields) == ("updated", golden_id, ["phone"])
    record = Customer.objects.get(pk=golden_id)
    assert (record.phone, record.version) == ("2", 2)
    latest = record.history.order_by("-history_id").first()
    assert (latest.history_type, latest.version, latest.history_source_id, latest.history_change_reason) == (
        "~",
        2,
        erp.pk,
        "sync",
    )
    event = ChangeEvent.objects.filter(golden_id=golden_id).order_by("-id").first()
    assert (event.kind, event.version, event.changed_fields) == ("updated", 2, ["phone"])


def test_a_changed_payload_with_the_same_values_is_unchanged_no_version_no_history_no_event(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha")])
    before = (history_rows(), ChangeEvent.objects.count())
    record = incoming("K1", code="C-1", name="Alpha")
    record.payload["last_login"] = "today"  # a source field nobody maps

    result = ingest_batch(erp, customer_domain, [record])

    assert result.outcomes[0].outcome == "unchanged"
    assert Customer.objects.get().version == 1
    assert (history_rows(), ChangeEvent.objects.count()) == before
    assert SourceLink.objects.get().last_payload["last_login"] == "today"  # the link follows the source


def test_decimal_and_date_values_equal_to_the_stored_ones_are_no_change(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A", credit_limit="10.5")])

    result = ingest_batch(
        erp, customer_domain, [incoming("K1", code="C-1", name="A", credit_limit=Decimal("10.50"), phone=None)]
    )

    assert result.outcomes[0].outcome == "unchanged"


def test_a_second_identical_batch_is_skipped_by_hash_without_any_write(erp, customer_domain):
    batch = [incoming(f"K{n}", code=f"C-{n}", name=f"Customer {n}") for n in range(20)]
    ingest_batch(erp, customer_domain, batch)
    before = (history_rows(), ChangeEvent.objects.count(), list(Customer.objects.values_list("pk", "version")))
    link_times = list(SourceLink.objects.values_list("updated_at", flat=True))

    with CaptureQueriesContext(connection) as small:
        result = ingest_batch(erp, customer_domain, batch[:5])
    with CaptureQueriesContext(connection) as large:
        result = ingest_batch(erp, customer_domain, batch)

    assert result.counts["skipped_unchanged_payload"] == 20
    assert {o.golden_id for o in result.outcomes} == {pk for pk, _ in before[2]}
    assert (history_rows(), ChangeEvent.objects.count(), list(Customer.objects.values_list("pk", "version"))) == before
    assert list(SourceLink.objects.values_list("updated_at", flat=True)) == link_times
    assert len(large) == len(small) <= 3
    assert not any(q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) for q in large.captured_queries)


def test_provenance_records_when_the_source_changed_the_value(erp, customer_domain):
    changed_at = timezone.now() - timedelta(days=2)

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A", observed_at=changed_at)])

    record = Customer.objects.get(pk=result.outcomes[0].golden_id)
    assert record.provenance["name"]["at"] == changed_at.isoformat()


def test_unmapped_attributes_are_kept_key_by_key(erp, crm, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A", attributes={"segment": "B2B"})])
    ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", name="A", attributes={"tier": "gold"})])

    record = Customer.objects.get()
    assert record.attributes == {"segment": "B2B", "tier": "gold"}
    assert record.provenance["attributes"]["source"] == "crm"


def test_a_record_missing_from_a_later_batch_is_never_deleted_or_deactivated(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A"), incoming("K2", code="C-2", name="B")])

    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A2")])

    assert set(Customer.objects.values_list("code", "status")) == {("C-1", "active"), ("C-2", "active")}
    assert SourceLink.objects.get(source_key="K2").status == "active"


def test_a_source_key_twice_in_one_batch_the_last_occurrence_wins(erp, customer_domain):
    result = ingest_batch(
        erp, customer_domain, [incoming("K1", code="C-1", name="First"), incoming("K1", code="C-1", name="Last")]
    )

    first, last = result.outcomes
    assert last.outcome == "created"
    assert first.outcome == "unchanged"
    assert first.golden_id == last.golden_id
    assert Customer.objects.get().name == "Last"
    assert Customer.history.count() == 1


def test_rerunning_a_batch_after_a_change_changes_nothing(erp, customer_domain):
    batch = [incoming("K1", code="C-1", name="A"), incoming("K2", code="C-2", name="B")]
    ingest_batch(erp, customer_domain, batch)
    changed = [incoming("K1", code="C-1", name="A changed"), incoming("K2", code="C-2", name="B")]
    ingest_batch(erp, customer_domain, changed)
    state = list(Customer.objects.values_list("pk", "name", "version"))

    result = ingest_batch(erp, customer_domain, changed)

    assert result.counts["skipped_unchanged_payload"] == 2
    assert list(Customer.objects.values_list("pk", "name", "version")) == state


# --- dry run ---------------------------------------------------------------------------------------
def test_a_dry_run_reports_the_plan_and_writes_nothing(erp, webshop, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", phone="1")])
    before = (
        history_rows(),
        ChangeEvent.objects.count(),
        SourceLink.objects.count(),
        list(Customer.objects.values_list("pk", "name", "phone", "version")),
    )
    batch = [
        incoming("K1", code="C-1", name="Alpha", phone="2"),
        incoming("K2", code="C-2", name="Beta"),
    ]

    ingest_erp = ingest_batch(erp, customer_domain, batch, dry_run=True)
    ingest_shop = ingest_batch(webshop, customer_domain, [incoming("W1", code="C-1", phone="3")], dry_run=True)

    updated, created = ingest_erp.outcomes
    assert (updated.outcome, updated.changed_fields) == ("updated", ["phone"])
    assert (created.outcome, created.golden_id) == ("created", None)
    assert (ingest_shop.outcomes[0].outcome, ingest_shop.outcomes[0].conflicts) == ("conflict", ["phone"])
    after = (
        history_rows(),
        ChangeEvent.objects.count(),
        SourceLink.objects.count(),
        list(Customer.objects.values_list("pk", "name", "phone", "version")),
    )
    assert after == before
    assert not Conflict.objects.exists()


# --- bulk: queries do not grow with the batch ------------------------------------------------------
def batch_of(size: int, start: int = 0, suffix: str = "") -> list:
    return [
        incoming(f"K{n}", code=f"C-{n}", name=f"Kunde {n:05d}{suffix}", tax_id=f"T{n}", email=f"k{n}@example.com")
        for n in range(start, start + size)
    ]


def test_the_number_of_queries_of_a_batch_does_not_grow_with_its_size(erp, customer_domain, org):
    with CaptureQueriesContext(connection) as create_small:
        ingest_batch(erp, customer_domain, batch_of(10))
    with CaptureQueriesContext(connection) as create_large:
        ingest_batch(erp, customer_domain, batch_of(500, start=1000))
    with CaptureQueriesContext(connection) as update_small:
        ingest_batch(erp, customer_domain, batch_of(10, suffix=" GmbH"))
    with CaptureQueriesContext(connection) as update_large:
        ingest_batch(erp, customer_domain, batch_of(500, start=1000, suffix=" GmbH"))

    assert Customer.objects.count() == 510
    assert Customer.objects.filter(version=2).count() == 510
    assert len(create_large) <= len(create_small) + 4  # bulk statements split in chunks of 500 at most
    assert len(update_large) <= len(update_small) + 4
    assert len(create_large) < 30
    assert len(update_large) < 30


def test_a_batch_creates_no_duplicate_suspects_for_records_of_the_same_source(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha Trading")])

    ingest_batch(erp, customer_domain, [incoming("K2", code="C-2", name="Alpha Trading")])

    assert Customer.objects.count() == 2
    assert not DuplicateSuspect.objects.exists()  # duplicates within one source: the duplicate scan's job


# --- the same rows without PostgreSQL's COPY (the ORM path other databases take) ------------------
@pytest.fixture
def orm_writes(monkeypatch):
    from masterdata.services import bulk_sql

    monkeypatch.setattr(bulk_sql, "fast", lambda: False)


def test_without_copy_the_same_records_history_links_and_events_are_written(orm_writes, erp, customer_domain, org):
    created = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", owner_org="A")], reason="r")
    changed = incoming("K1", code="C-1", name="Alpha 2", owner_org="A")
    updated = ingest_batch(erp, customer_domain, [changed], reason="r")

    assert (created.outcomes[0].outcome, updated.outcomes[0].outcome) == ("created", "updated")
    record = Customer.objects.get()
    assert (record.name, record.version, record.owner_org) == ("Alpha 2", 2, org.a)
    rows = list(record.history.order_by("history_id").values_list("version", "history_type", "history_source_id"))
    assert rows == [(1, "+", erp.pk), (2, "~", erp.pk)]
    assert list(ChangeEvent.objects.values_list("version", "kind")) == [(1, "created"), (2, "updated")]
    assert SourceLink.objects.get().payload_hash == SourceLink.hash_payload(SourceLink.objects.get().last_payload)


def test_history_rows_are_the_same_with_and_without_copy(erp, customer_domain, monkeypatch):
    from masterdata.services import bulk_sql

    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", credit_limit="5")], reason="r")
    monkeypatch.setattr(bulk_sql, "fast", lambda: False)
    ingest_batch(erp, customer_domain, [incoming("K2", code="C-2", name="Alpha", credit_limit="5")], reason="r")

    skip = {"history_id", "history_date", "id", "code", "created_at", "updated_at", "provenance"}
    one, two = (
        {k: v for k, v in row.items() if k not in skip} for row in Customer.history.order_by("history_id").values()
    )
    assert one == two


# --- who, merged records, vanished links --------------------------------------------------------
def test_the_user_of_a_batch_is_recorded_in_history_provenance_and_events(erp, customer_domain, superuser):
    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A")], user=superuser)

    record = Customer.objects.get(pk=result.outcomes[0].golden_id)
    assert record.history.get().history_user == superuser
    assert record.provenance["name"]["user"] == "admin"
    assert ChangeEvent.objects.get().user == superuser


def test_a_link_to_a_merged_record_leads_to_its_survivor(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A"), incoming("K2", code="C-2", name="B")])
    merged, survivor = Customer.objects.get(code="C-1"), Customer.objects.get(code="C-2")
    Customer.objects.filter(pk=merged.pk).update(status="merged", merged_into=survivor)

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="A", phone="42")])

    assert result.outcomes[0].golden_id == survivor.pk
    assert Customer.objects.get(pk=survivor.pk).phone == "42"
    assert Customer.objects.get(pk=merged.pk).phone == ""
    assert SourceLink.objects.get(source_key="K1").golden_id == survivor.pk


def test_a_vanished_link_becomes_active_again_when_the_source_sends_the_record(erp, customer_domain):
    batch = [incoming("K1", code="C-1", name="A")]
    ingest_batch(erp, customer_domain, batch)
    SourceLink.objects.update(status="vanished")

    result = ingest_batch(erp, customer_domain, batch)

    assert result.outcomes[0].outcome == "unchanged"
    assert SourceLink.objects.get().status == "active"


def test_an_empty_batch_writes_nothing_and_counts_zero(erp, customer_domain):
    result = ingest_batch(erp, customer_domain, [])

    assert result.outcomes == []
    assert set(result.counts.values()) == {0}
