"""Sync bookkeeping: where each pull stands (state), what each run did, what failed."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from masterdata.fields import SealedJSONField, SealedQuerySet, SealedTextField
from masterdata.models import SourceSystem
from masterdata.registry import domain_choices

from .delivery import FailureClass, PushTarget, WebhookSubscription


class SyncState(models.Model):
    """Where the pull of one source/domain stands: the cursor of the last committed page.

    ``lock_token`` / ``locked_until`` are the database lease that stops two pulls overlapping
    when there is no Redis (the quick start's filesystem broker), see :mod:`connectors.services.locks`.
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="sync_states")
    domain = models.CharField(max_length=40, choices=domain_choices)
    cursor = models.JSONField(null=True, blank=True, help_text='{"value": …, "key": …}; empty = read everything.')
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True, help_text="Last complete full reconcile run.")
    lock_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source__code", "domain"]
        constraints = [models.UniqueConstraint(fields=["source", "domain"], name="syncstate_unique_source_domain")]

    def __str__(self) -> str:
        return f"{self.source.code if self.source_id else '?'} · {self.domain}"


class SyncTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"
    INGEST = "ingest", "Ingest endpoint"
    COMMAND = "command", "Command"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partly failed"
    FAILED = "failed", "Failed"


#: The counters of a run, in display order.
RUN_COUNTS = ("fetched", "created", "updated", "unchanged", "conflicts", "duplicates", "failed")


class SyncRun(models.Model):
    """One pull of one source/domain. Counts grow page by page as pages commit (progress).

    ``succeeded``: every record went through; ``partial``: the run finished but some records or a
    page went to the failure queue; ``failed``: the run stopped (credentials, configuration,
    an unreachable source, an unexpected error) — ``error`` says why.
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="sync_runs")
    domain = models.CharField(max_length=40, choices=domain_choices)
    trigger = models.CharField(max_length=10, choices=SyncTrigger.choices, default=SyncTrigger.MANUAL)
    full = models.BooleanField(default=False, help_text="A full reconcile run (reads everything).")
    status = models.CharField(max_length=10, choices=SyncRunStatus.choices, default=SyncRunStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    vanished = models.PositiveIntegerField(default=0, help_text="Links flagged vanished by a full run.")
    cursor_before = models.JSONField(null=True, blank=True)
    cursor_after = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in SyncRunStatus]), name="syncrun_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(trigger__in=[t.value for t in SyncTrigger]), name="syncrun_trigger_valid"
            ),
        ]
        # In the runs' order: "the last N runs" of a source/domain, read as every run ends (alerts), is a short
        # index scan however many runs real-time ingest has written, not a sort of all of them.
        indexes = [models.Index(fields=["source", "domain", "-started_at", "-id"], name="syncrun_source_domain_idx")]

    def __str__(self) -> str:
        return f"{self.source.code if self.source_id else '?'} · {self.domain} · {self.started_at:%Y-%m-%d %H:%M}"

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RUN_COUNTS}


class FailureStage(models.TextChoices):
    FETCH = "fetch", "Fetch (a page the source sent malformed)"
    MAP = "map", "Map"
    VALIDATE = "validate", "Validate"
    MATCH = "match", "Match"
    WRITE = "write", "Write"
    PUSH = "push", "Push (delivery to a target)"
    WEBHOOK = "webhook", "Webhook batch"


class FailureDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound (from the source)"
    OUTBOUND = "outbound", "Outbound (to a target or subscriber)"


class FailureStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISCARDED = "discarded", "Discarded"


class SyncFailure(models.Model):
    """The failure queue: a record (or a page) the pipeline could not take, kept to retry.

    One open failure per source/domain/``fingerprint``/direction (the source key; ``page`` for a
    fetch failure; a payload hash for a record without a key; ``push:<golden id>`` for a record a
    target would not take): failing again adds an attempt to the same row; the record's later
    success resolves it.

    Outbound failures are dead letters of push delivery (``push_target``, ``golden_id``) or of a
    webhook batch (``subscription``, no source); ``classification`` says whether retrying may
    help (transient) or the data or configuration must change first.

    ``owner_org`` is set when the failure is recorded (:mod:`connectors.services.failures`): the
    owner of the record it concerns, else the org unit its mapped values name, else the group.
    """

    source = models.ForeignKey(
        SourceSystem, null=True, blank=True, on_delete=models.CASCADE, related_name="sync_failures"
    )
    direction = models.CharField(max_length=10, choices=FailureDirection.choices, default=FailureDirection.INBOUND)
    classification = models.CharField(max_length=16, choices=FailureClass.choices, blank=True, default="")
    golden_id = models.BigIntegerField(
        null=True, blank=True, help_text="The golden record the failure concerns (a push failed for, a pull linked to)."
    )
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Whose failure it is (copied when recorded): the queue is scoped by it, like conflicts.",
    )
    push_target = models.ForeignKey(
        PushTarget, null=True, blank=True, on_delete=models.CASCADE, related_name="dead_letters"
    )
    subscription = models.ForeignKey(
        WebhookSubscription, null=True, blank=True, on_delete=models.CASCADE, related_name="dead_letters"
    )
    domain = models.CharField(max_length=40, choices=domain_choices, blank=True, help_text="Empty for a webhook batch.")
    stage = models.CharField(max_length=10, choices=FailureStage.choices)
    source_key = models.CharField(max_length=200, blank=True, default="")
    fingerprint = models.CharField(max_length=200, editable=False)
    payload = SealedJSONField(null=True, blank=True, encoder=DjangoJSONEncoder, help_text="The raw source record.")
    raw_body = SealedTextField(blank=True, default="", help_text="A page's body that was not valid JSON.")
    error = models.TextField()
    errors = models.JSONField(default=dict, blank=True, help_text="Field → messages.")
    attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=FailureStatus.choices, default=FailureStatus.OPEN)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="failures")
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="", help_text="Why it was resolved or discarded.")

    objects = SealedQuerySet.as_manager()

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "domain", "fingerprint", "direction"],
                condition=models.Q(status="open"),
                name="syncfailure_one_open_per_record",
            ),
            models.CheckConstraint(
                condition=models.Q(direction__in=[d.value for d in FailureDirection]),
                name="syncfailure_direction_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(stage__in=[s.value for s in FailureStage]), name="syncfailure_stage_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in FailureStatus]), name="syncfailure_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "-last_failed_at"], name="syncfailure_status_idx")]

    def __str__(self) -> str:
        return f"{self.source.code if self.source_id else '?'} · {self.domain} · {self.source_key or self.stage}"
