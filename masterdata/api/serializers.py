"""Serializers derived from the domain registry.

Foreign keys travel as the related record's business key (``"owner_org": "SH"``), because
that is what other systems know; the hub's numeric ids are also given for convenience.
Sensitive fields are masked unless the request's user may read them in clear
(:mod:`masterdata.services.sensitive`); clear values are only given where the view audits them
(a ``revealed`` list in the serializer context).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.permissions import SAFE_METHODS
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from masterdata.models import SourceLink
from masterdata.registry import Domain, registry
from masterdata.services import golden, sensitive

READ_ONLY = ("id", "status", "merged_into", "version", "created_at", "updated_at", "provenance", "locked_fields")


def unstorable_text(value: Any, path: str) -> str | None:
    """Why ``value`` (or a string nested in it) cannot be stored, or None.

    PostgreSQL refuses NUL characters in text and jsonb, and lone UTF-16 surrogates (which
    JSON's ``\\ud800`` escapes can produce) cannot be encoded at all; either would surface as
    a database error, so they are refused as input errors naming where they are.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path} contains a NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} contains an invalid character (a lone surrogate)."
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable_text(key, f"{path} (a key)") or unstorable_text(item, f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = unstorable_text(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


_AS_LOADED = object()
#: Fields that bind fields of their own: copied deeply even for a read, so no two serializers share them.
_NESTING = (serializers.BaseSerializer, serializers.ManyRelatedField, serializers.ListField, serializers.DictField)
_TEXT_FIELDS = {serializers.CharField, serializers.EmailField, serializers.SlugField, serializers.URLField}


class _IsoDateTime:
    """DRF's ISO 8601 rendering of an aware date-time, with the current time zone looked up once per serializer.

    DRF asks Django for the current time zone for every value (two context-local lookups); the
    zone cannot change while one answer is rendered. Anything but an aware date-time goes to DRF.
    """

    __slots__ = ("field", "zone")

    def __init__(self, field: serializers.DateTimeField) -> None:
        self.field = field
        self.zone = timezone.get_current_timezone() if settings.USE_TZ else None

    @staticmethod
    def applies(field: serializers.Field) -> bool:
        output = getattr(field, "format", api_settings.DATETIME_FORMAT)
        return (
            type(field) is serializers.DateTimeField
            and isinstance(output, str)
            and output.lower() == ISO_8601
            and not hasattr(field, "timezone")  # a field's own zone: DRF's way
        )

    def __call__(self, value: Any) -> Any:
        if self.zone is not None and isinstance(value, datetime) and value.utcoffset() is not None:
            try:
                text = value.astimezone(self.zone).isoformat()
            except OverflowError:
                return self.field.to_representation(value)  # DRF's error
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return self.field.to_representation(value)


class GoldenRecordSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=[("active", "Active"), ("inactive", "Inactive")],
        required=False,
        help_text="active or inactive (records are merged by the merge service, never deleted).",
    )
    merged_into = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        """Built once per serializer class and copied for each use, as DRF copies declared fields.

        ModelSerializer otherwise inspects the model and builds every field again on each request.
        A read (GET, HEAD, OPTIONS) only renders: its fields are never validated or changed, so a
        shallow copy of each, bound to this serializer, does; DRF's deep copy builds every field
        anew from its arguments, which was most of a record read's serializer cost. Writes keep
        DRF's deep copies.
        """
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        request = self.context.get("request")
        if request is not None and request.method in SAFE_METHODS:
            return {name: copy.deepcopy(f) if isinstance(f, _NESTING) else copy.copy(f) for name, f in built.items()}
        return copy.deepcopy(built)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Refuse unstorable text before any field looks it up in the database."""
        if isinstance(data, Mapping):
            errors = {}
            for name, value in data.items():
                problem = unstorable_text(value, name) if name in self.fields else None
                if problem:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def _representation_plan(self) -> list[tuple[str, str, Any]]:
        """Per readable field: (name, attribute, how to render it), worked out once per serializer.

        DRF's generic loop (``get_attribute`` through ``source_attrs``, a ``to_representation`` call
        per value) was the largest part of a list page's CPU. Plain text, numbers and non-binary
        JSON are returned as loaded, a reference by business key reads the joined record's code,
        ``merged_into`` its id column, a date-time is written as DRF writes it in ISO 8601 (the
        current time zone looked up once); every other field keeps DRF's own rendering. A test
        holds the result equal to DRF's for every domain.
        """
        plan = self.__dict__.get("_plan")
        if plan is not None:
            return plan
        plan = []
        for field in self._readable_fields:
            if len(field.source_attrs) != 1:
                plan.append((field.field_name, "", field))  # dotted or "*" source: DRF's way
                continue
            source = field.source_attrs[0]
            if isinstance(field, serializers.SlugRelatedField):
                plan.append((field.field_name, source, ("slug", field.slug_field)))
            elif isinstance(field, serializers.PrimaryKeyRelatedField) and field.use_pk_only_optimization():
                plan.append((field.field_name, f"{source}_id", _AS_LOADED))
            elif type(field) in _TEXT_FIELDS:
                plan.append((field.field_name, source, str))
            elif type(field) is serializers.IntegerField:
                plan.append((field.field_name, source, int))
            elif type(field) is serializers.JSONField and not field.binary:
                plan.append((field.field_name, source, _AS_LOADED))
            elif _IsoDateTime.applies(field):
                plan.append((field.field_name, source, _IsoDateTime(field)))
            else:
                plan.append((field.field_name, source, field))
        self.__dict__["_plan"] = plan
        return plan

    def _represent(self, instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, source, how in self._representation_plan():
            if not source:
                try:
                    attribute = how.get_attribute(instance)
                except SkipField:
                    continue
                shown = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                data[name] = None if shown is None else how.to_representation(attribute)
                continue
            value = getattr(instance, source)
            if value is None:
                data[name] = None
            elif how is _AS_LOADED or (how is str and type(value) is str) or (how is int and type(value) is int):
                data[name] = value
            elif type(how) is tuple:
                data[name] = getattr(value, how[1])
            elif how is str or how is int or type(how) is _IsoDateTime:
                data[name] = how(value)
            else:
                data[name] = how.to_representation(value)
        return data

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = self._represent(instance)
        domain = registry.for_model(self.Meta.model)
        if not domain.sensitive_fields:
            return data
        revealed = self.context.get("revealed")
        request = self.context.get("request")
        if revealed is not None and request is not None and sensitive.scope_for(request).allows(domain, instance):
            shown = [name for name in domain.sensitive_fields if data.get(name)]
            if shown:
                revealed.append((instance, shown))
            return data
        for name in domain.sensitive_fields:
            if name in data:
                data[name] = sensitive.mask(getattr(instance, name, data[name]))
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A sensitive field sent back masked keeps its value; other masked text is refused."""
        domain = registry.for_model(self.Meta.model)
        try:
            return sensitive.keep_unchanged(domain, self.instance, attrs)
        except golden.GoldenRecordError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc

    def validate_attributes(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate_code(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("May not be blank.")
        return value


def build_serializer(domain: Domain) -> type[GoldenRecordSerializer]:
    """A ModelSerializer with every field of the domain's model, FKs by business key."""
    model = domain.model_class
    attrs: dict[str, Any] = {}
    names = ["id"]
    for field in model._meta.concrete_fields:
        if field.name in ("id",):
            continue
        names.append(field.name)
        if isinstance(field, models.ForeignKey) and field.name != "merged_into":
            related = field.related_model
            attrs[field.name] = serializers.SlugRelatedField(
                slug_field="code",
                queryset=related._default_manager.all(),
                allow_null=field.null,
                required=False,
                help_text=f"Business key (code) of the {related._meta.verbose_name}.",
            )
    meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": names,
            "read_only_fields": [n for n in READ_ONLY if n != "status"],
        },
    )
    attrs["Meta"] = meta
    return type(f"{model.__name__}Serializer", (GoldenRecordSerializer,), attrs)


class FieldChangeSerializer(serializers.Serializer):
    """One field's change: foreign keys by business key, dates as ISO 8601."""

    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    """One version of a golden record and what changed in it."""

    history_id = serializers.IntegerField()
    version = serializers.IntegerField()
    history_date = serializers.DateTimeField()
    history_type = serializers.SerializerMethodField()
    user = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    change_reason = serializers.CharField(source="history_change_reason", allow_null=True)
    changes = serializers.SerializerMethodField()

    TYPES = {"+": "created", "~": "changed", "-": "deleted"}

    def get_history_type(self, row) -> str:
        return self.TYPES.get(row.history_type, row.history_type)

    def get_user(self, row) -> str | None:
        return row.history_user.username if row.history_user_id and row.history_user else None

    def get_source(self, row) -> str | None:
        return row.history_source.code if row.history_source_id and row.history_source else None

    @extend_schema_field(FieldChangeSerializer(many=True))
    def get_changes(self, row) -> list[dict[str, Any]]:
        """Each change; sensitive values masked unless the context says they may show (``masked_fields``)."""
        changes = self.context["changes"].get(row.history_id, [])
        hidden = self.context.get("masked_fields", ())
        return [
            {"field": c["field"], "old": _shown(c["old"], c["field"] in hidden),
             "new": _shown(c["new"], c["field"] in hidden)}
            for c in changes
        ]  # fmt: skip


class HistoryPageSerializer(serializers.Serializer):
    """A page of versions, as ``HistoryCursorPagination`` answers it (for the schema)."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)


def _shown(value: Any, masked: bool) -> Any:
    return sensitive.mask(value) if masked else _jsonable(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class SourceLinkSerializer(serializers.ModelSerializer):
    """A cross-reference; its payload with sensitive values masked unless the context says otherwise.

    The context's ``sensitive_values`` are the record's current sensitive values to hide wherever
    they appear in the source's payload (under whatever name the source gives them).
    """

    source = serializers.SlugRelatedField(slug_field="code", read_only=True)
    last_payload = serializers.SerializerMethodField()

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_last_payload(self, link: SourceLink) -> Any:
        if not self.context.get("mask_payload", True):
            return link.last_payload
        domain = registry.get(link.domain) if link.domain in registry else None
        return sensitive.masked_payload(link.last_payload, domain, self.context.get("sensitive_values", ()))

    class Meta:
        model = SourceLink
        fields = [
            "id",
            "source",
            "domain",
            "source_key",
            "status",
            "last_payload",
            "payload_hash",
            "last_seen_at",
            "last_pushed_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RevealSerializer(serializers.Serializer):
    """The answer of ``POST …/<id>/reveal/``."""

    id = serializers.IntegerField()
    version = serializers.IntegerField()
    values = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text="Field → clear value.")
