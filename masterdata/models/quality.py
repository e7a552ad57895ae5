"""Data quality: rules per domain and field, the issues they find, and each record's score.

Rules are data, not code: a steward adds "supplier.tax_id must be a valid tax id of the
supplier's country" in the admin and the next sync and the next check obey it
(:mod:`masterdata.services.quality`). A *blocking* rule refuses what a source sends (the record
goes to the failure queue); a *warning* rule lets it through and records an issue.

Records are referenced by ``domain`` + ``golden_id`` (as conflicts and links are), so these
tables serve every domain of the registry. The score lives in its own table, not on the golden
record: a score that changes because a rule changed is not a new version of the record (no
history row, no outbox event, no push), and adding it needs no migration of every domain table.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from masterdata.registry import domain_choices


class RuleKind(models.TextChoices):
    REQUIRED = "required", "Required (not empty)"
    EMAIL = "email", "E-mail address"
    PHONE = "phone", "Phone number (by country)"
    TAX_ID = "tax_id", "Tax id (by country)"
    REGEX = "regex", "Matches a pattern"
    RANGE = "range", "Within a range"
    REFERENCE = "reference", "Refers to an existing record"
    UNIQUE = "unique", "Unique in the domain"


class Severity(models.TextChoices):
    BLOCKING = "blocking", "Blocking (a source's record is refused)"
    WARNING = "warning", "Warning (an issue is recorded)"


class QualityRule(models.Model):
    """One check of one field of a domain's golden records.

    ``params`` per kind (all optional unless said): phone and tax_id ``country`` (ISO code) or
    ``country_field`` (the record's field holding it, default ``country``), tax_id ``scheme``
    (a python-stdnum module such as ``cn.uscc``); regex ``pattern`` (required, must match the
    whole value); range ``min`` and/or ``max``; reference ``domain`` (of the referenced record;
    the foreign key's own when omitted) and ``active`` (the referenced record must be active,
    default true); unique ``ignore_case``.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    field = models.CharField(
        max_length=100, help_text='A golden field of the domain, or "attributes.<key>" for a mapped extra field.'
    )
    kind = models.CharField(max_length=12, choices=RuleKind.choices)
    params = models.JSONField(default=dict, blank=True, help_text='e.g. {"country": "CN"} or {"min": 0, "max": 1e9}.')
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    weight = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="How much a violation lowers the record's score, relative to the domain's other rules.",
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True, default="", help_text="Shown as the issue's message.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "field", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in RuleKind]), name="qualityrule_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=[s.value for s in Severity]), name="qualityrule_severity_valid"
            ),
        ]
        indexes = [models.Index(fields=["domain", "active"], name="qualityrule_domain_idx")]

    def __str__(self) -> str:
        return f"{self.domain}.{self.field}: {self.get_kind_display()} ({self.severity})"

    def clean(self) -> None:
        from masterdata.services.quality import rule_errors

        errors = rule_errors(self.domain, self.field, self.kind, self.params)
        if errors:
            raise ValidationError(errors)


class QualityIssue(models.Model):
    """A rule a golden record breaks; resolved (``resolved_at``) once the record complies again.

    One open issue per rule and record. ``value`` is what the record held, masked for sensitive
    fields; ``owner_org`` copies the record's owning org unit so stewards' lists are scoped
    without a join per domain.
    """

    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id = models.BigIntegerField()
    rule = models.ForeignKey(QualityRule, on_delete=models.CASCADE, related_name="issues")
    field = models.CharField(max_length=100)
    value = models.CharField(max_length=200, blank=True, default="")
    message = models.CharField(max_length=500)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "golden_id"],
                condition=models.Q(resolved_at__isnull=True),
                name="qualityissue_one_open_per_rule",
            ),
        ]
        indexes = [
            models.Index(fields=["domain", "golden_id"], name="qualityissue_record_idx"),
            models.Index(fields=["rule"], condition=models.Q(resolved_at__isnull=True), name="qualityissue_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}#{self.golden_id} · {self.field}: {self.message}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class QualityScore(models.Model):
    """A golden record's quality score, 0–100: the share of the domain's rule weight it satisfies."""

    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    open_issues = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(default=timezone.now)
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["domain", "golden_id"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "golden_id"], name="qualityscore_one_per_record"),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="qualityscore_at_most_100"),
        ]
        indexes = [models.Index(fields=["domain", "score"], name="qualityscore_domain_idx")]

    def __str__(self) -> str:
        return f"{self.domain}#{self.golden_id}: {self.score}"
