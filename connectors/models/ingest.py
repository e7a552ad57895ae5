"""Idempotency keys of the ingest endpoint: the first answer to a key, kept to replay it."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from masterdata.fields import SealedJSONField, SealedQuerySet
from masterdata.models import SourceSystem
from masterdata.registry import domain_choices

KEY_MAX_LENGTH = 255


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` a user sent for one source/domain, with the request's hash and the answer.

    Why a row and not a cache entry: the row is inserted in the same transaction that writes the
    records, so the key and the writes commit (or roll back) together, and a second request with
    the same key waits on the unique index until the first has finished — it can never write twice.
    ``response_status`` is empty only inside that transaction; nobody else ever sees it so.
    """

    key = models.CharField(max_length=KEY_MAX_LENGTH)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=40, choices=domain_choices)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the request body as canonical JSON.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = SealedJSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = SealedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "source", "domain", "key"], name="idempotencykey_unique_scope")
        ]

    def __str__(self) -> str:
        source = self.source.code if self.source_id else "?"
        return f"{source} · {self.domain} · {self.key}"
