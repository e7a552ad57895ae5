"""Ingest: a bad record fails alone, with its stage and errors, and never stops the batch."""

from __future__ import annotations

import pytest
from django.db import connection

from masterdata.models import ChangeEvent, Customer, Employee, OrgUnit, OrgUnitClosure, SourceLink, SurvivorshipRule
from masterdata.registry import registry
from masterdata.services.ingest import ingest_batch

from .conftest import incoming, take_part

pytestmark = pytest.mark.django_db


def outcomes_by_key(result) -> dict:
    return {o.source_key: o for o in result.outcomes}


def test_bad_records_fail_with_stage_and_field_errors_while_the_rest_commits(erp, customer_domain, org):
    result = ingest_batch(
        erp,
        customer_domain,
        [
            incoming("GOOD1", code="C-1", name="Alpha"),
            incoming("TYPE", code="C-2", name="Beta", credit_limit="a lot"),
            incoming("LONG", code="C-3", name="x" * 201),
            incoming("FK", code="C-4", name="Delta", owner_org="NO-SUCH-UNIT"),
            incoming("CHOICE", code="C-5", name="Eta", status="deleted"),
            incoming("NEGATIVE", code="C-6", name="Zeta", credit_limit="-5"),
            incoming("TEXT", code="C-7", name={"first": "Theta"}),
            incoming("GOOD2", code="C-8", name="Omega", owner_org="A"),
        ],
    )

    by_key = outcomes_by_key(result)
    assert by_key["GOOD1"].outcome == by_key["GOOD2"].outcome == "created"
    failed = {key: o for key, o in by_key.items() if o.outcome == "failed"}
    assert set(failed) == {"TYPE", "LONG", "FK", "CHOICE", "NEGATIVE", "TEXT"}
    assert all(o.stage == "validate" and o.golden_id is None for o in failed.values())
    assert set(failed["TYPE"].errors) == {"credit_limit"}
    assert "200" in failed["LONG"].errors["name"][0]
    assert "NO-SUCH-UNIT" in failed["FK"].errors["owner_org"][0]
    assert set(failed["CHOICE"].errors) == {"status"}  # bookkeeping: not a field sources write
    assert set(failed["NEGATIVE"].errors) == {"credit_limit"}
    assert set(failed["TEXT"].errors) == {"name"}
    assert set(Customer.objects.values_list("code", flat=True)) == {"C-1", "C-8"}
    assert set(SourceLink.objects.values_list("source_key", flat=True)) == {"GOOD1", "GOOD2"}
    assert result.counts == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped_unchanged_payload": 0,
        "conflict": 0,
        "duplicate_suspect": 0,
        "failed": 6,
    }


def test_a_required_field_missing_on_creation_fails_the_record(erp, customer_domain):
    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", phone="123")])

    (outcome,) = result.outcomes
    assert (outcome.outcome, outcome.stage, set(outcome.errors)) == ("failed", "validate", {"name"})


def test_a_check_constraint_is_evaluated_before_writing(erp):
    take_part(erp, "employee", 90)

    result = ingest_batch(
        erp,
        registry.get("employee"),
        [
            incoming("E1", code="E-1", name="Lee", hire_date="2024-05-01", leave_date="2024-01-01"),
            incoming("E2", code="E-2", name="Kim", hire_date="2024-05-01"),
        ],
    )

    bad, good = result.outcomes
    assert (bad.outcome, bad.stage, list(bad.errors)) == ("failed", "validate", ["__all__"])
    assert "employee_dates_ordered" in bad.errors["__all__"][0]
    assert good.outcome == "created"


def refuse_blocked_names() -> None:
    """A rule only the database knows: a constraint added behind the model's back."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction may hold deferred checks
        cursor.execute("ALTER TABLE masterdata_customer ADD CONSTRAINT test_no_blocked CHECK (name <> 'Blocked')")


def alpha_blocked_gamma(erp, domain) -> dict:
    """One batch of three records, the second of which the database refuses; outcomes by source key."""
    records = [
        incoming("K1", code="C-1", name="Alpha"),
        incoming("K2", code="C-2", name="Blocked"),
        incoming("K3", code="C-3", name="Gamma"),
    ]
    return outcomes_by_key(ingest_batch(erp, domain, records))


def test_a_record_the_database_refuses_fails_at_write_and_the_others_commit(erp, customer_domain):
    refuse_blocked_names()

    by_key = alpha_blocked_gamma(erp, customer_domain)

    assert (by_key["K1"].outcome, by_key["K3"].outcome) == ("created", "created")
    refused = by_key["K2"]
    assert (refused.outcome, refused.stage, refused.golden_id) == ("failed", "write", None)
    assert "test_no_blocked" in refused.errors["__all__"][0]
    assert set(Customer.objects.values_list("code", flat=True)) == {"C-1", "C-3"}
    assert Customer.history.count() == 2
    assert ChangeEvent.objects.count() == 2
    assert set(SourceLink.objects.values_list("source_key", flat=True)) == {"K1", "K3"}


def test_a_change_the_database_refuses_fails_at_write_and_the_other_changes_commit(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming(f"K{n}", code=f"C-{n}", name=f"Name {n}") for n in range(1, 4)])
    refuse_blocked_names()

    by_key = alpha_blocked_gamma(erp, customer_domain)

    assert (by_key["K1"].outcome, by_key["K3"].outcome) == ("updated", "updated")
    assert (by_key["K2"].outcome, by_key["K2"].stage) == ("failed", "write")
    assert "test_no_blocked" in by_key["K2"].errors["__all__"][0]
    assert dict(Customer.objects.values_list("code", "name")) == {"C-1": "Alpha", "C-2": "Name 2", "C-3": "Gamma"}
    assert Customer.history.filter(history_type="~").count() == 2
    assert ChangeEvent.objects.filter(kind="updated").count() == 2
    assert SourceLink.objects.get(source_key="K2").last_payload["name"] == "Name 2"


def test_a_failed_record_is_processed_again_once_fixed(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", credit_limit="oops")])

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha", credit_limit="5")])

    assert result.outcomes[0].outcome == "created"


def test_a_code_another_record_has_fails_the_record(erp, customer_domain):
    SurvivorshipRule.objects.create(domain="customer", field="code", strategy="system_of_record", system_of_record=erp)
    ingest_batch(erp, customer_domain, [incoming("K1", code="C-1", name="Alpha"), incoming("K2", code="C-2", name="B")])

    result = ingest_batch(erp, customer_domain, [incoming("K2", code="C-1", name="B")])

    # the ERP is the system of record of codes, so it may change one, but not to a code another record holds
    (outcome,) = result.outcomes
    assert (outcome.outcome, outcome.stage, list(outcome.errors)) == ("failed", "validate", ["code"])


# --- references among the records of one batch -----------------------------------------------------
def test_org_units_referring_to_units_of_the_same_batch_are_created_parents_first(erp, org):
    take_part(erp, "org_unit", 90)

    result = ingest_batch(
        erp,
        registry.get("org_unit"),
        [
            incoming("U3", code="A-SALES-NORTH", name="North", parent="A-SALES-EAST"),
            incoming("U2", code="A-SALES-EAST", name="East", parent="A-SALES"),
            incoming("U1", code="B-OPS", name="Ops", parent="B"),
        ],
    )

    assert [o.outcome for o in result.outcomes] == ["created"] * 3
    north = OrgUnit.objects.get(code="A-SALES-NORTH")
    assert north.parent.code == "A-SALES-EAST"
    assert OrgUnitClosure.objects.filter(descendant=north, ancestor=org.a).exists()  # the tree follows


def test_a_cycle_of_references_among_new_records_fails_those_records(erp):
    take_part(erp, "org_unit", 90)

    result = ingest_batch(
        erp,
        registry.get("org_unit"),
        [
            incoming("U1", code="X", name="X", parent="Y"),
            incoming("U2", code="Y", name="Y", parent="X"),
            incoming("U3", code="Z", name="Z"),
        ],
    )

    assert [o.outcome for o in result.outcomes] == ["failed", "failed", "created"]
    assert "parent" in result.outcomes[0].errors


def test_employees_and_their_managers_arrive_in_one_batch(erp):
    take_part(erp, "employee", 90)

    result = ingest_batch(
        erp,
        registry.get("employee"),
        [
            incoming("E2", code="E-2", name="Report", manager="E-1"),
            incoming("E1", code="E-1", name="Boss"),
        ],
    )

    assert [o.outcome for o in result.outcomes] == ["created", "created"]
    assert Employee.objects.get(code="E-2").manager.code == "E-1"


def test_an_existing_employee_may_report_to_a_manager_created_in_the_same_batch(erp):
    take_part(erp, "employee", 90)
    ingest_batch(erp, registry.get("employee"), [incoming("E2", code="E-2", name="Report")])

    result = ingest_batch(
        erp,
        registry.get("employee"),
        [incoming("E2", code="E-2", name="Report", manager="E-1"), incoming("E1", code="E-1", name="Boss")],
    )

    assert [o.outcome for o in result.outcomes] == ["updated", "created"]
    assert Employee.objects.get(code="E-2").manager.code == "E-1"


def test_a_record_referring_to_a_failed_record_of_the_batch_fails_too(erp):
    take_part(erp, "org_unit", 90)

    result = ingest_batch(
        erp,
        registry.get("org_unit"),
        [
            incoming("U1", code="X", name="X" * 300),
            incoming("U2", code="Y", name="Y", parent="X"),
            incoming("U3", code="Z", name="Z", parent="Y"),
        ],
    )

    assert [o.outcome for o in result.outcomes] == ["failed", "failed", "failed"]
    assert list(result.outcomes[2].errors) == ["parent"]
    assert not OrgUnit.objects.filter(code__in=["X", "Y", "Z"]).exists()
