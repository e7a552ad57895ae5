"""List filters of the golden-record admin: the steward's org-unit scope, and value lists read once a minute."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet

from masterdata.services.orgtree import subtree_ids

#: More org units than this make a list filter unusable; the search box serves larger trees.
MAX_FILTER_UNITS = 500


class ScopedOrgUnitFilter(admin.SimpleListFilter):
    """Filter by owning org unit and everything under it, offering only units the user may see.

    A steward thinks in companies: choosing company A lists A's records and those of its
    departments. Units outside the user's scope are never offered, and a hand-typed id of
    such a unit finds nothing because the changelist is already scoped.
    """

    title = "org unit (and below)"
    parameter_name = "org_unit"

    def __init__(self, request, params, model, model_admin) -> None:
        self.org_field: str = model_admin.domain.org_field
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        units = model_admin.visible_org_units(request).only("id", "code", "name").order_by("code")
        return [(str(unit.pk), str(unit)) for unit in units[:MAX_FILTER_UNITS]]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(**{f"{self.org_field}__in": subtree_ids(int(value))})


class RecentValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django's "every value of the field" filter, its values read at most once a minute per user.

    Django finds them with ``SELECT DISTINCT`` over every record the user may see, on every page of
    the change list: a scan of the whole table, the most expensive query of a customer list page at a
    few thousand records and seconds at millions. The values of fields like country or credit rating
    rarely change; a value that appears shows up in the sidebar within ``SECONDS`` (filtering by it
    through the URL works at once). Kept per user (each sees only the values of records in scope) and
    per database (deployments that share one cache server).
    """

    SECONDS = 60

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        key = (
            f"admin-filter-values:{connection.settings_dict['NAME']}:{model._meta.label_lower}:{field_path}:"
            f"{request.user.pk}"
        )
        values: list[Any] | None = cache.get(key)
        if values is None:
            values = list(self.lookup_choices)
            cache.set(key, values, self.SECONDS)
        self.lookup_choices = values
