"""How one source system's records of one domain are read and turned into golden values."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_celery_beat.validators import crontab_validator

from connectors.errors import ConfigurationError
from connectors.protocols.base import FetchSpec
from masterdata.models import SourceSystem
from masterdata.registry import domain_choices, registry


class Mapping(models.Model):
    """Per source system and domain: where the records are, their key, and the field map.

    ``fetch_spec`` is a :class:`~connectors.protocols.base.FetchSpec` as JSON (resource, record
    path, key and cursor fields, pagination, look-back…). ``source_key`` is the path of the
    record's key when it differs from the spec's ``key_field``. ``field_map`` is documented in
    :mod:`connectors.services.mapping`. ``schedule`` and ``reconcile_schedule`` are crontab
    expressions (``*/15 * * * *``): saving the mapping keeps a django-celery-beat periodic task
    for each (incremental pull; full reconcile run) in step.
    """

    source = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="mappings")
    domain = models.CharField(max_length=40, choices=domain_choices)
    is_active = models.BooleanField(default=True, help_text="Inactive mappings are neither scheduled nor pulled.")
    fetch_spec = models.JSONField(
        default=dict,
        help_text='Where records are: {"resource": "/api/customers", "record_path": "data", "key_field": "id", …}.',
    )
    source_key = models.CharField(
        max_length=300, blank=True, default="", help_text="Path of the source key; empty = the fetch spec's key_field."
    )
    field_map = models.JSONField(
        default=list,
        help_text='[{"source": "name", "target": "name", "transforms": [{"op": "trim"}]}, …] '
        'or {"source path": "golden field"}.',
    )
    keep_unmapped = models.BooleanField(
        default=False, help_text="Keep top-level source fields no entry maps in the record's attributes."
    )
    auto_link_score = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Link a record with no exact match to a fuzzy candidate scoring at least this; empty = never.",
    )
    schedule = models.CharField(
        max_length=120, blank=True, default="", help_text="Incremental pull, crontab (min hour day month weekday)."
    )
    reconcile_schedule = models.CharField(
        max_length=120, blank=True, default="", help_text="Full reconcile run (flags vanished records), crontab."
    )
    pull_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    reconcile_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source__code", "domain"]
        constraints = [models.UniqueConstraint(fields=["source", "domain"], name="mapping_unique_source_domain")]
        # Held on the model: post to the ingest endpoint for every source/domain; held on one
        # mapping (django-guardian object permission): for that source/domain only.
        permissions = [("ingest_mapping", "Can post records through this mapping (ingest endpoint)")]

    def __str__(self) -> str:
        source = self.source.code if self.source_id else "?"
        return f"{source} → {self.domain}"

    @property
    def key_path(self) -> str:
        return self.source_key or str((self.fetch_spec or {}).get("key_field") or "")

    def spec(self) -> FetchSpec:
        """The fetch spec; raises :class:`ConfigurationError` when it is not one."""
        if not isinstance(self.fetch_spec, dict):
            raise ConfigurationError("The fetch spec must be an object.")
        try:
            return FetchSpec.from_dict(self.fetch_spec)
        except TypeError as exc:
            raise ConfigurationError(f"The fetch spec is incomplete: {exc}.") from None

    def mapper(self):
        """The compiled field map (:class:`connectors.services.mapping.Mapper`, shared: see ``compiled``)."""
        from connectors.services.mapping import compiled

        return compiled(self.domain, self.field_map, key_path=self.key_path, keep_unmapped=self.keep_unmapped)

    def clean(self) -> None:
        from connectors.services.mapping import is_valid_path, validate_field_map

        errors: dict[str, list[str]] = {}
        if self.domain not in registry:
            raise ValidationError({"domain": f"Unknown domain {self.domain!r}."})
        try:
            self.spec()
        except ConfigurationError as exc:
            errors["fetch_spec"] = [exc.message]
        if self.source_key and not is_valid_path(self.source_key):
            errors["source_key"] = [f"Bad source path {self.source_key!r}."]
        elif not self.key_path:
            errors.setdefault("source_key", []).append("Name the source key (here or as the fetch spec's key_field).")
        messages = validate_field_map(self.domain, self.field_map)
        if messages:
            errors["field_map"] = messages
        for name in ("schedule", "reconcile_schedule"):
            value = getattr(self, name).strip()
            setattr(self, name, value)
            if value and len(value.split()) != 5:  # the validator lets "hourly" through; the beat task needs 5 fields
                errors[name] = [f"Not a crontab expression (minute hour day month weekday): {value!r}."]
            elif value:
                try:
                    crontab_validator(value)
                except ValidationError as exc:
                    errors[name] = [f"Not a crontab expression ({'; '.join(exc.messages)}): {value!r}."]
        if errors:
            raise ValidationError(errors)


@receiver(post_save, sender=Mapping, dispatch_uid="connectors.mapping.schedule")
def _keep_schedule(sender: type[Mapping], instance: Mapping, raw: bool = False, **kwargs: Any) -> None:
    """Whoever saves a mapping (admin, config import, shell), its beat schedule follows."""
    if raw:
        return
    from connectors.services.schedules import sync_schedules

    sync_schedules(instance)


@receiver(post_delete, sender=Mapping, dispatch_uid="connectors.mapping.unschedule")
def _drop_schedule(sender: type[Mapping], instance: Mapping, **kwargs: Any) -> None:
    from connectors.services.schedules import drop_schedules

    drop_schedules(instance)
