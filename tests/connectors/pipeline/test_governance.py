"""Across sources: one golden record for the same customer, conflicts, steward locks, vanished records."""

from __future__ import annotations

from connectors.models import SyncRunStatus
from connectors.services import pipeline
from masterdata.models import Conflict, ConflictReason, Customer, GoldenStatus, LinkStatus, SourceLink
from masterdata.services import conflicts, golden
from tests.connectors.fakes import CrmFake, ODataV4Fake, data
from tests.connectors.pipeline.conftest import crm_source, map_source, sap_source

ERP_FIELDS = [
    {"source": "BusinessPartner", "target": "code"},
    {"source": "BusinessPartnerFullName", "target": "name"},
    {"source": "TaxNumber1", "target": "tax_id"},
]
CRM_FIELDS = {"id": "code", "name": "name", "tax_id": "tax_id"}


def erp_partner(number: str, name: str, tax_id: str) -> dict:
    return {"BusinessPartner": number, "BusinessPartnerFullName": name, "TaxNumber1": tax_id,
            "LastChangeDateTime": data.START}  # fmt: skip


def crm_customer(key: str, name: str, tax_id: str) -> dict:
    return {"id": key, "name": name, "tax_id": tax_id, "updated_at": data.START}


def erp_and_crm(erp_records, crm_records):
    erp, crm = ODataV4Fake(erp_records), CrmFake(crm_records)
    erp.start(), crm.start()
    erp_source = sap_source(erp, "odata_v4")
    map_source(erp_source, "customer", {"resource": "A_BusinessPartner", "key_field": "BusinessPartner"}, ERP_FIELDS)
    crm_system = crm_source(crm, fields=CRM_FIELDS)
    return erp, crm, erp_source, crm_system


def test_the_same_customer_in_erp_and_crm_is_one_golden_record_with_two_links(db):
    erp, crm, erp_source, crm_system = erp_and_crm(
        [erp_partner("1000001", "Acme Trading Co", "91310000MA1FL1234X")],
        [crm_customer("C-77", "Acme Trading Co", "91310000MA1FL1234X")],
    )
    try:
        pipeline.pull(erp_source, "customer")
        run = pipeline.pull(crm_system, "customer").run
    finally:
        erp.stop(), crm.stop()

    assert (run.status, run.created, run.unchanged) == (SyncRunStatus.SUCCEEDED, 0, 1)
    customer = Customer.objects.get()
    assert (customer.code, customer.tax_id) == ("1000001", "91310000MA1FL1234X")
    links = SourceLink.objects.filter(golden_id=customer.pk).order_by("source__code")
    assert [(link.source.code, link.source_key) for link in links] == [("crm", "C-77"), ("erp", "1000001")]


def test_sources_of_equal_trust_that_disagree_raise_a_conflict_and_keep_the_value(db):
    erp, crm, erp_source, crm_system = erp_and_crm(
        [erp_partner("1000001", "Acme Trading Co", "91310000MA1FL1234X")],
        [crm_customer("C-77", "Acme Trading Company Limited", "91310000MA1FL1234X")],
    )
    try:
        pipeline.pull(erp_source, "customer")
        run = pipeline.pull(crm_system, "customer").run
    finally:
        erp.stop(), crm.stop()

    assert run.conflicts == 1 and run.status == SyncRunStatus.SUCCEEDED
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.reason, conflict.status) == ("name", ConflictReason.EQUAL_TRUST, "open")
    assert sorted((c["source"], c["value"]) for c in conflict.candidates) == [
        ("crm", "Acme Trading Company Limited"),
        ("erp", "Acme Trading Co"),
    ]
    assert Customer.objects.get().name == "Acme Trading Co"


def test_a_field_a_steward_locked_is_never_overwritten_by_a_source(seed_crm, crm, superuser):
    pipeline.pull(seed_crm, "customer")
    customer = Customer.objects.get(code="C1002")
    customer = golden.update(customer, {"name": "Checked by a steward"}, golden.ChangeContext(user=superuser))
    customer = conflicts.lock_field(customer, "name", superuser)
    version = customer.version
    crm.records[1].update(name="Overwrite attempt", credit_score=999)

    run = pipeline.pull(seed_crm, "customer").run

    customer.refresh_from_db()
    assert (customer.name, customer.credit_rating) == ("Checked by a steward", "999")
    assert customer.version == version + 1 and run.updated == 1
    assert not Conflict.objects.exists()


def test_a_full_run_flags_links_whose_record_vanished_and_deletes_nothing(seed_crm, crm):
    pipeline.pull(seed_crm, "customer")
    gone = [crm.records.pop(5), crm.records.pop(20)]

    incremental = pipeline.pull(seed_crm, "customer").run
    assert incremental.vanished == 0
    assert not SourceLink.objects.filter(status=LinkStatus.VANISHED).exists()

    full = pipeline.pull(seed_crm, "customer", full=True).run

    assert (full.status, full.full, full.vanished) == (SyncRunStatus.SUCCEEDED, True, 2)
    vanished = SourceLink.objects.filter(status=LinkStatus.VANISHED).order_by("source_key")
    assert [link.source_key for link in vanished] == sorted(record["id"] for record in gone)
    assert Customer.objects.filter(status=GoldenStatus.ACTIVE).count() == 30
    assert seed_crm.sync_states.get().last_full_at == full.finished_at

    crm.records.append(gone[0])
    pipeline.pull(seed_crm, "customer")

    assert list(SourceLink.objects.filter(status=LinkStatus.VANISHED).values_list("source_key", flat=True)) == [
        gone[1]["id"]
    ]


def test_a_full_run_that_could_not_read_every_page_flags_nothing(seed_crm, crm):
    pipeline.pull(seed_crm, "customer")
    crm.malformed(after=1)

    run = pipeline.pull(seed_crm, "customer", full=True).run

    assert (run.status, run.vanished) == (SyncRunStatus.PARTIAL, 0)
    assert not SourceLink.objects.filter(status=LinkStatus.VANISHED).exists()
