"""Incidents: conditions the admins are told about once, not once per failing run.

An incident opens when a condition starts (a source failed its last N runs, a target parked
dead letters, the failure queue of a source grew past a threshold) and closes when it ends.
The admins get one notice per incident (``notified_at``); the same condition after a close is
a new incident and a new notice. See :mod:`connectors.services.alerts`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IncidentKind(models.TextChoices):
    FAILING_RUNS = "failing_runs", "A source failed several runs in a row"
    FAILURE_THRESHOLD = "failure_threshold", "Too many open failures of a source"
    DEAD_LETTERS = "dead_letters", "Dead letters of a push target or webhook"


class Incident(models.Model):
    """One occurrence of a condition; ``key`` names what it is about (``crm:customer``, ``target:3``)."""

    kind = models.CharField(max_length=20, choices=IncidentKind.choices)
    key = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True, default="")
    value = models.PositiveIntegerField(
        default=0, help_text="Failed runs, open failures or dead letters when last checked."
    )
    opened_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When the admins were told (once).")
    last_checked_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=models.Q(closed_at__isnull=True), name="incident_one_open_per_key"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in IncidentKind]), name="incident_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["closed_at", "-opened_at"], name="incident_open_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
