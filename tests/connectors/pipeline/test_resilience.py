"""What goes wrong on the way: refused credentials, malformed pages, outages, crashes between pages."""

from __future__ import annotations

import pytest

from connectors.errors import TransientError
from connectors.models import FailureStage, FailureStatus, SyncFailure, SyncRun, SyncRunStatus, SyncState
from connectors.services import pipeline
from masterdata.models import ChangeEvent, Customer, SourceLink
from tests.connectors.fakes.server import MALFORMED_JSON
from tests.connectors.pipeline.conftest import INCREMENTAL_CRM_FETCH, SEED_CRM_FETCH, crm_source

HISTORY = Customer.history.model
PAGE_ONE_CURSOR = {"value": "2024-01-01T08:09:00Z", "key": "C1010"}


def state_of(source) -> SyncState:
    return SyncState.objects.get(source=source, domain="customer")


def test_refused_credentials_fail_the_run_and_leave_the_cursor(incremental_crm, crm):
    pipeline.pull(incremental_crm, "customer")
    cursor = state_of(incremental_crm).cursor
    connection = incremental_crm.connection
    connection.secret = "revoked-token"
    connection.save()

    run = pipeline.pull(incremental_crm, "customer").run

    assert run.status == SyncRunStatus.FAILED and run.finished_at is not None
    assert run.error.startswith("AuthError: ") and "HTTP 401" in run.error
    assert state_of(incremental_crm).cursor == cursor
    assert run.fetched == 0 and not SyncFailure.objects.exists()


def test_a_malformed_page_is_queued_whole_and_the_cursor_stops_before_it(incremental_crm, crm):
    crm.malformed(after=1)

    run = pipeline.pull(incremental_crm, "customer").run

    assert (run.status, run.pages, run.fetched, run.created) == (SyncRunStatus.PARTIAL, 1, 10, 10)
    assert run.error.startswith("A page could not be read: ")
    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.source_key, failure.raw_body) == (FailureStage.FETCH, "", MALFORMED_JSON)
    assert "/api/customers" in failure.payload["url"]
    assert state_of(incremental_crm).cursor == PAGE_ONE_CURSOR
    assert state_of(incremental_crm).last_success_at is None

    later = pipeline.pull(incremental_crm, "customer").run

    assert (later.status, later.fetched, later.created) == (SyncRunStatus.SUCCEEDED, 20, 20)
    assert Customer.objects.count() == 30
    failure.refresh_from_db()
    assert failure.status == FailureStatus.RESOLVED


def test_an_outage_fails_the_run_and_is_raised_for_the_task_to_retry(incremental_crm, crm):
    crm.fail(503, times=1)

    with pytest.raises(TransientError):
        pipeline.pull(incremental_crm, "customer")

    run = SyncRun.objects.get()
    assert run.status == SyncRunStatus.FAILED and "HTTP 503" in run.error
    assert state_of(incremental_crm).cursor is None


@pytest.mark.parametrize("fetch", [INCREMENTAL_CRM_FETCH, SEED_CRM_FETCH], ids=["ordered", "unordered"])
def test_a_crash_after_the_first_page_committed_loses_nothing_and_duplicates_nothing(db, crm, fetch):
    source = crm_source(crm, fetch=fetch)

    def crash_after_first_page(run, page):
        if page.number == 1:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        pipeline.pull(source, "customer", progress=crash_after_first_page)

    crashed = SyncRun.objects.get()
    assert (crashed.status, crashed.pages, crashed.created) == (SyncRunStatus.FAILED, 1, 10)
    assert "worker killed" in crashed.error
    assert Customer.objects.count() == 10

    rerun = pipeline.pull(source, "customer").run

    assert rerun.status == SyncRunStatus.SUCCEEDED
    assert Customer.objects.count() == 30
    assert HISTORY.objects.count() == 30 and ChangeEvent.objects.count() == 30
    assert SourceLink.objects.filter(source=source).count() == 30
    assert rerun.created == 20 and rerun.fetched == (20 if fetch is INCREMENTAL_CRM_FETCH else 30)


def test_a_crash_inside_a_page_rolls_the_whole_page_back(incremental_crm, monkeypatch):
    real = pipeline.failures.resolve_succeeded
    calls = []

    def fail_on_second_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline.failures, "resolve_succeeded", fail_on_second_page)
    with pytest.raises(RuntimeError):
        pipeline.pull(incremental_crm, "customer")

    run = SyncRun.objects.get()
    assert (run.status, run.pages, run.created) == (SyncRunStatus.FAILED, 1, 10)
    assert Customer.objects.count() == 10 and HISTORY.objects.count() == 10
    assert state_of(incremental_crm).cursor == PAGE_ONE_CURSOR


def test_a_run_left_running_by_a_dead_worker_is_closed_by_the_next_pull(seed_crm):
    stale = SyncRun.objects.create(source=seed_crm, domain="customer")

    pipeline.pull(seed_crm, "customer")

    stale.refresh_from_db()
    assert stale.status == SyncRunStatus.FAILED and stale.error.startswith("Interrupted")


def test_a_source_without_a_mapping_fails_its_run_with_a_clear_message(seed_crm):
    seed_crm.mappings.all().delete()

    run = pipeline.pull(seed_crm, "customer").run

    assert (run.status, run.error) == (SyncRunStatus.FAILED, "PipelineConfigError: crm has no mapping for customer.")


def test_an_inactive_source_is_not_pulled(seed_crm, crm):
    seed_crm.is_active = False
    seed_crm.save()

    run = pipeline.pull(seed_crm, "customer").run

    assert (run.status, run.error) == (SyncRunStatus.FAILED, "PipelineConfigError: The source system crm is inactive.")
    assert crm.requests == []
