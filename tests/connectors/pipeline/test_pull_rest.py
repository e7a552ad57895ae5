"""End to end against the REST CRM fake: the seed mapping as pure configuration, re-runs, increments."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.models import SyncFailure, SyncRun, SyncRunStatus, SyncState
from connectors.services import pipeline
from masterdata.models import ChangeEvent, Customer, QualityRule, SourceLink
from tests.connectors.fakes import data

HISTORY = Customer.history.model


def test_the_seed_crm_mapping_creates_golden_customers(seed_crm, crm):
    run = pipeline.pull(seed_crm, "customer").run

    assert run.status == SyncRunStatus.SUCCEEDED
    assert run.counts() == {
        "fetched": 30, "created": 30, "updated": 0, "unchanged": 0, "conflicts": 0, "duplicates": 0, "failed": 0,
    }  # fmt: skip
    assert run.pages == 3 and run.finished_at is not None
    first = Customer.objects.get(code="C1001")
    assert (first.name, first.credit_rating, str(first.last_transaction_date)) == ("华东客户0", "500", "2024-01-01")
    assert first.history.count() == 1
    assert first.history.first().history_source == seed_crm
    link = SourceLink.objects.get(source=seed_crm, domain="customer", source_key="C1001")
    assert link.golden_id == first.pk and link.last_payload["credit_score"] == 500
    assert crm.requests[0].headers["Authorization"] == "Bearer crm-secret-token"


def test_a_second_pull_with_no_changes_writes_nothing(seed_crm):
    pipeline.pull(seed_crm, "customer")
    before = (HISTORY.objects.count(), ChangeEvent.objects.count(), list(Customer.objects.values_list("version")))

    run = pipeline.pull(seed_crm, "customer").run

    assert run.status == SyncRunStatus.SUCCEEDED
    assert (run.fetched, run.unchanged, run.created, run.updated) == (30, 30, 0, 0)
    assert (
        HISTORY.objects.count(),
        ChangeEvent.objects.count(),
        list(Customer.objects.values_list("version")),
    ) == before


def test_an_incremental_pull_updates_exactly_the_changed_records(incremental_crm, crm):
    first = pipeline.pull(incremental_crm, "customer").run
    assert first.created == 30
    assert SyncState.objects.get(source=incremental_crm).cursor == {"value": "2024-01-01T08:29:00Z", "key": "C1030"}
    later = data.START + timedelta(days=1)
    for record, name in ((crm.records[3], "Renamed Three"), (crm.records[17], "Renamed Seventeen")):
        record.update(name=name, updated_at=later)
    crm.records[17]["updated_at"] = later + timedelta(seconds=1)
    history_before = HISTORY.objects.count()

    run = pipeline.pull(incremental_crm, "customer").run

    assert (run.fetched, run.updated, run.created, run.unchanged) == (2, 2, 0, 0)
    assert HISTORY.objects.count() == history_before + 2
    changed = Customer.objects.filter(version=2).order_by("code")
    assert [(c.code, c.name) for c in changed] == [("C1004", "Renamed Three"), ("C1018", "Renamed Seventeen")]
    assert SyncState.objects.get(source=incremental_crm).cursor == {"value": "2024-01-02T08:00:01Z", "key": "C1018"}
    assert crm.requests[-1].arg("updated_since") == "2024-01-01T08:29:00Z"


def test_counts_are_committed_page_by_page_while_the_run_is_going(seed_crm):
    seen = []

    def progress(run, page):
        stored = SyncRun.objects.get(pk=run.pk)
        seen.append((stored.status, stored.pages, stored.fetched, stored.created))

    pipeline.pull(seed_crm, "customer", progress=progress)

    assert seen == [("running", 1, 10, 10), ("running", 2, 20, 20), ("running", 3, 30, 30)]


def test_unmapped_source_fields_are_kept_in_attributes_when_asked(db, crm):
    from tests.connectors.pipeline.conftest import crm_source

    source = crm_source(crm, keep_unmapped=True)

    pipeline.pull(source, "customer")

    attributes = Customer.objects.get(code="C1002").attributes
    assert attributes == {"email": "buyer1@example.com", "updated_at": "2024-01-01T08:01:00Z"}


def test_records_a_source_pushes_go_through_the_same_mapping_as_one_run(seed_crm):
    pushed = [{"id": "C9001", "name": "Pushed Ltd", "credit_score": 710}, {"id": "C9002", "credit_score": 1}]

    run = pipeline.ingest_records(seed_crm, "customer", pushed).run

    assert (run.trigger, run.status, run.fetched, run.created, run.failed) == ("ingest", "partial", 2, 1, 1)
    assert Customer.objects.get(code="C9001").credit_rating == "710"
    assert SyncRun.objects.get() == run and run.finished_at is not None


def test_a_pull_applies_the_rules_it_started_with_to_every_page_and_the_next_pull_the_new_ones(seed_crm, crm):
    def add_a_blocking_rule_after_the_first_page(run, page):
        if run.pages == 1:
            QualityRule.objects.create(
                domain="customer", field="name", kind="regex", params={"pattern": "^Z"}, severity="blocking"
            )

    with CaptureQueriesContext(connection) as queries:
        run = pipeline.pull(seed_crm, "customer", progress=add_a_blocking_rule_after_the_first_page).run

    assert (run.pages, run.created, run.failed) == (3, 30, 0)  # read once, applied to all three pages
    rule_reads = [q for q in queries if 'FROM "masterdata_survivorshiprule"' in q["sql"]]
    assert len(rule_reads) == 1
    crm.records[0]["name"] = "Renamed Zero"

    run = pipeline.pull(seed_crm, "customer").run

    assert (run.updated, run.failed, run.unchanged) == (0, 1, 29)
    failure = SyncFailure.objects.get(source=seed_crm, source_key="C1001")
    assert failure.stage == "validate" and "name" in failure.errors
