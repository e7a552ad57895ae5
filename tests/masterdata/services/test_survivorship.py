"""Survivorship per field: trust, system of record, most recent, steward only, and steward locks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from masterdata.models import Conflict, ConflictReason, Customer, SourceSystem, SurvivorshipRule
from masterdata.services import conflicts, golden
from masterdata.services.ingest import ingest_batch

from .conftest import incoming, take_part

pytestmark = pytest.mark.django_db


def rule(field: str, strategy: str, system_of_record: SourceSystem | None = None) -> SurvivorshipRule:
    return SurvivorshipRule.objects.create(
        domain="customer", field=field, strategy=strategy, system_of_record=system_of_record
    )


@pytest.fixture
def via_erp(erp, customer_domain):
    """The ERP (trust 80) created C-1; returns a function ingesting one CRM-or-other record for it."""
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha", phone="111", email="a@erp.example")])

    def offer(source, **values):
        values.setdefault("code", "C-1")
        return ingest_batch(source, customer_domain, [incoming(f"{source.code}-1", **values)]).outcomes[0]

    return offer


def customer() -> Customer:
    return Customer.objects.get(code="C-1")


# --- trust ----------------------------------------------------------------------------------------
def test_a_lower_trust_source_does_not_overwrite_and_raises_no_conflict(via_erp, crm):
    outcome = via_erp(crm, name="Alpha (CRM)", phone="222")

    assert (outcome.outcome, outcome.changed_fields, outcome.conflicts) == ("unchanged", [], [])
    assert (customer().name, customer().phone, customer().version) == ("Alpha", "111", 1)
    assert not Conflict.objects.exists()


def test_a_higher_trust_source_overwrites_with_provenance(crm, erp, customer_domain):
    ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", name="Alpha (CRM)", phone="222")])

    result = ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha", phone="222")])

    assert result.outcomes[0].changed_fields == ["name"]
    record = customer()
    assert record.name == "Alpha"
    assert (record.provenance["name"]["source"], record.provenance["name"]["rule"]) == ("erp", "trust")
    assert record.provenance["phone"]["source"] == "crm"


def test_trust_per_field_overrides_the_source_rank(via_erp, crm):
    crm.domains.filter(domain="customer").update(field_trust={"email": 90})

    outcome = via_erp(crm, name="Alpha (CRM)", email="a@crm.example")

    assert outcome.changed_fields == ["email"]
    assert (customer().email, customer().name) == ("a@crm.example", "Alpha")


def test_a_source_without_participation_in_the_domain_has_trust_zero(via_erp):
    stranger = SourceSystem.objects.create(code="xls", name="Spreadsheet")

    outcome = via_erp(stranger, name="Alpha from Excel", country="CN")

    assert outcome.changed_fields == ["country"]  # an empty field takes any value
    assert customer().name == "Alpha"


def test_a_source_updates_the_value_it_supplied_itself(via_erp, erp):
    via_erp(erp, name="Alpha Renamed", phone="111", email="a@erp.example")

    assert customer().name == "Alpha Renamed"


def test_an_empty_value_never_erases_what_another_source_supplied(via_erp, webshop, erp):
    via_erp(webshop, name="Alpha", phone="")
    assert customer().phone == "111"

    via_erp(erp, name="Alpha", phone=None, email="a@erp.example")
    assert customer().phone == ""  # but a source may clear its own value


# --- conflicts of equal standing ------------------------------------------------------------------
def test_equal_trust_sources_disagreeing_raise_a_conflict_and_keep_the_golden_value(via_erp, webshop, erp):
    outcome = via_erp(webshop, name="Alpha Online", phone="111")

    assert (outcome.outcome, outcome.conflicts) == ("conflict", ["name"])
    assert (customer().name, customer().version) == ("Alpha", 1)
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.status, conflict.reason) == ("name", "open", ConflictReason.EQUAL_TRUST)
    assert conflict.golden_value == "Alpha"
    assert [(c["source"], c["value"], c["trust"]) for c in conflict.candidates] == [
        ("erp", "Alpha", 80),
        ("shop", "Alpha Online", 80),
    ]
    assert all(c["observed_at"] for c in conflict.candidates)


def test_a_new_value_of_a_source_updates_the_candidates_of_the_open_conflict(via_erp, webshop, customer_domain):
    via_erp(webshop, name="Alpha Online")

    again = via_erp(webshop, name="Alpha Online Shop")

    assert again.conflicts == ["name"]
    conflict = Conflict.objects.get()
    assert [c["value"] for c in conflict.candidates] == ["Alpha", "Alpha Online Shop"]


def test_the_same_disagreement_twice_writes_nothing_new(via_erp, webshop, customer_domain):
    record = incoming("shop-1", code="C-1", name="Alpha Online")
    ingest_batch(webshop, customer_domain, [record])
    updated_at = Conflict.objects.get().updated_at
    record.payload["noise"] = 1  # a new payload, the same values

    ingest_batch(webshop, customer_domain, [record])

    assert Conflict.objects.get().updated_at == updated_at


def test_a_value_a_steward_decided_against_does_not_reopen_the_conflict(via_erp, webshop, superuser):
    via_erp(webshop, name="Alpha Online", phone="111")
    conflicts.resolve(Conflict.objects.get(), "Alpha", superuser, "the ERP name is the legal one")

    outcome = via_erp(webshop, name="Alpha Online", phone="111", country="CN")

    assert (outcome.changed_fields, outcome.conflicts) == (["country"], [])
    assert Conflict.objects.filter(status="open").count() == 0
    assert customer().name == "Alpha"


# --- system of record -----------------------------------------------------------------------------
def test_a_non_authoritative_source_contradicting_the_system_of_record_raises_a_conflict(via_erp, erp, crm):
    rule("name", "system_of_record", erp)
    crm.domains.filter(domain="customer").update(trust_rank=99)  # trust does not matter against the SoR

    outcome = via_erp(crm, name="Alpha (CRM)")

    assert outcome.conflicts == ["name"]
    assert Conflict.objects.get().reason == ConflictReason.CONTRADICTS_SYSTEM_OF_RECORD
    assert customer().name == "Alpha"


def test_the_system_of_record_overwrites_whatever_the_value_came_from(crm, erp, customer_domain):
    rule("name", "system_of_record", erp)
    erp.domains.filter(domain="customer").update(trust_rank=10)
    ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", name="Alpha (CRM)")])

    outcome = ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha")]).outcomes[0]

    assert outcome.changed_fields == ["name"]
    assert customer().provenance["name"]["rule"] == "system_of_record"


def test_until_the_system_of_record_has_spoken_trust_decides(crm, erp, webshop, customer_domain):
    rule("*", "system_of_record", erp)
    ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", name="Alpha (CRM)")])

    ingest_batch(webshop, customer_domain, [incoming("W1", code="C-1", name="Alpha Online")])

    assert customer().name == "Alpha Online"
    assert not Conflict.objects.exists()


# --- most recent and steward only -----------------------------------------------------------------
def test_most_recent_takes_the_value_observed_last(erp, crm, customer_domain):
    rule("phone", "most_recent")
    now = timezone.now()
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="A", phone="111", observed_at=now)])

    day = timedelta(days=1)
    older = ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", phone="222", observed_at=now - day)])
    newer = ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", phone="333", observed_at=now + day)])

    assert older.outcomes[0].changed_fields == []
    assert newer.outcomes[0].changed_fields == ["phone"]
    assert customer().provenance["phone"]["rule"] == "most_recent"


def test_steward_only_fields_are_never_written_by_a_source(erp, customer_domain):
    rule("credit_limit", "steward_only")

    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="A", credit_limit="1000")])

    assert customer().credit_limit is None
    assert "credit_limit" not in customer().provenance


# --- steward locks --------------------------------------------------------------------------------
def test_a_locked_field_is_never_overwritten_and_raises_no_conflict(via_erp, erp, superuser):
    conflicts.lock_field(customer(), "name", superuser, "legal name confirmed")

    outcome = via_erp(erp, name="Alpha Renamed", phone="112", email="a@erp.example")

    assert outcome.changed_fields == ["phone"]
    assert (customer().name, customer().phone) == ("Alpha", "112")
    assert not Conflict.objects.exists()


def test_after_unlocking_the_source_value_flows_again(via_erp, erp, superuser):
    conflicts.lock_field(customer(), "name", superuser)
    conflicts.unlock_field(customer(), "name", superuser)

    via_erp(erp, name="Alpha Renamed", phone="111", email="a@erp.example")

    assert customer().name == "Alpha Renamed"


def test_a_steward_edit_without_a_lock_gives_way_to_a_trusted_source(via_erp, erp, superuser):
    golden.update(customer(), {"name": "Alpha (typo fixed)"}, golden.ChangeContext(user=superuser, rule="steward"))

    via_erp(erp, name="Alpha Renamed", phone="111", email="a@erp.example")

    assert customer().name == "Alpha Renamed"  # locks are how a steward's value sticks


# --- the rules themselves -------------------------------------------------------------------------
def test_a_rule_names_a_field_of_its_domain(erp):
    with pytest.raises(ValidationError) as refused:
        SurvivorshipRule(domain="customer", field="shoe_size", strategy="trust").full_clean()
    assert "field" in refused.value.message_dict


def test_the_system_of_record_strategy_needs_a_source_and_only_it(erp):
    with pytest.raises(ValidationError):
        SurvivorshipRule(domain="customer", field="name", strategy="system_of_record").full_clean()
    with pytest.raises(ValidationError):
        SurvivorshipRule(domain="customer", field="name", strategy="trust", system_of_record=erp).full_clean()
    SurvivorshipRule(domain="customer", field="*", strategy="system_of_record", system_of_record=erp).full_clean()


def test_trust_applies_to_other_domains_through_their_participation(erp):
    take_part(erp, "supplier", 40)

    assert erp.domains.get(domain="supplier").trust_for("name") == 40


def test_the_business_key_is_set_on_creation_and_changed_only_by_its_system_of_record(via_erp, erp):
    unchanged = via_erp(erp, code="C-1-NEW", name="Alpha", phone="111", email="a@erp.example")
    assert (unchanged.outcome, customer().code) == ("unchanged", "C-1")

    rule("code", "system_of_record", erp)
    renamed = via_erp(erp, code="C-1-NEW", name="Alpha", phone="112", email="a@erp.example")

    assert renamed.changed_fields == ["code", "phone"]
