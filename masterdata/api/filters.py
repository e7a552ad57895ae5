"""Filter sets derived from the domain registry, and strict ordering."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.db import models
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from masterdata.models import GoldenStatus
from masterdata.registry import Domain, registry
from masterdata.services import access


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time compared in UTC.

    Python accepts UTC offsets up to ±24 hours, PostgreSQL only up to ±15:59: passed on as given,
    ``+16:00`` would reach the database as an error instead of being a plain instant.
    """

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                name = next((n for n, f in self.parent.filters.items() if f is self), self.field_name)
                raise ValidationError({name: ["The date-time is out of range."]}) from None
        return super().filter(qs, value)


class GoldenRecordFilterSet(django_filters.FilterSet):
    code = django_filters.CharFilter(field_name="code", help_text="Exact business key.")
    status = django_filters.ChoiceFilter(field_name="status", choices=GoldenStatus.choices)
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601 timestamp; records changed at or after it."
    )

    def filter_sensitive(self, queryset, name: str, value: str):
        """Exact match through the blind index, among the records whose value the user may read."""
        matching = queryset.filter(**{name: value})
        return access.restrict(self.request.user, registry.for_model(queryset.model), matching, "view_sensitive")


def build_filterset(domain: Domain) -> type[django_filters.FilterSet]:
    """A FilterSet for ``domain``: the shared filters plus the registry's extra ones.

    A foreign key is filtered by the related record's business key (``?org_unit=SH-FIN``). A
    sensitive field is matched by its blind index, and only among the records whose sensitive
    values the user may read: for anyone else the filter would confirm a guessed value.
    """
    model = domain.model_class
    attrs: dict[str, object] = {}
    for name, lookups in domain.filter_fields.items():
        model_field = model._meta.get_field(name)
        for lookup in lookups:
            param = name if lookup == "exact" else f"{name}__{lookup}"
            if name in domain.sensitive_fields:
                if lookup != "exact":
                    raise ValueError(f"{domain.name}.{name} is sensitive: only exact matches can be filtered.")
                attrs[param] = django_filters.CharFilter(
                    field_name=name, method="filter_sensitive", help_text="Exact value (blanks and case do not count)."
                )
            elif isinstance(model_field, models.ForeignKey):
                attrs[param] = django_filters.CharFilter(field_name=f"{name}__code", lookup_expr=lookup)
            elif model_field.choices:
                attrs[param] = django_filters.ChoiceFilter(
                    field_name=name, lookup_expr=lookup, choices=model_field.choices
                )
            else:
                attrs[param] = django_filters.CharFilter(field_name=name, lookup_expr=lookup)
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": []})
    return type(f"{model.__name__}FilterSet", (GoldenRecordFilterSet,), attrs)


class StrictOrderingFilter(OrderingFilter):
    """Like DRF's, but an unknown ordering field is a 400 instead of being silently ignored."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",") if param.strip()]
            allowed = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
            unknown = [f for f in fields if f.lstrip("-") not in allowed]
            if unknown:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Unknown field(s) {', '.join(unknown)}; use one of {', '.join(sorted(allowed))}."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)
