"""Alerts: one e-mail per incident — failing sources, a filling failure queue, dead letters — and the admin notice."""

from __future__ import annotations

import pytest

from connectors.models import (
    FailureDirection,
    FailureStage,
    Incident,
    IncidentKind,
    PushTarget,
    SyncFailure,
    SyncRun,
)
from connectors.services import alerts, failures, pipeline
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, SEED_CRM_FIELDS, make_source, map_source
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def alert_settings(settings):
    settings.MDM_ALERT_FAILED_RUNS = 3
    settings.MDM_ALERT_FAILURE_THRESHOLD = 4
    settings.MDM_ALERT_DEAD_LETTERS = 1
    settings.MDM_ALERT_EMAILS = ["ops@example.com"]
    return settings


@pytest.fixture
def crm(db):
    """A CRM with a mapping but no connection: every pull fails (a configuration error)."""
    source = make_source("crm", kind="crm")
    map_source(source, "customer", SEED_CRM_FETCH, SEED_CRM_FIELDS)
    return source


def failing_pull(source) -> SyncRun:
    run = pipeline.pull(source, "customer").run
    assert run.status == "failed"
    return run


def good_ingest(source) -> SyncRun:
    run = pipeline.ingest_records(source, "customer", [{"id": "C-OK", "name": "Fine"}]).run
    assert run.status == "succeeded"
    return run


def open_incidents(kind: str = IncidentKind.FAILING_RUNS) -> list[Incident]:
    return list(Incident.objects.filter(kind=kind, closed_at__isnull=True))


# --- a source failing run after run ----------------------------------------------------------------
def test_n_failed_runs_in_a_row_open_one_incident_and_send_exactly_one_email(crm, mailoutbox):
    failing_pull(crm)
    failing_pull(crm)
    assert (open_incidents(), mailoutbox) == ([], [])

    failing_pull(crm)

    (incident,) = open_incidents()
    assert (incident.key, incident.value, incident.notified_at is not None) == (f"{crm.pk}:customer", 3, True)
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert mail.subject == "[MDM Hub] crm · customer: the last 3 sync runs failed"
    assert "has no connection" in mail.body


def test_more_failures_within_the_same_incident_send_no_more_email(crm, mailoutbox):
    for _ in range(6):
        failing_pull(crm)
    alerts.check_all()

    (incident,) = open_incidents()
    assert incident.value == 3  # the last N runs, all failed
    assert len(mailoutbox) == 1


def test_a_run_that_succeeds_closes_the_incident_and_the_next_failing_streak_opens_a_new_one(crm, mailoutbox):
    for _ in range(3):
        failing_pull(crm)
    first = open_incidents()[0]

    good_ingest(crm)

    first.refresh_from_db()
    assert first.closed_at is not None
    assert open_incidents() == []

    failing_pull(crm)
    assert open_incidents() == []  # one failure is not yet a streak
    failing_pull(crm)
    failing_pull(crm)

    (second,) = open_incidents()
    assert second.pk != first.pk
    assert len(mailoutbox) == 2


def test_the_last_runs_are_read_from_the_index_without_sorting_every_run(crm):
    """Each real-time ingest post is a run and each run's end reads the last N: that must not grow with the runs."""
    from django.db import connection

    SyncRun.objects.bulk_create(
        SyncRun(source=crm, domain="customer", status="succeeded", trigger="ingest") for _ in range(300)
    )
    query = alerts._last_finished_runs(crm, "customer").values_list("status")[:3]

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connectors_syncrun")  # statistics, as autovacuum keeps them in production
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would be read whole anyway
        plan = query.explain()

    assert "syncrun_source_domain_idx" in plan
    assert "Sort" not in plan  # the index holds the runs in their order: no sort of all of them


def test_alerts_never_break_the_run_they_watch(crm, monkeypatch, mailoutbox):
    def broken(*args, **kwargs):
        raise RuntimeError("alert store down")

    monkeypatch.setattr(alerts, "apply", broken)

    assert failing_pull(crm).status == "failed"
    assert mailoutbox == []


def test_a_notice_the_mail_server_refused_is_sent_at_the_next_check(crm, monkeypatch, mailoutbox):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(alerts, "send_mail", refuse)
    for _ in range(3):
        failing_pull(crm)
    assert open_incidents()[0].notified_at is None

    monkeypatch.undo()
    alerts.check_all()

    assert open_incidents()[0].notified_at is not None
    assert len(mailoutbox) == 1


def test_without_configured_addresses_the_superusers_are_told(crm, alert_settings, mailoutbox):
    alert_settings.MDM_ALERT_EMAILS = []
    UserFactory(username="root", email="root@example.com", is_superuser=True, is_staff=True)
    UserFactory(username="gone", email="gone@example.com", is_superuser=True, is_active=False)
    UserFactory(username="clerk", email="clerk@example.com")

    for _ in range(3):
        failing_pull(crm)

    assert mailoutbox[0].to == ["root@example.com"]


# --- the failure queue ----------------------------------------------------------------------------------
def test_open_failures_above_the_threshold_open_one_incident_until_the_queue_is_worked_off(crm, mailoutbox):
    bad = [{"id": f"C-{n}", "name": "X", "credit_score": "far too long for a credit rating"} for n in range(5)]
    pipeline.ingest_records(crm, "customer", bad[:4])
    assert open_incidents(IncidentKind.FAILURE_THRESHOLD) == []  # 4 is not above 4

    pipeline.ingest_records(crm, "customer", bad)
    pipeline.ingest_records(crm, "customer", bad)

    (incident,) = open_incidents(IncidentKind.FAILURE_THRESHOLD)
    assert incident.value == 5
    assert len(mailoutbox) == 1
    queue = SyncFailure.objects.filter(status="open").order_by("id")

    failures.discard(list(queue.values_list("id", flat=True)[:2]))
    alerts.check_all()
    assert open_incidents(IncidentKind.FAILURE_THRESHOLD) == [incident]  # 3 left: not yet half the threshold

    failures.discard(list(queue.values_list("id", flat=True)[:1]))
    alerts.check_all()
    assert open_incidents(IncidentKind.FAILURE_THRESHOLD) == []
    assert len(mailoutbox) == 1


# --- dead letters -----------------------------------------------------------------------------------------
def park_dead_letter(target: PushTarget, golden_id: int) -> SyncFailure:
    return SyncFailure.objects.create(
        source=target.source,
        domain=target.domain,
        direction=FailureDirection.OUTBOUND,
        push_target=target,
        golden_id=golden_id,
        stage=FailureStage.PUSH,
        fingerprint=f"push:{golden_id}",
        error="422 Unprocessable Entity",
    )


def test_a_target_parking_dead_letters_is_one_incident_until_none_is_left(mailoutbox):
    erp = make_source("erp", kind="erp")
    target = PushTarget.objects.create(
        source=erp, domain="customer", resource="/customers", key_field="id", field_map={"name": "name"}
    )
    park_dead_letter(target, 1)

    alerts.check_all()
    park_dead_letter(target, 2)
    alerts.check_all()

    (incident,) = open_incidents(IncidentKind.DEAD_LETTERS)
    assert (incident.key, incident.value) == (f"target:{target.pk}", 2)
    assert len(mailoutbox) == 1
    assert "dead letters" in mailoutbox[0].subject

    SyncFailure.objects.update(status="resolved")
    alerts.check_all()

    assert open_incidents(IncidentKind.DEAD_LETTERS) == []


# --- the admin ----------------------------------------------------------------------------------------------
def test_staff_who_may_see_incidents_find_the_open_ones_on_the_admins_front_page(client, crm, superuser):
    for _ in range(3):
        failing_pull(crm)
    clerk = UserFactory(username="clerk", is_staff=True)

    client.force_login(superuser)
    page = client.get("/admin/").content.decode()
    assert "Open incident:" in page and "crm · customer: the last 3 sync runs failed" in page

    client.force_login(clerk)
    assert "Open incident:" not in client.get("/admin/").content.decode()


def test_incidents_are_read_only_in_the_admin(client, crm, superuser):
    for _ in range(3):
        failing_pull(crm)
    incident = open_incidents()[0]
    client.force_login(superuser)

    assert client.get("/admin/connectors/incident/").status_code == 200
    assert client.get(f"/admin/connectors/incident/{incident.pk}/change/").status_code == 200
    assert client.post(f"/admin/connectors/incident/{incident.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/connectors/incident/add/").status_code == 403
