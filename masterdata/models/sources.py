"""Source systems of the landscape and the cross-references (links) to their records."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator
from django.db import models

from masterdata import jsontext
from masterdata.fields import SealedJSONField, SealedQuerySet
from masterdata.registry import domain_choices, registry


class SourceKind(models.TextChoices):
    ERP = "erp", "ERP"
    CRM = "crm", "CRM"
    HR = "hr", "HR"
    OTHER = "other", "Other"


class SyncDirection(models.TextChoices):
    PULL = "pull", "Pull into the hub"
    PUSH = "push", "Push from the hub"
    BOTH = "both", "Both ways"


class SourceSystem(models.Model):
    """A system of the landscape (an ERP, a CRM, an HR system…) that the hub talks to."""

    code = models.SlugField(max_length=40, unique=True, help_text="Short stable id, used in URLs and config.")
    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=SourceKind.choices, default=SourceKind.OTHER)
    description = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in SourceKind]), name="sourcesystem_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class SourceDomain(models.Model):
    """How one source system takes part in one domain: direction and trust.

    ``trust_rank``: higher wins in survivorship; ``field_trust`` overrides it per golden field
    (``{"credit_rating": 90}``).
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=40, choices=domain_choices)
    direction = models.CharField(max_length=10, choices=SyncDirection.choices, default=SyncDirection.PULL)
    trust_rank = models.PositiveSmallIntegerField(
        default=50, validators=[MaxValueValidator(100)], help_text="0–100; higher wins."
    )
    field_trust = models.JSONField(default=dict, blank=True, help_text='Per-field ranks, e.g. {"credit_rating": 90}.')

    class Meta:
        ordering = ["source__code", "domain"]
        constraints = [
            models.UniqueConstraint(fields=["source", "domain"], name="sourcedomain_unique"),
            models.CheckConstraint(
                condition=models.Q(direction__in=[d.value for d in SyncDirection]), name="sourcedomain_direction_valid"
            ),
            models.CheckConstraint(condition=models.Q(trust_rank__lte=100), name="sourcedomain_trust_range"),
        ]

    def __str__(self) -> str:
        return f"{self.source} · {self.domain} ({self.direction})"

    def clean(self) -> None:
        if self.domain not in registry:
            raise ValidationError({"domain": f"Unknown domain {self.domain!r}."})
        if not isinstance(self.field_trust, dict):
            raise ValidationError({"field_trust": "Must be an object of field name → rank."})
        known = set(registry.get(self.domain).field_names())
        errors = []
        for name, rank in self.field_trust.items():
            if name not in known:
                errors.append(f"{name!r} is not a field of {self.domain}")
            elif not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank <= 100:
                errors.append(f"rank of {name!r} must be an integer 0–100")
        if errors:
            raise ValidationError({"field_trust": errors})

    def trust_for(self, field_name: str) -> int:
        return int(self.field_trust.get(field_name, self.trust_rank))

    @property
    def pulls(self) -> bool:
        return self.direction in (SyncDirection.PULL, SyncDirection.BOTH)

    @property
    def pushes(self) -> bool:
        return self.direction in (SyncDirection.PUSH, SyncDirection.BOTH)


class LinkStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    VANISHED = "vanished", "Vanished from the source"


class SourceLink(models.Model):
    """Cross-reference: (source system, domain, source key) ↔ golden record.

    The golden record is referenced by domain + id rather than a FK so one table serves every
    domain of the registry. ``source_values`` is kept once the hub pushes to the source: a push
    sends only what differs from it, and a value the source reports that equals it is the echo
    of a push, not a change of the source's own (two-way sync, ``connectors.services.push``).
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="links")
    domain = models.CharField(max_length=40, choices=domain_choices)
    source_key = models.CharField(max_length=200)
    golden_id = models.BigIntegerField(db_index=False)
    status = models.CharField(max_length=10, choices=LinkStatus.choices, default=LinkStatus.ACTIVE)
    last_payload = SealedJSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    payload_hash = models.CharField(max_length=64, blank=True, default="")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_pushed_version = models.PositiveIntegerField(null=True, blank=True)
    source_values = SealedJSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Golden field → value the source is known to hold: what the hub last pushed, or it last reported.",
    )
    source_etag = models.CharField(max_length=200, blank=True, default="", help_text="The source's ETag of it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SealedQuerySet.as_manager()

    class Meta:
        ordering = ["source__code", "domain", "source_key"]
        constraints = [
            models.UniqueConstraint(fields=["source", "domain", "source_key"], name="sourcelink_unique_key"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in LinkStatus]), name="sourcelink_status_valid"
            ),
        ]
        indexes = [
            # A golden record's links; with the source in the index, the duplicate matcher's check
            # "is this record linked to the pulling source?" (one per candidate) never reads the table.
            models.Index(fields=["domain", "golden_id", "source"], name="sourcelink_golden_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source.code}:{self.domain}:{self.source_key}"

    @staticmethod
    def hash_payload(payload: Any) -> str:
        """Stable SHA-256 of a payload: same content, same hash, whatever the key order.

        The hash of the compact JSON text with sorted keys (:func:`masterdata.jsontext.dumps`):
        every record of every sync is hashed, and most are then skipped as unchanged.
        """
        return hashlib.sha256(jsontext.dumps(payload, DjangoJSONEncoder, sort_keys=True)).hexdigest()

    @property
    def golden_record(self):
        return registry.get(self.domain).model_class.objects.filter(pk=self.golden_id).first()
