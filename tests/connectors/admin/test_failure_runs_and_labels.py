"""The queue reads as a steward expects: neutral labels, its own title, and the run behind a failure one click away."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import FailureClass, FailureDirection, FailureStage, SyncRun
from tests.connectors.admin.conftest import queued
from tests.factories import SourceSystemFactory
from tests.masterdata.admin.conftest import admin_url, browser

QUEUE = f"{reverse('admin:connectors_syncfailure_changelist')}?status__exact=open"


@pytest.fixture
def run_of_a(customers):
    """A partial CRM run that refused a record of company A (and counted it)."""
    source = SourceSystemFactory(code="crm-run")
    run = SyncRun.objects.create(source=source, domain="customer", status="partial", fetched=9, failed=1,
                                 error="1 record refused", cursor_after={"value": "2024-01-02"})  # fmt: skip
    failure = queued(source, golden=customers.a_sales, key="RUN-A", run=run)
    return run, failure


def test_inbound_bad_data_is_not_said_to_be_refused_by_a_target_and_the_direction_has_its_column(superuser, customers):
    inbound = queued(golden=customers.a, key="IN-1")
    queued(golden=customers.b, key="OUT-1", direction=FailureDirection.OUTBOUND, stage=FailureStage.PUSH,
           classification=FailureClass.TRANSIENT)  # fmt: skip

    html = browser(superuser).get(QUEUE).content.decode()

    assert "refused by the target" not in html and "gave up after retries" not in html
    assert '<td class="field-class_label">Bad data</td>' in html
    assert '<td class="field-class_label">Transient</td>' in html
    assert '<td class="field-direction_label">Inbound</td>' in html
    assert '<td class="field-direction_label">Outbound</td>' in html
    item = browser(superuser).get(admin_url(inbound, "change", inbound.pk)).content.decode()
    assert "Bad data" in item and "refused by the target" not in item


def test_the_queue_page_is_titled_failed_syncs(superuser):
    html = browser(superuser).get(QUEUE).content.decode()

    assert "<h1>Failed syncs</h1>" in html and "Select sync failure" not in html


def test_a_steward_follows_a_failure_to_its_run_and_reads_its_status_and_counts(resolver_a, run_of_a):
    run, failure = run_of_a
    client = browser(resolver_a)
    run_url = admin_url(SyncRun, "change", run.pk)

    item = client.get(admin_url(failure, "change", failure.pk)).content.decode()
    page = client.get(run_url)

    assert f'<a href="{run_url}">Sync run #{run.pk}</a>' in item
    assert page.status_code == 200
    html = page.content.decode()
    assert "Partly failed" in html and "crm-run" in html
    assert "1 record refused" not in html and "2024-01-02" not in html  # the integration team's details


def test_a_steward_cannot_open_a_run_that_produced_none_of_their_failures(resolver_b, run_of_a):
    run, _failure = run_of_a

    response = browser(resolver_b).get(admin_url(SyncRun, "change", run.pk))

    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_a_steward_without_the_queue_may_not_open_runs(steward_a, run_of_a):
    run, _failure = run_of_a

    assert browser(steward_a).get(admin_url(SyncRun, "change", run.pk)).status_code == 403

