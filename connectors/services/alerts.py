"""Alerts: the admins hear once about each incident, not once per failing run.

Three conditions are watched:

* **failing runs** — the last ``MDM_ALERT_FAILED_RUNS`` (3) finished runs of a source/domain
  failed; it ends with the next run that does not fail;
* **failure threshold** — a source/domain has more than ``MDM_ALERT_FAILURE_THRESHOLD`` (100)
  open failures in the queue; it ends once they are back to half the threshold (so a queue
  hovering around the threshold does not open and close incidents all day);
* **dead letters** — a push target or webhook has at least ``MDM_ALERT_DEAD_LETTERS`` (1) open
  dead letters; it ends when none is left.

A condition that starts opens an :class:`~connectors.models.Incident` and e-mails the admins
(``MDM_ALERT_EMAILS``, else every active superuser with an address) through Django's mail
backend; while it lasts nothing more is sent. After it ends, the same condition opens a new
incident and a new e-mail. Staff see open incidents on the admin's front page
(:class:`connectors.middleware.OpenIncidentsMiddleware`).

The checks run when a sync run ends (:func:`run_finished`, called by the pipeline) and
periodically (:func:`check_all`, the beat task ``connectors.tasks.check_alerts``) — the latter
also notices dead letters and a queue that stewards have worked off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins, send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from connectors.models import (
    FailureDirection,
    FailureStatus,
    Incident,
    IncidentKind,
    Mapping,
    PushTarget,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    WebhookSubscription,
)
from masterdata.models import SourceSystem

logger = logging.getLogger(__name__)

ON, OFF, HOLD = "on", "off", "hold"
SUBJECT_PREFIX = "[MDM Hub] "


@dataclass(frozen=True)
class Observation:
    """What a check saw: the condition started or holds (``on``), ended (``off``) or is in between (``hold``)."""

    kind: str
    key: str
    state: str
    value: int
    title: str
    detail: str


def failed_runs_limit() -> int:
    return max(1, int(getattr(settings, "MDM_ALERT_FAILED_RUNS", 3)))


def failure_threshold() -> int:
    return max(1, int(getattr(settings, "MDM_ALERT_FAILURE_THRESHOLD", 100)))


def dead_letter_threshold() -> int:
    return max(1, int(getattr(settings, "MDM_ALERT_DEAD_LETTERS", 1)))


def source_key(source_id: int, domain: str) -> str:
    return f"{source_id}:{domain}"


# --- observations ---------------------------------------------------------------------------------
def _last_finished_runs(source: SourceSystem, domain: str) -> QuerySet[SyncRun]:
    """The source/domain's finished runs, latest first."""
    runs = SyncRun.objects.filter(source=source, domain=domain).exclude(status=SyncRunStatus.RUNNING)
    return runs.order_by("-started_at", "-id")


def failing_runs(source: SourceSystem, domain: str, statuses: list[tuple[str, str]] | None = None) -> Observation:
    """Did the last N finished runs of the source/domain all fail? (``statuses``: their status and error, if read.)"""
    limit = failed_runs_limit()
    if statuses is None:
        statuses = list(_last_finished_runs(source, domain).values_list("status", "error")[:limit])
    in_a_row = 0
    for status, _error in statuses:
        if status != SyncRunStatus.FAILED:
            break
        in_a_row += 1
    state = ON if in_a_row >= limit else (OFF if not statuses or statuses[0][0] != SyncRunStatus.FAILED else HOLD)
    last_error = statuses[0][1] if statuses and in_a_row else ""
    return Observation(
        IncidentKind.FAILING_RUNS,
        source_key(source.pk, domain),
        state,
        in_a_row,
        f"{source.code} · {domain}: the last {in_a_row} sync runs failed",
        f"The last {in_a_row} runs of {source.code} ({source.name}) for {domain} failed.\nLast error: {last_error}",
    )


def open_failures(source: SourceSystem, domain: str, count: int) -> Observation:
    """Are more than the threshold of the source/domain's records waiting in the failure queue?"""
    threshold = failure_threshold()
    state = ON if count > threshold else (OFF if count <= threshold // 2 else HOLD)
    return Observation(
        IncidentKind.FAILURE_THRESHOLD,
        source_key(source.pk, domain),
        state,
        count,
        f"{source.code} · {domain}: {count} open failures in the queue",
        f"{count} records of {source.code} ({source.name}) for {domain} wait in the failure queue "
        f"(threshold {threshold}). Retry or discard them in the admin once their cause is fixed.",
    )


def dead_letters(key: str, label: str, count: int) -> Observation:
    threshold = dead_letter_threshold()
    state = ON if count >= threshold else (OFF if count == 0 else HOLD)
    return Observation(
        IncidentKind.DEAD_LETTERS,
        key,
        state,
        count,
        f"{label}: {count} dead letters",
        f"{count} deliveries to {label} gave up and are parked in the failure queue. "
        "Fix the cause, then retry them from the failure queue.",
    )


def _inbound_open_counts() -> dict[tuple[int, str], int]:
    """Open inbound failures per source/domain: one grouped query."""
    queryset = SyncFailure.objects.filter(
        status=FailureStatus.OPEN, direction=FailureDirection.INBOUND, source__isnull=False
    )
    rows = queryset.values("source_id", "domain").annotate(n=Count("id")).values_list("source_id", "domain", "n")
    return {(source, name): n for source, name, n in rows}


# --- entry points -------------------------------------------------------------------------------------
def run_finished(run: SyncRun) -> list[Incident]:
    """After a sync run ends: its source/domain's failing runs and failure queue. Never raises."""
    try:
        source = run.source
        statuses, count, any_open = _after_run(source, run.domain)
        observations = [failing_runs(source, run.domain, statuses), open_failures(source, run.domain, count)]
        if all(o.state == OFF for o in observations) and not any_open:
            return []  # the usual end of a run: nothing to open, no open incident to close or tell about
        return apply(observations)
    except Exception:  # an alert must never break the sync it watches
        logger.exception("alert check after sync run %s failed", run.pk)
        return []


def _after_run(source: SourceSystem, domain: str) -> tuple[list[tuple[str, str]], int, bool]:
    """The last N finished runs (status, error), the open inbound failures and whether any incident is open.

    One query, as every run ends: the count and the incidents ride on the runs' rows (each evaluated
    once); without a finished run they are read on their own.
    """
    failures = SyncFailure.objects.filter(
        status=FailureStatus.OPEN, direction=FailureDirection.INBOUND, source=source, domain=domain
    )
    rows = list(
        _last_finished_runs(source, domain)
        .annotate(
            open_failures=Subquery(failures.order_by().values("domain").annotate(n=Count("id")).values("n")),
            any_incident=Exists(Incident.objects.filter(closed_at__isnull=True)),
        )
        .values_list("status", "error", "open_failures", "any_incident")[: failed_runs_limit()]
    )
    if not rows:
        return [], failures.count(), Incident.objects.filter(closed_at__isnull=True).exists()
    return [(status, error) for status, error, _, _ in rows], rows[0][2] or 0, rows[0][3]


def check_all() -> list[Incident]:
    """Every watched condition (beat): sources, failure queues, dead letters; closes what ended."""
    open_keys = set(Incident.objects.filter(closed_at__isnull=True).values_list("kind", "key"))
    pairs = set(Mapping.objects.values_list("source_id", "domain"))
    for kind, key in open_keys:
        if kind in (IncidentKind.FAILING_RUNS, IncidentKind.FAILURE_THRESHOLD):
            source_id, _, domain = key.partition(":")
            pairs.add((int(source_id), domain))
    counts = _inbound_open_counts()
    pairs |= set(counts)
    sources = SourceSystem.objects.in_bulk({source_id for source_id, _ in pairs})
    observations = []
    for source_id, domain in sorted(pairs):
        source = sources.get(source_id)
        if source is not None:
            observations += [
                failing_runs(source, domain),
                open_failures(source, domain, counts.get((source_id, domain), 0)),
            ]
    observations += _dead_letter_observations(open_keys)
    return apply(observations)


def _dead_letter_observations(open_keys: set[tuple[str, str]]) -> list[Observation]:
    outbound = SyncFailure.objects.filter(status=FailureStatus.OPEN, direction=FailureDirection.OUTBOUND)
    by_target = dict(
        outbound.filter(push_target__isnull=False)
        .values("push_target")
        .annotate(n=Count("id"))
        .values_list("push_target", "n")
    )
    by_webhook = dict(
        outbound.filter(subscription__isnull=False)
        .values("subscription")
        .annotate(n=Count("id"))
        .values_list("subscription", "n")
    )
    for kind, key in open_keys:
        if kind == IncidentKind.DEAD_LETTERS:
            prefix, _, pk = key.partition(":")
            (by_target if prefix == "target" else by_webhook).setdefault(int(pk), 0)
    targets = PushTarget.objects.select_related("source").in_bulk(list(by_target))
    webhooks = WebhookSubscription.objects.in_bulk(list(by_webhook))
    observations = [
        dead_letters(f"target:{pk}", f"push target {targets[pk]}" if pk in targets else f"push target #{pk}", n)
        for pk, n in sorted(by_target.items())
    ]
    observations += [
        dead_letters(f"webhook:{pk}", f"webhook {webhooks[pk]}" if pk in webhooks else f"webhook #{pk}", n)
        for pk, n in sorted(by_webhook.items())
    ]
    return observations


# --- incidents ------------------------------------------------------------------------------------------
def apply(observations: Iterable[Observation]) -> list[Incident]:
    """Open, update or close the incident of each observation; notify the new ones. Returns those opened."""
    now = timezone.now()
    opened = []
    for observation in observations:
        incident = _track(observation, now)
        if incident is not None:
            opened.append(incident)
    notify_pending()
    return opened


def _track(observation: Observation, now) -> Incident | None:
    current = Incident.objects.filter(kind=observation.kind, key=observation.key, closed_at__isnull=True)
    if observation.state == OFF:
        current.update(closed_at=now, value=observation.value, last_checked_at=now)
        return None
    if observation.state == HOLD:
        current.update(value=observation.value, last_checked_at=now)
        return None
    if current.update(value=observation.value, last_checked_at=now):
        return None  # still the same incident: nothing new to tell
    try:
        with transaction.atomic():
            return Incident.objects.create(
                kind=observation.kind,
                key=observation.key,
                title=observation.title[:300],
                detail=observation.detail,
                value=observation.value,
                opened_at=now,
                last_checked_at=now,
            )
    except IntegrityError:  # a concurrent check opened it first
        return None


def notify_pending() -> int:
    """E-mail each open incident nobody was told about yet; a notice is claimed before it is sent."""
    sent = 0
    for incident in Incident.objects.filter(closed_at__isnull=True, notified_at__isnull=True).order_by("id"):
        claimed = Incident.objects.filter(pk=incident.pk, notified_at__isnull=True).update(notified_at=timezone.now())
        if not claimed:
            continue  # another worker tells them
        try:
            _send(incident)
        except Exception:  # the mail server is down: try again at the next check
            logger.exception("could not e-mail the admins about incident %s", incident.pk)
            Incident.objects.filter(pk=incident.pk).update(notified_at=None)
            continue
        sent += 1
    return sent


def recipients() -> list[str]:
    configured = list(getattr(settings, "MDM_ALERT_EMAILS", []) or [])
    if configured:
        return configured
    users = get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def _send(incident: Incident) -> None:
    subject = SUBJECT_PREFIX + incident.title
    path = reverse("admin:connectors_incident_change", args=[incident.pk])
    body = (
        f"{incident.detail}\n\nOpened {incident.opened_at:%Y-%m-%d %H:%M %Z}. You will not be told again about "
        f"this incident; a new one is opened if it recurs after it closes.\nAdmin: {path}\n"
    )
    to = recipients()
    if to:
        send_mail(subject, body, None, to, fail_silently=False)
    else:
        mail_admins(incident.title, body, fail_silently=False)  # settings.ADMINS, if any


def open_incidents(limit: int) -> tuple[list[Incident], int]:
    """The newest open incidents (at most ``limit``) and how many are open."""
    queryset = Incident.objects.filter(closed_at__isnull=True).order_by("-opened_at", "-id")
    incidents = list(queryset[:limit])
    return incidents, (len(incidents) if len(incidents) < limit else queryset.count())
