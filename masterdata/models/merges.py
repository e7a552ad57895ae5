"""Merges of duplicate golden records, kept with everything needed to undo them.

History is append-only, so an unmerge cannot roll rows back: it writes new versions that
restore the state before the merge. For that the merge keeps a snapshot: both records'
values before, the values it wrote to the survivor, and the ids of every link, child record,
conflict and suspect pair it moved.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from masterdata.fields import SealedJSONField, SealedQuerySet
from masterdata.registry import domain_choices

from .governance import DuplicateSuspect


class MergeStatus(models.TextChoices):
    MERGED = "merged", "Merged"
    UNMERGED = "unmerged", "Unmerged"


class MergeRecord(models.Model):
    """One merge of ``loser`` into ``survivor`` (golden ids of ``domain``) and its undo snapshot.

    ``owner_org`` copies the survivor's owning org unit, as conflicts and suspects do, so
    stewards' lists are scoped without a join per domain.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    survivor_id = models.BigIntegerField()
    loser_id = models.BigIntegerField()
    suspect = models.ForeignKey(
        DuplicateSuspect, null=True, blank=True, on_delete=models.SET_NULL, related_name="merges"
    )
    suspect_status_before = models.CharField(max_length=16, blank=True, default="")
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    field_choices = models.JSONField(default=dict, blank=True, help_text='Field → "survivor" or "loser".')
    survivor_before = SealedJSONField(default=dict, encoder=DjangoJSONEncoder)
    loser_before = SealedJSONField(default=dict, encoder=DjangoJSONEncoder)
    survivor_after = SealedJSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The values the merge wrote to the survivor."
    )
    moved_links = models.JSONField(default=list, blank=True, help_text="[{id, last_pushed_version}]")
    moved_children = models.JSONField(default=list, blank=True, help_text="[{model, field, ids}]")
    moved_conflicts = SealedJSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    closed_conflicts = models.JSONField(default=list, blank=True)
    moved_suspects = models.JSONField(default=list, blank=True)
    moved_owned_rows = models.JSONField(
        default=list, blank=True, help_text="Conflicts and suspects owned by a merged org unit: [{model, ids}]."
    )
    status = models.CharField(max_length=10, choices=MergeStatus.choices, default=MergeStatus.MERGED)
    reason = models.TextField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(default=timezone.now)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerge_reason = models.TextField(blank=True, default="")
    kept_on_unmerge = models.JSONField(
        default=list, blank=True, help_text="Survivor fields changed after the merge, left as they were."
    )

    objects = SealedQuerySet.as_manager()

    class Meta:
        verbose_name = "merge"
        ordering = ["-merged_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "loser_id"],
                condition=models.Q(status="merged"),
                name="mergerecord_one_live_merge_per_loser",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in MergeStatus]), name="mergerecord_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(survivor_id=models.F("loser_id")), name="mergerecord_two_records"
            ),
        ]
        indexes = [
            models.Index(fields=["domain", "survivor_id"], name="mergerecord_survivor_idx"),
            models.Index(fields=["domain", "loser_id"], name="mergerecord_loser_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}: #{self.loser_id} → #{self.survivor_id} ({self.status})"
