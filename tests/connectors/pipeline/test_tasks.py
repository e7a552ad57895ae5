"""The Celery tasks: ids in, the pipeline called; retries on outages; a real worker end to end."""

from __future__ import annotations

import time

import pytest

from connectors import tasks
from connectors.models import SyncRun, SyncRunStatus
from masterdata.models import Customer
from tests.connectors.pipeline.conftest import crm_source

RUN_TIMEOUT = 60


def test_the_pull_task_takes_ids_and_reports_the_run(seed_crm):
    result = tasks.pull.apply(args=[seed_crm.pk, "customer"], kwargs={"trigger": "manual"}).get(timeout=30)

    run = SyncRun.objects.get()
    assert result == {"run": run.pk, "status": "succeeded", **run.counts()}
    assert run.trigger == "manual" and len(run.task_id) == 36  # the task's id, to find its log


def test_the_pull_task_is_acknowledged_late_and_retries_an_outage_with_backoff(seed_crm, crm):
    assert tasks.pull.acks_late and tasks.pull.retry_backoff and tasks.pull.retry_jitter
    crm.fail(503, times=1)

    result = tasks.pull.apply(args=[seed_crm.pk, "customer"]).get(timeout=30)

    first, second = SyncRun.objects.order_by("id")
    assert first.status == SyncRunStatus.FAILED and "HTTP 503" in first.error
    assert second.status == SyncRunStatus.SUCCEEDED and result["run"] == second.pk
    assert first.task_id == second.task_id  # one task, two attempts


@pytest.mark.worker
def test_a_real_worker_pulls_the_crm_and_leaves_a_succeeded_run(worker, crm):
    process, queue = worker
    source = crm_source(crm)

    tasks.pull.apply_async(args=[source.pk, "customer"], kwargs={"trigger": "manual"}, queue=queue)

    deadline = time.monotonic() + RUN_TIMEOUT
    run = None
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(source=source).exclude(status=SyncRunStatus.RUNNING).first()
        if run is not None:
            break
        time.sleep(0.2)
    assert run is not None, f"no finished run within {RUN_TIMEOUT} s; worker log:\n{process.log}"
    assert run.status == SyncRunStatus.SUCCEEDED, run.error
    assert (run.trigger, run.fetched, run.created, run.failed) == ("manual", 30, 30, 0)
    assert run.task_id and Customer.objects.count() == 30
    assert "connectors.tasks.pull" in process.log
