"""List filters of the golden-record admin that respect the steward's org-unit scope."""

from __future__ import annotations

from django.contrib import admin
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
