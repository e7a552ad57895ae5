"""Outbound sync: push targets, deliveries of golden changes to them, webhook subscriptions.

A :class:`PushTarget` says how one domain's golden records go to one source system (which
golden fields, under which target names: the reverse of a mapping). Every outbox event of the
domain becomes one :class:`Delivery` per target whose :class:`~masterdata.models.SourceDomain`
direction is ``push`` or ``both``; deliveries of one golden record are coalesced into one push
of its current state. :class:`WebhookSubscription` sends signed batches of change events to a
consumer's URL; each batch is a :class:`WebhookDelivery`. :class:`FeedCursor` keeps the
dispatcher's place in the change feed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from connectors.crypto import EncryptedTextField
from masterdata.models import ChangeEvent, SourceSystem
from masterdata.registry import domain_choices, registry


class Lease(models.Model):
    """A lease one worker holds on a row while it sends (one sender per target or subscription).

    A lease, not ``SELECT … FOR UPDATE``: a row lock lives only as long as a transaction, and a
    transaction must not stay open across HTTP calls. A killed worker's lease simply expires.
    """

    lease_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class PushTarget(Lease):
    """How one domain's golden records are pushed to one source system.

    ``field_map``: ``[{"golden": "name", "target": "OrganizationBPName1", "transforms": [...]}, …]``
    (or the shorthand ``{"name": "OrganizationBPName1"}``); only these fields are sent. Entries
    may instead give a ``constant``. Targets are dotted paths (nested objects; SCIM extension
    URNs are kept whole). ``key_field`` is where the target keeps its key (learned from the
    response to a create and stored on the source link); ``lookup_field`` a target field holding
    a value of the golden record (usually its code) by which a record an earlier, unanswered
    create may have made is found before creating again. ``options`` are protocol extras
    (``connectors/README.md``).
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="push_targets")
    domain = models.CharField(max_length=40, choices=domain_choices)
    resource = models.CharField(
        max_length=300, help_text="Entity set (OData), collection path (REST) or resource type path (SCIM: /Users)."
    )
    key_field = models.CharField(max_length=200, help_text="Where the target keeps the record's key.")
    lookup_field = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Target field matched by the golden record's own value to find a record a lost create made.",
    )
    field_map = models.JSONField(
        default=list, help_text='[{"golden": "name", "target": "displayName"}, …] or {"name": "displayName"}.'
    )
    options = models.JSONField(default=dict, blank=True)
    bulk = models.JSONField(
        default=dict,
        blank=True,
        help_text="REST only, where the API documents a bulk write: path, items_key, max_items, how answers are "
        "read (connectors/README.md). Empty: one request per record.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Attempts before a delivery is parked as a dead letter; empty = MDM_PUSH_MAX_ATTEMPTS.",
    )
    batch_size = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)], help_text="Records handled per round."
    )
    paused = models.BooleanField(default=False, help_text="Deliveries queue up but are not sent.")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source__code", "domain"]
        constraints = [models.UniqueConstraint(fields=["source", "domain"], name="pushtarget_unique_source_domain")]

    def __str__(self) -> str:
        return f"{self.domain} → {self.source.code if self.source_id else '?'}"

    def option(self, name: str, default: Any = None) -> Any:
        return (self.options or {}).get(name, default)

    def clean(self) -> None:
        from connectors.services.outbound import validate_push_map

        if self.domain not in registry:
            raise ValidationError({"domain": f"Unknown domain {self.domain!r}."})
        errors: dict[str, list[str]] = {}
        messages = validate_push_map(self.domain, self.field_map)
        if messages:
            errors["field_map"] = messages
        if not isinstance(self.options, dict):
            errors["options"] = ["Must be an object."]
        if self.bulk:
            from connectors.protocols.rest_bulk import bulk_errors

            errors["bulk"] = bulk_errors(self.bulk)
            connection = getattr(self.source, "connection", None) if self.source_id else None
            if connection is not None and connection.protocol != "rest":
                errors["bulk"].append(f"bulk writes are for REST targets; this one speaks {connection.protocol}")
            if not errors["bulk"]:
                del errors["bulk"]
        if errors:
            raise ValidationError(errors)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"


class DeliveryTrigger(models.TextChoices):
    EVENT = "event", "Change event"
    REPLAY = "replay", "Replay"
    RESYNC = "resync", "Resync after a decision"


class FailureClass(models.TextChoices):
    TRANSIENT = "transient", "Transient (gave up after retries)"
    BAD_DATA = "bad_data", "Bad data (refused by the target)"
    CONFIGURATION = "configuration", "Configuration (credentials, mapping, protocol)"


class Delivery(models.Model):
    """One golden change on its way to one target.

    ``version`` is the version the event announced; ``delivered_version`` the version actually
    sent — a later one when several pending changes of the record were coalesced into one push.
    ``attempts`` counts pushes of the record that failed while this delivery waited.
    """

    target = models.ForeignKey(PushTarget, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(ChangeEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=40, choices=domain_choices)
    golden_id = models.BigIntegerField()
    version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=DeliveryTrigger.choices, default=DeliveryTrigger.EVENT)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    classification = models.CharField(max_length=16, choices=FailureClass.choices, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "target"], condition=models.Q(event__isnull=False), name="delivery_one_per_event"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in DeliveryStatus]), name="delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(trigger__in=[t.value for t in DeliveryTrigger]), name="delivery_trigger_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["target", "next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_due_idx",
            ),
            models.Index(fields=["target", "domain", "golden_id", "status"], name="delivery_record_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}#{self.golden_id} v{self.version} → {self.target_id} ({self.status})"


class WebhookSubscription(Lease):
    """A consumer's URL that receives signed batches of change events.

    The subscription reads the change feed from ``position`` (a feed position, see
    :mod:`masterdata.services.changefeed`) and sees only the events of records its ``owner`` may
    view. The ``secret`` signs each batch: ``X-MDM-Signature: t=<unix time>,v1=<hex HMAC-SHA256
    of "<t>.<body>">``.
    """

    name = models.CharField(max_length=120, unique=True)
    url = models.URLField(max_length=500)
    domains = models.JSONField(default=list, blank=True, help_text='Domains to send, e.g. ["customer"]; empty = all.')
    secret = EncryptedTextField(help_text="Shared secret for the signature; or ${ENV:NAME}.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    paused = models.BooleanField(default=False)
    position = models.TextField(blank=True, default="", help_text="Feed position after the last batch sent.")
    batch_size = models.PositiveIntegerField(default=100, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    max_attempts = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.domains, list) or any(d not in registry for d in self.domains):
            raise ValidationError({"domains": "A list of known domain names."})
        if not self.secret:
            raise ValidationError({"secret": "A webhook needs a secret to sign its batches."})


class WebhookDelivery(models.Model):
    """One signed batch of events for a subscription, kept to be sent again unchanged."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    batch_id = models.CharField(max_length=40, unique=True)
    body = models.TextField(help_text="The exact JSON body sent (its signature is renewed on each attempt).")
    event_count = models.PositiveIntegerField(default=0)
    first_event_id = models.BigIntegerField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    position_after = models.TextField(help_text="The subscription's position once this batch is delivered.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True, default="")
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    classification = models.CharField(max_length=16, choices=FailureClass.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in DeliveryStatus]), name="webhookdelivery_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["subscription", "status"], name="webhookdelivery_open_idx")]

    def __str__(self) -> str:
        return f"{self.subscription_id} · {self.batch_id} ({self.status})"

    @property
    def payload(self) -> dict[str, Any]:
        import json

        return json.loads(self.body)


class FeedCursor(models.Model):
    """A reader's place in the change feed (the push dispatcher's: ``dispatch``)."""

    name = models.CharField(max_length=60, unique=True)
    position = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


__all__ = [
    "Delivery",
    "DeliveryStatus",
    "DeliveryTrigger",
    "FailureClass",
    "FeedCursor",
    "PushTarget",
    "WebhookDelivery",
    "WebhookSubscription",
]
