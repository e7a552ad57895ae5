"""Governance of golden records: survivorship rules, conflicts, duplicate suspects, the outbox.

Golden records of every domain are referenced by ``domain`` + ``golden_id`` (as source links
are), so one table serves the whole registry. ``owner_org`` copies the owning org unit of the
record at the time the row was written: stewards' work lists are scoped with the same
closure-table subquery as the records themselves, without a join per domain.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from masterdata.fields import SealedJSONField, SealedQuerySet
from masterdata.registry import domain_choices, registry

from .sources import SourceSystem

#: ``SurvivorshipRule.field`` of the rule that applies to every field without its own rule.
ANY_FIELD = "*"


class SurvivorshipStrategy(models.TextChoices):
    SYSTEM_OF_RECORD = "system_of_record", "System of record"
    TRUST = "trust", "Source trust rank"
    MOST_RECENT = "most_recent", "Most recent"
    STEWARD_ONLY = "steward_only", "Steward only"


class SurvivorshipRule(models.Model):
    """Which source's value survives for one field of a domain (``*``: the domain's default).

    Without any rule a field follows ``trust``: the source with the higher
    :meth:`SourceDomain.trust_for` rank wins.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    field = models.CharField(max_length=100, default=ANY_FIELD, help_text='A golden field, or "*" for every other.')
    strategy = models.CharField(max_length=20, choices=SurvivorshipStrategy.choices, default=SurvivorshipStrategy.TRUST)
    system_of_record = models.ForeignKey(
        SourceSystem,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The authoritative source (strategy 'system of record' only).",
    )

    class Meta:
        ordering = ["domain", "field"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "field"], name="survivorshiprule_unique_field"),
            models.CheckConstraint(
                condition=models.Q(strategy__in=[s.value for s in SurvivorshipStrategy]),
                name="survivorshiprule_strategy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(strategy=SurvivorshipStrategy.SYSTEM_OF_RECORD, system_of_record__isnull=False)
                | (~models.Q(strategy=SurvivorshipStrategy.SYSTEM_OF_RECORD) & models.Q(system_of_record__isnull=True)),
                name="survivorshiprule_sor_iff_strategy",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.domain}.{self.field}: {self.get_strategy_display()}"

    def clean(self) -> None:
        if self.domain not in registry:
            raise ValidationError({"domain": f"Unknown domain {self.domain!r}."})
        if self.field != ANY_FIELD and self.field not in registry.get(self.domain).field_names():
            raise ValidationError({"field": f"{self.field!r} is not a field of {self.domain}."})
        if self.strategy == SurvivorshipStrategy.SYSTEM_OF_RECORD and self.system_of_record_id is None:
            raise ValidationError({"system_of_record": "Name the system of record."})
        if self.strategy != SurvivorshipStrategy.SYSTEM_OF_RECORD and self.system_of_record_id is not None:
            raise ValidationError({"system_of_record": "Only the 'system of record' strategy names a source."})


class ConflictStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class ConflictReason(models.TextChoices):
    EQUAL_TRUST = "equal_trust", "Sources of equal standing disagree"
    CONTRADICTS_SYSTEM_OF_RECORD = "contradicts_system_of_record", "Contradicts the system of record"
    TWO_WAY_COLLISION = "two_way_collision", "Changed in the hub and in the source"


class Conflict(models.Model):
    """Sources disagree on one field of one golden record; a steward decides.

    ``candidates`` keeps every offered value: ``[{source, value, observed_at, trust}]``, one
    entry per source (a source's newer value replaces its older one). The golden value stays
    as it was until the conflict is resolved.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id = models.BigIntegerField()
    field = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN)
    reason = models.CharField(max_length=40, choices=ConflictReason.choices)
    golden_value = SealedJSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    candidates = SealedJSONField(default=list, blank=True, encoder=DjangoJSONEncoder, items_key="value")
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_value = SealedJSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    resolution_note = models.TextField(blank=True, default="")

    objects = SealedQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "golden_id", "field"],
                condition=models.Q(status="open"),
                name="conflict_one_open_per_field",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ConflictStatus]), name="conflict_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(reason__in=[r.value for r in ConflictReason]), name="conflict_reason_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["domain", "golden_id"], name="conflict_golden_idx"),
            models.Index(fields=["status", "opened_at"], name="conflict_status_idx"),
        ]

    def __str__(self) -> str:
        """``customer CUS-000029.address (resolved)`` when the record's code is annotated, else by id."""
        code = getattr(self, "golden_code", None)
        record = f"{self.domain} {code}" if code else f"{self.domain}#{self.golden_id}"
        return f"{record}.{self.field} ({self.get_status_display().lower()})"


class SuspectStatus(models.TextChoices):
    OPEN = "open", "Open"
    MERGED = "merged", "Merged"
    NOT_DUPLICATE = "not_duplicate", "Not a duplicate"


class DuplicateSuspect(models.Model):
    """Two golden records that may be the same real-world thing.

    The pair is stored ordered (``golden_id_a < golden_id_b``) and is unique per domain, so a
    pair a steward marked "not a duplicate" is never suggested again.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id_a = models.BigIntegerField()
    golden_id_b = models.BigIntegerField()
    score = models.FloatField()
    reasons = models.JSONField(default=dict, blank=True, help_text="Which keys or fields matched, with their scores.")
    status = models.CharField(max_length=16, choices=SuspectStatus.choices, default=SuspectStatus.OPEN)
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "golden_id_a", "golden_id_b"], name="duplicatesuspect_pair"),
            models.CheckConstraint(
                condition=models.Q(golden_id_a__lt=models.F("golden_id_b")), name="duplicatesuspect_pair_ordered"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in SuspectStatus]), name="duplicatesuspect_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["domain", "golden_id_b"], name="duplicatesuspect_b_idx"),
            models.Index(fields=["status", "score"], name="duplicatesuspect_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}: {self.golden_id_a} ~ {self.golden_id_b} ({self.score:.1f})"


class ChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"
    MERGED = "merged", "Merged"


class CurrentTransactionId(models.Func):
    """The writing transaction's id: ``pg_current_xact_id()`` on PostgreSQL, NULL elsewhere.

    A column default, so every insert (ORM, bulk, COPY) records it without a query of its own.
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "pg_current_xact_id()::text::bigint", []


class ChangeEvent(models.Model):
    """The outbox: one row per new version of a golden record, written in the same transaction.

    Readers (push dispatch, the change feed, webhooks) read it through
    :mod:`masterdata.services.changefeed`, which serves events in commit order using ``txid``
    (the writing transaction). ``origin_source`` lets push delivery skip the system the change
    came from (echo suppression); ``owner_org`` — the record's owning org unit when the event was
    written — scopes the feed to what a reader may see, without a join per domain.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id = models.BigIntegerField()
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    changed_fields = models.JSONField(default=list, blank=True)
    origin_source = models.ForeignKey(SourceSystem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    txid = models.BigIntegerField(
        null=True, blank=True, editable=False, db_default=CurrentTransactionId(), help_text="The writing transaction."
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in ChangeKind]), name="changeevent_kind_valid"
            )
        ]
        indexes = [
            models.Index(fields=["domain", "golden_id", "version"], name="changeevent_golden_idx"),
            models.Index(fields=["txid", "id"], name="changeevent_txid_idx"),
            models.Index(fields=["occurred_at"], name="changeevent_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}#{self.golden_id} v{self.version} {self.kind}"
