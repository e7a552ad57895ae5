"""The golden-record base every domain model shares.

A golden record is the hub's single, curated version of a real-world thing. Its ``version``
starts at 1 and grows by one on every real change; it is the API's ETag. A save that changes
nothing writes nothing: no UPDATE, no version bump and no history row, whichever path (API,
admin, sync, shell) the save came from.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

#: Set while records are loaded only to be shown (API reads): no change-tracking snapshot is taken.
_LOADING_FOR_DISPLAY: ContextVar[bool] = ContextVar("golden_loading_for_display", default=False)


class ReadOnlyRecordError(RuntimeError):
    """A record loaded only to be shown was saved: it has no baseline to compare with."""


@contextlib.contextmanager
def loading_for_display() -> Iterator[None]:
    """Records loaded inside skip the change-tracking snapshot (deep copies of every JSON column).

    A read of 50 records spent about a tenth of its CPU copying values nobody would edit.
    Such records refuse to be saved (:class:`ReadOnlyRecordError`).
    """
    token = _LOADING_FOR_DISPLAY.set(True)
    try:
        yield
    finally:
        _LOADING_FOR_DISPLAY.reset(token)


class GoldenStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    MERGED = "merged", "Merged"


class HistoryContext(models.Model):
    """Extra columns of every history row: the source system that caused the change.

    The user (``history_user``) and the reason (``history_change_reason``) come with
    django-simple-history itself.
    """

    history_source = models.ForeignKey(
        "masterdata.SourceSystem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
        verbose_name="source system",
    )

    class Meta:
        abstract = True


class GoldenRecord(models.Model):
    """Abstract base of the golden-record models of every domain."""

    #: Fields the hub maintains itself; sources and mappings never write them.
    BOOKKEEPING_FIELDS = frozenset(
        {"id", "status", "merged_into", "version", "created_at", "updated_at", "provenance", "locked_fields"}
    )
    #: Fields whose change alone is not a new version (they follow every save).
    UNVERSIONED_FIELDS = frozenset({"version", "updated_at", "created_at"})
    #: JSON columns only ever replaced whole (by ``services.golden``), never edited in place;
    #: they are not copied on load, which keeps loading large batches cheap.
    REPLACED_WHOLE_FIELDS = frozenset({"provenance"})

    code = models.CharField(max_length=64, help_text="Business key, unique within the domain.")
    # Indexed by golden_indexes(): a field's db_index would add a LIKE index no query uses, on history tables too.
    status = models.CharField(max_length=16, choices=GoldenStatus.choices, default=GoldenStatus.ACTIVE)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The survivor this record was merged into (status 'merged').",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Mapped source fields the model does not name.")
    provenance = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Per field: which source supplied the current value, when, and by which rule.",
    )
    locked_fields = models.JSONField(
        default=list, blank=True, help_text="Fields a steward locked: no source may overwrite them."
    )

    history = HistoricalRecords(inherit=True, bases=[HistoryContext])

    class Meta:
        abstract = True
        ordering = ["id"]

    # --- change tracking ----------------------------------------------------------------------
    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        if _LOADING_FOR_DISPLAY.get():
            instance._loaded_values = None
            instance._for_display = True
            return instance
        instance._loaded_values = {
            name: instance._snapshot(name, value) for name, value in zip(field_names, values, strict=True)
        }
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        """Reloaded values are the new baseline (also when a deferred field loads on access)."""
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        wanted = None if fields is None else set(fields)
        self._remember(
            f for f in self._meta.concrete_fields if wanted is None or f.attname in wanted or f.name in wanted
        )

    def _remember(self, fields) -> None:
        """Record the current values of ``fields`` (those not deferred) as stored in the database."""
        if self.__dict__.get("_for_display"):
            return
        loaded = self.__dict__.setdefault("_loaded_values", {})
        for f in fields:
            if f.attname in self.__dict__:
                loaded[f.attname] = self._snapshot(f.attname, self.__dict__[f.attname])

    def _snapshot(self, attname: str, value: Any) -> Any:
        """A copy of a loaded value that in-place edits (``attributes[k] = v``) cannot reach."""
        if attname in self.REPLACED_WHOLE_FIELDS or not isinstance(value, dict | list):
            return value
        return copy.deepcopy(value)

    def tracked_fields(self) -> list[models.Field]:
        return [f for f in self._meta.concrete_fields if f.name not in self.UNVERSIONED_FIELDS]

    def changed_fields(self) -> list[str]:
        """Names of fields whose value differs from what was loaded from the database."""
        loaded = getattr(self, "_loaded_values", None)
        if self._state.adding or loaded is None:
            return [f.name for f in self.tracked_fields()]
        changed = []
        for f in self.tracked_fields():
            if f.attname not in loaded:
                if f.attname in self.__dict__:
                    changed.append(f.name)  # deferred, then assigned without ever being read
                continue
            if _normalise(f, loaded[f.attname]) != _normalise(f, getattr(self, f.attname)):
                changed.append(f.name)
        return changed

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_for_display"):
            raise ReadOnlyRecordError(f"{self._meta.label} {self.pk} was loaded for display only and cannot be saved.")
        update_fields = kwargs.get("update_fields")
        if not self._state.adding and getattr(self, "_loaded_values", None) is not None:
            changed = self.changed_fields()
            if update_fields is not None:
                wanted = set(update_fields)
                changed = [n for n in changed if n in wanted or self._meta.get_field(n).attname in wanted]
            if not changed:
                return  # nothing changed: no UPDATE, no version, no history row
            self.version = (self._loaded_values.get("version") or self.version) + 1
            if update_fields is None and self.get_deferred_fields():
                # Django would save only the loaded fields; the bookkeeping columns must follow.
                update_fields = {
                    f.attname for f in self._meta.concrete_fields if f.attname in self.__dict__ and not f.primary_key
                }
            if update_fields is not None:
                kwargs["update_fields"] = set(update_fields) | {"version", "updated_at"}
        super().save(*args, **kwargs)
        saved = kwargs.get("update_fields")
        self._remember(f for f in self._meta.concrete_fields if saved is None or f.attname in saved or f.name in saved)

    def __str__(self) -> str:
        name = getattr(self, "name", "")
        return f"{self.code} · {name}" if name else self.code


def _normalise(field: models.Field, value: Any) -> Any:
    """Compare values as the database would store them (``'1.50'`` and ``1.5`` equal ``Decimal('1.5')``)."""
    if value is None:
        return None
    try:
        value = field.to_python(value)
        if isinstance(field, models.DecimalField) and value is not None:
            value = value.quantize(Decimal(1).scaleb(-field.decimal_places))
        return value
    except (ValidationError, ArithmeticError, TypeError, ValueError):
        return value  # an invalid value differs from whatever was stored


def golden_constraints(model_name: str, extra: list | None = None) -> list[models.BaseConstraint]:
    """Constraints every golden-record table carries, named per table."""
    statuses = [s.value for s in GoldenStatus]
    return [
        models.UniqueConstraint(fields=["code"], name=f"{model_name}_code_unique"),
        models.CheckConstraint(condition=models.Q(status__in=statuses), name=f"{model_name}_status_valid"),
        models.CheckConstraint(
            condition=(
                models.Q(status=GoldenStatus.MERGED, merged_into__isnull=False)
                | (~models.Q(status=GoldenStatus.MERGED) & models.Q(merged_into__isnull=True))
            ),
            name=f"{model_name}_merged_has_survivor",
        ),
        models.CheckConstraint(condition=models.Q(version__gte=1), name=f"{model_name}_version_positive"),
        models.CheckConstraint(
            condition=~models.Q(merged_into=models.F("id")), name=f"{model_name}_not_merged_into_itself"
        ),
        models.CheckConstraint(condition=~models.Q(code=""), name=f"{model_name}_code_not_blank"),
        *(extra or []),
    ]


def golden_indexes(model_name: str, *fields: str) -> list[models.Index]:
    """Indexes for the filters and orderings the API offers.

    ``code`` is indexed by its unique constraint and foreign keys by Django; ``(updated_at, id)``
    serves ``updated_since`` and the change feed's stable order.
    """
    indexes = [
        models.Index(fields=["updated_at", "id"], name=f"{model_name}_updated_idx"),
        models.Index(fields=["created_at"], name=f"{model_name}_created_idx"),
        models.Index(fields=["status"], name=f"{model_name}_status_idx"),
    ]
    indexes += [models.Index(fields=[f], name=f"{model_name}_{f}_idx") for f in fields]
    return indexes
